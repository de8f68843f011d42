"""Tests of embcompat.losses.bpr against hand-computed values."""
import math

import pytest
import torch

from embcompat.losses.bpr import REG_WEIGHT, bpr_loss, bpr_terms


def test_hand_computed_value():
    u = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    p = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    n = torch.tensor([[0.0, 1.0], [2.0, -2.0]])
    # scores: pos = [1, -1], neg = [2, 2]; softplus(neg - pos) = softplus([1, 3])
    bpr_ref = (math.log1p(math.exp(1.0)) + math.log1p(math.exp(3.0))) / 2
    # squared norms: |u|^2 = 1+4+0+1 = 6, |p|^2 = 1+0+1+1 = 3, |n|^2 = 0+1+4+4 = 9
    reg_ref = 0.5 * (6 + 3 + 9) / 2
    bpr, reg = bpr_terms(u, p, n)
    assert bpr.item() == pytest.approx(bpr_ref, rel=1e-6)
    assert reg.item() == pytest.approx(reg_ref, rel=1e-6)
    assert REG_WEIGHT == 1e-2
    assert bpr_loss(u, p, n).item() == pytest.approx(bpr_ref + 1e-2 * reg_ref, rel=1e-6)
    assert bpr_loss(u, p, n, reg_weight=0.0).item() == pytest.approx(bpr_ref, rel=1e-6)


def test_gradient_matches_closed_form():
    g = torch.Generator().manual_seed(0)
    u, p, n = (torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
               for _ in range(3))
    bpr_loss(u, p, n, reg_weight=0.5).backward()
    sig = torch.sigmoid(((u * n).sum(1) - (u * p).sum(1))).detach()[:, None]
    b = 4
    torch.testing.assert_close(u.grad, sig * (n - p).detach() / b + 0.5 * u.detach() / b)
    torch.testing.assert_close(p.grad, -sig * u.detach() / b + 0.5 * p.detach() / b)
    torch.testing.assert_close(n.grad, sig * u.detach() / b + 0.5 * n.detach() / b)


def test_numerically_stable_for_large_margins():
    u = torch.tensor([[100.0]])
    assert torch.isfinite(bpr_terms(u, torch.tensor([[-50.0]]), torch.tensor([[50.0]]))[0])
    assert bpr_terms(u, torch.tensor([[50.0]]), torch.tensor([[-50.0]]))[0].item() < 1e-30


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        bpr_terms(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(3, 3))
