"""Figures of notebooks 06-08 (matplotlib/seaborn; style from :func:`embcompat.report.set_style`).

Bar charts take the interval frames of :func:`embcompat.forward.seed_stats.seed_ci` and draw the
mean over training seeds with its 95 % interval as an error bar, one row of panels per data set.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["plot_compatibility", "plot_cka_heatmap", "plot_cka_vs_gain", "plot_sequences"]

_FCT_GREEN = "#029e73"


def _bars(ax, labels, values, colors=None, err=None, fmt="{:.1f}"):
    err = None if err is None or not np.isfinite(err).any() else np.nan_to_num(err)
    ax.barh(np.arange(len(values)), values, color=colors, xerr=err, capsize=2,
            error_kw={"lw": 1})
    ax.set_yticks(np.arange(len(values)), labels)
    ax.invert_yaxis()
    for i, v in enumerate(values):
        ax.text(v, i, " " + fmt.format(v), va="center", fontsize=8)


def _xlabel(metric: str) -> str:
    return f"CMC {metric} (%)" if metric != "mAP" else "mAP (%)"


def _seeds(ci: pd.DataFrame) -> str:
    n = ci.n_train_seeds
    return f"{n.min()}" if n.min() == n.max() else f"{n.min()}-{n.max()}"


def plot_compatibility(ci: pd.DataFrame, metric: str = "top1"):
    """Per data set, two panels: Table 1's cases (Independent / BCT / FCT with each side-info's
    new/h and h/h) and Table 6's new/h per side-info; bars are the mean over seeds, whiskers the
    95 % interval.

    Args:
        ci: :func:`~embcompat.forward.seed_stats.seed_ci` of the stacked compatibility tables,
            keys ``method, case, side_info``.
    """
    ci = ci[ci.metric == metric]
    datasets = list(dict.fromkeys(ci.dataset))
    n_rows = ci.groupby("dataset").size().max()
    fig, axes = plt.subplots(len(datasets), 2, figsize=(12, len(datasets) * (0.3 * n_rows + 1.5)),
                             gridspec_kw={"width_ratios": [1.4, 1]}, squeeze=False)
    palette = {"Independent": "#0173b2", "BCT": "#de8f05", "FCT": _FCT_GREEN}
    for (a1, a2), ds in zip(axes, datasets):
        t = ci[ci.dataset == ds]
        rows = pd.concat([t[t.method != "FCT"], t[(t.method == "FCT") & (t.case != "new/new")]])
        labels = [f"{r.method} {r.case}" + (f" [{r.side_info}]" if r.side_info != "n/a" else "")
                  for r in rows.itertuples()]
        _bars(a1, labels, rows["mean"].to_numpy(), [palette[m] for m in rows.method],
              rows.half_width.to_numpy())
        a1.set_xlabel(_xlabel(metric))
        a1.set_title(f"{ds}: compatibility cases (query / gallery), {_seeds(t)} seeds")
        t6 = t[(t.method == "FCT") & (t.case == "new/h")]
        _bars(a2, list(t6.side_info), t6["mean"].to_numpy(), _FCT_GREEN, t6.half_width.to_numpy())
        for case, ls in (("new/new", "--"), ("old/old", ":")):
            v = t[(t.method == "Independent") & (t.case == case)]["mean"]
            if len(v):
                a2.axvline(float(v.iloc[0]), color="k", ls=ls, lw=1, label=case)
        a2.legend(loc="lower right", fontsize=8)
        a2.set_xlabel(_xlabel(metric))
        a2.set_title(f"{ds}: new / h(old, side-info)")
    fig.tight_layout()
    return fig


def plot_cka_heatmap(matrices: dict[str, pd.DataFrame]):
    """One heatmap per data set of a symmetric CKA matrix (the seed mean of ``cka_all_models``)."""
    import seaborn as sns

    n = max(len(m) for m in matrices.values())
    fig, axes = plt.subplots(1, len(matrices), figsize=(len(matrices) * (0.6 * n + 2.5),
                                                        0.5 * n + 2), squeeze=False)
    for ax, (ds, matrix) in zip(axes[0], matrices.items()):
        sns.heatmap(matrix.astype(float), vmin=0, vmax=1, annot=True, fmt=".2f", cmap="viridis",
                    square=True, cbar_kws={"label": "linear CKA"}, ax=ax,
                    annot_kws={"fontsize": 7})
        ax.set_title(f"{ds}: linear CKA between test-image features (mean over seeds)")
    fig.tight_layout()
    return fig


def plot_cka_vs_gain(points: pd.DataFrame, metric: str = "top1"):
    """Per data set: CKA(old, side-info) against the gain of new/h ``metric`` over no side-info,
    one small dot per seed and a large marker with 2-sided whiskers (± one standard deviation
    over seeds) per side-info.

    Args:
        points: :func:`~embcompat.forward.seed_stats.cka_gain_points` rows.
    """
    datasets = list(dict.fromkeys(points.dataset))
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4), squeeze=False)
    kinds = list(dict.fromkeys(points.side_info))
    colors = dict(zip(kinds, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for ax, ds in zip(axes[0], datasets):
        p = points[points.dataset == ds]
        for si, g in p.groupby("side_info", sort=False):
            ax.scatter(g.cka, g.gain, s=12, alpha=0.5, color=colors[si])
            ax.errorbar(g.cka.mean(), g.gain.mean(), xerr=g.cka.std(ddof=1) if len(g) > 1 else None,
                        yerr=g.gain.std(ddof=1) if len(g) > 1 else None, fmt="o", ms=7,
                        color=colors[si], label=si, capsize=2)
        ax.axhline(0, color="grey", ls=":", lw=1)
        ax.set_xlim(-0.02, 1.02)
        ax.set_xlabel("linear CKA(old features, side-info)")
        ax.set_ylabel(f"new/h {metric}: side-info minus none (points)")
        ax.set_title(f"{ds}: complementarity vs gain")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_sequences(ci: pd.DataFrame, metric: str = "top1"):
    """Per data set, bars of ``metric`` (mean over seeds, 95 % whiskers) for every case of the
    update-sequence table, coloured by side-info.

    Args:
        ci: :func:`~embcompat.forward.seed_stats.seed_ci` of the stacked sequence tables, keys
            ``case, kind, side_info``.
    """
    ci = ci[ci.metric == metric]
    datasets = list(dict.fromkeys(ci.dataset))
    n_rows = ci.groupby("dataset").size().max()
    fig, axes = plt.subplots(1, len(datasets), figsize=(8 * len(datasets), 0.35 * n_rows + 1.5),
                             squeeze=False)
    colors = {"n/a": "#949494", "none": "#de8f05"}
    for ax, ds in zip(axes[0], datasets):
        t = ci[ci.dataset == ds]
        labels = [f"{r.case}" + (f" [{r.side_info}]" if r.side_info != "n/a" else "")
                  for r in t.itertuples()]
        _bars(ax, labels, t["mean"].to_numpy(), [colors.get(s, _FCT_GREEN) for s in t.side_info],
              t.half_width.to_numpy())
        ax.set_xlabel(_xlabel(metric))
        ax.set_title(f"{ds}: updates v1 -> v2 -> v3, {_seeds(t)} seeds")
    fig.tight_layout()
    return fig
