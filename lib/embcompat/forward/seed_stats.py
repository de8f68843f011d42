"""Statistics over training seeds of the FCT tables (notebooks 06-08), on :mod:`embcompat.stats`.

Every input is a tidy frame stacked over experiments (one row per dataset x seed x case, the
columns of :func:`~embcompat.forward.evaluate.compatibility_table` and its kin).

* :func:`seed_ci` -- mean and 95 % t interval over seeds of each metric, per group;
* :func:`ci_wide` -- the same as ``mean ± half-width`` strings, for the markdown tables;
* :func:`paired_vs_none` -- each side-info's new/h minus the zero side-info's, paired by seed;
* :func:`cka_gain_points` / :func:`correlation_ci` / :func:`cka_gain_correlations` -- does lower
  CKA(old, side-info) go with a larger gain over no side-info (Pearson r over side-info x seed,
  Fisher-z interval);
* :func:`retrieval_chance` -- the top-1 a query scores against a gallery in random order;
* :func:`answer_side_info` -- notebook 06's questions, answered in sentences from the intervals;
* :func:`paired_sequence` -- notebook 08's two-hop vs direct and side-info vs none, by seed.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from embcompat.forward.evaluate import METRIC_COLUMNS
from embcompat.stats import ci_table, mean_ci, paired_difference

__all__ = ["seed_ci", "ci_wide", "paired_vs_none", "cka_gain_points", "correlation_ci",
           "cka_gain_correlations", "retrieval_chance", "answer_side_info", "paired_sequence",
           "NEW_H"]

#: The case of Table 6: new queries against the transformed old gallery.
NEW_H = ("FCT", "new/h")


def seed_ci(table: pd.DataFrame, keys: Sequence[str], metrics: Sequence[str] = METRIC_COLUMNS,
            ) -> pd.DataFrame:
    """Mean and 95 % t interval over seeds of each metric, per ``keys`` group (``dataset`` is
    always a key).

    Returns:
        ``dataset, *keys, metric, mean, lo, hi, half_width, n_train_seeds``, one row per group and
        metric, groups in first-seen order.
    """
    keys = ["dataset", *[k for k in keys if k != "dataset"]]
    out = []
    for m in metrics:
        ci = ci_table(table, keys, m, seed="seed").rename(columns={"n": "n_train_seeds"})
        out.append(ci.assign(metric=m))
    ci = pd.concat(out, ignore_index=True)
    return ci[[*keys, "metric", "mean", "lo", "hi", "half_width", "n_train_seeds"]]


def ci_wide(ci: pd.DataFrame, digits: int = 1) -> pd.DataFrame:
    """:func:`seed_ci` rows as one row per group, each metric a ``mean ± half-width`` string (the
    half-width is ``nan`` with one seed)."""
    keys = [c for c in ci.columns
            if c not in ("metric", "mean", "lo", "hi", "half_width", "n_train_seeds")]
    cell = ci.assign(cell=[f"{m:.{digits}f} ± {h:.{digits}f}" for m, h in zip(ci["mean"],
                                                                             ci.half_width)])
    wide = cell.pivot_table(index=keys, columns="metric", values="cell", aggfunc="first",
                            sort=False)
    n = cell.groupby(keys, sort=False).n_train_seeds.min()
    wide = wide[[m for m in ci.metric.unique()]].join(n)
    return wide.reset_index()


def paired_vs_none(table: pd.DataFrame, metrics: Sequence[str] = METRIC_COLUMNS,
                   baseline: str = "none") -> pd.DataFrame:
    """Each side-info's new/h minus ``baseline``'s new/h, paired by seed, per data set.

    Returns:
        ``dataset, side_info, metric, mean, lo, hi, half_width, n_train_seeds, verdict`` with
        verdict ``"<side_info> better"``, ``"<baseline> better"``, ``"undecided"`` (the interval
        covers 0) or ``"too few seeds"`` (under 5).

    Raises:
        ValueError: no new/h rows of ``baseline``.
    """
    nh = table[(table.method == NEW_H[0]) & (table.case == NEW_H[1])]
    if not (nh.side_info == baseline).any():
        raise ValueError(f"paired_vs_none: no FCT new/h rows with side-info {baseline!r}")
    rows = []
    for ds, g in nh.groupby("dataset", sort=False):
        base = g[g.side_info == baseline].set_index("seed")
        for si, s in g[g.side_info != baseline].groupby("side_info", sort=False):
            s = s.set_index("seed")
            for m in metrics:
                rows.append(_paired_row(s[m].to_dict(), base[m].to_dict(), (si, baseline),
                                        dataset=ds, side_info=si, metric=m))
    return pd.DataFrame(rows)


def cka_gain_points(cka: pd.DataFrame, table: pd.DataFrame, metric: str = "top1",
                    baseline: str = "none") -> pd.DataFrame:
    """One point per (data set, seed, side-info with a defined CKA): its CKA(old, side-info) and
    its gain, new/h ``metric`` minus ``baseline``'s new/h of the same seed.

    Args:
        cka: stacked :func:`~embcompat.forward.evaluate.cka_side_info_table` rows.
        table: stacked :func:`~embcompat.forward.evaluate.compatibility_table` rows.

    Returns:
        ``dataset, seed, side_info, cka, gain``.
    """
    nh = table[(table.method == NEW_H[0]) & (table.case == NEW_H[1])]
    base = nh[nh.side_info == baseline].set_index(["dataset", "seed"])[metric]
    val = nh.set_index(["dataset", "seed", "side_info"])[metric]
    pts = cka[np.isfinite(cka.cka.astype(float))][["dataset", "seed", "side_info", "cka"]].copy()
    idx = pd.MultiIndex.from_frame(pts[["dataset", "seed", "side_info"]])
    pts["gain"] = (val.reindex(idx).to_numpy()
                   - base.reindex(pd.MultiIndex.from_frame(pts[["dataset", "seed"]])).to_numpy())
    return pts.reset_index(drop=True)


def correlation_ci(x, y, level: float = 0.95) -> dict:
    """Pearson r of paired values with its Fisher-z interval (``tanh(atanh r ± z / sqrt(n-3))``).

    The interval assumes independent points; points of one seed share its old model, so read it
    as approximate.

    Returns:
        ``{"r", "lo", "hi", "n"}`` (``lo``/``hi`` ``nan`` below 4 points).

    Raises:
        ValueError: fewer than 3 points, or a constant input.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) != len(y) or len(x) < 3:
        raise ValueError(f"correlation_ci: need >= 3 pairs, got {len(x)} and {len(y)} values")
    if np.std(x) == 0 or np.std(y) == 0:
        raise ValueError("correlation_ci: an input is constant; r is undefined")
    r = float(np.corrcoef(x, y)[0, 1])
    n = len(x)
    if n < 4:
        return {"r": r, "lo": math.nan, "hi": math.nan, "n": n}
    z = math.atanh(min(max(r, -0.999999), 0.999999))
    half = sps.norm.ppf(0.5 + level / 2) / math.sqrt(n - 3)
    return {"r": r, "lo": math.tanh(z - half), "hi": math.tanh(z + half), "n": n}


def retrieval_chance(labels) -> float:
    """Expected CMC top-1 (%) of a gallery in random order, query = gallery without the
    self-match: the mean over queries of ``(n_class - 1) / (M - 1)``."""
    y = np.asarray(labels)
    _, counts = np.unique(y, return_counts=True)
    return 100.0 * float((counts * (counts - 1)).sum() / (len(y) * (len(y) - 1)))


def _fmt(d: dict) -> str:
    return f"{d['mean']:+.2f} [{d['lo']:+.2f}, {d['hi']:+.2f}] over {d['n']} seeds"


def answer_side_info(table: pd.DataFrame, chance: pd.DataFrame,
                     metrics: Sequence[str] = ("top1", "mAP"), best_of: str = "simclr") -> list[str]:
    """Notebook 06's questions answered from the per-seed rows, one sentence each.

    Per data set and metric: (1) does each side-info help over none (paired new/h difference)?
    (2) is ``best_of`` the best side-info (paired against each other side-info)? Then (3) is
    Independent new/old at chance (its 95 % top-1 interval against ``chance``'s ``chance_top1``)?
    """
    nh = table[(table.method == NEW_H[0]) & (table.case == NEW_H[1])]
    lines = []
    for ds, g in nh.groupby("dataset", sort=False):
        for metric in metrics:
            per = {si: s.set_index("seed")[metric].to_dict()
                   for si, s in g.groupby("side_info", sort=False)}
            if "none" in per:
                helps = {si: paired_difference(v, per["none"]) for si, v in per.items()
                         if si != "none"}
                for si, d in helps.items():
                    verdict = {"a better": f"{si} helps", "b better": "none better"}.get(
                        d["verdict"], d["verdict"])
                    lines.append(f"{ds}, new/h {metric}: {si} minus none {_fmt(d)} -> {verdict}")
            means = {si: float(np.mean(list(v.values()))) for si, v in per.items()}
            top = max(means, key=means.get)
            others = [si for si in per if si not in (best_of, "none")]
            if best_of in per and others:
                verdicts = {si: paired_difference(per[best_of], per[si]) for si in others}
                beats = [si for si, d in verdicts.items() if d["verdict"] == "a better"]
                lost = [si for si, d in verdicts.items() if d["verdict"] == "b better"]
                rest = [si for si in others if si not in beats + lost]
                lines.append(f"{ds}, new/h {metric}: highest mean {top} ({means[top]:.2f}); "
                             f"paired by seed, {best_of} ({means[best_of]:.2f}) is ahead of "
                             f"[{', '.join(beats)}], behind [{', '.join(lost)}] and undecided "
                             f"against [{', '.join(rest)}] (or too few seeds)")
        ind = table[(table.dataset == ds) & (table.method == "Independent")
                    & (table.case == "new/old")]["top1"]
        ch = chance.loc[chance.dataset == ds, "chance_top1"]
        if len(ind) and len(ch):
            ci = mean_ci(ind.to_numpy()) if len(ind) > 1 else None
            at = "n/a (one seed)" if ci is None else (
                "yes" if ci.covers(float(ch.iloc[0])) else "no")
            span = "" if ci is None else f" [{ci.lo:.2f}, {ci.hi:.2f}]"
            lines.append(f"{ds}: Independent new/old top-1 {ind.mean():.2f}{span} vs chance "
                         f"{float(ch.iloc[0]):.2f}: at chance within the interval? {at}")
    return lines


def _paired_row(a: dict, b: dict, names: tuple[str, str], **ids) -> dict:
    d = paired_difference(a, b)
    verdict = {"a better": f"{names[0]} better", "b better": f"{names[1]} better"}.get(
        d["verdict"], d["verdict"])
    return {**ids, **{k: d[k] for k in ("mean", "lo", "hi", "half_width")},
            "n_train_seeds": d["n"], "verdict": verdict}


def paired_sequence(seq: pd.DataFrame, metric: str = "top1") -> pd.DataFrame:
    """Notebook 08's paired questions, per data set: two-hop minus direct (per side-info), and
    side-info minus none (per route), on ``metric``, paired by seed.

    Args:
        seq: stacked :func:`~embcompat.forward.sequence_table` rows.

    Returns:
        ``dataset, side_info, comparison, mean, lo, hi, half_width, n_train_seeds, verdict``.
    """
    routes = seq[seq.kind.isin(["two-hop", "direct"])]
    rows = []
    for (ds, si), g in routes.groupby(["dataset", "side_info"], sort=False):
        two, direct = (g[g.kind == k].set_index("seed")[metric].to_dict()
                       for k in ("two-hop", "direct"))
        rows.append(_paired_row(two, direct, ("two-hop", "direct"), dataset=ds, side_info=si,
                                comparison=f"two-hop minus direct, {metric}"))
    for (ds, kind), g in routes.groupby(["dataset", "kind"], sort=False):
        per = {si: s.set_index("seed")[metric].to_dict() for si, s in g.groupby("side_info")}
        for si in [k for k in per if k != "none"]:
            if "none" in per:
                rows.append(_paired_row(per[si], per["none"], ("side-info", "none"), dataset=ds,
                                        side_info=si,
                                        comparison=f"{kind}: side-info minus none, {metric}"))
    return pd.DataFrame(rows)


def cka_gain_correlations(points: pd.DataFrame) -> pd.DataFrame:
    """Pearson r(CKA, gain) with its Fisher-z interval per metric and data set, and pooled over
    the data sets (``dataset == "all data sets"``), from stacked :func:`cka_gain_points` frames
    with a ``metric`` column.

    Returns:
        ``metric, dataset, r, lo, hi, n, verdict``: ``"lower CKA, larger gain"`` (the paper's
        reading) when the interval lies below 0, ``"higher CKA, larger gain"`` above it, else
        ``"undecided"``; groups with too few or constant points are left out.
    """
    groups = list(points.groupby(["metric", "dataset"], sort=False)) + [
        ((m, "all data sets"), g) for m, g in points.groupby("metric", sort=False)]
    rows = [{"metric": m, "dataset": ds, **correlation_ci(g.cka, g.gain)}
            for (m, ds), g in groups if len(g) >= 3 and g.cka.std() > 0 and g.gain.std() > 0]
    out = pd.DataFrame(rows, columns=["metric", "dataset", "r", "lo", "hi", "n"])
    out["verdict"] = ["too few points" if pd.isna(lo) else "lower CKA, larger gain" if hi < 0
                      else "higher CKA, larger gain" if lo > 0 else "undecided"
                      for lo, hi in zip(out.lo, out.hi)]
    return out
