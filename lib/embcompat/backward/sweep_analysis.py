"""Reading a λ sweep: the averaged rows and whether each metric moves with λ as the paper says,
on the means (:func:`monotone_report`) and seed by seed with intervals (:func:`seed_trends`)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from embcompat.backward.evaluate import ALIGN, INTENDED_DEG, UNINTENDED_DEG
from embcompat.stats import mean_ci, paired_difference

__all__ = ["DIRECTIONS", "averages", "monotone_report", "seed_trends", "TREND_COLUMNS"]

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


TREND_COLUMNS = ["dataset", "method", "metric", "expected", "n_train_seeds", "rho_mean", "rho_lo",
                 "rho_hi", "seeds_in_direction", "lam_lo", "lam_hi", "end_diff", "end_lo", "end_hi",
                 "verdict"]


def _rank_corr(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2 or np.ptp(y) == 0:
        return float("nan")
    return float(pd.Series(x).rank().corr(pd.Series(y).rank()))


def seed_trends(per_seed: pd.DataFrame, metrics: dict[str, int] | None = None) -> pd.DataFrame:
    """Does each metric move with λ in the paper's direction, seed by seed, with intervals?

    For each data set x method x metric (the averaged rows, ``version == "avg"``, of swept λ only):

    * per training seed, Spearman's rho of the value against λ; then its mean and 95 % t interval
      over seeds (``rho_mean``, ``rho_lo``, ``rho_hi``) and how many seeds have the paper's sign
      (``seeds_in_direction``; a rho of 0 or NaN counts as not);
    * the value at the largest λ minus the value at the smallest, paired by seed
      (``end_diff``, ``end_lo``, ``end_hi``, :func:`embcompat.stats.paired_difference`).

    ``verdict`` reads the paired end-to-end difference: ``"paper's direction"`` or
    ``"against the paper"`` when its interval excludes 0, ``"undecided"`` when it covers 0, and
    ``"too few seeds"`` below :data:`embcompat.stats.MIN_SEEDS_FOR_CLAIM`.

    Args:
        per_seed: :func:`embcompat.backward.sweep.score_sweep_per_seed` rows (``seed``, ``lam``,
            ``version``, ``metric``, ``value``).
        metrics: ``metric -> direction`` (default :data:`DIRECTIONS`).

    Returns:
        One row per data set x method x metric, :data:`TREND_COLUMNS`.
    """
    metrics = DIRECTIONS if metrics is None else metrics
    t = per_seed[(per_seed.version.astype(str) == "avg") & per_seed.metric.isin(list(metrics))
                 & per_seed.lam.notna()]
    rows = []
    for (ds, m, metric), g in t.groupby(["dataset", "method", "metric"], sort=False):
        sign = metrics[metric]
        lam_lo, lam_hi = float(g.lam.min()), float(g.lam.max())
        rhos, lo_vals, hi_vals = [], {}, {}
        for seed, gs in g.groupby("seed"):
            gs = gs.sort_values("lam")
            gs = gs[np.isfinite(gs.value.astype(float))]
            rhos.append(_rank_corr(gs.lam.to_numpy(float), gs.value.to_numpy(float)))
            ends = gs.set_index("lam").value
            if lam_lo in ends.index and lam_hi in ends.index:
                lo_vals[seed], hi_vals[seed] = float(ends[lam_lo]), float(ends[lam_hi])
        finite = [r for r in rhos if np.isfinite(r)]
        rho = mean_ci(finite) if finite else None
        d = paired_difference(hi_vals, lo_vals, higher_is_better=sign > 0)
        verdict = {"a better": "paper's direction", "b better": "against the paper"}.get(
            d["verdict"], d["verdict"])
        rows.append({"dataset": ds, "method": m, "metric": metric,
                     "expected": "decreasing" if sign < 0 else "increasing",
                     "n_train_seeds": len(rhos),
                     "rho_mean": rho.mean if rho else float("nan"),
                     "rho_lo": rho.lo if rho else float("nan"),
                     "rho_hi": rho.hi if rho else float("nan"),
                     "seeds_in_direction": int(sum(sign * r > 0 for r in finite)),
                     "lam_lo": lam_lo, "lam_hi": lam_hi, "end_diff": d["mean"], "end_lo": d["lo"],
                     "end_hi": d["hi"], "verdict": verdict})
    return pd.DataFrame(rows, columns=TREND_COLUMNS)
