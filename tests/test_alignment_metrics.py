"""Alignment error and relative degradation (embcompat.metrics.alignment)."""
from __future__ import annotations

import math

import pytest
import torch

from embcompat.metrics.alignment import alignment_error, relative_degradation


def test_alignment_error_against_a_loop():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(37, 9, generator=g)
    z_hat = z + 0.3 * torch.randn(37, 9, generator=g)
    ref = sum(math.sqrt(sum((float(a) - float(b)) ** 2 for a, b in zip(z_hat[i], z[i])))
              for i in range(37)) / 37
    assert alignment_error(z_hat, z) == pytest.approx(ref, rel=1e-12)


def test_alignment_error_known_values():
    z = torch.zeros(2, 2)
    z_hat = torch.tensor([[3.0, 4.0], [0.0, 1.0]])  # distances 5 and 1
    assert alignment_error(z_hat, z) == 3.0  # the mean of L2 norms, not an RMSE (sqrt(13))
    assert alignment_error(z, z) == 0.0
    assert alignment_error(z_hat, z) == alignment_error(z, z_hat)


def test_alignment_error_bad_shapes():
    with pytest.raises(ValueError, match="equal shapes"):
        alignment_error(torch.zeros(3, 2), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="empty"):
        alignment_error(torch.zeros(0, 2), torch.zeros(0, 2))


def test_relative_degradation():
    assert relative_degradation(11.77, 12.13) == pytest.approx(100 * (11.77 - 12.13) / 12.13)
    assert relative_degradation(50.0, 100.0) == -50.0
    assert relative_degradation(12.13, 12.13) == 0.0
    assert relative_degradation(3.0, 2.0) == 50.0
    with pytest.raises(ValueError, match="non-zero"):
        relative_degradation(1.0, 0.0)
    with pytest.raises(ValueError, match="finite"):
        relative_degradation(float("nan"), 1.0)
