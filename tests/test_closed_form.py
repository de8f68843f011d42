"""Closed-form post-hoc maps (Post-LS, Post-Procrustes): the solvers, the registry, train_versions."""
from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import embcompat.backward.train as train_mod
from embcompat.backward.closed_form import (fit_closed_form, fit_least_squares, fit_procrustes,
                                            selection_mse, selection_weights)
from embcompat.backward.evaluate import PAPER_ORDER
from embcompat.backward.experiment import resolve_methods
from embcompat.backward.methods import METHOD_NAMES, METHODS, get_method
from embcompat.backward.posthoc import _selection_mse, posthoc_fit_backward
from embcompat.backward.posthoc_check import posthoc_optimum
from embcompat.backward.train import train_versions, version_keys
from embcompat.config.bc import BCTrainConfig, bc_config
from embcompat.data import load_graph, version_splits
from embcompat.models.transforms import LinearBackward, compose

TIMES = (0.5, 0.6, 0.7, 0.8)


def pair(n_u=40, n_i=25, d_new=6, d_old=4, seed=0, noise=0.3):
    """Users and items with a linear relation plus noise (different row counts)."""
    g = torch.Generator().manual_seed(seed)
    W0 = torch.randn(d_old, d_new, generator=g)
    xs = [torch.randn(n, d_new, generator=g) * (1 + torch.arange(d_new)) for n in (n_u, n_i)]
    ys = [x @ W0.T + noise * torch.randn(x.shape[0], d_old, generator=g) for x in xs]
    return xs, ys


def weighted_numpy(xs, ys):
    """sqrt(w)-weighted rows, w = 1 / (2 n_users) and 1 / (2 n_items), written out here."""
    w = [1.0 / (len(xs) * x.shape[0]) for x in xs]
    X = np.concatenate([x.double().numpy() * np.sqrt(wi) for x, wi in zip(xs, w)])
    Y = np.concatenate([y.double().numpy() * np.sqrt(wi) for y, wi in zip(ys, w)])
    return X, Y


def random_semi_orthogonal(d_old, d_new, gen):
    q, _ = torch.linalg.qr(torch.randn(max(d_old, d_new), min(d_old, d_new), generator=gen))
    return q.T if d_new >= d_old else q  # (d_old, d_new)


def test_selection_weights_are_half_over_each_group():
    assert selection_weights([4, 10]) == [1 / 8, 1 / 20]
    assert selection_weights([5]) == [1 / 5]
    xs, ys = pair()
    W = torch.randn(4, 6)
    B = LinearBackward(6, 4)
    B.weight.data.copy_(W)
    assert selection_mse(W, xs, ys) == pytest.approx(_selection_mse(B, xs, ys), rel=1e-6)


def test_least_squares_is_numpy_lstsq_on_the_weighted_system():
    xs, ys = pair()
    W = fit_least_squares(xs, ys)
    X, Y = weighted_numpy(xs, ys)
    want = np.linalg.lstsq(X, Y, rcond=None)[0].T
    assert W.shape == (4, 6) and W.dtype == torch.float32
    np.testing.assert_allclose(W.double().numpy(), want, rtol=1e-5, atol=1e-6)
    # a single tensor is the plain MSE of all rows
    W1 = fit_least_squares(torch.cat(xs), torch.cat(ys))
    want1 = np.linalg.lstsq(torch.cat(xs).double().numpy(), torch.cat(ys).double().numpy(),
                            rcond=None)[0].T
    np.testing.assert_allclose(W1.double().numpy(), want1, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("ridge", [1e-3, 0.5, 10.0])
def test_ridge_is_the_closed_form(ridge):
    xs, ys = pair(seed=1)
    X, Y = weighted_numpy(xs, ys)
    want = np.linalg.solve(X.T @ X + ridge * np.eye(X.shape[1]), X.T @ Y).T
    np.testing.assert_allclose(fit_least_squares(xs, ys, ridge=ridge).double().numpy(), want,
                               rtol=1e-5, atol=1e-6)
    assert not np.allclose(want, fit_least_squares(xs, ys).double().numpy(), atol=1e-4)


def test_least_squares_beats_perturbations_and_the_adam_fit():
    xs, ys = pair(n_u=300, n_i=200, seed=2)
    W = fit_least_squares(xs, ys)
    best = selection_mse(W, xs, ys)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        assert best <= selection_mse(W + 0.01 * torch.randn(W.shape, generator=gen), xs, ys)
    res = posthoc_fit_backward(xs, ys, epochs=30, lr=1e-2, select_after=0, eval_every=5,
                               batch_size=64)
    assert best <= res.best_mse * (1 + 1e-6)


def test_rank_deficient_rows_give_the_minimum_norm_solution():
    xs, ys = pair(n_u=3, n_i=2, d_new=8, d_old=3, seed=3)  # 5 rows, 8 columns
    W = fit_least_squares(xs, ys)
    X, Y = weighted_numpy(xs, ys)
    np.testing.assert_allclose(W.double().numpy(), (np.linalg.pinv(X) @ Y).T, atol=1e-5)


@pytest.mark.parametrize("d_new, d_old", [(6, 4), (5, 5), (3, 5)])
def test_procrustes_is_semi_orthogonal_and_optimal(d_new, d_old):
    xs, ys = pair(d_new=d_new, d_old=d_old, seed=4)
    W = fit_procrustes(xs, ys).double()
    assert W.shape == (d_old, d_new)
    gram = W @ W.T if d_new >= d_old else W.T @ W
    torch.testing.assert_close(gram, torch.eye(min(d_new, d_old), dtype=W.dtype), atol=1e-5,
                               rtol=0)
    X, Y = (torch.from_numpy(a) for a in weighted_numpy(xs, ys))
    # the objective it solves exactly: the padded square Procrustes, i.e. the largest weighted
    # inner product <W x, y>; with d_k <= d_{k-1} this is also the smallest selection MSE
    cross = lambda M: float(((X @ M.T) * Y).sum())  # noqa: E731
    gen = torch.Generator().manual_seed(5)
    for _ in range(50):
        R = random_semi_orthogonal(d_old, d_new, gen).double()
        assert cross(W) >= cross(R) - 1e-9
        if d_new <= d_old:
            assert selection_mse(W, xs, ys) <= selection_mse(R.float(), xs, ys) + 1e-6


def test_procrustes_recovers_a_planted_rotation():
    gen = torch.Generator().manual_seed(6)
    Q = random_semi_orthogonal(5, 5, gen)
    xs = [torch.randn(30, 5, generator=gen), torch.randn(20, 5, generator=gen)]
    torch.testing.assert_close(fit_procrustes(xs, [x @ Q.T for x in xs]), Q, atol=1e-5, rtol=0)


def test_bad_inputs_are_named():
    xs, ys = pair()
    with pytest.raises(ValueError, match="must match"):
        fit_least_squares(xs, [ys[0][:-1], ys[1]])
    with pytest.raises(ValueError, match="must match"):
        fit_procrustes(xs[0], ys[0][:-1])
    with pytest.raises(ValueError, match="both be one tensor"):
        fit_least_squares(xs, ys[0])
    with pytest.raises(ValueError, match="ridge"):
        fit_least_squares(xs, ys, ridge=-1.0)
    with pytest.raises(ValueError, match="solver"):
        fit_closed_form("adam", xs, ys)
    with pytest.raises(ValueError, match="W must be"):
        selection_mse(torch.zeros(6, 4), xs, ys)
    with pytest.raises(ValueError, match="posthoc_ridge"):
        BCTrainConfig(posthoc_ridge=-0.1)


def test_registry_and_keys():
    for name, slug, solver in (("Post-LS", "posthoc-ls", "lstsq"),
                               ("Post-Procrustes", "posthoc-procrustes", "procrustes")):
        m = METHODS[name]
        assert get_method(name) is m and get_method(slug) is m and get_method(name.upper()) is m
        assert m.kind == "posthoc" and m.solver == solver and m.intended_from == "Non-BC"
    i = PAPER_ORDER.index("Post-Lin-MLoss")
    assert PAPER_ORDER[i + 1:i + 3] == ("Post-LS", "Post-Procrustes")
    assert set(PAPER_ORDER) == set(METHOD_NAMES)
    assert resolve_methods(None) == [m for m in PAPER_ORDER if m != "BC-Aligner-MLP"]
    cfg = BCTrainConfig()
    assert METHODS["Post-LS"].key_fields(cfg) == {"method": "posthoc-ls", "solver": "lstsq",
                                                  "ridge": 0.0}
    assert METHODS["Post-Procrustes"].key_fields(replace(cfg, posthoc_ridge=2.0)) == {
        "method": "posthoc-procrustes", "solver": "procrustes"}
    # the gradient post-hoc methods' key fields are untouched (no ridge, no solver)
    assert set(METHODS["Post-Lin-SLoss"].key_fields(cfg)) == {
        "method", "loss", "epochs", "lr_trans", "select_after", "eval_every", "batch_size"}
    with pytest.raises(ValueError, match="solver"):
        replace(METHODS["Non-BC"], solver="lstsq")


# ---------------------------------------------------------------- train_versions, smoke scale
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    g = load_graph("synthetic")
    cfg = bc_config("smoke", times=TIMES, dims=(8, 12, 16), layers=(1, 1, 2), epochs=2,
                    posthoc_epochs=3, schedule="official", device="cpu")
    splits = version_splits(g, TIMES, heldout_test=True)
    mp = pytest.MonkeyPatch()
    mp.setenv("EMBCOMPAT_CACHE", str(tmp_path_factory.mktemp("closed-cache")))
    out = {m: train_versions(m, g, splits, cfg, progress=False)
           for m in ("Non-BC", "Post-Lin-SLoss", "Post-LS", "Post-Procrustes")}
    yield SimpleNamespace(graph=g, splits=splits, config=cfg, results=out, mp=mp)
    mp.undo()


@pytest.mark.parametrize("name", ["Post-LS", "Post-Procrustes"])
def test_train_versions_runs_caches_and_composes(trained, name, monkeypatch):
    r, nonbc = trained.results[name], trained.results["Non-BC"]
    assert len(r) == 3 and r[0].key == nonbc[0].key
    for k in (1, 2):
        v = r[k]
        assert v.model_key == nonbc[k].key and torch.equal(v.z_user, nonbc[k].z_user)
        assert v.recall == nonbc[k].recall and v.B_kind == "linear"
        assert v.B.shape == (trained.config.dims[k - 1], trained.config.dims[k])
        Bs = r.Bs[:k]
        torch.testing.assert_close(v.zhat0_user, compose(Bs, v.z_user))
        torch.testing.assert_close(v.zhat0_item, v.z_item @ Bs[-1].T @ Bs[0].T if k == 2
                                   else v.z_item @ Bs[0].T)
        assert v.extra["solver"] == METHODS[name].solver and v.extra["selection_mse"] >= 0
    if name == "Post-Procrustes":
        torch.testing.assert_close(r[2].B @ r[2].B.T, torch.eye(12), atol=1e-5, rtol=0)
    store = r.version_store()
    torch.testing.assert_close(store.transform(to_version=0),
                               torch.cat([r[2].zhat0_user, r[2].zhat0_item]), atol=1e-5, rtol=0)
    calls = []
    monkeypatch.setattr(train_mod, "fit_version", lambda *a, **kw: calls.append(1))
    again = train_versions(name, trained.graph, trained.splits, trained.config, progress=False)
    assert all(v.from_cache for v in again.versions) and not calls
    assert torch.equal(again[2].B, r[2].B)


def test_ridge_changes_only_post_ls_keys(trained):
    g, splits, cfg = trained.graph, trained.splits, trained.config
    keys = lambda m, c: version_keys(m, g, splits, c)  # noqa: E731
    ridged = replace(cfg, posthoc_ridge=0.1)
    for m in ("Non-BC", "Post-Lin-SLoss", "Post-Lin-MLoss", "BC-Aligner", "Post-Procrustes"):
        assert keys(m, ridged) == keys(m, cfg), m
    ls = keys("Post-LS", cfg)
    assert keys("Post-LS", ridged)[0] == ls[0] and keys("Post-LS", ridged)[1] != ls[1]
    assert not set(ls[1:]) & set(keys("Post-Procrustes", cfg)[1:])


def test_adam_fit_does_not_beat_the_least_squares_optimum(trained):
    t = posthoc_optimum(trained)
    assert list(t.version) == [1, 2] and (t.ridge == 0.0).all()
    assert (t["ratio"] >= 1 - 1e-5).all(), t
    stored = [trained.results["Post-LS"][k].extra["selection_mse"] for k in (1, 2)]
    np.testing.assert_allclose(t["mse_Post-LS"], stored, rtol=1e-5)
    with pytest.raises(ValueError, match="Post-Lin-MLoss"):
        posthoc_optimum(trained, gradient="Post-Lin-MLoss")
