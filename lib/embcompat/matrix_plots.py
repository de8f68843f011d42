"""Heatmaps of compatibility matrices (BC: consumer x embedding version; FCT: query x gallery),
one annotated panel per method or strategy (seaborn; style from :func:`embcompat.report.set_style`).

Every function takes a tidy frame and returns a figure; none saves or shows it.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["plot_matrix_panels", "plot_bc_matrix", "plot_fct_matrix"]


def plot_matrix_panels(df: pd.DataFrame, value: str, row: str, col: str, panel: str | Sequence[str],
                       *, row_label=str, col_label=str, cmap: str = "rocket",
                       center: float | None = None, vmin=None, vmax=None, fmt: str = ".1f",
                       cbar_label: str | None = None, ncols: int = 3, title: str = ""):
    """One heatmap per value of ``panel``: cells ``df[value]`` at (``row``, ``col``), annotated;
    missing cells (e.g. ``k < j``) stay blank. The colour scale is shared by every panel.

    Raises:
        ValueError: a missing column, or ``(panel, row, col)`` repeats.
    """
    import seaborn as sns

    panels = [panel] if isinstance(panel, str) else list(panel)
    missing = [c for c in [value, row, col, *panels] if c not in df.columns]
    if missing:
        raise ValueError(f"plot_matrix_panels: missing columns {missing}")
    if df.duplicated([*panels, row, col]).any():
        raise ValueError(f"plot_matrix_panels: more than one {value} per ({', '.join(panels)}, "
                         f"{row}, {col}); filter the frame first")
    groups = list(df.groupby(panels, sort=False))
    n = max(len(groups), 1)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    rows, cols = sorted(df[row].unique()), sorted(df[col].unique())
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.0 * len(cols) * ncols + 2.5,
                                                    0.8 * len(rows) * nrows + 1.5), squeeze=False)
    finite = df[value][np.isfinite(df[value].astype(float))]
    lo = vmin if vmin is not None else (float(finite.min()) if len(finite) else 0.0)
    hi = vmax if vmax is not None else (float(finite.max()) if len(finite) else 1.0)
    for ax, (name, g) in zip(axes.flat, groups):
        grid = g.pivot(index=row, columns=col, values=value).reindex(index=rows, columns=cols)
        sns.heatmap(grid.astype(float), ax=ax, annot=True, fmt=fmt, cmap=cmap, center=center,
                    vmin=lo, vmax=hi, cbar=True, square=False, annot_kws={"fontsize": 8},
                    cbar_kws={"label": cbar_label or value})
        ax.set_title(" · ".join(map(str, name if isinstance(name, tuple) else (name,))), fontsize=10)
        ax.set_yticklabels([row_label(r) for r in rows], rotation=0)
        ax.set_xticklabels([col_label(c) for c in cols], rotation=0)
        ax.set_ylabel(row)
        ax.set_xlabel(col)
        ax.grid(False)  # the style's grid would cross the blank cells
    for ax in axes.flat[len(groups):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_bc_matrix(matrix: pd.DataFrame, dataset: str | None = None, ncols: int = 3):
    """The BC matrix of one data set: task-mean degradation (%) of ``C_j`` (rows) fed version ``k``
    (columns), one panel per method (:func:`embcompat.backward.compat_matrix.compat_matrix`).

    Raises:
        ValueError: several data sets and no ``dataset`` named, or none left.
    """
    t = matrix[matrix.task == "mean"]
    dss = list(dict.fromkeys(t.dataset))
    if dataset is None and len(dss) > 1:
        raise ValueError(f"the matrix holds several data sets {dss}; name one")
    dataset = dataset if dataset is not None else (dss[0] if dss else None)
    t = t[t.dataset == dataset]
    if t.empty:
        raise ValueError(f"no task-mean cells for data set {dataset!r} (have {dss})")
    worst = float(np.nanmin(t.degradation)) if t.degradation.notna().any() else -1.0
    lim = max(abs(worst), float(np.nanmax(t.degradation.abs())), 1e-6)
    return plot_matrix_panels(t, "degradation", "consumer_version", "embedding_version", "method",
                              row_label=lambda j: f"C_{j}", col_label=lambda k: f"v{k}",
                              cmap="RdBu", center=0.0, vmin=-lim, vmax=lim, fmt=".1f",
                              cbar_label="unintended degradation (%)", ncols=ncols,
                              title=f"{dataset}: consumer C_j fed version k (task mean)")


def plot_fct_matrix(matrix: pd.DataFrame, metric: str = "top1", ncols: int = 2):
    """The FCT matrix: ``metric`` (%) with queries from version ``q`` (rows) on a gallery stored at
    ``g`` (columns), one panel per side-info x strategy, and per data set when the frame holds
    several (:func:`embcompat.forward.compat_matrix.fct_compat_matrix`; one row per cell, e.g.
    the mean over seeds)."""
    panels = ["side_info", "strategy"]
    if "dataset" in matrix.columns and matrix.dataset.nunique() > 1:
        panels = ["dataset", *panels]
    return plot_matrix_panels(matrix, metric, "query_version", "gallery_version", panels, row_label=lambda q: f"q=v{q}",
                              col_label=lambda g: f"g=v{g}", cmap="viridis", vmin=0.0,
                              fmt=".1f", cbar_label=f"{metric} (%)", ncols=ncols,
                              title="Query version q vs gallery stored at version g")
