"""Figures of notebook 01: interactions over time, degree distributions, ratings, image grids."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from embcompat.data.graphs import InteractionGraph
from embcompat.data.splits import VersionSplit
from embcompat.data.summary import as_date, cut_times, degrees, is_calendar_time


def plot_interactions_over_time(graphs: Sequence[tuple[InteractionGraph, Sequence[VersionSplit]]]):
    """Cumulative interactions against time per data set, with the version cuts t_k marked."""
    fig, axes = plt.subplots(1, len(graphs), figsize=(5 * len(graphs), 3.6), squeeze=False)
    for ax, (g, splits) in zip(axes[0], graphs):
        t = g.time.numpy()
        frac = np.arange(1, t.size + 1) / t.size
        calendar = is_calendar_time(g)
        x = [as_date(int(v)) for v in t[:: max(1, t.size // 2000)]] if calendar \
            else t[:: max(1, t.size // 2000)]
        ax.plot(x, frac[:: max(1, t.size // 2000)], lw=1.5)
        for k, ct in enumerate(cut_times(g, splits)):
            ax.axvline(as_date(ct) if calendar else ct, color="grey", ls="--", lw=0.8)
        ax.set_title(g.name)
        ax.set_xlabel("time")
        ax.set_ylabel("fraction of interactions")
        ax.tick_params(axis="x", rotation=30)
    fig.suptitle("Interactions over time; dashed lines are the version cuts t_k")
    fig.tight_layout()
    return fig


def plot_degree_distributions(graphs: Sequence[InteractionGraph]):
    """Log-log complementary CDFs of user and item degrees."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for g in graphs:
        for ax, deg, who in zip(axes, degrees(g), ("user", "item")):
            d = np.sort(deg[deg > 0].numpy())[::-1]
            ax.loglog(d, np.arange(1, d.size + 1) / d.size, label=g.name)
            ax.set_xlabel(f"{who} degree")
            ax.set_ylabel("fraction with degree ≥ x")
            ax.set_title(f"{who} degree distribution")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_rating_histograms(graphs: Sequence[InteractionGraph]):
    """One histogram of ratings per data set."""
    fig, axes = plt.subplots(1, len(graphs), figsize=(4 * len(graphs), 3.2), squeeze=False)
    for ax, g in zip(axes[0], graphs):
        values, counts = torch.unique(g.rating, return_counts=True)
        ax.bar(values.numpy(), counts.numpy() / counts.sum().item(),
               width=0.8 * float(torch.diff(values).min()) if values.numel() > 1 else 0.8)
        ax.set_title(g.name)
        ax.set_xlabel("rating")
        ax.set_ylabel("fraction")
    fig.tight_layout()
    return fig


def plot_image_grid(grid: torch.Tensor, title: str, classes: Sequence[str] | None = None):
    """Show a ``(C, H, W)`` uint8 grid (rows = classes) with the class names on the left."""
    width = 5.0
    fig, ax = plt.subplots(figsize=(width, width * grid.shape[1] / grid.shape[2] + 0.4))
    img = grid.permute(1, 2, 0).numpy()
    ax.imshow(img.squeeze(-1) if img.shape[-1] == 1 else img, cmap="gray", interpolation="nearest")
    ax.grid(False)
    ax.set_xticks([])
    if classes:
        step = grid.shape[1] / len(classes)
        ax.set_yticks([step * (i + 0.5) for i in range(len(classes))], labels=list(classes))
    else:
        ax.set_yticks([])
    ax.set_title(title)
    fig.tight_layout()
    return fig
