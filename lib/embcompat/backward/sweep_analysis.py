"""Reading a λ sweep: the averaged rows and whether each metric moves with λ as the paper says."""
from __future__ import annotations

import numpy as np
import pandas as pd

from embcompat.backward.evaluate import ALIGN, INTENDED_DEG, UNINTENDED_DEG

__all__ = ["DIRECTIONS", "averages", "monotone_report"]

#: The paper's direction as λ grows (Sec. 5.2): "larger degradation in the intended task
#: performance, smaller degradation in the unintended task performance, and smaller embedding
#: alignment error". ``-1``: the value should fall, ``+1``: rise (the degradation is <= 0 and
#: shrinks toward 0).
DIRECTIONS = {INTENDED_DEG: -1, UNINTENDED_DEG: +1, ALIGN: -1}


def averages(tidy: pd.DataFrame) -> pd.DataFrame:
    """The averaged rows (``version == "avg"``) without the ``version`` column: one row per
    dataset x method x λ x metric."""
    if "version" not in tidy:
        return tidy.reset_index(drop=True)
    return tidy[tidy.version == "avg"].drop(columns="version").reset_index(drop=True)


def _step(lo: float, hi: float, v0: float, v1: float) -> str:
    return f"λ {lo:g}→{hi:g}: {v0:.4g} → {v1:.4g} ({v1 - v0:+.3g})"


def monotone_report(tidy: pd.DataFrame, metrics: dict[str, int] | None = None, *,
                    tol: float = 0.0) -> pd.DataFrame:
    """Whether each metric moves with λ in the paper's direction (:data:`DIRECTIONS`).

    Args:
        tidy: :func:`run_sweep` output (averaged rows are used; references with NaN λ are skipped).
        metrics: ``metric -> direction`` (default :data:`DIRECTIONS`).
        tol: a step against the direction by at most ``tol`` is not a violation.

    Returns:
        One row per dataset x method x metric: ``expected`` (``"decreasing"``/``"increasing"``),
        ``lambdas`` and ``values`` (mean over seeds, λ increasing), ``monotone``, ``n_violations``
        (consecutive λ steps against the direction), ``violations`` (each step with its numbers),
        ``spearman`` (rank correlation of the value with λ; the paper's direction has its sign).
    """
    metrics = DIRECTIONS if metrics is None else metrics
    t = averages(tidy)
    t = t[t.metric.isin(list(metrics)) & t.lam.notna()]
    rows = []
    for (ds, m, metric), g in t.groupby(["dataset", "method", "metric"], sort=False):
        g = g.sort_values("lam")
        g = g[np.isfinite(g.value)]
        lam, val = g.lam.to_numpy(float), g.value.to_numpy(float)
        sign = metrics[metric]
        bad = [_step(lam[i], lam[i + 1], val[i], val[i + 1]) for i in range(len(val) - 1)
               if sign * (val[i + 1] - val[i]) < -tol]
        rho = (float(pd.Series(lam).rank().corr(pd.Series(val).rank()))
               if len(val) > 1 and np.ptp(val) > 0 else float("nan"))
        rows.append({"dataset": ds, "method": m, "metric": metric,
                     "expected": "decreasing" if sign < 0 else "increasing",
                     "lambdas": ", ".join(f"{x:g}" for x in lam),
                     "values": ", ".join(f"{x:.4g}" for x in val), "monotone": not bad,
                     "n_violations": len(bad), "violations": "; ".join(bad), "spearman": rho})
    return pd.DataFrame(rows, columns=["dataset", "method", "metric", "expected", "lambdas",
                                       "values", "monotone", "n_violations", "violations",
                                       "spearman"])
