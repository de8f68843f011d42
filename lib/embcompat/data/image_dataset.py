"""The image container: :class:`ImageDataset`, its class-balanced subsets and its sample grid.

Every image data set (loaded by :func:`embcompat.data.images.load_images`, or the FCT run's
subset :class:`embcompat.forward.data.FCTData`, which is an :class:`ImageDataset`) holds uint8
tensors ``(N, C, H, W)`` with integer labels and class names. ``image_size`` is always the tuple
``(H, W)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from embcompat.data.image_readers import SPLITS


@dataclass(frozen=True)
class Shortfall:
    """A class that holds fewer images in one split than a subset asked for.

    Attributes:
        split: ``"train"`` or ``"test"``.
        index: class index.
        name: class name.
        wanted: images asked for (``per_class``).
        have: images the class holds (all of them are used).
    """

    split: str
    index: int
    name: str
    wanted: int
    have: int

    def __str__(self) -> str:
        return f"{self.split} class {self.index} ({self.name}): {self.have} of {self.wanted}"


@dataclass
class ImageDataset:
    """A labelled image data set with a fixed train/test split.

    Attributes:
        name: the spec it was loaded from (``cifar10``).
        train_x: ``(N, C, H, W)`` uint8 images.
        train_y: ``(N,)`` long labels in ``[0, num_classes)``.
        test_x: ``(M, C, H, W)`` uint8 images.
        test_y: ``(M,)`` long labels.
        classes: index -> class name, in the source's order.
        meta: where it came from (``source``, ``path``, ``sha256``...).

    Raises:
        ValueError: a split that is not uint8 ``(N, C, H, W)`` with ``(N,)`` labels, or train and
            test images of different ``(C, H, W)``.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for split in SPLITS:
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if x.dtype != torch.uint8 or x.dim() != 4 or y.shape != (x.shape[0],):
                raise ValueError(f"{self.name}: {split}_x must be uint8 (N, C, H, W) and "
                                 f"{split}_y (N,); got {x.dtype} {tuple(x.shape)} and "
                                 f"{tuple(y.shape)}")
        if self.test_x.shape[1:] != self.train_x.shape[1:]:
            raise ValueError(f"{self.name}: train images are {tuple(self.train_x.shape[1:])} "
                             f"but test images {tuple(self.test_x.shape[1:])} (C, H, W)")

    @property
    def num_classes(self) -> int:
        """The number of classes ``K``."""
        return len(self.classes)

    @property
    def channels(self) -> int:
        """Image channels ``C`` (1 or 3)."""
        return int(self.train_x.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return int(self.train_x.shape[2]), int(self.train_x.shape[3])

    def class_counts(self, split: str) -> list[int]:
        """Images per class in one split: ``counts[c]`` for ``c in range(num_classes)``."""
        _check_split(split)
        y = getattr(self, f"{split}_y")
        return torch.bincount(y, minlength=self.num_classes).tolist()

    def shortfalls(self, split: str, per_class: int | None,
                   classes: Sequence[int] | None = None) -> list[Shortfall]:
        """The classes of ``split`` holding fewer than ``per_class`` images (none if ``None``)."""
        if per_class is None:
            return []
        counts = self.class_counts(split)
        classes = range(self.num_classes) if classes is None else classes
        return [Shortfall(split, int(c), self.classes[int(c)], per_class, counts[int(c)])
                for c in classes if counts[int(c)] < per_class]

    def old_new_split(self, old_fraction: float = 0.5) -> tuple[list[int], list[int]]:
        """Split the class indices: the first ``round(old_fraction * num_classes)`` are old.

        The FCT old model trains on the old classes; the new model trains on old + new.

        Returns:
            ``(old_classes, new_classes)``, a partition of ``range(num_classes)``.
        """
        k = round(old_fraction * self.num_classes)
        if not 0 < k < self.num_classes:
            raise ValueError(f"old_fraction={old_fraction} leaves {k} of {self.num_classes} "
                             "classes old; it must leave at least one old and one new class")
        return list(range(k)), list(range(k, self.num_classes))

    def subset(self, split: str, classes: Sequence[int] | None = None,
               per_class: int | None = None, seed: int = 0,
               strict: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """A deterministic, class-balanced subsample of one split.

        Args:
            split: ``"train"`` or ``"test"``.
            classes: class indices to keep (default all); labels are NOT renumbered.
            per_class: images drawn per class without replacement (default all of them).
            seed: seeds the draw; the same seed gives the same images.
            strict: a class with fewer than ``per_class`` images raises; with ``strict=False``
                it gives all it has (see :meth:`shortfalls`). Other classes' draws are the same
                either way.

        Returns:
            ``(x, y)``: ``(n, C, H, W)`` uint8 and ``(n,)`` long, in the split's original order.

        Raises:
            ValueError: an unknown split or class, or (``strict``) a class that is too small.
        """
        _check_split(split)
        x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
        classes = range(self.num_classes) if classes is None else classes
        gen = torch.Generator().manual_seed(seed)
        keep = []
        for c in classes:
            if not 0 <= int(c) < self.num_classes:
                raise ValueError(f"class {c} is not in [0, {self.num_classes})")
            idx = (y == int(c)).nonzero().flatten()
            if per_class is not None:
                if strict and per_class > len(idx):
                    raise ValueError(f"per_class={per_class} but class {c} "
                                     f"({self.classes[int(c)]}) has {len(idx)} {split} images; "
                                     "pass strict=False to take all it has")
                idx = idx[torch.randperm(len(idx), generator=gen)[:per_class]]
            keep.append(idx)
        sel = torch.cat(keep).sort().values if keep else torch.empty(0, dtype=torch.long)
        return x[sel], y[sel]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split={split!r}; allowed: {', '.join(SPLITS)}")


def sample_grid(ds: ImageDataset, per_class: int = 8, seed: int = 0,
                padding: int = 2) -> torch.Tensor:
    """A figure of train images: one row per class, up to ``per_class`` random images per row.

    A class with fewer images leaves the rest of its row white.

    Returns:
        ``(C, H', W')`` uint8 with ``H' = K*(H+p)+p`` and ``W' = per_class*(W+p)+p`` for ``K``
        classes and padding ``p``; padding is white (255).
    """
    x, y = ds.subset("train", per_class=per_class, seed=seed, strict=False)
    c, (h, w), p = ds.channels, ds.image_size, padding
    grid = torch.full((c, ds.num_classes * (h + p) + p, per_class * (w + p) + p), 255,
                      dtype=torch.uint8)
    for r in range(ds.num_classes):
        for col, img in enumerate(x[y == r]):
            grid[:, p + r * (h + p): p + r * (h + p) + h,
                 p + col * (w + p): p + col * (w + p) + w] = img
    return grid
