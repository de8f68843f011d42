"""Caches that verify themselves: a truncated or byte-flipped cache file is named and rebuilt.

For each cache (BC versions, consumers, a processed graph, an FCT model and its features, a decoded
image array) the stored file is damaged two ways -- truncated, and one byte flipped keeping the
size -- and, for the entries from before sidecars existed, left without its sidecar. Each time the
next run must (a) log a warning naming the file, (b) rebuild the entry to exactly what a fresh
build gives, and (c) leave a file that verifies.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
import torch

import embcompat.backward.train as train_mod
import embcompat.cache_files as CF
from embcompat.backward import consumer_cache as C
from embcompat.backward.consumer_cache import load_consumers, train_consumers_cached
from embcompat.config import ConsumerConfig, bc_config
from embcompat.backward.tasks import TaskData, TaskSplit
from embcompat.backward.train import train_versions
from embcompat.cache_files import (CorruptCacheError, load_cached, load_verified, read_json,
                                   save_json, save_torch, sidecar_path, verify)
from embcompat.data import load_graph, version_splits
from embcompat.data import image_folder as I
from embcompat.data.graph_cache import cached_graph, processed_path, raw_file_digests
from embcompat.data.graphs import InteractionGraph
from embcompat.data.sources import build_graph
from embcompat.config.fct import TrainConfig, fct_config
from embcompat.forward import FCTData, FCTExperiment
from embcompat.utils import file_sha256

DAMAGE = ("truncate", "flip", "no-sidecar")


def damage(path: Path, how: str) -> None:
    """Truncate ``path`` to half, flip one byte in its middle (same size), or drop its sidecar."""
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "flip":
        flipped = bytearray(data)
        flipped[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(flipped))
        assert path.stat().st_size == len(data)
    else:
        sidecar_path(path).unlink()


def expect_warning(caplog, path: Path, how: str) -> None:
    msgs = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    hits = [m for m in msgs if str(path) in m]
    assert hits, f"no warning names {path}; got {msgs}"
    reason = {"truncate": "does not match", "flip": "does not match",
              "no-sidecar": "no checksum file"}[how]
    assert any(reason in m for m in hits), hits


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBCOMPAT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EMBCOMPAT_DATA", str(tmp_path / "data"))
    return tmp_path / "cache"


# ------------------------------------------------------------------------ the save/load pair
def test_save_load_pair_round_trips_and_detects_damage(tmp_path, caplog):
    obj = {"w": torch.arange(1000, dtype=torch.float32), "name": "x", "n": [1, 2]}
    p = tmp_path / "sub" / "blob.pt"
    save_torch(obj, p)
    side = sidecar_path(p)
    assert side.name == "blob.pt.sha256"
    assert side.read_text() == f"{file_sha256(p)}  blob.pt\n"     # sha256sum -c format
    back = load_verified(p)
    assert torch.equal(back["w"], obj["w"]) and back["name"] == "x" and back["n"] == [1, 2]
    assert not list(tmp_path.rglob("*.tmp"))

    save_json({"b": [1, 2], "a": 1}, tmp_path / "m.json")
    assert load_verified(tmp_path / "m.json", read_json) == {"a": 1, "b": [1, 2]}

    good = p.read_bytes()
    for how in DAMAGE:
        damage(p, how)
        with pytest.raises(CorruptCacheError) as info:
            load_verified(p)
        msg = str(info.value)
        assert info.value.path == p and str(p) in msg and "Delete" in msg, msg
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert load_cached(p) is None
        expect_warning(caplog, p, how)
        p.write_bytes(good)
        CF.seal(p)
        assert torch.equal(load_cached(p)["w"], obj["w"])

    # an intact file with an intact digest that the reader cannot parse is corrupt too
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    CF.seal(tmp_path / "bad.pt")
    with pytest.raises(CorruptCacheError, match="unreadable"):
        load_verified(tmp_path / "bad.pt")
    # ... and so is one whose content the user rejects
    with caplog.at_level(logging.WARNING):
        assert load_cached(p, use=lambda b: b["missing"]) is None
    assert any("unusable content" in r.getMessage() for r in caplog.records)
    # a missing file is a plain miss: no warning, FileNotFoundError from load_verified
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert load_cached(tmp_path / "absent.pt") is None
    assert not caplog.records
    with pytest.raises(FileNotFoundError):
        verify(tmp_path / "absent.pt")
    # a garbled sidecar names itself
    side.write_text("zz\n")
    with pytest.raises(CorruptCacheError, match="malformed checksum file blob.pt.sha256"):
        verify(p)


def test_sidecar_is_written_after_the_file(tmp_path, monkeypatch):
    order = []
    real = CF.atomic_write

    def recording(path, mode="wb"):
        order.append(Path(path).name)
        return real(path, mode)

    import embcompat.utils as U
    monkeypatch.setattr(U, "atomic_write", recording)
    monkeypatch.setattr(CF, "atomic_write", recording)
    save_torch({"x": torch.ones(2)}, tmp_path / "a.pt")
    save_json({"x": 1}, tmp_path / "a.json")
    assert order == ["a.pt", "a.pt.sha256", "a.json", "a.json.sha256"]


# ------------------------------------------------------------------------ BC versions
TIMES = (0.5, 0.6, 0.7)


@pytest.fixture(scope="module")
def bc_setup():
    g = load_graph("synthetic")
    cfg = bc_config("smoke", times=TIMES, dims=(8, 12), layers=(1, 1), epochs=2,
                        schedule="official", device="cpu")
    return g, version_splits(g, TIMES, heldout_test=True), cfg


def _same_version(a, b) -> None:
    assert a.key == b.key
    for name in ("z_user", "z_item", "zhat0_user", "zhat0_item"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert a.state.keys() == b.state.keys()
    assert all(torch.equal(a.state[k], b.state[k]) for k in a.state)
    assert a.recall == b.recall and a.best_epoch == b.best_epoch


@pytest.mark.parametrize("how", DAMAGE)
def test_bc_version_is_rebuilt(bc_setup, cache, monkeypatch, caplog, how):
    g, splits, cfg = bc_setup
    fresh = train_versions("BC-Aligner", g, splits, cfg, progress=False)
    path = cache / f"bc-version-{fresh[1].key}" / "version.pt"
    verify(path)
    verify(path.parent / "config.json")
    damage(path, how)

    calls = []
    real = train_mod.fit_version
    monkeypatch.setattr(train_mod, "fit_version", lambda *a, **k: calls.append(1) or real(*a, **k))
    with caplog.at_level(logging.WARNING):
        again = train_versions("BC-Aligner", g, splits, cfg, progress=False)
    expect_warning(caplog, path, how)
    assert [v.from_cache for v in again.versions] == [True, False] and len(calls) == 1
    for a, b in zip(fresh.versions, again.versions):
        _same_version(a, b)
    verify(path)
    assert all(v.from_cache for v in train_versions("BC-Aligner", g, splits, cfg,
                                                     progress=False).versions)


# ------------------------------------------------------------------------ consumers
FAST = ConsumerConfig(hidden_grid=(16,), dropout_grid=(0.0,), epochs=10, batch_size=32,
                      seeds=(0, 1))


def _user_task():
    gen = torch.Generator().manual_seed(0)
    emb = torch.randn(400, 8, generator=gen)
    y = (emb @ torch.randn(8, generator=gen) > 0).float()
    ids = torch.arange(400)
    tr, va, te = (TaskSplit(0, ids[s], y[s]) for s in (slice(0, 200), slice(200, 300),
                                                       slice(300, 400)))
    task = TaskData("user-activity", "user", tr, va, {0: va, 1: TaskSplit(1, te.ids, te.labels)},
                    1, 1.0)
    return task, {0: (emb, None)}


@pytest.mark.parametrize("which", ["models.pt", "consumers.json"])
@pytest.mark.parametrize("how", DAMAGE)
def test_consumers_are_rebuilt(cache, monkeypatch, caplog, how, which):
    task, emb = _user_task()
    fresh = train_consumers_cached(task, emb, FAST, device="cpu")
    (d,) = cache.glob("consumers-*")
    path = d / which
    damage(path, how)
    with pytest.raises(CorruptCacheError) as info:   # a direct load names the file to delete
        load_consumers(d, device="cpu")
    assert info.value.path == path and f"Delete {path}" in str(info.value)

    calls = []
    real = C.train_consumers
    monkeypatch.setattr(C, "train_consumers", lambda *a, **k: calls.append(1) or real(*a, **k))
    with caplog.at_level(logging.WARNING):
        again = train_consumers_cached(task, emb, FAST, device="cpu")
    expect_warning(caplog, path, how)
    assert len(calls) == 1
    assert dataclasses.replace(again, models=[]) == dataclasses.replace(fresh, models=[])
    for a, b in zip(fresh.models, again.models, strict=True):
        sa, sb = a.state_dict(), b.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    verify(d / "models.pt")
    verify(d / "consumers.json")
    load_consumers(d, device="cpu")


# ------------------------------------------------------------------------ processed graph
def _graph_source(tmp_path: Path):
    raw = tmp_path / "raw.csv"
    raw.write_text("u,i\n" + "".join(f"u{n % 7},i{n % 5}\n" for n in range(40)))
    builds = []

    def build(digests: dict) -> InteractionGraph:
        builds.append(1)
        rows = [line.split(",") for line in raw.read_text().splitlines()[1:]]
        return build_graph("tiny", [r[0] for r in rows], [r[1] for r in rows],
                           [1.0] * len(rows), list(range(len(rows))), meta={"raw_files": digests})

    return raw, build, builds


def _same_graph(a: InteractionGraph, b: InteractionGraph) -> None:
    assert a.name == b.name and a.meta == b.meta and a.stats() == b.stats()
    for n in ("user", "item", "rating", "time", "item_brand", "item_category_ptr", "item_category"):
        assert torch.equal(getattr(a, n), getattr(b, n)), n


@pytest.mark.parametrize("how", DAMAGE)
def test_processed_graph_is_rebuilt(cache, tmp_path, caplog, how):
    raw, build, builds = _graph_source(tmp_path)
    fresh = cached_graph("tiny", [raw], {"v": 1}, build)
    path = processed_path("tiny", raw_file_digests([raw]), {"v": 1})
    assert path.is_file() and len(builds) == 1
    verify(path)
    _same_graph(cached_graph("tiny", [raw], {"v": 1}, build), fresh)
    assert len(builds) == 1                                       # intact: read, not rebuilt
    damage(path, how)
    with caplog.at_level(logging.WARNING):
        again = cached_graph("tiny", [raw], {"v": 1}, build)
    expect_warning(caplog, path, how)
    assert len(builds) == 2
    _same_graph(again, fresh)
    verify(path)
    _same_graph(InteractionGraph.load(path), fresh)


# ------------------------------------------------------------------------ FCT model + features
def _fct_data() -> FCTData:
    def images(n, seed):
        y = torch.arange(4).repeat_interleave(n)
        x = torch.rand(len(y), 3, 16, 16, generator=torch.Generator().manual_seed(seed)) * 80
        for i, c in enumerate(y.tolist()):
            x[i, c % 3] += 120
        return x.clamp(0, 255).to(torch.uint8), y

    return FCTData.from_tensors(*images(8, 0), *images(4, 1), name="synthetic-cache-test")


def _fct_scale():
    tiny = TrainConfig(epochs=1, batch_size=16, lr=0.05, momentum=0.9, weight_decay=0.0,
                       warmup_epochs=0, label_smoothing=0.1)
    return fct_config("smoke", width=4, feature_dim=8, backbone_train=tiny, device="cpu",
                         num_threads=1)


@pytest.mark.parametrize("file", ["model.pt", "features.pt"])
@pytest.mark.parametrize("how", DAMAGE)
def test_fct_model_and_features_are_rebuilt(cache, caplog, how, file):
    data = _fct_data()
    exp = FCTExperiment(_fct_scale(), data)
    fresh = exp.named("old")
    fresh_feats = exp.features(fresh)
    assert not fresh.from_cache
    path = fresh.path.parent / file
    verify(path)
    verify(fresh.path.parent / "config.json")
    damage(path, how)
    with caplog.at_level(logging.WARNING):
        exp2 = FCTExperiment(_fct_scale(), data)
        again = exp2.named("old")
        feats = exp2.features(again)
    expect_warning(caplog, path, how)
    assert again.from_cache == (file != "model.pt") and again.key == fresh.key
    sa, sb = fresh.model.state_dict(), again.model.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert torch.equal(feats.train, fresh_feats.train) and torch.equal(feats.test, fresh_feats.test)
    verify(path)
    assert FCTExperiment(_fct_scale(), data).named("old").from_cache


# ------------------------------------------------------------------------ decoded images
@pytest.mark.parametrize("how", DAMAGE)
def test_decoded_image_cache_is_rebuilt(cache, tmp_path, caplog, how):
    builds = []

    def build():
        builds.append(1)
        g = torch.Generator().manual_seed(0)
        return {"train_x": torch.randint(0, 256, (6, 1, 4, 4), generator=g, dtype=torch.uint8),
                "train_y": torch.arange(6) % 2, "classes": ["a", "b"]}

    fresh = I.cached_decode("tiny", "k1", True, build)
    (path,) = (tmp_path / "data" / "processed").glob("tiny-k1.pt")
    verify(path)
    damage(path, how)
    with caplog.at_level(logging.WARNING):
        again = I.cached_decode("tiny", "k1", True, build)
    expect_warning(caplog, path, how)
    assert len(builds) == 2
    assert torch.equal(again["train_x"], fresh["train_x"]) and again["classes"] == ["a", "b"]
    verify(path)
    I.cached_decode("tiny", "k1", True, build)
    assert len(builds) == 2
