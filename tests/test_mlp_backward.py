"""BC-Aligner-MLP: the residual-MLP backward transformation, its losses, its VersionStore steps,
and a smoke-scale run of the method (not in the BC paper)."""
from __future__ import annotations

import math

import pytest
import torch

from embcompat.losses.alignment import (chain_targets, group_weights, multi_step_alignment_loss,
                                        weighted_chain_alignment_loss)
from embcompat.models.mlp_backward import MLPBackward, as_backward
from embcompat.models.transforms import (LinearBackward, NoTransBackward, backward_dims,
                                         backward_matrix, compose, is_linear)
from embcompat.versions import VersionStore, chain_from

DIMS = [4, 6, 6, 9, 7]  # d_0 .. d_4


def _mlp(d_new, d_old, hidden=5, seed=0, random_W2=True, dtype=torch.float32):
    B = MLPBackward(d_new, d_old, hidden, generator=torch.Generator().manual_seed(seed))
    if random_W2:  # a trained-looking B: the nonlinear branch is active
        with torch.no_grad():
            B.W_2.normal_(generator=torch.Generator().manual_seed(seed + 100))
    return B.to(dtype)


def _mixed_chain(kinds, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    out = []
    for k, kind in enumerate(kinds, start=1):
        d_new, d_old = DIMS[k], DIMS[k - 1]
        if kind == "mlp":
            out.append(_mlp(d_new, d_old, seed=seed + k, dtype=dtype))
        elif kind == "notrans":
            out.append(NoTransBackward(d_new, d_old))
        else:
            out.append(LinearBackward(d_new, d_old, generator=g).to(dtype))
    return out


def _in_turn(Bs, z):
    """Hand-written: B_K first, then B_{K-1}, ..., B_{j+1}."""
    for B in reversed(Bs):
        z = B(z)
    return z


# ---------------------------------------------------------------- the module
def test_zero_init_W2_is_exactly_the_linear_map_of_the_same_seed():
    mlp = MLPBackward(9, 7, 11, generator=torch.Generator().manual_seed(3))
    lin = LinearBackward(9, 7, generator=torch.Generator().manual_seed(3))
    assert torch.equal(mlp.W_2, torch.zeros(7, 11))
    assert torch.equal(mlp.W_lin, lin.weight)  # W_lin drawn first, as LinearBackward's weight
    z = torch.randn(5, 9)
    assert torch.equal(mlp(z), torch.nn.functional.linear(z, mlp.W_lin))
    torch.testing.assert_close(mlp(z), lin(z), rtol=0, atol=0)
    assert not is_linear(mlp) and is_linear(lin) and is_linear(torch.zeros(2, 3))
    assert backward_dims(mlp) == (9, 7)


def test_nonlinear_branch_is_used_and_frozen_stops_gradients():
    B = _mlp(6, 4)
    z = torch.randn(8, 6, requires_grad=True)
    assert not torch.allclose(B(z), torch.nn.functional.linear(z, B.W_lin))
    B(z, frozen=True).sum().backward()
    assert all(p.grad is None for p in B.parameters()) and z.grad.abs().sum() > 0


def test_shape_errors_are_clear():
    B = _mlp(6, 4)
    with pytest.raises(ValueError, match=r"MLPBackward expects embeddings of shape \(n, 6\)"):
        B(torch.randn(3, 5))
    with pytest.raises(ValueError, match="hidden must be a positive int"):
        MLPBackward(6, 4, 0)
    with pytest.raises(ValueError, match="nonlinear backward transformation and has no matrix"):
        backward_matrix(B)
    with pytest.raises(ValueError, match=r"compose: Bs\[0\] expects inputs of dim 6"):
        compose([B, LinearBackward(9, 7)], torch.randn(2, 9))
    bad = {**B.tensors(), "W_2": torch.zeros(4, 3)}
    with pytest.raises(ValueError, match=r"W_2 should be \(4, 5\)"):
        MLPBackward.from_tensors(bad)
    with pytest.raises(ValueError, match="missing"):
        as_backward({"W_lin": torch.zeros(4, 6)})
    with pytest.raises(ValueError, match="B_kind 'mlp'"):
        as_backward(torch.zeros(4, 6), "mlp")
    store = VersionStore(4)
    with pytest.raises(ValueError, match="d_0 = 4"):
        store.add_version(_mlp(6, 5))


def test_state_round_trip_rebuilds_the_same_map():
    B = _mlp(6, 4)
    again = as_backward(B.tensors(), "mlp")
    z = torch.randn(3, 6)
    assert torch.equal(again(z), B(z)) and again.hidden == 5
    assert not again(z).requires_grad  # a rebuilt (stored) B is frozen


# ---------------------------------------------------------------- losses
def _hand_eq10(z_new, z_old, Bs):
    """1/k sum_j mean((B^j(B_k z_k) - B^j(z_{k-1}))^2), B^j = B_{j+1} o .. o B_{k-1}, written out."""
    a, b = Bs[-1](z_new), z_old
    terms = [((a - b) ** 2).mean()]
    for B in reversed(Bs[:-1]):
        a, b = B(a), B(b)
        terms.append(((a - b) ** 2).mean())
    return sum(terms) / len(Bs)


@pytest.mark.parametrize("kinds", [("mlp", "mlp", "mlp"), ("linear", "mlp", "mlp"),
                                   ("mlp", "notrans", "linear", "mlp"), ("mlp",)])
def test_multi_step_with_mlp_Bs_equals_the_sequential_loss(kinds):
    Bs = _mixed_chain(kinds, dtype=torch.float64)
    k = len(Bs)
    g = torch.Generator().manual_seed(k)
    z_new = torch.randn(7, DIMS[k], generator=g, dtype=torch.float64)
    z_old = torch.randn(7, DIMS[k - 1], generator=g, dtype=torch.float64)
    got = multi_step_alignment_loss(z_new, z_old, Bs)
    assert math.isclose(got.item(), _hand_eq10(z_new, z_old, Bs).item(), rel_tol=1e-12)


def test_nonlinear_path_equals_the_linear_path_on_a_linear_chain():
    """The two-sided form B^j(a) - B^j(b) is the residual form for linear steps."""
    from embcompat.losses.alignment import _nonlinear_multi_step

    Bs = _mixed_chain(("linear", "notrans", "linear"), dtype=torch.float64)
    z_new, z_old = torch.randn(5, DIMS[3], dtype=torch.float64), torch.randn(5, DIMS[2], dtype=torch.float64)
    lin = multi_step_alignment_loss(z_new, z_old, Bs)
    torch.testing.assert_close(_nonlinear_multi_step(z_new, z_old, Bs[-1], Bs[:-1], "mean") / 3, lin)


def test_gradients_reach_the_trained_mlp_and_z_only():
    Bs = _mixed_chain(("mlp", "linear", "mlp"))
    z_new = torch.randn(6, DIMS[3], requires_grad=True)
    loss = multi_step_alignment_loss(z_new, torch.randn(6, DIMS[2]), Bs)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in Bs[-1].parameters())
    assert z_new.grad.abs().sum() > 0
    assert all(p.grad is None for B in Bs[:-1] for p in B.parameters())


def test_multi_step_rejects_a_misordered_mlp_chain():
    with pytest.raises(ValueError, match="oldest first"):
        multi_step_alignment_loss(torch.randn(2, 9), torch.randn(2, 6), [_mlp(4, 3), _mlp(9, 6)])


@pytest.mark.parametrize("reduction", ["mean", "sum_dims"])
def test_weighted_chain_form_equals_the_per_row_loss(reduction):
    Bs = _mixed_chain(("mlp", "linear", "mlp"), dtype=torch.float64)
    g = torch.Generator().manual_seed(4)
    n_users, n_items = 7, 9
    zu = torch.randn(n_users, DIMS[3], generator=g, dtype=torch.float64, requires_grad=True)
    zi = torch.randn(n_items, DIMS[3], generator=g, dtype=torch.float64, requires_grad=True)
    tu = torch.randn(n_users, DIMS[2], generator=g, dtype=torch.float64)
    ti = torch.randn(n_items, DIMS[2], generator=g, dtype=torch.float64)
    u, p, n = torch.tensor([0, 0, 3, 6]), torch.tensor([1, 8, 8, 2]), torch.tensor([8, 4, 0, 7])
    params = [zu, zi, *Bs[-1].parameters()]
    rows = multi_step_alignment_loss((zu[u], zi[p], zi[n]), (tu[u], ti[p], ti[n]), Bs,
                                     reduction=reduction)
    want = torch.autograd.grad(rows, params)
    node = (weighted_chain_alignment_loss(zu, chain_targets(tu, Bs[:-1]), group_weights([u], n_users),
                                          Bs[-1], Bs[:-1], reduction=reduction)
            + weighted_chain_alignment_loss(zi, chain_targets(ti, Bs[:-1]),
                                            group_weights([p, n], n_items), Bs[-1], Bs[:-1],
                                            reduction=reduction))
    got = torch.autograd.grad(node, params)
    torch.testing.assert_close(node, rows)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


def test_joint_alignment_term_with_mlp_earlier_is_the_official_per_group_sum():
    from embcompat.backward.epoch import Alignment

    Bs = _mixed_chain(("mlp", "mlp", "mlp"))
    g = torch.Generator().manual_seed(1)
    ue, ie = torch.randn(6, DIMS[3], generator=g), torch.randn(10, DIMS[3], generator=g)
    tu, ti = torch.randn(6, DIMS[2], generator=g), torch.randn(10, DIMS[2], generator=g)
    u, p, n = (torch.randint(0, m, (12,), generator=g) for m in (6, 10, 10))
    align = Alignment(tu, ti, Bs[-1], Bs[:-1], lam=3.0)
    assert align.metric is None  # no matrix for a nonlinear chain
    got = align.loss(ue, ie, u, p, n)
    want = multi_step_alignment_loss((ue[u], ie[p], ie[n]), (tu[u], ti[p], ti[n]), Bs)
    torch.testing.assert_close(got, want)


# ---------------------------------------------------------------- VersionStore
KIND_CHAINS = [("mlp", "mlp", "mlp", "mlp"), ("linear", "mlp", "linear", "linear"),
               ("notrans", "linear", "mlp", "linear"), ("mlp", "linear", "notrans", "mlp")]


@pytest.mark.parametrize("kinds", KIND_CHAINS)
def test_store_transform_equals_applying_the_Bs_in_turn(kinds):
    Bs = _mixed_chain(kinds, seed=7)
    store = chain_from(Bs)
    assert store.kinds == list(kinds) and store.dims == DIMS
    z = torch.randn(11, DIMS[-1])
    with torch.no_grad():
        for j in range(store.K + 1):
            ref = _in_turn(Bs[j:], z)
            torch.testing.assert_close(store.transform(z, j), ref, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(store.transform(z, j, sequential=True), ref, rtol=1e-5,
                                       atol=1e-5)
            torch.testing.assert_close(compose(Bs[j:], z), ref, rtol=0, atol=0)


def test_store_precomposes_only_linear_runs():
    Bs = _mixed_chain(("linear", "linear", "mlp", "linear"), seed=2)
    store = chain_from(Bs)
    composed = store.precompose()
    assert set(composed) == {3}  # from K = 4, only B_4 is reached linearly
    assert set(store._runs) == {4, 2} and set(store._runs[2]) == {0, 1}
    torch.testing.assert_close(store._runs[2][0], Bs[0].weight.detach() @ Bs[1].weight.detach())
    with pytest.raises(ValueError, match="B_3 is an MLP step"):
        store.composed_matrix(1)
    with pytest.raises(ValueError, match="no matrix"):
        store.matrices
    assert store.num_floats == sum(p.numel() for B in Bs for p in B.parameters())
    out = torch.empty(3, DIMS[0])
    res = store.transform(torch.randn(3, DIMS[-1]), 0, out=out)
    assert res.data_ptr() == out.data_ptr()


def test_store_keeps_a_frozen_copy_of_the_mlp():
    B = _mlp(DIMS[1], DIMS[0])
    store = chain_from([B])
    z = torch.randn(2, DIMS[1])
    before = store.transform(z, 0)
    with torch.no_grad():
        B.W_2.add_(1.0)
    assert torch.equal(store.transform(z, 0), before)
    assert not any(p.requires_grad for p in store.steps[0].parameters())


def test_save_load_round_trip_is_bit_identical(tmp_path):
    Bs = _mixed_chain(("mlp", "notrans", "linear", "mlp"), seed=3)
    store = chain_from(Bs)
    store.set_embeddings(torch.randn(13, DIMS[-1]))
    path = store.save(tmp_path / "store.safetensors")
    header = VersionStore.read_header(path)
    assert header["format"] == "embcompat.VersionStore/2"
    assert header["kinds"] == ["mlp", "notrans", "linear", "mlp"] and header["hidden"] == [5, None, None, 5]
    loaded = VersionStore.load(path)
    assert loaded.kinds == store.kinds and loaded.dims == store.dims
    for a, b in zip(loaded.steps, store.steps):
        if isinstance(a, MLPBackward):
            assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
        else:
            assert torch.equal(a, b)
    assert torch.equal(loaded.embeddings, store.embeddings)
    for j in range(store.K + 1):
        assert torch.equal(loaded.transform(to_version=j, sequential=True),
                           store.transform(to_version=j, sequential=True))
        torch.testing.assert_close(loaded.transform(to_version=j), store.transform(to_version=j),
                                   rtol=1e-6, atol=1e-6)
    # a linear-only store keeps writing the original format (no 'hidden' field)
    lin = chain_from(_mixed_chain(("linear", "notrans")))
    h = VersionStore.read_header(lin.save(tmp_path / "lin.safetensors"))
    assert h["format"] == "embcompat.VersionStore/1" and "hidden" not in h


def test_load_rejects_a_misshapen_mlp_tensor(tmp_path):
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open

    path = chain_from([_mlp(DIMS[1], DIMS[0])]).save(tmp_path / "s.safetensors")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    t = load_file(str(path))
    t["B_1.b_1"] = torch.zeros(4)
    save_file(t, str(path), metadata=meta)
    with pytest.raises(ValueError, match=r"B_1: b_1 should be \(5,\)"):
        VersionStore.load(path)


# ---------------------------------------------------------------- the method
def test_method_and_key_fields():
    from embcompat.backward.methods import get_method
    from embcompat.config.bc import bc_config

    m = get_method("joint-mlp-mloss")
    assert m.name == "BC-Aligner-MLP" and m.kind == "joint" and m.transform == "mlp" and m.multi_step
    cfg = bc_config("smoke", device="cpu")
    assert m.key_fields(cfg)["mlp_hidden"] == cfg.mlp_hidden
    # the new config field is not part of any existing method's key
    for name in ("BC-Aligner", "Joint-Lin-SLoss", "Joint-NoTrans", "Post-Lin-MLoss", "Non-BC"):
        assert "mlp_hidden" not in get_method(name).key_fields(cfg)
    with pytest.raises(ValueError, match="mlp_hidden"):
        bc_config("smoke", mlp_hidden=0)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBCOMPAT_CACHE", str(tmp_path))
    return tmp_path


def last_requires_grad(r):
    return any(t.requires_grad for v in r.versions for t in (v.zhat0_user, v.zhat0_item))


def test_train_versions_smoke_caches_reloads_and_z0_is_the_Bs_in_turn(cache):
    from dataclasses import replace

    from embcompat.backward.train import train_versions, version_keys
    from embcompat.config.bc import bc_config
    from embcompat.data import load_graph, version_splits

    times = (0.5, 0.6, 0.7, 0.8)
    g = load_graph("synthetic")
    splits = version_splits(g, times, heldout_test=True)
    cfg = bc_config("smoke", times=times, dims=(8, 12, 16), layers=(1, 1, 2), epochs=2,
                    schedule="official", device="cpu", mlp_hidden=6)
    r = train_versions("BC-Aligner-MLP", g, splits, cfg, progress=False)
    assert [v.B_kind for v in r.versions] == [None, "mlp", "mlp"]
    assert all(isinstance(B, MLPBackward) and B.hidden == 6 for B in r.Bs)
    assert not last_requires_grad(r)
    assert any(float(B.W_2.abs().sum()) > 0 for B in r.Bs)  # the nonlinear branch was trained
    last = r.versions[-1]
    with torch.no_grad():
        for zk, z0 in ((last.z_user, last.zhat0_user), (last.z_item, last.zhat0_item)):
            torch.testing.assert_close(z0, _in_turn(r.Bs, zk), rtol=0, atol=0)
    again = train_versions("BC-Aligner-MLP", g, splits, cfg, progress=False)
    assert all(v.from_cache for v in again.versions)
    assert all(torch.equal(a, b) for A, B in zip(again.Bs, r.Bs)
               for a, b in zip(A.parameters(), B.parameters()))
    store = again.version_store()
    z0 = store.transform(to_version=0)
    torch.testing.assert_close(z0, torch.cat([last.zhat0_user, last.zhat0_item]), rtol=1e-5, atol=1e-6)
    # BC-Aligner's keys do not depend on mlp_hidden; BC-Aligner-MLP's do (from version 1)
    keys = lambda m, c: version_keys(m, g, splits, c)  # noqa: E731
    other = replace(cfg, mlp_hidden=7)
    assert keys("BC-Aligner", other) == keys("BC-Aligner", cfg)
    mk, mk2 = keys("BC-Aligner-MLP", cfg), keys("BC-Aligner-MLP", other)
    assert mk[0] == mk2[0] == keys("BC-Aligner", cfg)[0] and mk[1] != mk2[1]
    assert not set(mk[1:]) & set(keys("BC-Aligner", cfg)[1:])
