"""Table 3 and its companions over training seeds: means with 95 % intervals, paired differences.

The input is the tidy frame of :func:`~embcompat.backward.evaluate.evaluate_methods` for every
training seed, concatenated with a :data:`SEED` column (:func:`with_seed`). Each seed's Table 3 row
is computed exactly as for one seed (:func:`~embcompat.backward.evaluate.table3`: consumer seeds
averaged first), so the intervals here are over *training* seeds only (:mod:`embcompat.stats`).

* :func:`table3_ci`: per data set x method, the mean and the interval of each Table 3 column;
* :func:`paired_table`: ``reference - method`` seed by seed (same data set, same seed: the same
  ``M_0``, the same validation / test halves), with its interval and a verdict;
* :func:`version_ci`: per version, for the seed bands of Figures 3-5;
* :func:`correlation_ci`: Pearson r of alignment error vs unintended degradation, per seed, then
  its interval;
* :func:`growth_paired`: the per-version slope of the alignment error, paired between two methods.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from embcompat.backward.evaluate import (ALIGN, SEED, UNINTENDED_DEG, _order,
                                         alignment_vs_unintended, pearson, table3)
from embcompat.report import markdown_table, output_dir, save_table
from embcompat.stats import MIN_SEEDS_FOR_CLAIM, ci_table, mean_ci, paired_difference
from embcompat.utils import atomic_write

__all__ = ["SEED", "T3_COLUMNS", "with_seed", "count_train_seeds", "table3_per_seed", "table3_ci", "table3_ci_markdown",
           "paired_table", "version_ci", "correlation_ci", "growth_paired", "claim_seeds", "save_table3_ci"]

#: The Table 3 columns given with intervals (higher is better for all but the alignment error).
T3_COLUMNS = ("intended_%", "unintended_%", "(1)+(2)_%", "alignment_error", "Recall@50_%", "AUC_%")


def with_seed(tidy: pd.DataFrame, seed: int) -> pd.DataFrame:
    """``tidy`` with a :data:`SEED` column (one training seed's frame)."""
    return tidy.assign(**{SEED: int(seed)})


def count_train_seeds(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (stacked seed-tagged frames) with ``n_train_seeds``: how many training seeds each
    (data set, method) has in it, beside its :data:`SEED` column."""
    _seeds(frame)
    keys = [c for c in ("dataset", "method") if c in frame.columns]
    n = frame.groupby(keys, sort=False)[SEED].transform("nunique") if keys else frame[SEED].nunique()
    return frame.assign(n_train_seeds=n)


def _seeds(tidy: pd.DataFrame) -> list[int]:
    if SEED not in tidy.columns:
        raise ValueError(f"the tidy frame has no {SEED!r} column; tag each seed's frame with with_seed")
    return sorted(tidy[SEED].unique().tolist())


def table3_per_seed(tidy: pd.DataFrame) -> pd.DataFrame:
    """Table 3 (:func:`~embcompat.backward.evaluate.table3`) of each training seed, stacked."""
    return pd.concat([table3(tidy[tidy[SEED] == s]).assign(**{SEED: s}) for s in _seeds(tidy)],
                     ignore_index=True)


def _sorted(t: pd.DataFrame) -> pd.DataFrame:
    t = t.assign(_o=t.method.map(_order))
    return t.sort_values(["dataset", "_o"], kind="stable").drop(columns="_o").reset_index(drop=True)


def table3_ci(tidy: pd.DataFrame, *, level: float = 0.95) -> pd.DataFrame:
    """One row per data set x method: for each of :data:`T3_COLUMNS` its mean over training seeds
    (the column's name), ``<col>_lo``, ``<col>_hi`` and ``<col>_ci`` (the half-width: mean +- ci),
    then ``n_train_seeds`` and ``n_consumer_seeds``. One seed gives NaN intervals."""
    per = table3_per_seed(tidy)
    out = None
    for col in T3_COLUMNS:
        if col not in per.columns:
            continue
        ci = ci_table(per.dropna(subset=[col]), ["dataset", "method"], col, seed=SEED, level=level)
        ci = ci.rename(columns={"mean": col, "lo": f"{col}_lo", "hi": f"{col}_hi",
                                "half_width": f"{col}_ci", "n": "n_train_seeds"})
        out = ci if out is None else out.merge(ci.drop(columns="n_train_seeds"),
                                               on=["dataset", "method"], how="outer")
    cons = per.groupby(["dataset", "method"], sort=False)["n_consumer_seeds"].max().rename("n_consumer_seeds")
    return _sorted(out.merge(cons.reset_index(), on=["dataset", "method"]))


def _pm(mean: float, half: float, fmt: str) -> str:
    if not np.isfinite(mean):
        return ""
    return f"{mean:{fmt}}" if not np.isfinite(half) else f"{mean:{fmt}} ± {half:{fmt}}"


def table3_ci_markdown(t: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The paper's layout for one data set, every cell ``mean ± 95 % half-width``."""
    g = t[t.dataset == dataset]
    cols = {"intended_%": ("(1) intended %", ".2f"), "unintended_%": ("(2) unintended %", ".2f"),
            "(1)+(2)_%": ("(1)+(2) %", ".2f"), "alignment_error": ("(3) alignment error", ".3f"),
            "Recall@50_%": ("Recall@50 %", ".2f"), "AUC_%": ("AUC %", ".2f")}
    rows = []
    for _, r in g.iterrows():
        row = {"method": r.method}
        for c, (name, fmt) in cols.items():
            if c in g.columns:
                row[name] = _pm(r[c], r[f"{c}_ci"], fmt)
        row["training seeds"] = int(r.n_train_seeds)
        rows.append(row)
    return pd.DataFrame(rows)


def paired_table(tidy: pd.DataFrame, reference: str = "BC-Aligner", metric: str = "(1)+(2)_%", *,
                 level: float = 0.95) -> pd.DataFrame:
    """``reference - method`` on ``metric`` (a Table 3 column), paired by training seed, for every
    other method of every data set. Columns: ``dataset, method, metric, mean, lo, hi, half_width,
    n, verdict``; the verdict names the better method, or says ``undecided`` (the interval covers
    0) or ``too few seeds`` (fewer than :data:`~embcompat.stats.MIN_SEEDS_FOR_CLAIM`)."""
    per = table3_per_seed(tidy)
    higher = metric != "alignment_error"
    rows = []
    for ds, g in per.groupby("dataset", sort=False):
        ref = g[g.method == reference]
        if ref.empty:
            continue
        a = dict(zip(ref[SEED], ref[metric]))
        for m, h in g[g.method != reference].groupby("method", sort=False):
            b = dict(zip(h[SEED], h[metric]))
            d = paired_difference(a, b, level=level, higher_is_better=higher)
            verdict = {"a better": f"{reference} better", "b better": f"{m} better"}.get(
                d["verdict"], d["verdict"])
            rows.append({"dataset": ds, "method": m, "metric": f"{reference} - method: {metric}",
                         **{k: d[k] for k in ("mean", "lo", "hi", "half_width", "n")},
                         "verdict": verdict})
    return _sorted(pd.DataFrame(rows))


def version_ci(tidy: pd.DataFrame, metric: str, *, level: float = 0.95) -> pd.DataFrame:
    """Per data set x method x version (not ``avg``): mean over training seeds of ``metric`` and its
    interval (``mean, lo, hi, half_width, n``), versions as ints, for the figures' seed bands."""
    t = tidy[(tidy.metric == metric) & (tidy.version != "avg")]
    ci = ci_table(t, ["dataset", "method", "version"], "value", seed=SEED, level=level)
    return ci.assign(version=ci.version.astype(int))


def correlation_ci(tidy: pd.DataFrame, *, level: float = 0.95) -> pd.DataFrame:
    """Pearson r of alignment error vs unintended degradation over the (method, version >= 1)
    points of each training seed, per data set; then the interval of r over the seeds.
    Columns: ``dataset, mean, lo, hi, half_width, n, points_per_seed``."""
    rows = []
    for ds, g in tidy.groupby("dataset", sort=False):
        rs, pts = [], []
        for s in _seeds(g):
            p = alignment_vs_unintended(g[g[SEED] == s])
            rs.append(pearson(p[ALIGN], p[UNINTENDED_DEG]))
            pts.append(len(p))
        rs = [r for r in rs if np.isfinite(r)]
        if not rs:
            continue
        ci = mean_ci(rs, level=level)
        rows.append({"dataset": ds, "mean": ci.mean, "lo": ci.lo, "hi": ci.hi,
                     "half_width": ci.half_width, "n": ci.n, "points_per_seed": int(np.median(pts))})
    return pd.DataFrame(rows)


def growth_paired(tidy: pd.DataFrame, a: str = "Joint-Lin-SLoss", b: str = "BC-Aligner", *,
                  level: float = 0.95) -> pd.DataFrame:
    """Does ``a``'s alignment error grow faster over versions than ``b``'s? Per training seed the
    least-squares slope of the alignment error over versions ``1..K``; then ``slope(a) -
    slope(b)`` paired by seed. Columns: ``dataset, slope_a, slope_b, mean, lo, hi, half_width, n,
    verdict`` (``"<a> grows faster"``, ``"<b> grows faster"``, ``undecided``, ``too few seeds``)."""
    t = tidy[(tidy.metric == ALIGN) & (tidy.version != "avg")]
    t = t.assign(version=t.version.astype(int))
    t = t[t.version >= 1]
    rows = []
    for ds, g in t.groupby("dataset", sort=False):
        slopes: dict[str, dict] = {}
        for m in (a, b):
            h = g[g.method == m]
            slopes[m] = {s: float(np.polyfit(x.version, x.value, 1)[0])
                         for s, x in h.groupby(SEED) if x.version.nunique() >= 2}
        if not slopes[a] or not slopes[b]:
            continue
        d = paired_difference(slopes[a], slopes[b], level=level)
        verdict = {"a better": f"{a} grows faster", "b better": f"{b} grows faster"}.get(
            d["verdict"], d["verdict"])
        rows.append({"dataset": ds, "slope_a": float(np.mean(list(slopes[a].values()))),
                     "slope_b": float(np.mean(list(slopes[b].values()))),
                     **{k: d[k] for k in ("mean", "lo", "hi", "half_width", "n")},
                     "verdict": verdict})
    return pd.DataFrame(rows)


def claim_seeds(n: int) -> str:
    """A caption fragment: how many training seeds, and whether that is enough for a claim."""
    ok = n >= MIN_SEEDS_FOR_CLAIM
    return (f"{n} training seed{'s' if n != 1 else ''}"
            + ("" if ok else f" (fewer than {MIN_SEEDS_FOR_CLAIM}: no claim is read from it)"))


def save_table3_ci(tidy: pd.DataFrame, name: str, caption: str) -> dict:
    """Write the seed-tagged tidy frame (with :func:`count_train_seeds`) to ``tables/<name>.csv``, :func:`table3_ci` to
    ``tables/<name>_ci.csv``, and to ``tables/<name>.md`` the Table 3 layout of each data set with
    ``mean ± 95 % half-width`` cells (:func:`table3_ci_markdown`), under ``caption``.

    Returns:
        The paths, keyed ``csv``, ``ci_csv`` and ``md``; and the CI frame, keyed ``table``.
    """
    paths = save_table(count_train_seeds(tidy), name, caption=caption)
    t = table3_ci(tidy)
    ci_csv = output_dir("tables") / f"{name}_ci.csv"
    with atomic_write(ci_csv, "w") as f:
        t.to_csv(f, index=False)
    parts = [caption]
    for ds in t.dataset.unique():
        parts += [f"### {ds}", markdown_table(table3_ci_markdown(t, ds))]
    with atomic_write(paths["md"], "w") as f:
        f.write("\n\n".join(parts) + "\n")
    return {**paths, "ci_csv": ci_csv, "table": t}
