"""FCT losses (label smoothing, NT-Xent, BCT) and the augmentation pipelines / Mixup."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from embcompat.forward.augment import (eval_transform, mixup, mixup_loss, normalization_stats,
                               random_crop_flip, train_transform)
from embcompat.losses.vision import bct_influence_loss, bct_loss, label_smoothing_ce, nt_xent



# ---------------------------------------------------------------- label smoothing

def test_label_smoothing_matches_official_formula():
    torch.manual_seed(0)
    logits, y = torch.randn(6, 5), torch.randint(0, 5, (6,))
    logp = logits.log_softmax(-1)
    nll = -logp[torch.arange(6), y]
    official = (0.9 * nll + 0.1 * (-logp.mean(-1))).mean()
    torch.testing.assert_close(label_smoothing_ce(logits, y), official)
    torch.testing.assert_close(label_smoothing_ce(logits, y, 0.0), nll.mean())
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        label_smoothing_ce(logits, y, 1.0)


# ---------------------------------------------------------------- NT-Xent

def _nt_xent_loop(z1, z2, tau):
    z = torch.cat([z1, z2]).double()
    n, b = z.shape[0], z1.shape[0]
    total = 0.0
    for i in range(n):
        j = (i + b) % n
        def s(a, c):
            return float(torch.dot(z[a], z[c]) / (z[a].norm() * z[c].norm())) / tau
        den = sum(math.exp(s(i, k)) for k in range(n) if k != i)
        total += -math.log(math.exp(s(i, j)) / den)
    return total / n


@pytest.mark.parametrize("tau", [0.5, 0.1, 1.0])
def test_nt_xent_matches_naive_loop(tau):
    torch.manual_seed(1)
    z1, z2 = torch.randn(5, 3), torch.randn(5, 3)
    assert nt_xent(z1, z2, tau).item() == pytest.approx(_nt_xent_loop(z1, z2, tau), rel=1e-5)


def test_nt_xent_prefers_aligned_views_and_checks_inputs():
    torch.manual_seed(0)
    z = torch.randn(8, 4)
    assert nt_xent(z, z + 0.01 * torch.randn(8, 4)) < nt_xent(z, torch.randn(8, 4))
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(z, z, 0.0)
    with pytest.raises(ValueError, match=r"\(B, d\)"):
        nt_xent(z, z[:, :3])


# ---------------------------------------------------------------- BCT

def _old_head(weight):
    head = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        head.weight.copy_(weight)
    return head


def test_bct_influence_by_hand_and_frozen_old_classifier():
    head = _old_head(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    feats = torch.tensor([[1.0, 1.0], [2.0, 0.0], [5.0, -3.0]], requires_grad=True)
    labels = torch.tensor([0, 1, 2])  # sample 2 is of a new class: excluded
    # logits: [1, 2] and [2, 0]
    expected = 0.5 * (-(1 - math.log(math.exp(1) + math.exp(2)))
                      - (0 - math.log(math.exp(2) + math.exp(0))))
    loss = bct_influence_loss(feats, labels, head)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert head.weight.grad is None, "the old classifier must stay frozen"
    assert feats.grad[:2].abs().sum() > 0
    assert torch.equal(feats.grad[2], torch.zeros(2))


def test_bct_influence_uses_only_old_logits_of_a_wider_head():
    # official old models have a 100-way head trained on 50 classes: use the first 2 of 3 logits
    head = _old_head(torch.tensor([[1.0, 0.0], [0.0, 2.0], [9.0, 9.0]]))
    feats = torch.tensor([[1.0, 1.0], [2.0, 0.0]])
    expected = 0.5 * (-(1 - math.log(math.exp(1) + math.exp(2)))
                      - (0 - math.log(math.exp(2) + math.exp(0))))
    got = bct_influence_loss(feats, torch.tensor([0, 1]), head, num_old_classes=2)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    assert bct_influence_loss(feats, torch.tensor([0, 1]), head).item() > expected + 1
    with pytest.raises(ValueError, match=r"\[1, 3\]"):
        bct_influence_loss(feats, torch.tensor([0, 1]), head, num_old_classes=4)


def test_bct_all_new_batch_is_zero_and_total_loss():
    torch.manual_seed(0)
    head = _old_head(torch.randn(2, 3))
    feats = torch.randn(4, 3, requires_grad=True)
    zero = bct_influence_loss(feats, torch.tensor([2, 3, 4, 2]), head)
    assert zero.item() == 0.0 and zero.requires_grad
    logits, y = torch.randn(4, 5), torch.tensor([0, 1, 3, 4])
    total = bct_loss(logits, feats, y, head, lam=0.5)
    expected = F.cross_entropy(logits, y) + 0.5 * bct_influence_loss(feats, y, head)
    torch.testing.assert_close(total, expected)


# ---------------------------------------------------------------- augmentation

def _img(c, s, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (c, s, s), generator=g, dtype=torch.uint8)


def _unnormalise(out, c):
    mean, std = normalization_stats(c)
    mean, std = torch.tensor(mean)[:, None, None], torch.tensor(std)[:, None, None]
    return torch.round((out * std + mean) * 255).to(torch.uint8)


def test_eval_transform_normalises():
    x = _img(3, 8)
    mean, std = normalization_stats(3)
    expected = (x.float() / 255 - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    torch.testing.assert_close(eval_transform(3)(x), expected)


@pytest.mark.parametrize("c,s", [(3, 16), (1, 12)])
def test_train_transform_is_a_padded_crop_and_flip(c, s):
    x = _img(c, s)
    torch.manual_seed(3)
    out = train_transform(s, c)(x)
    assert out.shape == (c, s, s) and out.dtype == torch.float32
    back = _unnormalise(out, c)
    padded = F.pad(x, (4, 4, 4, 4))
    candidates = [w for dy in range(9) for dx in range(9)
                  for w in (padded[:, dy:dy + s, dx:dx + s], padded[:, dy:dy + s, dx:dx + s].flip(-1))]
    assert any(torch.equal(back, w) for w in candidates)
    torch.manual_seed(3)
    assert torch.equal(train_transform(s, c)(x), out), "same seed, same augmentation"


def test_random_crop_flip_per_sample():
    x = torch.stack([_img(2, 6, seed=i) for i in range(16)])
    out = random_crop_flip(x, padding=2, generator=torch.Generator().manual_seed(0))
    again = random_crop_flip(x, padding=2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again) and out.dtype == torch.uint8 and out.shape == x.shape
    padded = F.pad(x, (2, 2, 2, 2))
    chosen = set()
    for i in range(16):
        hits = [(dy, dx, f) for dy in range(5) for dx in range(5) for f in (0, 1)
                if torch.equal(out[i], padded[i, :, dy:dy + 6, dx:dx + 6].flip(-1) if f
                               else padded[i, :, dy:dy + 6, dx:dx + 6])]
        assert hits, f"sample {i} is not a padded crop of itself"
        chosen.add(hits[0])
    assert len(chosen) > 1, "each sample draws its own crop"


def test_mixup_convex_combination_and_determinism():
    x = torch.randn(10, 3, 4, 4)
    y = torch.arange(10)
    mixed, ya, yb, lam = mixup(x, y, 1.0, torch.Generator().manual_seed(0))
    assert 0.0 <= lam <= 1.0 and torch.equal(ya, y)
    assert sorted(yb.tolist()) == list(range(10))  # a permutation
    torch.testing.assert_close(mixed, lam * x + (1 - lam) * x[yb])
    m2, _, yb2, lam2 = mixup(x, y, 1.0, torch.Generator().manual_seed(0))
    assert lam2 == lam and torch.equal(yb2, yb) and torch.equal(m2, mixed)
    lams = [mixup(x, y, 1.0, torch.Generator().manual_seed(s))[3] for s in range(200)]
    assert all(0 <= v <= 1 for v in lams) and abs(sum(lams) / 200 - 0.5) < 0.06
    same, _, _, one = mixup(x, y, 0.0, torch.Generator().manual_seed(0))
    assert one == 1.0 and torch.equal(same, x)
    with pytest.raises(TypeError, match="float"):
        mixup(x.to(torch.uint8), y, 1.0)


def test_mixup_loss_equals_soft_target_cross_entropy():
    torch.manual_seed(0)
    logits, ya, yb, lam = torch.randn(6, 4), torch.randint(0, 4, (6,)), torch.randint(0, 4, (6,)), 0.3
    soft = lam * F.one_hot(ya, 4).float() + (1 - lam) * F.one_hot(yb, 4).float()
    torch.testing.assert_close(mixup_loss(logits, ya, yb, lam), F.cross_entropy(logits, soft))
    torch.testing.assert_close(mixup_loss(logits, ya, yb, lam, mix_labels=False),
                               F.cross_entropy(logits, ya))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        mixup_loss(logits, ya, yb, 1.5)
