"""Figures of notebooks 06-08 (matplotlib/seaborn; style from :func:`embcompat.report.set_style`)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["plot_compatibility", "plot_cka_heatmap", "plot_cka_vs_compatibility",
           "plot_sequences"]


def _bars(ax, labels, values, colors=None, fmt="{:.1f}"):
    ax.barh(np.arange(len(values)), values, color=colors)
    ax.set_yticks(np.arange(len(values)), labels)
    ax.invert_yaxis()
    for i, v in enumerate(values):
        ax.text(v, i, " " + fmt.format(v), va="center", fontsize=8)


def plot_compatibility(table: pd.DataFrame, metric: str = "top1"):
    """Two panels: Table 1's cases (Independent / BCT / FCT with each side-info's new/h and h/h)
    and Table 6's new/h per side-info, as horizontal bars of ``metric`` (percent).

    Args:
        table: :func:`embcompat.forward.evaluate.compatibility_table` output.
    """
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 0.35 * len(table) + 1.5),
                                 gridspec_kw={"width_ratios": [1.4, 1]})
    base = table[table.method != "FCT"]
    fct = table[(table.method == "FCT") & (table.case != "new/new")]
    rows = pd.concat([base, fct])
    labels = [f"{r.method} {r.case}" + (f" [{r.side_info}]" if r.side_info != "n/a" else "")
              for r in rows.itertuples()]
    palette = {"Independent": "#0173b2", "BCT": "#de8f05", "FCT": "#029e73"}
    _bars(a1, labels, rows[metric].to_numpy(), [palette[m] for m in rows.method])
    a1.set_xlabel(f"CMC {metric} (%)" if metric != "mAP" else "mAP (%)")
    a1.set_title("Compatibility cases (query / gallery)")
    t6 = table[(table.method == "FCT") & (table.case == "new/h")]
    _bars(a2, list(t6.side_info), t6[metric].to_numpy(), "#029e73")
    new_new = table[(table.method == "Independent") & (table.case == "new/new")][metric]
    old_old = table[(table.method == "Independent") & (table.case == "old/old")][metric]
    for v, ls, name in ((new_new, "--", "new/new"), (old_old, ":", "old/old")):
        if len(v):
            a2.axvline(float(v.iloc[0]), color="k", ls=ls, lw=1, label=name)
    a2.legend(loc="lower right", fontsize=8)
    a2.set_xlabel(a1.get_xlabel())
    a2.set_title("new / h(old, side-info) by side-info")
    fig.tight_layout()
    return fig


def plot_cka_heatmap(matrix: pd.DataFrame):
    """Heatmap of a symmetric CKA matrix (``cka_all_models`` output)."""
    import seaborn as sns

    n = len(matrix)
    fig, ax = plt.subplots(figsize=(0.6 * n + 2.5, 0.5 * n + 2))
    sns.heatmap(matrix.astype(float), vmin=0, vmax=1, annot=True, fmt=".2f", cmap="viridis",
                square=True, cbar_kws={"label": "linear CKA"}, ax=ax, annot_kws={"fontsize": 7})
    ax.set_title("Linear CKA between models' test-image features")
    fig.tight_layout()
    return fig


def plot_cka_vs_compatibility(df: pd.DataFrame, metric: str = "top1"):
    """Scatter of CKA(old, side-info) against new/h ``metric``; side-infos with undefined CKA
    (the zero vector) are drawn as a horizontal reference line instead.

    Args:
        df: columns ``side_info``, ``cka`` and ``metric``.
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    ok = df[np.isfinite(df.cka.astype(float))]
    ax.scatter(ok.cka, ok[metric], s=40)
    for r in ok.itertuples():
        ax.annotate(r.side_info, (r.cka, getattr(r, metric)), textcoords="offset points",
                    xytext=(4, 4), fontsize=8)
    for r in df[~np.isfinite(df.cka.astype(float))].itertuples():
        ax.axhline(getattr(r, metric), color="grey", ls=":", lw=1)
        ax.annotate(f"{r.side_info} (CKA undefined)", (0.0, getattr(r, metric)), fontsize=8,
                    xytext=(2, 2), textcoords="offset points", color="grey")
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("linear CKA(old features, side-info)")
    ax.set_ylabel(f"new / h(old, side-info) {metric} (%)")
    ax.set_title("Complementarity vs compatibility")
    fig.tight_layout()
    return fig


def plot_sequences(table: pd.DataFrame, metric: str = "top1"):
    """Bars of ``metric`` for every case of the update-sequence table, coloured by side-info."""
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(table) + 1.5))
    labels = [f"{r.case}" + (f" [{r.side_info}]" if r.side_info != "n/a" else "")
              for r in table.itertuples()]
    colors = {"n/a": "#949494", "none": "#de8f05"}
    _bars(ax, labels, table[metric].to_numpy(),
          [colors.get(s, "#029e73") for s in table.side_info])
    ax.set_xlabel(f"CMC {metric} (%)" if metric != "mAP" else "mAP (%)")
    ax.set_title("Sequence of updates v1 -> v2 -> v3 (query / gallery)")
    fig.tight_layout()
    return fig
