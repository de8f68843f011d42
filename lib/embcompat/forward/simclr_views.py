"""SimCLR's augmentation for a whole batch at once: every image its own random view, as tensor ops.

The usual torchvision v2 pipeline (``RandomResizedCrop``, ``RandomHorizontalFlip``, ``ColorJitter``
with p = 0.8, ``RandomGrayscale``) augments one image per call, and at 32x32 its Python per-image
overhead was about 0.6-0.8 ms per view on our CPUs, some 40 % of a demo SimCLR step
(``benchmarks/bench_simclr_views.py`` keeps it as the reference). :func:`simclr_views` draws the same
kinds of views for a ``(B, C, H, W)`` batch in a handful of batched ops, on any device, from an
explicit generator:

* random resized crop (area fraction ``U(min_scale, 1)``, log aspect ratio ``U(log 3/4, log 4/3)``)
  and horizontal flip (p = 1/2), resampled bilinearly with one ``affine_grid`` / ``grid_sample``;
* with p = 0.8, colour jitter of strength ``s`` (brightness, contrast, saturation factors in
  ``[1 - 0.8 s, 1 + 0.8 s]``, hue shift in ``[-0.2 s, 0.2 s]`` of a turn), then grayscale with
  p = 0.2 (3-channel images only, as in the per-image pipeline);
* normalisation.

Where it differs from torchvision's: a crop that does not fit is shrunk to fit (torchvision retries
ten times, then takes a centre crop); the resize is bilinear without antialiasing; the four jitter
operations run in a fixed order (brightness, contrast, saturation, hue) rather than a random one
per image; the hue is rotated in the YIQ chroma plane (a linear map per image) instead of in HSV.
``docs/deviations.md`` lists these; ``benchmarks/results/fct_simclr_aug.md`` measures the speed.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from embcompat.forward.augment import normalization_stats

__all__ = ["simclr_views"]

_GRAY = torch.tensor([0.299, 0.587, 0.114])
_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def _u(n: int, lo: float, hi: float, g: torch.Generator | None) -> Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def _crop_flip(x: Tensor, min_scale: float, g: torch.Generator | None) -> Tensor:
    b = x.shape[0]
    area = _u(b, min_scale, 1.0, g)
    ratio = torch.exp(_u(b, math.log(3 / 4), math.log(4 / 3), g))
    w = torch.sqrt(area * ratio).clamp(max=1.0)  # fractions of the width / height
    h = torch.sqrt(area / ratio).clamp(max=1.0)
    cx = (2 * torch.rand(b, generator=g) - 1) * (1 - w)  # centre in [-1, 1] coordinates
    cy = (2 * torch.rand(b, generator=g) - 1) * (1 - h)
    flip = torch.where(torch.rand(b, generator=g) < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = w * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _gray(x: Tensor) -> Tensor:
    return (x * _GRAY.to(x.device)[None, :, None, None]).sum(1, keepdim=True)


def _jitter(x: Tensor, strength: float, g: torch.Generator | None) -> Tensor:
    b, dev = x.shape[0], x.device
    s = 0.8 * strength

    def factor(lo: float, hi: float) -> Tensor:
        return _u(b, lo, hi, g).to(dev)[:, None, None, None]

    x = (x * factor(1 - s, 1 + s)).clamp(0, 1)  # brightness
    mean = _gray(x).mean((2, 3), keepdim=True)
    x = ((x - mean) * factor(1 - s, 1 + s) + mean).clamp(0, 1)  # contrast
    gray = _gray(x)
    x = ((x - gray) * factor(1 - s, 1 + s) + gray).clamp(0, 1)  # saturation
    angle = 2 * math.pi * _u(b, -0.25 * s, 0.25 * s, g)  # hue: +-0.2 s of a turn (0.1 at s=0.5)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rot = torch.zeros(b, 3, 3)
    rot[:, 0, 0], rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = 1, cos, -sin, sin, cos
    m = torch.linalg.inv(_RGB2YIQ) @ rot @ _RGB2YIQ  # (b, 3, 3), RGB -> RGB
    return torch.einsum("bij,bjhw->bihw", m.to(dev), x).clamp(0, 1)


def simclr_views(x: Tensor, *, generator: torch.Generator | None = None, min_scale: float = 0.08,
                 strength: float = 0.5, p_jitter: float = 0.8, p_gray: float = 0.2,
                 stats: str | None = None) -> Tensor:
    """One random SimCLR view of every image of a batch (module docstring).

    Args:
        x: ``(B, C, H, W)`` uint8 images, C = 1 or 3, on any device.
        generator: CPU generator for every random draw (``None``: torch's global one).
        min_scale: smallest crop area fraction.
        strength: colour-jitter strength ``s``.
        p_jitter, p_gray: probabilities of colour jitter and of grayscale (3 channels only).
        stats: normalisation statistics name (:func:`~embcompat.forward.augment.normalization_stats`).

    Returns:
        ``(B, C, H, W)`` float32, normalised, on ``x``'s device.
    """
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"x must be (B, C, H, W) with C = 1 or 3, got {tuple(x.shape)}")
    b, c = x.shape[:2]
    v = _crop_flip(x.float() / 255.0, min_scale, generator)
    if c == 3:
        jit = (torch.rand(b, generator=generator) < p_jitter).to(x.device)[:, None, None, None]
        v = torch.where(jit, _jitter(v, strength, generator), v)
        gray = (torch.rand(b, generator=generator) < p_gray).to(x.device)[:, None, None, None]
        v = torch.where(gray, _gray(v).expand_as(v), v)
    mean, std = normalization_stats(c, stats)
    mean = torch.tensor(mean, device=x.device)[None, :, None, None]
    std = torch.tensor(std, device=x.device)[None, :, None, None]
    return (v - mean) / std
