"""Has the SimCLR side-info plateaued? Its kNN top-1 over training, per seed (notebook 06).

The SimCLR trainer records the 20-NN accuracy of the model's features every
``scale.simclr_monitor_every`` epochs (:meth:`FCTExperiment.knn_monitor`); this module reads those
histories back from the trained models and plots them.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import pandas as pd

__all__ = ["simclr_knn_table", "plot_simclr_knn"]


def simclr_knn_table(exps: Sequence, side_infos: Sequence[str]) -> pd.DataFrame:
    """``dataset, seed, side_info, epoch, loss, knn_top1`` for every monitored epoch of every
    SimCLR side-info model (``simclr`` / ``simclr_all``) of ``exps``; empty without monitoring."""
    rows = []
    for e in exps:
        for si in side_infos:
            for h in e.named(si).history:
                if isinstance(h, dict) and "knn_top1" in h:
                    rows.append({"dataset": e.data.name, "seed": e.scale.seed, "side_info": si,
                                 "epoch": h["epoch"], "loss": h["loss"], "knn_top1": h["knn_top1"]})
    return pd.DataFrame(rows, columns=["dataset", "seed", "side_info", "epoch", "loss", "knn_top1"])


def plot_simclr_knn(knn: pd.DataFrame):
    """kNN top-1 vs epoch, one panel per data set, one thin line per seed and side-info."""
    datasets = list(dict.fromkeys(knn.dataset))
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 3.8), squeeze=False)
    colors = dict(zip(dict.fromkeys(knn.side_info), plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for ax, ds in zip(axes[0], datasets):
        d = knn[knn.dataset == ds]
        for (si, seed), g in d.groupby(["side_info", "seed"], sort=False):
            ax.plot(g.epoch, g.knn_top1, color=colors[si], lw=1, alpha=0.6, marker=".",
                    label=si if seed == d[d.side_info == si].seed.iloc[0] else None)
        ax.set_xlabel("SimCLR epoch")
        ax.set_ylabel("20-NN top-1 on the test images (%)")
        ax.set_title(f"{ds}: SimCLR side-info during training")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
