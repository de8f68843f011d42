"""Has a training curve plateaued? A number for what 02_training_curves shows.

For one version's validation Recall@50 curve (its evaluations in epoch order), the **late gain**
is the mean of the last quarter of the evaluations minus the mean of the quarter before it. A
curve still climbing at the end of its budget has a late gain clearly above 0; a plateaued one
has a late gain near 0 (or below, when it peaked earlier).

:func:`plateau_table` reads it over training seeds, per method and version, and gives a verdict:

* ``plateau``: the upper end of the 95 % t interval of the mean late gain is below ``tolerance``
  (default 0.5 Recall@50 points): whatever rise is left over the last quarter of the budget is
  smaller than that (an equivalence test: the gain is bounded, not merely undetected);
* ``rising``: otherwise, when the interval lies above 0: still climbing, by possibly more than
  ``tolerance``;
* ``undecided``: neither (or fewer than 2 seeds).

``still_rising`` flags every interval above 0, plateaus included: a curve can be flat to within
``tolerance`` and still gain a detectable sliver (the cosine's last small steps do that). Until
2026-12-07 ``rising`` was tested first, so such a sliver counted as ``rising``; a plateau is a
question of size, and ``still_rising`` keeps the sliver visible.

Only the versions a method trains itself count (M_0 under Non-BC; joint and Finetune-M0 from
version 1); post-hoc methods, Keep-All and Fix-M0 reuse Non-BC's or M_0's curves.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from embcompat.backward.methods import get_method
from embcompat.backward.results import VersionsResult
from embcompat.stats import mean_ci

__all__ = ["late_gain", "late_gain_rows", "plateau_table", "PLATEAU_TOLERANCE"]

#: Recall@50 points (x100): a late gain whose interval stays below this is a plateau.
PLATEAU_TOLERANCE = 0.5


def late_gain(values: Sequence[float], frac: float = 0.25) -> float:
    """Mean of the last ``frac`` of ``values`` minus the mean of the ``frac`` before it.

    Args:
        values: one curve's evaluations in epoch order.
        frac: the window, a fraction of the evaluations (at least one each).

    Raises:
        ValueError: fewer than two evaluations, or ``frac`` outside (0, 0.5].
    """
    if not 0 < frac <= 0.5:
        raise ValueError(f"frac must be in (0, 0.5], got {frac}")
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2:
        raise ValueError(f"late_gain needs at least 2 evaluations, got {x.size}")
    q = max(1, int(round(x.size * frac)))
    q = min(q, x.size // 2)
    return float(x[-q:].mean() - x[-2 * q:-q].mean())


def _own_versions(method: str, res: VersionsResult):
    kind = get_method(method).kind
    for v in res.versions:
        if kind == "independent" or (kind in ("joint", "finetune") and v.k > 0):
            yield v


def late_gain_rows(runs: Sequence[Mapping[str, VersionsResult]], K: int = 50) -> pd.DataFrame:
    """One row per (dataset, method, version, seed) a method trains itself: ``late_gain`` in
    Recall@K points (x100), ``evaluations`` and ``last_epoch``. ``runs``: one mapping
    ``method -> VersionsResult`` per training seed."""
    rows = []
    for res_by_method in runs:
        for m, res in res_by_method.items():
            for v in _own_versions(m, res):
                pts = [h[f"recall@{K}"] for h in v.history if f"recall@{K}" in h]
                if len(pts) < 2:
                    continue
                rows.append({"dataset": res.dataset, "method": m, "version": v.k, "seed": res.config.seed,
                             "evaluations": len(pts), "last_epoch": v.history[-1]["epoch"],
                             "late_gain": 100.0 * late_gain(pts)})
    return pd.DataFrame(rows, columns=["dataset", "method", "version", "seed", "evaluations", "last_epoch",
                                       "late_gain"])


def plateau_table(rows: pd.DataFrame, *, tolerance: float = PLATEAU_TOLERANCE) -> pd.DataFrame:
    """Per (dataset, method, version): mean late gain over seeds, its 95 % t interval, whether that
    lies above 0 (``still_rising``) and the verdict (module docstring)."""
    if not tolerance > 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    out = []
    for (ds, m, k), part in rows.groupby(["dataset", "method", "version"], sort=False):
        ci = mean_ci(part.late_gain.to_numpy())
        defined = ci.n >= 2 and not math.isnan(ci.lo)
        if defined and ci.hi < tolerance:
            verdict = "plateau"
        elif defined and ci.lo > 0:
            verdict = "rising"
        else:
            verdict = "undecided"
        out.append({"dataset": ds, "method": m, "version": k, "n_seeds": ci.n, "late_gain": ci.mean,
                    "lo": ci.lo, "hi": ci.hi, "still_rising": bool(defined and ci.lo > 0), "verdict": verdict})
    return pd.DataFrame(out, columns=["dataset", "method", "version", "n_seeds", "late_gain", "lo", "hi",
                                      "still_rising", "verdict"])
