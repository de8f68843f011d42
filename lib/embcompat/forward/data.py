"""The images of one FCT run: a class-balanced train subset, a test subset, and normalisation.

:class:`FCTData` is an :class:`~embcompat.data.image_dataset.ImageDataset` with the run's cache
key, normalisation and the classes that had fewer images than the scale asks for. Old/new class
splits are *prefixes* of the class list (the old model sees classes ``0 .. k-1`` with
``k = round(fraction * K)``, as :meth:`ImageDataset.old_new_split`), so every version's training
set is ``train_y < k`` of one shared subset and old data are a subset of new.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field

import torch

from embcompat.data.image_dataset import ImageDataset, Shortfall
from embcompat.forward.augment import normalization_stats
from embcompat.utils import config_hash

__all__ = ["FCTData", "MIN_TEST_PER_CLASS", "MIN_TRAIN_PER_CLASS", "check_class_sizes",
           "load_fct_data", "num_prefix_classes", "normalise"]

#: The fewest train images a class may keep: a class needs more than one example to train on.
MIN_TRAIN_PER_CLASS = 2
#: The fewest test images a class may keep: with query = gallery and the self-match excluded,
#: a class with one test image has no query with a match, so it would not be evaluated at all.
MIN_TEST_PER_CLASS = 2
MIN_NAMES = {"train": "MIN_TRAIN_PER_CLASS", "test": "MIN_TEST_PER_CLASS"}


def num_prefix_classes(num_classes: int, fraction: float) -> int:
    """``round(fraction * num_classes)``, checked to leave at least one class.

    Raises:
        ValueError: when the fraction leaves no class.
    """
    k = round(fraction * num_classes)
    if not 1 <= k <= num_classes:
        raise ValueError(f"fraction {fraction} of {num_classes} classes leaves {k} classes")
    return k


def normalise(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 ``(B, C, H, W)`` -> float32 ``(x / 255 - mean) / std`` on ``x``'s device."""
    m = torch.tensor(mean, device=x.device, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x.device, dtype=torch.float32).view(1, -1, 1, 1)
    return (x.float() / 255.0 - m) / s


@dataclass
class FCTData(ImageDataset):
    """The train and test images of one run: an :class:`ImageDataset` plus what FCT adds.

    The images, labels, classes, ``num_classes``, ``channels`` and ``image_size`` (``(H, W)``,
    square here) are the :class:`ImageDataset`'s; the test split is query = gallery.

    Attributes:
        key: content key of this subset (part of every model's cache key).
        norm_stats: normalisation statistics name (``None``: the channel default).
        shortfalls: the classes that held fewer images than asked for and use all they have
            (empty when every class had enough); :attr:`note` says it in words.

    Raises:
        ValueError: the :class:`ImageDataset` checks, or images that are not square.
    """

    key: str = field(kw_only=True)
    norm_stats: str | None = field(default=None, kw_only=True)
    shortfalls: tuple[Shortfall, ...] = field(default=(), kw_only=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        h, w = self.image_size
        if h != w:
            raise ValueError(f"{self.name}: FCT backbones need square images, got (H, W) = "
                             f"{self.image_size}")

    @property
    def note(self) -> str:
        """A sentence listing :attr:`shortfalls` (``""`` when there are none)."""
        if not self.shortfalls:
            return ""
        return (f"{self.name}: {len(self.shortfalls)} class(es) hold fewer images than asked "
                "for and use all they have: " + "; ".join(map(str, self.shortfalls)))

    @property
    def mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel normalisation ``(mean, std)``."""
        return normalization_stats(self.channels, self.norm_stats)

    def prefix(self, fraction: float) -> int:
        """Number of classes of a version trained on the first ``fraction`` of them."""
        return num_prefix_classes(self.num_classes, fraction)

    def train_rows(self, k: int) -> torch.Tensor:
        """Boolean mask ``(N,)`` of the training images of classes ``0 .. k-1``."""
        return self.train_y < k

    @classmethod
    def from_tensors(cls, train_x, train_y, test_x, test_y, classes=None, name="tensors",
                     norm_stats=None) -> "FCTData":
        """Wrap in-memory tensors (tests, custom data); the key hashes the tensors' bytes."""
        classes = list(classes) if classes is not None else [
            str(c) for c in range(int(max(train_y.max(), test_y.max())) + 1)]
        digests = [hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest() + str(tuple(t.shape))
                   for t in (train_x, train_y, test_x, test_y)]
        key = config_hash(name, digests, classes, norm_stats)
        return cls(name, train_x, train_y, test_x, test_y, classes, {"source": "tensors"},
                   key=key, norm_stats=norm_stats)


def check_class_sizes(ds: ImageDataset, train_per_class: int | None,
                      eval_per_class: int | None) -> None:
    """Check that every class keeps enough images to train on and to be retrieved.

    A class keeps ``min(its images, per_class)``; that must be at least
    :data:`MIN_TRAIN_PER_CLASS` train and :data:`MIN_TEST_PER_CLASS` test images.

    Raises:
        ValueError: naming the classes, their counts, the minimum and the fix.
    """
    for split, per_class, name, least, why in (
            ("train", train_per_class, "train_per_class", MIN_TRAIN_PER_CLASS,
             "to train on"),
            ("test", eval_per_class, "eval_per_class", MIN_TEST_PER_CLASS,
             "for one retrieval query with a match (query = gallery, self-match excluded)")):
        if per_class is not None and per_class < least:
            raise ValueError(f"{name}={per_class} is below {MIN_NAMES[split]}={least}, the "
                             f"fewest {split} images per class {why}")
        counts = ds.class_counts(split)
        small = [f"class {c} ({ds.classes[c]}) has {n}" for c, n in enumerate(counts) if n < least]
        if small:
            where = ds.meta.get("path", ds.name)
            raise ValueError(f"{ds.name}: {'; '.join(small)} {split} image(s), below "
                             f"{MIN_NAMES[split]}={least}, the fewest {split} images per class "
                             f"{why}. Add {split} images to those classes (under {where}) or "
                             "remove their class folders from both train/ and test/.")


def load_fct_data(dataset: str, train_per_class: int | None, eval_per_class: int | None,
                  data_seed: int = 0, norm_stats: str | None = None) -> FCTData:
    """Load a data set and draw the class-balanced train and test subsets.

    A class holding fewer images than ``train_per_class`` (or ``eval_per_class``) uses all it
    has; such classes are listed in :attr:`FCTData.shortfalls` and a ``UserWarning`` says so.

    Args:
        dataset: spec for :func:`embcompat.data.images.load_images`.
        train_per_class: train images per class, at most (``None``: all).
        eval_per_class: test images per class, at most (``None``: all).
        data_seed: seeds the draws.
        norm_stats: normalisation statistics name.

    Returns:
        :class:`FCTData`.

    Raises:
        ValueError: an unknown spec, non-square images, or a class below
            :data:`MIN_TRAIN_PER_CLASS` / :data:`MIN_TEST_PER_CLASS` (see
            :func:`check_class_sizes`).
    """
    from embcompat.data.images import load_images

    ds = load_images(dataset)  # an unknown spec raises ValueError naming the allowed ones
    check_class_sizes(ds, train_per_class, eval_per_class)
    short = tuple(ds.shortfalls("train", train_per_class) + ds.shortfalls("test", eval_per_class))
    tx, ty = ds.subset("train", per_class=train_per_class, seed=data_seed, strict=False)
    sx, sy = ds.subset("test", per_class=eval_per_class, seed=data_seed + 1, strict=False)
    key = config_hash(dataset, ds.meta.get("sha256", ds.meta.get("path")), train_per_class,
                      eval_per_class, data_seed, norm_stats, len(ty), len(sy))
    data = FCTData(ds.name, tx, ty, sx, sy, list(ds.classes), dict(ds.meta), key=key,
                   norm_stats=norm_stats, shortfalls=short)
    if short:
        warnings.warn(data.note, UserWarning, stacklevel=2)
    return data
