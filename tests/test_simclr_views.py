"""The batched SimCLR augmentation (embcompat.forward.simclr_views)."""
from __future__ import annotations

import pytest
import torch

from embcompat.forward.augment import normalization_stats
from embcompat.forward.simclr_views import simclr_views


def _denorm(v: torch.Tensor) -> torch.Tensor:
    mean, std = normalization_stats(v.shape[1])
    return v * torch.tensor(std)[None, :, None, None] + torch.tensor(mean)[None, :, None, None]


def test_views_are_per_image_and_reproducible_from_the_generator():
    x = (torch.rand(16, 3, 12, 12, generator=torch.Generator().manual_seed(0)) * 255).byte()
    a = simclr_views(x, generator=torch.Generator().manual_seed(5))
    b = simclr_views(x, generator=torch.Generator().manual_seed(5))
    c = simclr_views(x, generator=torch.Generator().manual_seed(6))
    assert a.shape == x.shape and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    same = simclr_views(x[:1].expand(16, -1, -1, -1), generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(same[0], same[1])  # one image, 16 different views


def test_a_flat_image_stays_flat_without_colour_ops():
    x = torch.full((8, 3, 10, 10), 77, dtype=torch.uint8)
    v = _denorm(simclr_views(x, p_jitter=0.0, p_gray=0.0, generator=torch.Generator().manual_seed(0)))
    assert torch.allclose(v, torch.full_like(v, 77 / 255), atol=1e-5)


def test_grayscale_and_hue_keep_gray_pixels_gray():
    x = (torch.rand(8, 3, 10, 10) * 255).byte()
    v = _denorm(simclr_views(x, p_gray=1.0, generator=torch.Generator().manual_seed(0)))
    assert torch.allclose(v[:, 0], v[:, 1], atol=1e-5) and torch.allclose(v[:, 1], v[:, 2], atol=1e-5)
    gray = torch.rand(8, 1, 10, 10).mul(255).byte().expand(-1, 3, -1, -1)
    w = _denorm(simclr_views(gray, p_jitter=1.0, p_gray=0.0, generator=torch.Generator().manual_seed(1)))
    assert torch.allclose(w[:, 0], w[:, 2], atol=1e-4)  # jitter of a gray image: no colour


def test_half_the_views_are_flipped_and_crops_vary_in_size():
    ramp = torch.linspace(0, 255, 32).round().byte().expand(400, 1, 32, 32)
    v = simclr_views(ramp.contiguous(), generator=torch.Generator().manual_seed(0))
    slope = (v[..., -1] - v[..., 0]).mean(dim=(1, 2))  # > 0 unflipped, < 0 flipped
    assert 0.4 < (slope < 0).float().mean() < 0.6
    span = slope.abs()  # a small crop of the ramp spans a small range
    assert span.max() > 3 * span.min()


def test_a_bad_shape_is_named():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        simclr_views(torch.zeros(3, 8, 8, dtype=torch.uint8))
