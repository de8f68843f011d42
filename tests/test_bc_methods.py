"""The BC methods of Table 3 on a tiny synthetic graph: registry, config, and what each method does."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from embcompat.config.bc import BC_SCALES, BCTrainConfig, bc_config
from embcompat.backward.methods import METHOD_NAMES, METHODS, get_method
from embcompat.backward.train import train_versions
from embcompat.data import load_graph, version_splits
from embcompat.models.gnn import PinSAGE, VersionGraph

TIMES = (0.5, 0.6, 0.7, 0.8)  # three versions


@pytest.fixture(scope="module")
def setup():
    g = load_graph("synthetic")
    cfg = bc_config("smoke", times=TIMES, dims=(8, 12, 16), layers=(1, 1, 2), epochs=2,
                        finetune_epochs=2, posthoc_epochs=3, schedule="official", device="cpu")
    return g, version_splits(g, TIMES, heldout_test=True), cfg


@pytest.fixture(scope="module")
def results(setup, tmp_path_factory):
    """Every method, trained once into a module-private cache."""
    g, splits, cfg = setup
    mp = pytest.MonkeyPatch()
    mp.setenv("EMBCOMPAT_CACHE", str(tmp_path_factory.mktemp("bc-cache")))
    out = {name: train_versions(name, g, splits, cfg, progress=False) for name in METHOD_NAMES}
    mp.undo()
    return out


def test_registry_has_the_nine_rows_plus_ours_and_speaks_on_bad_names():
    assert set(METHOD_NAMES) == {"Non-BC", "Post-Lin-SLoss", "Post-Lin-MLoss", "Joint-NoTrans",
                                 "Joint-Lin-SLoss", "BC-Aligner", "Fix-M0", "Finetune-M0",
                                 "Keep-All", "Post-LS", "Post-Procrustes",
                                 "BC-Aligner-MLP"}  # our rows, not in the paper
    assert get_method("joint-linear-mloss") is METHODS["BC-Aligner"]
    assert get_method("joint-mlp-mloss") is METHODS["BC-Aligner-MLP"]
    assert get_method("bc-aligner") is METHODS["BC-Aligner"]
    assert METHODS["Keep-All"].kind == "derived" and METHODS["Keep-All"].z0_from == "Fix-M0"
    with pytest.raises(ValueError, match="allowed: Non-BC.*Keep-All"):
        get_method("BC-Alinger")


def test_paper_preset_is_the_official_protocol():
    p = BC_SCALES["paper"]
    assert p.dims == (256, 320, 384, 448, 512) and p.layers == (2, 2, 3, 3, 3)
    assert (p.epochs, p.batch_size, p.lr, p.lr_trans, p.reg, p.lam) == (500, 2048, 1e-3, 1e-3,
                                                                         1e-2, 16.0)
    assert (p.eval_every, p.select_start, p.finetune_epochs) == (10, 50, 250)
    assert (p.posthoc_epochs, p.posthoc_select_after, p.seed) == (200, 50, 42)
    assert p.schedule == "official" and not p.heldout_test
    assert set(BC_SCALES) == {"smoke", "demo", "paper"}
    with pytest.raises(ValueError, match="allowed: smoke, demo, paper"):
        bc_config("huge")


def test_config_rejects_what_cannot_be_selected():
    with pytest.raises(ValueError, match="select_start"):
        BCTrainConfig(epochs=50, select_start=50)
    with pytest.raises(ValueError, match="same length"):
        BCTrainConfig(dims=(8, 8))
    with pytest.raises(ValueError, match="schedule"):
        BCTrainConfig(schedule="fast")
    lb = BCTrainConfig(schedule="large-batch", batch_factor=4, lr_scaling="sqrt")
    assert lb.step_batch_size() == 8192 and lb.step_lr() == pytest.approx(2e-3)
    assert BCTrainConfig(batch_factor=4).step_batch_size() == 2048  # official ignores the factor


def test_every_method_runs_three_versions(setup, results):
    g, splits, cfg = setup
    for name, r in results.items():
        assert len(r) == 3, name
        for v, s in zip(r.versions, splits):
            assert v.zhat0_user.shape == (s.num_users, cfg.dims[0]), name
            assert v.zhat0_item.shape == (s.num_items, cfg.dims[0]), name
            assert torch.isfinite(v.zhat0_user).all() and torch.isfinite(v.zhat0_item).all()
            assert 0.0 <= v.recall[50] <= 1.0 and v.test_recall is not None
        assert r.method.name == name


def test_m0_is_one_shared_model(setup, results):
    keys = {r[0].key for r in results.values()}
    assert len(keys) == 1
    ref = results["Non-BC"][0]
    for r in results.values():
        for name, t in ref.state.items():
            assert torch.equal(r[0].state[name], t)
        assert torch.equal(r[0].zhat0_user, ref.zhat0_user)


def test_m0_identical_when_trained_separately(setup):
    """Without the cache, two methods train M_0 twice and get the same weights (same seed)."""
    g, splits, cfg = setup
    one = replace(cfg, times=TIMES[:2], dims=cfg.dims[:1], layers=cfg.layers[:1])
    a = train_versions("Non-BC", g, splits[:1], one, cache=False, progress=False)
    b = train_versions("BC-Aligner", g, splits[:1], one, cache=False, progress=False)
    for name, t in a[0].state.items():
        assert torch.equal(b[0].state[name], t), name


def test_fix_m0_zhat0_is_the_true_z0(setup, results):
    g, splits, cfg = setup
    fix = results["Fix-M0"]
    m0 = PinSAGE(g.num_brands, g.num_categories, cfg.dims[0], cfg.layers[0])
    m0.load_state_dict(fix[0].state)
    m0.eval()
    for k, s in enumerate(splits):
        vg = VersionGraph.build(g.user[s.train_idx], g.item[s.train_idx], s.num_users, s.num_items,
                                g.item_brand, g.item_category_ptr, g.item_category)
        with torch.no_grad():
            zu, zi = m0(vg)
        assert torch.equal(fix[k].zhat0_user, zu) and torch.equal(fix[k].zhat0_item, zi)
    assert fix.alignment_errors(fix) == [0.0, 0.0, 0.0]
    assert results["Keep-All"].alignment_errors(fix) == [0.0, 0.0, 0.0]
    errs = results["Non-BC"].alignment_errors(fix)
    assert errs[0] == 0.0 and min(errs[1:]) > 0.1


def test_keep_all_is_derived_from_non_bc_and_fix_m0(results):
    keep, nonbc, fix = results["Keep-All"], results["Non-BC"], results["Fix-M0"]
    assert keep.recalls() == nonbc.recalls()
    for a, b, c in zip(keep.versions, nonbc.versions, fix.versions):
        assert torch.equal(a.z_user, b.z_user) and torch.equal(a.zhat0_item, c.zhat0_item)


def test_composition_and_transform_kinds(setup, results):
    g, splits, cfg = setup
    for name in ("Joint-Lin-SLoss", "BC-Aligner", "Post-Lin-SLoss", "Post-Lin-MLoss"):
        r = results[name]
        B1, B2 = r[1].B, r[2].B
        assert B1.shape == (8, 12) and B2.shape == (12, 16)
        torch.testing.assert_close(r[2].zhat0_user, r[2].z_user @ B2.T @ B1.T)
        torch.testing.assert_close(r[1].zhat0_item, r[1].z_item @ B1.T)
    nt = results["Joint-NoTrans"]
    assert torch.equal(nt[2].B, torch.eye(12, 16)) and nt[2].B_kind == "notrans"
    assert torch.equal(nt[2].zhat0_user, nt[2].z_user[:, :8])
    nb = results["Non-BC"]
    assert nb[2].B is None and torch.equal(nb[2].zhat0_item, nb[2].z_item[:, :8])
    ft = results["Finetune-M0"]
    assert ft[2].dim == 8 and ft[2].layers == 1 and torch.equal(ft[2].zhat0_user, ft[2].z_user)


def test_multi_step_loss_differs_from_version_2(results):
    s, m = results["Joint-Lin-SLoss"], results["BC-Aligner"]
    loss = lambda r, k: [h["train_loss"] for h in r[k].history]  # noqa: E731
    assert loss(s, 1) == loss(m, 1)  # k = 1: the multi-step loss is the single-step loss
    assert torch.equal(s[1].B, m[1].B)
    assert loss(s, 2) != loss(m, 2)
    assert not torch.equal(s[2].B, m[2].B)


def test_joint_methods_train_with_the_alignment_term(results):
    nonbc, joint = results["Non-BC"], results["Joint-Lin-SLoss"]
    assert [h["train_loss"] for h in nonbc[1].history] != [h["train_loss"] for h in joint[1].history]
    assert all("align_mse_user" in h for h in joint[1].history if "recall@50" in h)


def test_posthoc_keeps_non_bc_models(results):
    nonbc = results["Non-BC"]
    for name in ("Post-Lin-SLoss", "Post-Lin-MLoss"):
        r = results[name]
        for a, b in zip(r.versions, nonbc.versions):
            assert a.model_key == b.key and torch.equal(a.z_user, b.z_user)
            assert a.recall == b.recall
        assert len(r[1].extra["eval_mse"]) == 3


@pytest.mark.parametrize("name", ["Joint-NoTrans", "BC-Aligner", "Post-Lin-MLoss", "BC-Aligner-MLP"])
def test_version_store_turns_the_latest_embeddings_into_the_methods_z0(results, name):
    """The keep-latest store reproduces what the consumers got: z~_0 of the last version."""
    r = results[name]
    store = r.version_store()
    assert store.K == len(r) - 1 and store.dims == [v.dim for v in r.versions]
    last = r.versions[-1]
    z0 = store.transform(to_version=0)
    assert torch.allclose(z0, torch.cat([last.zhat0_user, last.zhat0_item]), atol=1e-5)
    assert torch.allclose(store.transform(to_version=0, sequential=True), z0, atol=1e-5)


def test_version_store_needs_a_backward_chain(results):
    for name in ("Non-BC", "Fix-M0", "Keep-All"):
        with pytest.raises(ValueError, match="no backward transformations"):
            results[name].version_store()
