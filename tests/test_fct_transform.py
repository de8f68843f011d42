"""The FCT transformation h and freeze_batchnorm."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from embcompat.models.fct_transform import (FCTTransform, FCTTransformConfig, batchnorm_frozen,
                                            freeze_batchnorm)
from embcompat.models.side_info import zero_side_info



def _linears(seq: nn.Module) -> list[tuple[int, int, bool]]:
    return [(m.in_features, m.out_features, m.bias is not None)
            for m in seq.modules() if isinstance(m, nn.Linear)]


def _small(side_dim: int = 6) -> FCTTransform:
    return FCTTransform(FCTTransformConfig(old_dim=5, side_dim=side_dim, new_dim=4,
                                           mixer_hidden=16))


def test_default_matches_official_sizes():
    h = FCTTransform()
    assert _linears(h.old_branch) == [(128, 256, False), (256, 256, False)]
    assert _linears(h.side_branch) == [(128, 256, False), (256, 256, False)]
    assert _linears(h.mixer) == [(512, 2048, False), (2048, 2048, False), (2048, 128, True)]
    # every hidden layer is Linear -> BatchNorm -> ReLU; the output layer is a bare Linear
    kinds = [type(m).__name__ for m in h.mixer]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU"] * 2 + ["Linear"]
    assert [type(m).__name__ for m in h.old_branch] == ["Linear", "BatchNorm1d", "ReLU"] * 2


def test_sizes_follow_the_official_rule_and_are_configurable():
    h = FCTTransform(FCTTransformConfig(old_dim=64, side_dim=32, new_dim=16, mixer_hidden=40,
                                        mixer_layers=1))
    assert _linears(h.old_branch) == [(64, 128, False), (128, 32, False)]
    assert _linears(h.side_branch) == [(32, 64, False), (64, 32, False)]
    assert _linears(h.mixer) == [(64, 40, False), (40, 16, True)]
    h = FCTTransform(FCTTransformConfig(old_dim=8, side_dim=8, new_dim=8, branch_hidden=3,
                                        branch_out=5, mixer_hidden=7))
    assert _linears(h.old_branch) == [(8, 3, False), (3, 5, False)]
    assert _linears(h.mixer)[0] == (10, 7, False)


def test_forward_shapes():
    torch.manual_seed(0)
    h = _small()
    out = h(torch.randn(9, 5), torch.randn(9, 6))
    assert out.shape == (9, 4)
    h.eval()
    assert h(torch.randn(1, 5), torch.randn(1, 6)).shape == (1, 4)


def test_no_side_branch_when_side_dim_zero():
    h = _small(side_dim=0)
    assert h.side_branch is None
    assert _linears(h.mixer)[0] == (8, 16, False)  # only the old branch's 2*new_dim outputs
    assert h(torch.randn(3, 5)).shape == (3, 4)
    with pytest.raises(ValueError, match="side=None"):
        h(torch.randn(3, 5), torch.randn(3, 6))
    with pytest.raises(ValueError, match="zero_side_info"):
        _small()(torch.randn(3, 5))


def test_side_dim_zero_equals_zero_side_info():
    """A zero side input only shifts the first mixer pre-activation by a constant: BN removes it."""
    torch.manual_seed(0)
    h0, h1 = _small(side_dim=0), _small(side_dim=6)
    h1.old_branch.load_state_dict(h0.old_branch.state_dict())
    mix0, mix1 = h0.mixer.state_dict(), h1.mixer.state_dict()
    for k, v in mix0.items():
        if k == "0.weight":  # (16, 8) vs (16, 16): h1 = [old part | side part]
            mix1[k][:, :8] = v
        else:
            mix1[k] = v.clone()
    h1.mixer.load_state_dict(mix1)
    with torch.no_grad():  # make the side branch output a non-zero constant for zero input
        for m in h1.side_branch:
            if isinstance(m, nn.BatchNorm1d):
                m.bias.uniform_(0.5, 1.5)
    old = torch.randn(10, 5)
    out0 = h0(old)
    out1 = h1(old, zero_side_info(10, 6))
    torch.testing.assert_close(out1, out0, rtol=1e-5, atol=1e-5)
    # real side-info does change the output (so the check above can fail)
    assert not torch.allclose(h1(old, torch.randn(10, 6)), out0, atol=1e-3)


def test_bad_config_and_inputs_speak():
    with pytest.raises(ValueError, match="side_dim"):
        FCTTransformConfig(side_dim=-1)
    with pytest.raises(ValueError, match="old_dim"):
        FCTTransformConfig(old_dim=0)
    with pytest.raises(ValueError, match=r"\(B, 5\)"):
        _small()(torch.randn(3, 4), torch.randn(3, 6))


def _trained(h: FCTTransform, steps: int = 3) -> FCTTransform:
    opt = torch.optim.Adam(h.parameters(), lr=1e-2)
    h.train()
    for _ in range(steps):
        opt.zero_grad()
        h(torch.randn(8, 5), torch.randn(8, 6)).pow(2).mean().backward()
        opt.step()
    return h


def test_freeze_batchnorm_makes_output_independent_of_batch():
    torch.manual_seed(0)
    h = _trained(_small())
    old, side = torch.randn(6, 5), torch.randn(6, 6)
    other_old, other_side = torch.randn(6, 5) * 3 + 1, torch.randn(6, 6) * 3 + 1

    def first_rows():
        a = h(old, side)[:2]
        b = h(torch.cat([old[:2], other_old]), torch.cat([side[:2], other_side]))[:2]
        return a, b

    a, b = first_rows()  # train mode: batch statistics, so the batch matters
    assert not torch.allclose(a, b, atol=1e-4)
    h.train()
    n = freeze_batchnorm(h)
    assert n == 6 and batchnorm_frozen(h)  # 2 per branch, 2 in the mixer
    stats = {k: v.clone() for k, v in h.state_dict().items() if "running" in k}
    a, b = first_rows()
    torch.testing.assert_close(a, b)
    for k, v in h.state_dict().items():
        if "running" in k:
            assert torch.equal(v, stats[k]), k
    # identical to the official behaviour, model.eval()
    h.eval()
    official = h(old, side)
    h.train()
    freeze_batchnorm(h)
    torch.testing.assert_close(h(old, side), official)


def test_freeze_batchnorm_keeps_affine_trainable_and_train_undoes_it():
    torch.manual_seed(0)
    h = _trained(_small())
    h.train()
    freeze_batchnorm(h)
    bn = h.mixer[1]
    before = bn.weight.detach().clone()
    running = bn.running_mean.clone()
    opt = torch.optim.Adam(h.parameters(), lr=1e-2)
    opt.zero_grad()
    h(torch.randn(8, 5), torch.randn(8, 6)).pow(2).mean().backward()
    assert bn.weight.grad is not None and bn.weight.grad.abs().sum() > 0
    opt.step()
    assert not torch.equal(bn.weight, before)
    assert torch.equal(bn.running_mean, running)
    h.train()
    assert not batchnorm_frozen(h)


def test_freeze_batchnorm_leaves_other_layers_alone():
    m = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3), nn.Dropout(0.5))
    m.train()
    assert freeze_batchnorm(m) == 1
    assert not m[1].training and m[2].training and m.training
