"""The explorer: which run a slider position selects, the slider callback, the image it shows, the
static fallback."""
import io

import matplotlib
import numpy as np
import pandas as pd
import pytest

from embcompat.backward import widgets as W
from embcompat.backward import sweep_plots as SP
from embcompat.backward.evaluate import ALIGN, INTENDED_DEG, UNINTENDED_DEG, task_metric

matplotlib.use("Agg")
LAMS = [1.0, 4.0, 16.0]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _tidy() -> pd.DataFrame:
    """A per-version sweep frame whose values encode (method, λ, version), so a selection can be
    read back from the numbers."""
    rows = []
    for ds in ("d1", "d2"):
        for mi, m in enumerate(("Joint-NoTrans", "BC-Aligner")):
            for lam in LAMS:
                for v in ["0", "1", "2", "avg"]:
                    for metric in (INTENDED_DEG, UNINTENDED_DEG, ALIGN,
                                   task_metric(UNINTENDED_DEG, "edge-rating")):
                        k = 3 if v == "avg" else int(v)
                        rows.append({"dataset": ds, "method": m, "lam": lam, "version": v,
                                     "metric": metric, "value": -(mi + 1) * lam - k / 10,
                                     "std": np.nan, "n_train_seeds": 1, "std_consumer": 0.1,
                                     "n_consumer_seeds": 3})
        for m in ("Non-BC", "Fix-M0"):
            for metric in (INTENDED_DEG, UNINTENDED_DEG, ALIGN):
                rows.append({"dataset": ds, "method": m, "lam": np.nan, "version": "avg",
                             "metric": metric, "value": -5.0, "std": np.nan, "n_train_seeds": 1,
                             "std_consumer": np.nan, "n_consumer_seeds": 1})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("lam, expected", [(1, 1.0), (4, 4.0), (3, 4.0), (2, 1.0), (1000, 16.0),
                                           (0.01, 1.0), (7.9, 4.0), (8.1, 16.0)])
def test_select_run_picks_the_nearest_swept_lambda_on_the_log_scale(lam, expected):
    sel = W.select_run(_tidy(), "d1", "BC-Aligner", lam)
    assert set(sel.lam) == {expected} and set(sel.method) == {"BC-Aligner"}
    assert set(sel.dataset) == {"d1"} and set(sel.version) == {"0", "1", "2", "avg"}


def test_select_run_errors_name_the_allowed_values():
    t = _tidy()
    with pytest.raises(ValueError, match="allowed: d1, d2"):
        W.select_run(t, "nope", "BC-Aligner", 4)
    with pytest.raises(ValueError, match="allowed: Joint-NoTrans, BC-Aligner"):
        W.select_run(t, "d1", "Non-BC", 4)        # a reference is not a swept run
    with pytest.raises(ValueError, match="swept: 1, 4, 16"):
        W.select_run(t, "d1", "BC-Aligner", -1)


def test_moving_the_slider_changes_the_selected_run():
    pytest.importorskip("ipywidgets")
    ex = W.Explorer(_tidy())
    assert (ex.dataset.value, ex.method.value, ex.lam.value) == ("d1", "BC-Aligner", 16.0)
    assert set(ex.selected.lam) == {16.0}
    before = ex.selected.set_index(["version", "metric"]).value
    ex.lam.value = 1.0                                           # the slider moves
    assert set(ex.selected.lam) == {1.0}
    after = ex.selected.set_index(["version", "metric"]).value
    assert (after != before).all()
    assert after[("avg", INTENDED_DEG)] == pytest.approx(-2 * 1.0 - 0.3)
    ex.method.value = "Joint-NoTrans"                            # the method selector
    assert set(ex.selected.method) == {"Joint-NoTrans"} and set(ex.selected.lam) == {1.0}
    ex.dataset.value = "d2"                                      # the data-set selector
    assert set(ex.selected.dataset) == {"d2"}
    assert [o[1] for o in ex.lam.options] == LAMS
    assert "λ = 1" in ex.fig._suptitle.get_text()


def _shown_png(ex) -> bytes:
    """The PNG bytes the explorer's panel shows (one ``ipywidgets.Image`` below the selectors)."""
    import ipywidgets as w

    images = [c for c in ex.panel.children if isinstance(c, w.Image)]
    assert len(images) == 1, f"the panel should show one ipywidgets.Image: {ex.panel.children}"
    assert images[0].format == "png"
    png = bytes(images[0].value)
    assert png.startswith(PNG_SIGNATURE), png[:16]
    return png


def test_the_explorer_shows_a_png_and_moving_the_slider_replaces_it():
    pytest.importorskip("ipywidgets")
    from PIL import Image

    ex = W.Explorer(_tidy())
    first = _shown_png(ex)
    width, height = ex.fig.get_size_inches() * W.PNG_DPI
    assert Image.open(io.BytesIO(first)).size == (round(width), round(height))
    ex.lam.value = 4.0                                           # the slider moves
    second = _shown_png(ex)
    assert second != first
    ex.method.value = "Joint-NoTrans"                            # the method selector
    third = _shown_png(ex)
    assert third not in (first, second)
    ex.lam.value = 16.0                                          # back: the first image again
    ex.method.value = "BC-Aligner"
    assert _shown_png(ex) == first


def test_show_explorer_displays_the_panel_and_headless_a_png(monkeypatch):
    pytest.importorskip("ipywidgets")
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append(obj))
    ex = W.show_explorer(_tidy(), interactive=True)
    assert shown == [ex.panel] and _shown_png(ex)
    shown.clear()
    W.show_explorer(_tidy(), interactive=False, name=None)  # static, not saved
    assert len(shown) == 1
    assert isinstance(shown[0], IPython.display.Image) and shown[0].format == "png"
    assert shown[0].data.startswith(PNG_SIGNATURE)


def test_static_fallback_writes_and_returns_a_figure(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBCOMPAT_OUTPUTS", str(tmp_path))
    fig = W.show_explorer(_tidy(), interactive="False", name="05_explorer_test", lam=4)
    for ext in ("png", "pdf"):
        assert (tmp_path / "figures" / f"05_explorer_test.{ext}").stat().st_size > 1000
    assert "BC-Aligner, λ = 4" in fig._suptitle.get_text()


def test_auto_mode_is_static_outside_a_live_front_end(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBCOMPAT_OUTPUTS", str(tmp_path))
    assert W.in_live_frontend() is False                         # plain pytest: no kernel
    out = W.show_explorer(_tidy(), interactive=None, name="auto")
    assert isinstance(out, matplotlib.figure.Figure)
    assert (tmp_path / "figures" / "auto.png").exists()


def test_sweep_figures_draw_every_panel():
    t = _tidy()
    fig, labels = SP.plot_lambda_sweep(t)
    assert len(fig.axes) == 6 and labels == {"std over 3 consumer seeds (one training seed)"}
    assert [tick.get_text() for tick in fig.axes[0].get_xticklabels()] == ["1", "4", "16"]
    fig = SP.plot_pareto(t)
    texts = {a.get_text() for a in fig.axes[0].texts}
    assert {"λ=1", "λ=4", "λ=16"} <= texts
