"""The data-preparation notebook's (01) config: which data sets to describe and how."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DataScale", "DATA_SCALES"]


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


DATA_SCALES: dict[str, DataScale] = {
    "smoke": DataScale(images_per_class=4),
    "demo": DataScale(),
    "paper": DataScale(
        graph_datasets=("amazon2018-musical-instruments", "amazon2018-video-games",
                        "amazon2018-grocery", "amazon-2014-hin", "movielens-latest-small",
                        "synthetic"),
        image_datasets=("cifar100", "cifar10", "fashion-mnist")),
}
