"""The λ sweep's interactive trade-off explorer (ipywidgets), over cached results.

Everything here reads the tidy frame of :func:`embcompat.backward.sweep.run_sweep` (with
``per_version=True`` for the explorer's over-time panels); nothing trains. The sweep's static
figures are in :mod:`embcompat.backward.sweep_plots`; :func:`draw_run` draws the explorer's four
panels for one (data set, method, λ).

:class:`Explorer` wires a λ slider (the swept values), a method and a data-set selector to
:func:`draw_run`; which rows a slider position selects is :func:`select_run` (nearest swept λ on
the log scale), a plain function. The figure is shown as PNG bytes (:func:`figure_png`), so it
is an image whatever matplotlib's backend or the kernel's inline-plotting state. Headless
(papermill, nbval, no widget front end) :func:`show_explorer` saves and shows the static figure
instead.
"""
from __future__ import annotations

from io import BytesIO
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from embcompat.backward.evaluate import ALIGN, INTENDED_DEG, UNINTENDED_DEG, task_metric
from embcompat.backward.sweep_plots import plot_pareto, spread

__all__ = ["swept_lambdas", "select_run", "draw_run", "figure_png", "in_live_frontend", "Explorer",
           "show_explorer"]

PNG_DPI = 80  # the explorer's image: 13 x 8.5 in -> 1040 x 680 px


def swept_lambdas(tidy: pd.DataFrame, dataset: str, method: str) -> list[float]:
    """The λ values swept for ``(dataset, method)``, increasing.

    Raises:
        ValueError: an unknown data set or method, naming the allowed ones.
    """
    known = list(dict.fromkeys(tidy.dataset))
    if dataset not in known:
        raise ValueError(f"unknown dataset {dataset!r}; allowed: {', '.join(known)}")
    d = tidy[(tidy.dataset == dataset) & tidy.lam.notna()]
    methods = list(dict.fromkeys(d.method))
    if method not in methods:
        raise ValueError(f"unknown method {method!r} for {dataset}; allowed: {', '.join(methods)}")
    return sorted(float(x) for x in d[d.method == method].lam.unique())


def select_run(tidy: pd.DataFrame, dataset: str, method: str, lam: float) -> pd.DataFrame:
    """The rows of ``(dataset, method)`` at the swept λ nearest to ``lam`` (on the log scale;
    ties go to the smaller λ): what a slider position shows.

    Raises:
        ValueError: unknown data set or method (naming the allowed ones), or ``lam <= 0``.
    """
    lams = swept_lambdas(tidy, dataset, method)
    if not (np.isfinite(lam) and lam > 0):
        raise ValueError(f"lam must be a finite number > 0; swept: {', '.join(f'{x:g}' for x in lams)}")
    nearest = lams[int(np.argmin(np.abs(np.log2(lams) - np.log2(lam))))]
    out = tidy[(tidy.dataset == dataset) & (tidy.method == method) & (tidy.lam == nearest)]
    return out.reset_index(drop=True)


def _over_time(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    g = rows[(rows.metric == metric) & (rows.version != "avg")].copy()
    g["k"] = g.version.astype(int)
    return g.sort_values("k")


def draw_run(tidy: pd.DataFrame, dataset: str, method: str, lam: float, fig=None):
    """The explorer's view of one run: (a) the Pareto plot with the run ringed, (b) intended and
    unintended degradation per version, (c) alignment error per version, (d) the degradation of
    each unintended task per version (error bars: :func:`spread`).

    Args:
        tidy: :func:`run_sweep` output with ``per_version=True``.
        dataset, method, lam: the selection (``lam``: nearest swept value, :func:`select_run`).
        fig: redraw into this figure (cleared), else a new one.

    Returns:
        The figure.
    """
    if "version" not in tidy:
        raise ValueError("draw_run needs the per-version rows: run_sweep(..., per_version=True)")
    rows = select_run(tidy, dataset, method, lam)
    chosen = float(rows.lam.iloc[0])
    if fig is None:
        fig = plt.figure(figsize=(13, 8.5))
    fig.clear()
    ax = fig.subplots(2, 2)
    plot_pareto(tidy[tidy.dataset == dataset], highlight=(method, chosen), ax=ax[0, 0])
    for metric, style, label in ((INTENDED_DEG, "o-", "intended"), (UNINTENDED_DEG, "s-",
                                                                     "unintended (mean of tasks)")):
        g = _over_time(rows, metric)
        ax[0, 1].errorbar(g.k, g.value, yerr=spread(g)[0], fmt=style, label=label, capsize=2)
    ax[0, 1].axhline(0, color="k", lw=0.8)
    ax[0, 1].set_title("(b) degradation from Keep-All per version (%)", fontsize=10)
    g = _over_time(rows, ALIGN)
    ax[1, 0].plot(g.k, g.value, "o-", color="C2")
    ax[1, 0].set_title("(c) alignment error per version", fontsize=10)
    prefix = task_metric(UNINTENDED_DEG, "")
    tasks = list(dict.fromkeys(rows.metric[rows.metric.str.startswith(prefix)].str[len(prefix):]))
    for task in tasks:
        g = _over_time(rows, prefix + task)
        ax[1, 1].errorbar(g.k, g.value, yerr=spread(g)[0], fmt="o-", label=task, ms=3, capsize=2)
    ax[1, 1].axhline(0, color="k", lw=0.8)
    ax[1, 1].set_title("(d) unintended degradation per task (%)", fontsize=10)
    ks = sorted(rows.version[rows.version != "avg"].astype(int).unique())
    for a in (ax[0, 1], ax[1, 0], ax[1, 1]):
        a.set_xlabel("version k")
        a.set_xticks(ks)
    ax[0, 1].legend(fontsize=7)
    if tasks:
        ax[1, 1].legend(fontsize=7)
    fig.suptitle(f"{method}, λ = {chosen:g} ({dataset}; {spread(rows)[1]})", fontsize=11)
    fig.tight_layout()
    return fig


def figure_png(fig, dpi: int = PNG_DPI) -> bytes:
    """``fig`` rendered as PNG bytes with matplotlib's Agg renderer, whatever the backend: what the
    explorer shows. (``display(fig)`` of a figure not made by pyplot is only the text
    ``<Figure size ...>`` until the kernel's inline plotting is on.)"""
    buf = BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def in_live_frontend() -> bool:
    """Whether widgets can be shown: an IPython kernel started by a Jupyter server or VS Code
    (connection file ``kernel-*.json``), not by papermill/nbval/nbclient (a temporary
    ``tmp*.json``), with ipywidgets importable."""
    try:
        from IPython import get_ipython

        ip = get_ipython()
        if ip is None or type(ip).__name__ != "ZMQInteractiveShell":
            return False
        import ipywidgets  # noqa: F401
        from ipykernel import get_connection_file

        return Path(get_connection_file()).name.startswith("kernel-")
    except Exception:  # no kernel, no ipywidgets: not live
        return False


def _default_selection(tidy: pd.DataFrame) -> tuple[str, str, float]:
    ds = tidy.dataset.iloc[0]
    methods = list(dict.fromkeys(tidy[(tidy.dataset == ds) & tidy.lam.notna()].method))
    m = "BC-Aligner" if "BC-Aligner" in methods else methods[0]
    lams = swept_lambdas(tidy, ds, m)
    return ds, m, (16.0 if 16.0 in lams else lams[len(lams) // 2])


class Explorer:
    """λ slider, method and data-set selectors redrawing :func:`draw_run` from ``tidy``.

    Attributes:
        dataset, method, lam: the ``Dropdown``/``Dropdown``/``SelectionSlider`` widgets.
        image: the ``ipywidgets.Image`` showing the figure as PNG (:func:`figure_png`), its
            ``value`` replaced on every redraw; panel: the whole ``VBox``.
        selected: the rows of the current selection (:func:`select_run`).
        fig: the current figure (redrawn in place).
    """

    def __init__(self, tidy: pd.DataFrame, dataset: str | None = None, method: str | None = None,
                 lam: float | None = None):
        import ipywidgets as w

        self.tidy = tidy
        d0, m0, l0 = _default_selection(tidy)
        dataset, method = dataset or d0, method or m0
        self._busy = True
        self.dataset = w.Dropdown(options=list(dict.fromkeys(tidy.dataset)), value=dataset,
                                  description="data set")
        self.method = w.Dropdown(options=self._methods(dataset), value=method, description="method")
        lams = swept_lambdas(tidy, dataset, method)
        self.lam = w.SelectionSlider(options=[(f"{x:g}", x) for x in lams],
                                     value=select_run(tidy, dataset, method, lam or l0).lam.iloc[0],
                                     description="λ", continuous_update=False)
        self.image = w.Image(format="png", layout=w.Layout(max_width="100%", height="auto"))
        self.panel = w.VBox([w.HBox([self.dataset, self.method, self.lam]), self.image])
        from matplotlib.figure import Figure

        self.fig = Figure(figsize=(13, 8.5))  # not pyplot's: no second copy under inline
        self.selected: pd.DataFrame | None = None
        for c in (self.dataset, self.method, self.lam):
            c.observe(self._on_change, names="value")
        self._busy = False
        self.redraw()

    def _methods(self, dataset: str) -> list[str]:
        t = self.tidy
        return list(dict.fromkeys(t[(t.dataset == dataset) & t.lam.notna()].method))

    def _on_change(self, change) -> None:
        if self._busy:
            return
        self._busy = True
        try:  # keep the method and λ choices valid for the data set / method now selected
            if change["owner"] is self.dataset and self.method.value not in self._methods(
                    self.dataset.value):
                self.method.options = self._methods(self.dataset.value)
            if change["owner"] is not self.lam:
                old = self.lam.value
                lams = swept_lambdas(self.tidy, self.dataset.value, self.method.value)
                self.lam.options = [(f"{x:g}", x) for x in lams]
                self.lam.value = lams[int(np.argmin(np.abs(np.log2(lams) - np.log2(old))))]
        finally:
            self._busy = False
        self.redraw()

    def redraw(self) -> None:
        """Select the rows, redraw the figure and show it in :attr:`image` (no training)."""
        ds, m, lam = self.dataset.value, self.method.value, self.lam.value
        self.selected = select_run(self.tidy, ds, m, lam)
        self.fig = draw_run(self.tidy, ds, m, lam, fig=self.fig)
        self.image.value = figure_png(self.fig)


def show_explorer(tidy: pd.DataFrame, *, interactive: bool | None = None,
                  name: str | None = "05_explorer", dataset: str | None = None,
                  method: str | None = None, lam: float | None = None):
    """Show the explorer, or headless its static figure.

    Args:
        tidy: :func:`run_sweep` output with ``per_version=True``.
        interactive: ``True``: widgets; ``False``: a static figure; ``None``: widgets only in a
            live front end (:func:`in_live_frontend`).
        name: the static figure is saved as ``figures/<name>.{png,pdf}`` (``None``: not saved).
        dataset, method, lam: the initial selection (default: first data set, BC-Aligner if
            swept, λ = 16 if swept).

    Returns:
        The :class:`Explorer` (interactive) or the static figure.
    """
    from IPython.display import display

    from embcompat.params import as_optional_bool

    interactive = as_optional_bool(interactive, "interactive")
    if interactive is None:
        interactive = in_live_frontend()
    d0, m0, l0 = _default_selection(tidy)
    dataset, method, lam = dataset or d0, method or m0, lam or l0
    if interactive:
        ex = Explorer(tidy, dataset, method, lam)
        display(ex.panel)
        return ex
    from IPython.display import Image

    fig = draw_run(tidy, dataset, method, lam)
    if name:
        from embcompat.report import savefig

        display(Image(filename=str(savefig(fig, name)["png"])))  # a PNG whatever the backend
    else:
        display(Image(data=figure_png(fig)))
    plt.close(fig)
    return fig
