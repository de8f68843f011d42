"""Figures of notebooks 02-04 (matplotlib; style from :func:`embcompat.report.set_style`).

Every function takes tidy frames or results and returns a figure; none saves or shows it.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from embcompat.backward.evaluate import (ALIGN, INTENDED_DEG, PAPER_ORDER, UNINTENDED_DEG,
                                         alignment_vs_unintended, pearson, task_metric)
from embcompat.backward.results import VersionsResult
from embcompat.backward.seed_tables import SEED, version_ci

__all__ = ["method_colors", "plot_training_curves", "plot_recall_per_version",
           "plot_over_time", "plot_per_task", "plot_alignment_vs_unintended"]


def method_colors(methods: Sequence[str]) -> dict[str, tuple]:
    """One fixed colour per Table 3 method (the same in every figure)."""
    palette = list(plt.get_cmap("tab10").colors) + list(plt.get_cmap("Dark2").colors)
    return {m: palette[PAPER_ORDER.index(m) % len(palette) if m in PAPER_ORDER else -1]
            for m in methods}


def _grid(n: int, ncols: int = 3, size=(4.2, 3.0)):
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows),
                             squeeze=False, sharey=True)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def plot_training_curves(results: Mapping[str, VersionsResult] | Sequence[Mapping[str, VersionsResult]],
                         K: int = 50):
    """Recall@K on the selection split vs epoch: one panel per method, one line per version and
    training seed (``results`` per seed as a list; one mapping: one seed).

    Methods without training curves of their own (Keep-All, and Fix-M0 / post-hoc after version 0,
    which reuse M_0's / Non-BC's models) show what they carry; the selected epoch is marked. A line
    that ends before the cap is a run stopped by ``patience``.
    """
    runs = [results] if isinstance(results, Mapping) else list(results)
    first = runs[0]
    names = [m for m in first if any(v.history for v in first[m].versions)]
    fig, axes = _grid(max(len(names), 1))
    cmap = plt.get_cmap("viridis")
    alpha = 1.0 if len(runs) == 1 else 0.55
    for ax, m in zip(axes, names):
        for i, res in enumerate(runs):
            vs = res[m].versions
            for v in vs:
                pts = [(h["epoch"], h[f"recall@{K}"]) for h in v.history if f"recall@{K}" in h]
                if not pts:
                    continue
                e, r = zip(*pts)
                c = cmap(v.k / max(len(vs) - 1, 1))
                ax.plot(e, r, "-", color=c, lw=1.0, alpha=alpha, label=f"v{v.k}" if i == 0 else None)
                ax.plot([v.best_epoch], [v.recall[K]], "o", color=c, ms=3, alpha=alpha)
        ax.set_title(m, fontsize=10)
        ax.set_xlabel("epoch")
    if names:
        axes[0].set_ylabel(f"Recall@{K} (selection split)")
        axes[0].legend(fontsize=7, title="version", title_fontsize=7)
    seeds = f"{len(runs)} training seeds" if len(runs) > 1 else "one training seed"
    fig.suptitle(f"Training curves (dots: selected epoch; {seeds}), {next(iter(first.values())).dataset}")
    fig.tight_layout()
    return fig


def plot_recall_per_version(recall: pd.DataFrame, K: int = 50):
    """Reported Recall@K per version, one line per method (``recall_table`` output)."""
    t = recall[recall.metric == f"recall@{K}"]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    colors = method_colors(t.method.unique())
    for m, g in t.groupby("method", sort=False):
        ax.plot(g.version, g.value, "o-", color=colors[m], label=m, lw=1.2)
    ax.set_xticks(sorted(t.version.unique()))
    ax.set_xlabel("version k")
    split = t.split.iloc[0] if len(t) else ""
    ax.set_ylabel(f"Recall@{K} ({split})")
    ax.set_title(f"Intended task per version, {t.dataset.iloc[0] if len(t) else ''}")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def _per_version(tidy: pd.DataFrame, metric: str) -> pd.DataFrame:
    t = tidy[(tidy.metric == metric) & (tidy.version != "avg")].copy()
    t["k"] = t.version.astype(int)
    return t.sort_values("k")


def _seeded(tidy: pd.DataFrame) -> bool:
    return SEED in tidy.columns and tidy[SEED].nunique() > 1


def _line(ax, tidy: pd.DataFrame, metric: str, x_of, **style) -> None:
    """One metric of one method vs version: with several training seeds the mean and a shaded
    95 % interval over them; with one, error bars of the consumer-seed std."""
    if _seeded(tidy):
        v = version_ci(tidy, metric).sort_values("version")
        x = [x_of(k) for k in v.version]
        ax.plot(x, v["mean"], "o-", lw=1.2, ms=4, **style)
        ax.fill_between(x, v["lo"], v["hi"], alpha=0.18, color=style.get("color"), lw=0)
        return
    g = _per_version(tidy, metric)
    ax.errorbar([x_of(k) for k in g.k], g.value, yerr=g["std"].fillna(0), fmt="o-", lw=1.2, ms=4,
                capsize=2, **style)


def _spread_note(tidy: pd.DataFrame) -> str:
    if _seeded(tidy):
        return f"bands: 95 % CI over {tidy[SEED].nunique()} training seeds"
    return "error bars: std over consumer seeds, one training seed"


def plot_over_time(tidy: pd.DataFrame, times: Sequence[float] | None = None):
    """The paper's Figure 3: intended degradation, unintended degradation and alignment error vs
    version, one line per method (bands: 95 % CI over training seeds; one seed: error bars of the
    std over consumer seeds)."""
    panels = [(INTENDED_DEG, "(1) intended degradation (%)"),
              (UNINTENDED_DEG, "(2) unintended degradation (%)"), (ALIGN, "(3) alignment error")]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    colors = method_colors(tidy.method.unique())
    for ax, (metric, label) in zip(axes, panels):
        for m, g in tidy.groupby("method", sort=False):
            _line(ax, g, metric, (lambda k: times[k]) if times is not None else (lambda k: k),
                  color=colors[m], label=m)
        ax.axhline(0, color="k", ls=":", lw=1)
        ax.set_xlabel("timestamp t_k" if times is not None else "version k")
        ax.set_title(label, fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8)
    fig.suptitle(f"Performance over time (Keep-All = 0; {_spread_note(tidy)}), "
                 f"{', '.join(tidy.dataset.unique())}")
    fig.tight_layout(rect=(0, 0, 0.87, 1))
    return fig


def plot_per_task(tidy: pd.DataFrame, method: str = "BC-Aligner",
                  tasks: Sequence[str] | None = None):
    """The paper's Figure 4: one method's degradation per unintended task vs version (dotted:
    Keep-All); bands or error bars as in :func:`plot_over_time`."""
    prefix = task_metric(UNINTENDED_DEG, "")
    t = tidy[(tidy.method == method) & tidy.metric.str.startswith(prefix) & (tidy.version != "avg")]
    if t.empty:
        raise ValueError(f"no per-task rows for {method!r}; methods: {sorted(tidy.method.unique())}")
    names = list(tasks) if tasks is not None else list(dict.fromkeys(t.metric.str[len(prefix):]))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name in names:
        _line(ax, t, prefix + name, lambda k: k, label=name)
    ax.axhline(0, color="k", ls=":", lw=1, label="Keep-All")
    ax.set_xticks(sorted(t.version.astype(int).unique()))
    ax.set_xlabel("version k")
    ax.set_ylabel("degradation from Keep-All (%)")
    ax.set_title(f"{method}: unintended tasks over time, {', '.join(tidy.dataset.unique())}\n"
                 f"({_spread_note(tidy)})", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_alignment_vs_unintended(tidy: pd.DataFrame):
    """Scatter of alignment error vs unintended degradation, one point per (dataset, method,
    version >= 1), with the Pearson correlation in the title.

    Returns:
        ``(fig, r, points)``: the figure, Pearson's r and the plotted points.
    """
    pts = alignment_vs_unintended(tidy)
    r = pearson(pts[ALIGN], pts[UNINTENDED_DEG])
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    colors = method_colors(pts.method.unique())
    markers = dict(zip(pts.dataset.unique(), "osD^v<>"))
    for (ds, m), g in pts.groupby(["dataset", "method"], sort=False):
        ax.scatter(g[ALIGN], g[UNINTENDED_DEG], color=colors[m], marker=markers[ds], s=30,
                   label=m if ds == pts.dataset.iloc[0] else None)
    ax.set_xlabel("alignment error (mean L2 to z_0)")
    ax.set_ylabel("unintended degradation (%)")
    ax.set_title(f"Pearson r = {r:.3f} over {len(pts)} (dataset, method, version) points")
    if len(markers) > 1:  # which marker is which data set
        for ds, mk in markers.items():
            ax.scatter([], [], marker=mk, color="grey", label=ds)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig, r, pts
