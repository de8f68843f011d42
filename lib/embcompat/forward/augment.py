"""Image augmentation for the FCT experiments (torchvision ``transforms.v2``) and Mixup.

Inputs are ``uint8`` image tensors ``(C, H, W)`` (or a batch ``(B, C, H, W)``, which a v2 transform
treats as *one* image: the same crop/flip for the whole batch; for per-sample randomness on a batch
use :func:`random_crop_flip`). Outputs are normalised ``float32``.

Pipelines:

* :func:`train_transform` -- the standard CIFAR recipe: random crop with 4-pixel zero padding,
  horizontal flip, normalisation. (The official CIFAR-100 recipe resizes to 224 and only flips,
  because it reuses an ImageNet SimCLR side-info model; we stay at native resolution.)
* :func:`eval_transform` -- normalisation only.
* SimCLR's views are drawn a batch at a time by :mod:`embcompat.forward.simclr_views`.
* :func:`mixup` / :func:`mixup_loss` -- Zhang et al. 2018, for the "old w/ Mixup" side-info.

Normalisation statistics default to ImageNet's for 3-channel images, as the official code uses
for CIFAR-100, and to Fashion-MNIST's for 1-channel images (:data:`NORM_STATS`).

v2 transforms draw from torch's global generator: seed it (``embcompat.utils.set_seed``) for
reproducible augmentation. :func:`random_crop_flip` and :func:`mixup` take explicit generators.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms import v2

__all__ = [
    "NORM_STATS",
    "normalization_stats",
    "train_transform",
    "eval_transform",
    "random_crop_flip",
    "mixup",
    "mixup_loss",
]

NORM_STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
}


def normalization_stats(channels: int, stats: str | None = None
                        ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(mean, std)`` per channel.

    Args:
        channels: 1 or 3.
        stats: a key of :data:`NORM_STATS`; default ``imagenet`` (3 channels, the official
            choice) or ``fashion-mnist`` (1 channel).
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if stats is None:
        stats = "imagenet" if channels == 3 else "fashion-mnist"
    if stats not in NORM_STATS:
        raise ValueError(f"Unknown stats {stats!r}; allowed: {', '.join(NORM_STATS)}")
    mean, std = NORM_STATS[stats]
    if len(mean) != channels:
        raise ValueError(f"stats {stats!r} has {len(mean)} channel(s), images have {channels}")
    return mean, std


def _finish(channels: int, stats: str | None) -> list[v2.Transform]:
    mean, std = normalization_stats(channels, stats)
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean=list(mean), std=list(std))]


def train_transform(image_size: int = 32, channels: int = 3, padding: int = 4,
                    stats: str | None = None) -> v2.Compose:
    """Random crop (zero padding) + horizontal flip + normalisation.

    Args:
        image_size: output ``H = W`` (the input size for CIFAR-style crops).
        channels: 1 or 3.
        padding: crop padding in pixels.
        stats: normalisation statistics, see :func:`normalization_stats`.

    Returns:
        A transform mapping uint8 ``(C, H, W)`` to float32 ``(C, image_size, image_size)``.
    """
    return v2.Compose([v2.RandomCrop(image_size, padding=padding), v2.RandomHorizontalFlip(),
                       *_finish(channels, stats)])


def eval_transform(channels: int = 3, stats: str | None = None) -> v2.Compose:
    """uint8 ``(C, H, W)`` -> normalised float32, no augmentation."""
    return v2.Compose(_finish(channels, stats))


def random_crop_flip(x: Tensor, padding: int = 4, flip: bool = True,
                     generator: torch.Generator | None = None) -> Tensor:
    """Per-sample random crop (zero padding) and horizontal flip of a whole batch, vectorised.

    Same distribution as ``train_transform`` without normalisation, but each image of the batch
    gets its own crop offset and flip, from an explicit generator (CPU), on any device.

    Args:
        x: ``(B, C, H, W)`` images of any dtype.
        padding: pixels of zero padding on each side.
        flip: whether to flip each image with probability 1/2.
        generator: CPU generator for the offsets and flips.

    Returns:
        ``(B, C, H, W)``, same dtype and device.
    """
    if x.dim() != 4:
        raise ValueError(f"x must be (B, C, H, W), got {tuple(x.shape)}")
    b, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    oy = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device)
    ox = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B, 1, H, 1)
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (B, 1, 1, W)
    bi = torch.arange(b, device=x.device)[:, None, None, None]
    ci = torch.arange(c, device=x.device)[None, :, None, None]
    out = padded[bi, ci, rows, cols]
    if flip:
        do = (torch.rand(b, generator=generator) < 0.5).to(x.device)
        out = torch.where(do[:, None, None, None], out.flip(-1), out)
    return out


def mixup(x: Tensor, y: Tensor, alpha: float = 1.0, generator: torch.Generator | None = None
          ) -> tuple[Tensor, Tensor, Tensor, float]:
    """Mixup (Zhang et al. 2018): ``x' = lam * x + (1 - lam) * x[perm]``.

    ``lam ~ Beta(alpha, alpha)`` (one per batch, as in the reference implementation) and ``perm`` a
    random permutation of the batch. ``alpha <= 0`` disables mixing (``lam = 1``).

    Args:
        x: ``(B, ...)`` float inputs (mix after normalisation).
        y: ``(B,)`` labels.
        alpha: Beta concentration.
        generator: a CPU ``torch.Generator``; it draws the permutation and seeds the Beta draw,
            so the same generator state gives the same result.

    Returns:
        ``(mixed_x (B, ...), y_a (B,), y_b (B,), lam)`` with ``y_a = y``, ``y_b = y[perm]``.
    """
    if not torch.is_floating_point(x):
        raise TypeError(f"mixup needs float inputs (normalise first), got {x.dtype}")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"x has {x.shape[0]} samples but y has {y.shape[0]}")
    perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
    if alpha > 0:
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    else:
        lam = 1.0
    mixed = lam * x + (1.0 - lam) * x[perm]
    return mixed, y, y[perm.to(y.device)], lam


def mixup_loss(logits: Tensor, y_a: Tensor, y_b: Tensor, lam: float, smoothing: float = 0.0,
               mix_labels: bool = True) -> Tensor:
    """Cross-entropy of a mixup batch.

    Args:
        logits: ``(B, K)``.
        y_a: ``(B,)`` labels of the unpermuted samples.
        y_b: ``(B,)`` labels of the permuted samples.
        lam: the mixing weight returned by :func:`mixup`.
        smoothing: label smoothing.
        mix_labels: ``True`` (standard mixup): ``lam * CE(y_a) + (1 - lam) * CE(y_b)``, i.e. CE
            against mixed one-hot targets. ``False``: ``CE(y_a)`` only, one reading of the FCT
            paper's "Mixup applied only on images (for labels we use one-hot vectors)"; the paper
            is ambiguous, so both are offered.

    Returns:
        Scalar loss.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    loss_a = F.cross_entropy(logits, y_a, label_smoothing=smoothing)
    if not mix_labels:
        return loss_a
    return lam * loss_a + (1.0 - lam) * F.cross_entropy(logits, y_b, label_smoothing=smoothing)

