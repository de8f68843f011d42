"""Confidence intervals over training seeds, and paired differences between methods.

The house rule: a claim about a paper ("A beats B", "this trend is monotone") needs at least 5
training seeds, a 95 % confidence interval, and for "A beats B" the *paired* difference (same seed,
same data) with its interval; when that interval covers zero the verdict is ``"undecided"``.

* :func:`mean_ci` -- mean and two-sided Student-t interval of independent per-seed values
  (``mean +- t_{1-a/2, n-1} * s / sqrt(n)``, ``s`` the sample standard deviation), or a
  percentile bootstrap (seeded, so the same input gives the same interval).
* :func:`paired_difference` -- ``a - b`` seed by seed (only the seeds both have), its
  :func:`mean_ci` and a verdict.
* :func:`ci_table` -- :func:`mean_ci` per group of a tidy frame (one row per seed and group).

Everything is plain numpy / scipy on small arrays; no torch.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

__all__ = ["CI", "mean_ci", "paired_difference", "ci_table", "MIN_SEEDS_FOR_CLAIM", "METHODS"]

#: Fewer training seeds than this and no claim is made (the verdict says so).
MIN_SEEDS_FOR_CLAIM = 5
METHODS = ("t", "bootstrap")


@dataclass(frozen=True)
class CI:
    """A mean with its two-sided interval.

    Attributes:
        mean: the sample mean.
        lo, hi: the interval's ends (``nan`` with one value).
        half_width: ``(hi - lo) / 2`` (``nan`` with one value).
        n: the number of values.
        level: the confidence level (``0.95``).
        method: ``"t"`` or ``"bootstrap"``.
    """

    mean: float
    lo: float
    hi: float
    half_width: float
    n: int
    level: float
    method: str

    def covers(self, x: float = 0.0) -> bool:
        """Whether ``x`` lies inside ``[lo, hi]`` (always true when the interval is undefined)."""
        return not (self.lo > x or self.hi < x)

    def to_dict(self) -> dict:
        return asdict(self)


def _values(values, who: str) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError(f"{who}: no values")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{who}: values must be finite, got {x.tolist()}")
    return x


def mean_ci(values: Sequence[float], *, level: float = 0.95, method: str = "t",
            n_boot: int = 10_000, seed: int = 0) -> CI:
    """Mean and two-sided ``level`` interval of independent values (one per training seed).

    Args:
        values: the per-seed values (finite).
        level: confidence level in (0, 1).
        method: ``"t"`` (Student t on ``n - 1`` degrees of freedom) or ``"bootstrap"`` (percentile
            interval of ``n_boot`` resampled means, drawn with ``seed``).
        n_boot, seed: bootstrap only.

    Returns:
        A :class:`CI`; with one value the interval is ``nan`` (undefined), not zero-width.

    Raises:
        ValueError: no or non-finite values, a level outside (0, 1), an unknown method.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    x = _values(values, "mean_ci")
    n, m = x.size, float(x.mean())
    if n == 1:
        return CI(m, math.nan, math.nan, math.nan, 1, level, method)
    if method == "t":
        half = float(sps.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
        return CI(m, m - half, m + half, half, n, level, method)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
    lo, hi = (float(v) for v in np.quantile(means, [0.5 - level / 2, 0.5 + level / 2]))
    return CI(m, lo, hi, (hi - lo) / 2, n, level, method)


def paired_difference(a: Mapping[int, float], b: Mapping[int, float], *, level: float = 0.95,
                      method: str = "t", higher_is_better: bool = True,
                      min_seeds: int = MIN_SEEDS_FOR_CLAIM) -> dict:
    """``a - b`` paired by seed, its interval and a verdict.

    Args:
        a, b: ``seed -> value`` of two methods (same data, same seed = a pair).
        level, method: as :func:`mean_ci`.
        higher_is_better: the metric's direction (Recall, AUC: True; an error: False).
        min_seeds: below this many common seeds the verdict is ``"too few seeds"``.

    Returns:
        ``{"mean", "lo", "hi", "half_width", "n", "level", "method", "seeds", "verdict"}`` with
        verdict ``"a better"``, ``"b better"``, ``"undecided"`` (the interval covers 0) or
        ``"too few seeds"``.

    Raises:
        ValueError: no seed in common.
    """
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError(f"paired_difference: no common seed (a has {sorted(a)}, b has {sorted(b)})")
    ci = mean_ci([a[s] - b[s] for s in seeds], level=level, method=method)
    if len(seeds) < min_seeds:
        verdict = "too few seeds"
    elif ci.covers(0.0):
        verdict = "undecided"
    else:
        verdict = "a better" if (ci.mean > 0) == higher_is_better else "b better"
    return {**ci.to_dict(), "seeds": seeds, "verdict": verdict}


def ci_table(frame: pd.DataFrame, by: Sequence[str], value: str, *, seed: str = "seed",
             level: float = 0.95, method: str = "t") -> pd.DataFrame:
    """:func:`mean_ci` of ``value`` for each group of ``by`` in a tidy frame.

    Each group must hold one row per seed (a duplicated seed is an error: average consumer seeds
    first, so that the interval is over *training* seeds).

    Returns:
        One row per group: the ``by`` columns, then ``mean, lo, hi, half_width, n``.
    """
    missing = [c for c in (*by, value, seed) if c not in frame.columns]
    if missing:
        raise ValueError(f"ci_table: missing columns {missing}; have {list(frame.columns)}")
    rows = []
    for key, g in frame.groupby(list(by), sort=False):
        if g[seed].duplicated().any():
            raise ValueError(f"ci_table: group {key} has a seed twice ({g[seed].tolist()}); "
                             "aggregate to one value per training seed first")
        ci = mean_ci(g[value].to_numpy(), level=level, method=method)
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key)), "mean": ci.mean, "lo": ci.lo, "hi": ci.hi,
                     "half_width": ci.half_width, "n": ci.n})
    return pd.DataFrame(rows)
