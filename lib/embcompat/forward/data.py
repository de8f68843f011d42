"""The images of one FCT run: a class-balanced train subset, a test subset, and normalisation.

Old/new class splits are *prefixes* of the class list (the old model sees classes
``0 .. k-1`` with ``k = round(fraction * K)``, as :meth:`ImageDataset.old_new_split`), so every
version's training set is ``train_y < k`` of one shared subset and old data are a subset of new.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from embcompat.forward.augment import normalization_stats
from embcompat.utils import config_hash

__all__ = ["FCTData", "load_fct_data", "num_prefix_classes", "normalise"]


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
class FCTData:
    """Train and test images of one run.

    Attributes:
        name: data set spec.
        train_x: ``(N, C, H, W)`` uint8. train_y: ``(N,)`` long.
        test_x: ``(M, C, H, W)`` uint8 (query = gallery). test_y: ``(M,)`` long.
        classes: class names (``K`` of them).
        key: content key of this subset (part of every model's cache key).
        norm_stats: normalisation statistics name (``None``: the channel default).
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    key: str
    norm_stats: str | None = None

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if x.dtype != torch.uint8 or x.dim() != 4 or y.shape != (x.shape[0],):
                raise ValueError(f"{split}_x must be uint8 (N, C, H, W) and {split}_y (N,); got "
                                 f"{x.dtype} {tuple(x.shape)} and {tuple(y.shape)}")

    @property
    def num_classes(self) -> int:
        """``K``."""
        return len(self.classes)

    @property
    def channels(self) -> int:
        """``C``."""
        return int(self.train_x.shape[1])

    @property
    def image_size(self) -> int:
        """``H`` (images are square)."""
        return int(self.train_x.shape[2])

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
        return cls(name, train_x, train_y, test_x, test_y, classes, key, norm_stats)


def load_fct_data(dataset: str, train_per_class: int | None, eval_per_class: int | None,
                  data_seed: int = 0, norm_stats: str | None = None) -> FCTData:
    """Load a data set and draw the class-balanced train and test subsets.

    Args:
        dataset: spec for :func:`embcompat.data.images.load_images`.
        train_per_class: train images per class (``None``: all).
        eval_per_class: test images per class (``None``: all).
        data_seed: seeds the draws.
        norm_stats: normalisation statistics name.

    Returns:
        :class:`FCTData`.
    """
    from embcompat.data.images import load_images

    ds = load_images(dataset)  # an unknown spec raises ValueError naming the allowed ones
    if ds.image_size[0] != ds.image_size[1]:
        raise ValueError(f"{dataset}: FCT backbones need square images, got {ds.image_size}")
    tx, ty = ds.subset("train", per_class=train_per_class, seed=data_seed)
    sx, sy = ds.subset("test", per_class=eval_per_class, seed=data_seed + 1)
    key = config_hash(dataset, ds.meta.get("sha256", ds.meta.get("path")), train_per_class,
                      eval_per_class, data_seed, norm_stats, len(ty), len(sy))
    return FCTData(ds.name, tx, ty, sx, sy, list(ds.classes), key, norm_stats)
