"""Backward transformations B_k: shapes, init, NoTrans as a matrix, compose order."""
import math

import pytest
import torch

from embcompat.models.transforms import (
    LinearBackward,
    NoTransBackward,
    backward_dims,
    backward_matrix,
    compose,
)


def test_linear_backward_shape_and_no_bias():
    B = LinearBackward(12, 8, generator=torch.Generator().manual_seed(0))
    z = torch.randn(5, 12)
    out = B(z)
    assert out.shape == (5, 8)
    assert [n for n, _ in B.named_parameters()] == ["weight"]
    assert B.weight.shape == (8, 12)
    torch.testing.assert_close(out, z @ B.weight.T)
    torch.testing.assert_close(B(torch.zeros(3, 12)), torch.zeros(3, 8))  # no bias


def test_linear_backward_init_matches_nn_linear_default():
    d_new, d_old = 400, 300
    B = LinearBackward(d_new, d_old, generator=torch.Generator().manual_seed(1))
    bound = 1 / math.sqrt(d_new)
    w = B.weight.detach()
    assert w.abs().max() <= bound
    assert w.abs().max() > 0.99 * bound  # fills the interval
    assert abs(w.std().item() - bound / math.sqrt(3)) < 0.02 * bound  # uniform std
    # same distribution as torch's own nn.Linear(bias=False): identical draws from the same seed
    torch.manual_seed(7)
    ref = torch.nn.Linear(d_new, d_old, bias=False).weight.detach()
    torch.manual_seed(7)
    ours = LinearBackward(d_new, d_old).weight.detach()
    torch.testing.assert_close(ours, ref)


def test_linear_backward_loads_official_state_dict():
    ref = torch.nn.Linear(6, 4, bias=False)
    B = LinearBackward(6, 4)
    B.load_state_dict(ref.state_dict())
    z = torch.randn(3, 6)
    torch.testing.assert_close(B(z), ref(z))


def test_seeded_init_is_reproducible():
    a = LinearBackward(10, 7, generator=torch.Generator().manual_seed(3)).weight
    b = LinearBackward(10, 7, generator=torch.Generator().manual_seed(3)).weight
    c = LinearBackward(10, 7, generator=torch.Generator().manual_seed(4)).weight
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_notrans_takes_first_dims_and_equals_its_matrix():
    B = NoTransBackward(10, 6)
    z = torch.randn(4, 10)
    assert list(B.parameters()) == []
    torch.testing.assert_close(B(z), z[:, :6])
    M = backward_matrix(B)
    assert M.shape == (6, 10)
    torch.testing.assert_close(z @ M.T, B(z))


def test_notrans_rejects_growing_dim():
    with pytest.raises(ValueError, match="d_old <= d_new"):
        NoTransBackward(4, 6)


def test_wrong_input_dim_names_expected():
    with pytest.raises(ValueError, match=r"\(n, 12\)"):
        LinearBackward(12, 8)(torch.randn(3, 11))
    with pytest.raises(ValueError, match=r"\(n, 10\)"):
        NoTransBackward(10, 6)(torch.randn(3, 9))


def test_bad_dims_are_rejected():
    with pytest.raises(ValueError, match="positive int"):
        LinearBackward(0, 3)


def test_backward_matrix_and_dims_accept_all_forms():
    lin = torch.nn.Linear(5, 3, bias=False)
    assert backward_matrix(lin) is lin.weight
    assert backward_dims(lin) == (5, 3)
    W = torch.randn(3, 5)
    assert backward_dims(W) == (5, 3)
    with pytest.raises(ValueError, match="bias-free"):
        backward_matrix(torch.nn.Linear(5, 3))
    with pytest.raises(TypeError, match="LinearBackward"):
        backward_matrix("nope")


def test_compose_applies_newest_first():
    g = torch.Generator().manual_seed(0)
    dims = [3, 4, 6, 7]  # d_0..d_3
    Bs = [LinearBackward(dims[k + 1], dims[k], generator=g) for k in range(3)]  # B_1, B_2, B_3
    z = torch.randn(5, 7, generator=g)
    expected = Bs[0](Bs[1](Bs[2](z)))
    torch.testing.assert_close(compose(Bs, z), expected)
    # to version 1: only B_2 (from z_2), B_3
    torch.testing.assert_close(compose(Bs[1:], z), Bs[1](Bs[2](z)))
    assert compose([], z) is z
    # mixed module / tensor / NoTrans chain
    mixed = [Bs[0].weight.detach(), NoTransBackward(6, 4), Bs[2]]
    torch.testing.assert_close(compose(mixed, z), Bs[2](z)[:, :4] @ Bs[0].weight.detach().T)


def test_compose_wrong_order_is_explained():
    Bs = [LinearBackward(4, 3), LinearBackward(6, 4)]
    with pytest.raises(ValueError, match="oldest first"):
        compose(list(reversed(Bs)), torch.randn(2, 6))
