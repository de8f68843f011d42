"""The λ sweep's figures: the paper's Figure 5 (metrics vs λ) and the Pareto plot.

Both read the tidy frame of :func:`embcompat.backward.sweep.run_sweep`; nothing trains.

* :func:`plot_lambda_sweep`: the three averaged metrics vs λ on a log2 axis, one line per method;
* :func:`plot_pareto`: intended vs unintended degradation, one point per λ, labelled by λ.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from embcompat.backward.evaluate import ALIGN, INTENDED_DEG, UNINTENDED_DEG
from embcompat.backward.plots import method_colors

__all__ = ["spread", "plot_lambda_sweep", "plot_pareto"]

PANELS = [(INTENDED_DEG, "(1) intended degradation (%)"),
          (UNINTENDED_DEG, "(2) unintended degradation (%)"), (ALIGN, "(3) alignment error")]
REF_STYLE = {"Non-BC": ("X", "--"), "Fix-M0": ("P", ":"), "Keep-All": ("*", "-")}


def _avg(tidy: pd.DataFrame) -> pd.DataFrame:
    return tidy[tidy.version == "avg"] if "version" in tidy else tidy


def spread(rows: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Error bars for ``rows``: the std over training seeds where there are two or more, else the
    std over the consumer seeds (0 where neither exists), and a label saying which."""
    if (rows["n_train_seeds"] > 1).any():
        return rows["std"].fillna(0).to_numpy(float), \
            f"std over {int(rows['n_train_seeds'].max())} training seeds"
    if "std_consumer" in rows and rows["std_consumer"].notna().any():
        return rows["std_consumer"].fillna(0).to_numpy(float), \
            f"std over {int(rows['n_consumer_seeds'].max())} consumer seeds (one training seed)"
    return np.zeros(len(rows)), "one training seed, no spread"


def _log2_axis(ax, lams) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(lams)
    ax.set_xticklabels([f"{x:g}" for x in lams])
    ax.minorticks_off()
    ax.set_xlabel("λ (log2 scale)")


def plot_lambda_sweep(tidy: pd.DataFrame):
    """Figure 5: per data set (rows) the three averaged metrics vs λ, one line per method with
    error bars and a band (:func:`spread`); references (``lam`` NaN) as horizontal lines.

    Returns:
        ``(fig, spreads)``: the figure and the set of spread labels used.
    """
    t = _avg(tidy)
    datasets = list(dict.fromkeys(t.dataset))
    fig, axes = plt.subplots(len(datasets), 3, figsize=(15, 3.8 * len(datasets)), squeeze=False)
    colors = method_colors(t.method.unique())
    labels = set()
    for row, ds in zip(axes, datasets):
        d = t[t.dataset == ds]
        swept = d[d.lam.notna()]
        lams = sorted(swept.lam.unique())
        for ax, (metric, title) in zip(row, PANELS):
            for m, g in swept[swept.metric == metric].groupby("method", sort=False):
                g = g.sort_values("lam")
                err, lab = spread(g)
                labels.add(lab)
                ax.errorbar(g.lam, g.value, yerr=err, fmt="o-", color=colors[m], label=m, lw=1.3,
                            ms=4, capsize=2)
                ax.fill_between(g.lam, g.value - err, g.value + err, color=colors[m], alpha=0.15)
            for m, g in d[d.lam.isna() & (d.metric == metric)].groupby("method", sort=False):
                ax.axhline(g.value.iloc[0], color="grey", ls=REF_STYLE.get(m, ("o", "-."))[1],
                           lw=1, label=f"{m} (any λ)")
            if metric != ALIGN:
                ax.axhline(0, color="k", lw=0.8, label="Keep-All" if metric == INTENDED_DEG else None)
            _log2_axis(ax, lams)
            ax.set_title(f"{title}, {ds}", fontsize=10)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="center right", fontsize=8)
    fig.suptitle("Performance as a function of λ (averaged over versions and tasks; "
                 + "; ".join(sorted(labels)) + ")", fontsize=11)
    fig.tight_layout(rect=(0, 0, 0.85, 1))
    return fig, labels


def _wide(t: pd.DataFrame) -> pd.DataFrame:
    """Averaged rows -> one row per (dataset, method, lam) with intended/unintended value and err."""
    rows = []
    for (ds, m, lam), g in t.groupby(["dataset", "method", "lam"], sort=False, dropna=False):
        g = g.set_index("metric")
        row = {"dataset": ds, "method": m, "lam": lam}
        for metric, key in ((INTENDED_DEG, "x"), (UNINTENDED_DEG, "y")):
            if metric in g.index:
                row[key] = float(g.loc[metric, "value"])
                row[key + "err"] = float(spread(g.loc[[metric]])[0][0])
        rows.append(row)
    return pd.DataFrame(rows)


def plot_pareto(tidy: pd.DataFrame, *, highlight: tuple[str, float] | None = None, ax=None):
    """Intended (x) vs unintended (y) degradation, one point per (method, λ) labelled by λ, joined
    in λ order; references (``lam`` NaN) and Keep-All (0, 0) as markers. Both axes are
    "closer to 0 is better", so the top right is best.

    Args:
        tidy: sweep rows (averaged rows are used); one data set per axis (the first if several).
        highlight: ``(method, λ)`` drawn as a large ring (the explorer's selection).
        ax: draw into this axis (else a new figure).

    Returns:
        The figure.
    """
    t = _avg(tidy)
    if ax is None:
        datasets = list(dict.fromkeys(t.dataset))
        fig, axes = plt.subplots(1, len(datasets), figsize=(6.8 * len(datasets), 5), squeeze=False)
        for a, ds in zip(axes[0], datasets):
            plot_pareto(t[t.dataset == ds], highlight=highlight, ax=a)
        fig.tight_layout()
        return fig
    w = _wide(t[t.dataset == t.dataset.iloc[0]])
    colors = method_colors(w.method.unique())
    for m, g in w[w.lam.notna()].groupby("method", sort=False):
        g = g.sort_values("lam")
        ax.errorbar(g.x, g.y, xerr=g.xerr, yerr=g.yerr, fmt="o-", color=colors[m], label=m,
                    lw=1.2, ms=5, capsize=2, alpha=0.9)
        for _, r in g.iterrows():
            ax.annotate(f"λ={r.lam:g}", (r.x, r.y), textcoords="offset points", xytext=(4, 4),
                        fontsize=7, color=colors[m])
    for _, r in w[w.lam.isna()].iterrows():
        ax.plot(r.x, r.y, REF_STYLE.get(r.method, ("o", "-"))[0], color="grey", ms=9,
                label=f"{r.method} (any λ)")
    ax.plot(0, 0, "*", color="k", ms=11, label="Keep-All")
    if highlight is not None:
        sel = w[(w.method == highlight[0]) & np.isclose(w.lam, highlight[1])]
        ax.plot(sel.x, sel.y, "o", ms=16, mfc="none", mec="k", mew=2, label="selected")
    ax.set_xlabel("(1) intended degradation (%)")
    ax.set_ylabel("(2) unintended degradation (%)")
    ax.set_title(f"Trade-off over λ, {t.dataset.iloc[0]}", fontsize=10)
    ax.legend(fontsize=7)
    return ax.figure
