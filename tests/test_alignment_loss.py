"""Alignment losses (Eq. 7, Eq. 10) against term-by-term brute force, and post-hoc fitting."""
import math

import pytest
import torch

from embcompat.losses.alignment import multi_step_alignment_loss, single_step_alignment_loss
from embcompat.models.transforms import LinearBackward, NoTransBackward
from embcompat.backward.posthoc import posthoc_fit_backward

DIMS = [3, 5, 4, 6]  # d_0 .. d_3


def _chain(k, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [LinearBackward(DIMS[j + 1], DIMS[j], generator=g) for j in range(k)]  # B_1..B_k


def _brute_eq10(z_new, z_old, Ws, reduction):
    """Eq. 10 written out: 1/k * sum_{j=0}^{k-1} || W_{j+1} ... W_{k-1} (W_k z_k - z_{k-1}) ||^2."""
    k = len(Ws)
    n = len(z_new)
    total = 0.0
    for x in range(n):  # per data point, then averaged
        delta = [sum(Ws[-1][r][c] * z_new[x][c] for c in range(len(z_new[x]))) - z_old[x][r] for r in range(len(Ws[-1]))]
        for j in range(k):  # term projected to version j
            v = list(delta)
            for m in range(k - 1, j, -1):  # apply W_{k-1}, ..., W_{j+1}
                W = Ws[m - 1]
                v = [sum(W[r][c] * v[c] for c in range(len(v))) for r in range(len(W))]
            sq = sum(e * e for e in v)
            total += (sq / len(v) if reduction == "mean" else sq) / k
    return total / n


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("reduction", ["mean", "sum_dims"])
def test_multi_step_matches_brute_force(k, reduction):
    Bs = _chain(k, seed=k)
    g = torch.Generator().manual_seed(10 + k)
    z_new = torch.randn(4, DIMS[k], generator=g, dtype=torch.float64)
    z_old = torch.randn(4, DIMS[k - 1], generator=g, dtype=torch.float64)
    Bs = [B.double() for B in Bs]
    got = multi_step_alignment_loss(z_new, z_old, Bs, reduction=reduction)
    Ws = [B.weight.detach().tolist() for B in Bs]
    want = _brute_eq10(z_new.tolist(), z_old.tolist(), Ws, reduction)
    assert math.isclose(got.item(), want, rel_tol=1e-10)


def test_multi_step_k1_is_single_step_and_groups_add():
    (B,) = _chain(1)
    g = torch.Generator().manual_seed(0)
    groups_new = [torch.randn(n, DIMS[1], generator=g) for n in (3, 5, 5)]
    groups_old = [torch.randn(n, DIMS[0], generator=g) for n in (3, 5, 5)]
    s = single_step_alignment_loss(groups_new, groups_old, B)
    m = multi_step_alignment_loss(groups_new, groups_old, [B])
    torch.testing.assert_close(s, m)
    # official: MSELoss(users) + MSELoss(pos) + MSELoss(neg)
    mse = torch.nn.MSELoss()
    ref = sum(mse(B(a), b) for a, b in zip(groups_new, groups_old))
    torch.testing.assert_close(s, ref)


def test_single_step_reductions():
    (B,) = _chain(1)
    z_new, z_old = torch.randn(6, DIMS[1]), torch.randn(6, DIMS[0])
    delta = B(z_new) - z_old
    torch.testing.assert_close(single_step_alignment_loss(z_new, z_old, B), (delta**2).mean())
    torch.testing.assert_close(
        single_step_alignment_loss(z_new, z_old, B, reduction="sum_dims"), (delta**2).sum(1).mean()
    )
    with pytest.raises(ValueError, match="mean"):
        single_step_alignment_loss(z_new, z_old, B, reduction="avg")


def test_multi_step_gradients_only_reach_B_k_and_z_new():
    Bs = _chain(3, seed=5)
    z_new = torch.randn(4, DIMS[3], requires_grad=True)
    z_old = torch.randn(4, DIMS[2], requires_grad=True)
    multi_step_alignment_loss(z_new, z_old, Bs).backward()
    assert Bs[-1].weight.grad is not None and Bs[-1].weight.grad.abs().sum() > 0
    assert z_new.grad is not None and z_new.grad.abs().sum() > 0
    assert Bs[0].weight.grad is None and Bs[1].weight.grad is None  # frozen
    assert z_old.grad is None  # the previous version is a detached target


def test_multi_step_differs_from_single_step_when_k_gt_1():
    Bs = _chain(2, seed=2)
    z_new, z_old = torch.randn(4, DIMS[2]), torch.randn(4, DIMS[1])
    assert not torch.isclose(
        multi_step_alignment_loss(z_new, z_old, Bs), single_step_alignment_loss(z_new, z_old, Bs[-1])
    )


def test_multi_step_with_notrans_earlier_is_truncation():
    B2 = LinearBackward(6, 5, generator=torch.Generator().manual_seed(0))
    z_new, z_old = torch.randn(4, 6), torch.randn(4, 5)
    delta = B2(z_new) - z_old
    want = ((delta**2).mean() + (delta[:, :3] ** 2).mean()) / 2
    torch.testing.assert_close(multi_step_alignment_loss(z_new, z_old, [NoTransBackward(5, 3), B2]), want)


def test_multi_step_errors_are_clear():
    Bs = _chain(2)
    with pytest.raises(TypeError, match="z_\\{k-1\\} only"):
        multi_step_alignment_loss(torch.randn(2, DIMS[2]), [torch.randn(2, 3), torch.randn(2, 5)], Bs)
    with pytest.raises(ValueError, match="oldest first"):
        multi_step_alignment_loss(torch.randn(2, DIMS[2]), torch.randn(2, DIMS[1]), [Bs[0], LinearBackward(4, 4), Bs[1]])
    with pytest.raises(ValueError, match="k >= 1"):
        multi_step_alignment_loss(torch.randn(2, 3), torch.randn(2, 3), [])


def _planted(n_users=60, n_items=40, d_new=8, d_old=5, seed=0, noise=0.01):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(d_old, d_new, generator=g) / math.sqrt(d_new)
    zu, zi = torch.randn(n_users, d_new, generator=g), torch.randn(n_items, d_new, generator=g)
    ou = zu @ W.T + noise * torch.randn(n_users, d_old, generator=g)
    oi = zi @ W.T + noise * torch.randn(n_items, d_old, generator=g)
    return W, (zu, zi), (ou, oi)


def test_posthoc_sloss_recovers_planted_map_and_selects_after():
    W, z_new, z_old = _planted()
    res = posthoc_fit_backward(z_new, z_old, epochs=120, lr=5e-2, select_after=20, batch_size=50, seed=0, eval_every=5)
    assert len(res.train_loss) == 120 and len(res.eval_mse) == 120
    assert res.best_epoch > 20 and res.best_epoch % 5 == 0
    assert res.best_mse == min(m for e, m in enumerate(res.eval_mse, 1) if e > 20 and not math.isnan(m))
    init = LinearBackward(8, 5, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        init_mse = 0.5 * sum(((init(a) - b) ** 2).mean() for a, b in zip(z_new, z_old)).item()
    assert res.best_mse < 0.05 * init_mse
    assert (res.B.weight - W).abs().max() < 0.02
    assert res.best_mse < 5e-4  # noise floor is 1e-4
    assert not res.B.weight.requires_grad


def test_posthoc_is_reproducible_and_official_triples_path_runs():
    _, z_new, z_old = _planted(seed=1)
    g = torch.Generator().manual_seed(0)
    edges = torch.stack([torch.randint(60, (300,), generator=g), torch.randint(40, (300,), generator=g)])
    kw = dict(epochs=12, lr=1e-2, select_after=4, batch_size=64, seed=3, eval_every=2, edges=edges)
    a = posthoc_fit_backward(z_new, z_old, **kw)
    b = posthoc_fit_backward(z_new, z_old, **kw)
    assert torch.equal(a.B.weight, b.B.weight) and a.train_loss == b.train_loss
    assert a.eval_mse[-1] < a.eval_mse[1]  # it learns (epochs 12 vs 2)


def test_posthoc_mloss_uses_earlier_Bs():
    _, z_new, z_old = _planted(seed=2)
    B1 = LinearBackward(5, 3, generator=torch.Generator().manual_seed(9))
    kw = dict(epochs=4, select_after=0, eval_every=1, batch_size=16, seed=0)
    s = posthoc_fit_backward(z_new, z_old, **kw)
    m = posthoc_fit_backward(z_new, z_old, earlier_Bs=[B1], **kw)
    assert s.train_loss != m.train_loss
    assert B1.weight.grad is None


def test_posthoc_rejects_no_eligible_epoch():
    _, z_new, z_old = _planted()
    with pytest.raises(ValueError, match="eligible"):
        posthoc_fit_backward(z_new, z_old, epochs=50, select_after=50)


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("reduction", ["mean", "sum_dims"])
def test_weighted_node_form_equals_the_per_row_loss(k, reduction):
    """Joint training's node-weighted form = Eq. 10 on the gathered minibatch rows, value and grads."""
    from embcompat.losses.alignment import alignment_metric, group_weights, weighted_alignment_loss

    Bs = [B.double() for B in _chain(k, seed=20 + k)]
    g = torch.Generator().manual_seed(k)
    n_users, n_items = 7, 9
    zu = torch.randn(n_users, DIMS[k], generator=g, dtype=torch.float64, requires_grad=True)
    zi = torch.randn(n_items, DIMS[k], generator=g, dtype=torch.float64, requires_grad=True)
    tu = torch.randn(n_users, DIMS[k - 1], generator=g, dtype=torch.float64)
    ti = torch.randn(n_items, DIMS[k - 1], generator=g, dtype=torch.float64)
    u = torch.tensor([0, 0, 3, 6, 3, 0])  # duplicates, and users that never occur
    p = torch.tensor([1, 8, 8, 2, 5, 1])
    n = torch.tensor([8, 4, 0, 0, 7, 2])

    rows = multi_step_alignment_loss((zu[u], zi[p], zi[n]), (tu[u], ti[p], ti[n]), Bs,
                                     reduction=reduction)
    want = torch.autograd.grad(rows, [zu, zi, Bs[-1].weight])
    metric = alignment_metric(Bs, reduction=reduction)
    node = (weighted_alignment_loss(zu, tu, group_weights([u], n_users), Bs[-1], metric)
            + weighted_alignment_loss(zi, ti, group_weights([p, n], n_items), Bs[-1], metric))
    got = torch.autograd.grad(node, [zu, zi, Bs[-1].weight])
    torch.testing.assert_close(node, rows)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)
    assert float(got[0][1].abs().sum()) == 0.0  # user 1 is in no group


def test_alignment_metric_single_step_and_errors():
    from embcompat.losses.alignment import alignment_metric, group_weights

    (B,) = _chain(1)
    torch.testing.assert_close(alignment_metric([B]), torch.eye(DIMS[0]) / DIMS[0])
    torch.testing.assert_close(alignment_metric([B], reduction="sum_dims"), torch.eye(DIMS[0]))
    with pytest.raises(ValueError, match="empty"):
        alignment_metric([])
    with pytest.raises(ValueError, match="oldest first"):
        alignment_metric([LinearBackward(4, 4), *_chain(2)])
    with pytest.raises(ValueError, match="at least one"):
        group_weights([], 3)


@pytest.mark.parametrize("multi", [False, True])
def test_joint_alignment_term_is_the_official_per_group_sum(multi):
    """``Alignment.loss`` (the joint methods' term) = MSE(users) + MSE(pos) + MSE(neg) over rows."""
    from embcompat.backward.epoch import Alignment

    Bs = _chain(3, seed=5)
    g = torch.Generator().manual_seed(1)
    ue, ie = torch.randn(6, DIMS[3], generator=g), torch.randn(10, DIMS[3], generator=g)
    tu, ti = torch.randn(6, DIMS[2], generator=g), torch.randn(10, DIMS[2], generator=g)
    u, p, n = (torch.randint(0, m, (12,), generator=g) for m in (6, 10, 10))
    earlier = [B.weight.detach() for B in Bs[:-1]] if multi else []
    got = Alignment(tu, ti, Bs[-1], earlier, lam=3.0).loss(ue, ie, u, p, n)
    new, old = (ue[u], ie[p], ie[n]), (tu[u], ti[p], ti[n])
    want = (multi_step_alignment_loss(new, old, Bs) if multi
            else single_step_alignment_loss(new, old, Bs[-1]))
    torch.testing.assert_close(got, want)
