"""Named scales: ``smoke`` (CI), ``demo`` (the default, real data on 2 CPU cores), ``paper`` (GPU).

A scale is a config object, never ``if`` statements in a notebook. Each notebook reads its knobs from
``get_scale(scale)``; the parameters cell defaults ``scale`` from ``$EMBCOMPAT_SCALE``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

SCALE_ENV = "EMBCOMPAT_SCALE"
SCALES = ("smoke", "demo", "paper")


@dataclass(frozen=True)
class DataScale:
    """Knobs of the data-preparation notebook (01).

    Attributes:
        graph_datasets: registered graph data sets to describe; those whose files are missing are
            skipped with a note (``synthetic`` always works).
        image_datasets: registered image data sets to describe and show.
        synthetic_preset: which synthetic preset stands in where real data are absent.
        heldout_test: whether to split each evaluation window into validation and test.
        images_per_class: sample-grid images per class.
    """

    graph_datasets: tuple[str, ...] = ("amazon-2014-hin", "movielens-latest-small", "synthetic")
    image_datasets: tuple[str, ...] = ("cifar10", "fashion-mnist")
    synthetic_preset: str = "synthetic"
    heldout_test: bool = True
    images_per_class: int = 6


@dataclass(frozen=True)
class Scale:
    """One named scale: a config section per area of the workbook.

    ``data`` lives here; the other sections live beside the code they configure and are looked up by
    name (lazily, so that importing this module stays cheap):

    * ``bc``: :data:`embcompat.backward.config.BC_SCALES` (GNN versions, schedule, epochs);
    * ``consumers``: :data:`embcompat.backward.consumers.CONSUMER_PRESETS` (the C_0 grid and seeds);
    * ``fct``: :data:`embcompat.forward.config.FCT_SCALES` (backbones, side-info, h, sequences);
    * ``sweep``: :data:`embcompat.backward.sweep.SWEEP_SCALES` (notebook 05's data sets, λ grid,
      methods and seeds).
    """

    name: str
    data: DataScale = field(default_factory=DataScale)

    @property
    def bc(self):
        from embcompat.backward.config import BC_SCALES

        return BC_SCALES[self.name]

    @property
    def consumers(self):
        from embcompat.backward.consumers import CONSUMER_PRESETS

        return CONSUMER_PRESETS[self.name]

    @property
    def sweep(self):
        from embcompat.backward.sweep import SWEEP_SCALES

        return SWEEP_SCALES[self.name]

    @property
    def fct(self):
        from embcompat.forward.config import FCT_SCALES

        return FCT_SCALES[self.name]


_SCALES: dict[str, Scale] = {
    "smoke": Scale("smoke", data=DataScale(images_per_class=4)),
    "demo": Scale("demo"),
    "paper": Scale(
        "paper",
        data=DataScale(graph_datasets=(
            "amazon2018-musical-instruments", "amazon2018-video-games", "amazon2018-grocery",
            "amazon-2014-hin", "movielens-latest-small", "synthetic"),
            image_datasets=("cifar100", "cifar10", "fashion-mnist")),
    ),
}


def default_scale() -> str:
    """The scale named by ``$EMBCOMPAT_SCALE``, else ``demo``."""
    return os.environ.get(SCALE_ENV, "demo")


def get_scale(name: str | None = None, **overrides) -> Scale:
    """Look up a named scale (default: :func:`default_scale`).

    Raises:
        ValueError: naming the allowed scales.
    """
    name = name or default_scale()
    if name not in _SCALES:
        raise ValueError(f"Unknown scale {name!r}; allowed: {', '.join(SCALES)}")
    scale = _SCALES[name]
    return replace(scale, **overrides) if overrides else scale
