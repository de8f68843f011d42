"""train_versions: the per-version cache, its keys, resuming, and re-use of Non-BC by post-hoc."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

import embcompat.backward.train as train_mod
from embcompat.config.bc import bc_config
from embcompat.backward.intended import VersionEvaluator
from embcompat.backward.train import train_versions, version_keys
from embcompat.data import load_graph, version_splits
from embcompat.metrics import recall_at_k

TIMES = (0.5, 0.6, 0.7, 0.8)


@pytest.fixture(scope="module")
def setup():
    g = load_graph("synthetic")
    cfg = bc_config("smoke", times=TIMES, dims=(8, 12, 16), layers=(1, 1, 2), epochs=2,
                        finetune_epochs=2, posthoc_epochs=2, schedule="official", device="cpu")
    return g, version_splits(g, TIMES, heldout_test=True), cfg


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBCOMPAT_CACHE", str(tmp_path))
    return tmp_path


@pytest.fixture
def fit_calls(monkeypatch):
    """Count the GNN trainings (calls of fit_version) made through train_versions."""
    calls = []
    real = train_mod.fit_version

    def counting(*a, **kw):
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(train_mod, "fit_version", counting)
    return calls


class Stop(Exception):
    pass


def test_resume_after_interruption(setup, cache, fit_calls):
    g, splits, cfg = setup

    def stop_after_1(k, rec):
        if k == 1:
            raise Stop

    with pytest.raises(Stop):
        train_versions("BC-Aligner", g, splits, cfg, progress=False, callback=stop_after_1)
    assert len(fit_calls) == 2  # M_0 and BC-Aligner v1 were trained and cached
    fit_calls.clear()
    r = train_versions("BC-Aligner", g, splits, cfg, progress=False)
    assert [v.from_cache for v in r.versions] == [True, True, False]
    assert len(fit_calls) == 1  # only version 2 is trained
    fit_calls.clear()
    again = train_versions("BC-Aligner", g, splits, cfg, progress=False)
    assert all(v.from_cache for v in again.versions) and not fit_calls
    torch.testing.assert_close(again[2].zhat0_user, r[2].zhat0_user, rtol=0, atol=0)
    saved = json.loads((cache / f"bc-version-{r[2].key}" / "config.json").read_text())
    assert saved["method"] == "BC-Aligner" and saved["config"]["dims"] == [8, 12, 16]
    assert not list(cache.rglob("*.tmp"))


def test_posthoc_reuses_non_bc_without_training(setup, cache, fit_calls):
    g, splits, cfg = setup
    nonbc = train_versions("Non-BC", g, splits, cfg, progress=False)
    assert len(fit_calls) == 3
    fit_calls.clear()
    for name in ("Post-Lin-SLoss", "Post-Lin-MLoss", "Keep-All", "Fix-M0"):
        r = train_versions(name, g, splits, cfg, progress=False)
        assert [v.model_key for v in r.versions[:1]] == [nonbc[0].key]
    assert not fit_calls  # no GNN was trained: the post-hoc methods load Non-BC's M_k
    post = train_versions("Post-Lin-MLoss", g, splits, cfg, progress=False)
    assert [v.model_key for v in post.versions] == [v.key for v in nonbc.versions]


def test_progress_flag_is_not_part_of_the_key(setup, cache, fit_calls):
    g, splits, cfg = setup
    train_versions("Finetune-M0", g, splits, cfg, progress=False)
    fit_calls.clear()
    r = train_versions("Finetune-M0", g, splits, replace(cfg, device="cpu"), progress=True)
    assert all(v.from_cache for v in r.versions) and not fit_calls


def test_cache_keys_follow_the_relevant_fields(setup):
    g, splits, cfg = setup
    keys = lambda m, c: version_keys(m, g, splits, c)  # noqa: E731
    nonbc, aligner = keys("Non-BC", cfg), keys("BC-Aligner", cfg)
    assert nonbc[0] == aligner[0] == keys("Fix-M0", cfg)[0] == keys("Post-Lin-SLoss", cfg)[0]
    assert len(set(nonbc)) == 3 and not set(nonbc[1:]) & set(aligner[1:])
    assert keys("Joint-Lin-SLoss", cfg)[1:] != aligner[1:]
    # lambda: irrelevant to Non-BC, relevant to the joint versions (not to M_0)
    lam = replace(cfg, lam=4.0)
    assert keys("Non-BC", lam) == nonbc
    assert keys("BC-Aligner", lam)[0] == aligner[0] and keys("BC-Aligner", lam)[1] != aligner[1]
    # a later version's width: earlier versions keep their keys
    wide = replace(cfg, dims=(8, 12, 20))
    assert keys("Non-BC", wide)[:2] == nonbc[:2] and keys("Non-BC", wide)[2] != nonbc[2]
    assert keys("BC-Aligner", wide)[:2] == aligner[:2] and keys("BC-Aligner", wide)[2] != aligner[2]
    # epochs, seed and the schedule change everything; the device and finetune_epochs do not
    for change in (dict(epochs=3), dict(seed=1),
                   dict(schedule="large-batch", batch_factor=2, lr_scaling="sqrt")):
        assert set(keys("Non-BC", replace(cfg, **change))).isdisjoint(nonbc), change
    assert keys("Non-BC", replace(cfg, device="cuda", finetune_epochs=7)) == nonbc
    assert keys("Finetune-M0", replace(cfg, finetune_epochs=3))[1] != keys("Finetune-M0", cfg)[1]
    assert keys("Post-Lin-SLoss", replace(cfg, posthoc_epochs=3))[1] != \
        keys("Post-Lin-SLoss", cfg)[1]
    # the data: another split protocol is another key
    official = version_splits(g, TIMES, heldout_test=False)
    assert version_keys("Non-BC", g, official, replace(cfg, heldout_test=False))[0] != nonbc[0]


def test_evaluator_selects_on_val_and_reports_test(setup):
    g, splits, cfg = setup
    s = splits[1]
    ev = VersionEvaluator(g, s, heldout_test=True, ks=(10, 50))
    gen = torch.Generator().manual_seed(0)
    zu, zi = torch.randn(s.num_users, 4, generator=gen), torch.randn(s.num_items, 4, generator=gen)
    train = torch.stack([g.user[s.train_idx], g.item[s.train_idx]])
    for which, idx in (("val", s.val_idx), ("test", s.test_idx), ("eval", s.eval_idx)):
        want = recall_at_k(zu, zi, torch.stack([g.user[idx], g.item[idx]]), train,
                           num_items_ranked=s.num_items, ks=(10, 50))
        assert ev(zu, zi, which) == want
    assert ev(zu, zi) == ev(zu, zi, "val") and ev.report_split == "test"
    with pytest.raises(ValueError, match="heldout_test=True"):
        VersionEvaluator(g, version_splits(g, TIMES)[1], heldout_test=True)


def test_large_batch_schedule_runs_fewer_steps(setup, cache):
    g, splits, cfg = setup
    lb = replace(cfg, schedule="large-batch", batch_factor=4, lr_scaling="sqrt")
    r = train_versions("Non-BC", g, splits[:1], replace(lb, times=TIMES[:2], dims=(8,),
                                                        layers=(1,)), progress=False)
    assert r[0].recall[50] > 0 and len(r[0].epoch_seconds) == cfg.epochs


def test_training_seed_changes_m0_and_the_same_seed_reproduces_bit_for_bit(setup, cache):
    """The training seed is an axis: another seed gives another M_0 (so seeds can be averaged);
    the same seed, retrained from scratch (no cache), gives identical versions."""
    g, splits, cfg = setup
    first = train_versions("BC-Aligner", g, splits, cfg, cache=False, progress=False)
    again = train_versions("BC-Aligner", g, splits, cfg, cache=False, progress=False)
    other = train_versions("BC-Aligner", g, splits, replace(cfg, seed=cfg.seed + 1), cache=False,
                           progress=False)
    for a, b in zip(first, again):
        assert a.key == b.key
        for attr in ("z_user", "z_item", "zhat0_user", "zhat0_item"):
            assert torch.equal(getattr(a, attr), getattr(b, attr)), (a.k, attr)
        if a.k:
            assert torch.equal(a.B, b.B)
    assert first[0].key != other[0].key
    assert not torch.allclose(first[0].z_user, other[0].z_user)
    assert not torch.allclose(first[-1].B, other[-1].B)


def _stop_epoch(history: list[dict], patience: int, select_after: int) -> int:
    """Where a run with ``patience`` stops, read off the full run's history by hand."""
    best, stale = -1.0, 0
    for h in history:
        if "recall@50" not in h or h["epoch"] <= select_after:
            continue
        if h["recall@50"] > best:
            best, stale = h["recall@50"], 0
        else:
            stale += 1
            if stale >= patience:
                return h["epoch"]
    return history[-1]["epoch"]


@pytest.mark.parametrize("method", ["Non-BC", "BC-Aligner"])
def test_patience_stops_where_the_full_run_stalls_and_keeps_its_prefix(setup, method):
    g, splits, cfg = setup
    full_cfg = replace(cfg, epochs=12, eval_every=1, patience=None, select_start=3)
    full = train_versions(method, g, splits, full_cfg, cache=False, progress=False)
    stopped = train_versions(method, g, splits, replace(full_cfg, patience=1), cache=False,
                             progress=False)
    some_stopped = False
    for a, b in zip(full.versions, stopped.versions):
        after = full_cfg.select_start if method == "BC-Aligner" and a.k > 0 else 0
        end = _stop_epoch(a.history, 1, after)
        assert b.history[-1]["epoch"] == end
        assert b.history == a.history[:end]  # the same seed trains identically up to the stop
        best = max((h for h in a.history[:end] if h["epoch"] > after and "recall@50" in h),
                   key=lambda h: (h["recall@50"], -h["epoch"]))
        assert b.best_epoch == best["epoch"]
        some_stopped |= end < full_cfg.epochs
        if method != "Non-BC" and end < full_cfg.epochs:
            break  # a joint v_{k+1} builds on this (now other) version: no longer comparable
    assert some_stopped  # the test exercises a stop, not only the cap
    with pytest.raises(ValueError, match="patience"):
        replace(cfg, patience=0)


def test_lr_factor_cosine_by_hand():
    from embcompat.backward.epoch import lr_factor

    assert [lr_factor("constant", e, 4) for e in (1, 4)] == [1.0, 1.0]
    # cos(pi * (e - 1) / 4) for e = 1..4: 1, 1/sqrt(2), 0, -1/sqrt(2)
    h = 0.5 ** 0.5
    assert [lr_factor("cosine", e, 4) for e in (1, 2, 3, 4)] == pytest.approx(
        [1.0, (1 + h) / 2, 0.5, (1 - h) / 2])
    with pytest.raises(ValueError, match="lr_schedule"):
        lr_factor("step", 1, 4)


@pytest.mark.parametrize("method", ["Non-BC", "BC-Aligner"])
def test_cosine_schedule_applies_to_every_epoch_and_changes_the_key(setup, method):
    from embcompat.backward.epoch import lr_factor

    g, splits, cfg = setup
    base = replace(cfg, epochs=4, eval_every=1, patience=None, select_start=0)
    cos = replace(base, lr_schedule="cosine")
    run_c = train_versions(method, g, splits, cos, cache=False, progress=False)
    run_b = train_versions(method, g, splits, base, cache=False, progress=False)
    for v in run_c.versions[1:]:
        lrs = [h["lr"] for h in v.history]
        assert lrs == pytest.approx([cos.step_lr() * lr_factor("cosine", e, 4) for e in (1, 2, 3, 4)])
    assert [h["lr"] for h in run_b.versions[1].history] == pytest.approx([base.step_lr()] * 4)
    # M_0: the first epoch has the same lr, so the same loss; later epochs differ
    h_c, h_b = run_c.versions[0].history, run_b.versions[0].history
    assert h_c[0]["train_loss"] == pytest.approx(h_b[0]["train_loss"])
    assert h_c[-1]["train_loss"] != pytest.approx(h_b[-1]["train_loss"])
    assert version_keys(method, g, splits, cos) != version_keys(method, g, splits, base)
    assert "lr_schedule" not in base.train_fields(1)  # constant keeps the keys of earlier caches
    with pytest.raises(ValueError, match="lr_schedule"):
        replace(cfg, lr_schedule="step")
