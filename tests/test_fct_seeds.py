"""FCT training seeds (#11): seeds change every model, a seed reproduces its numbers, the two
SimCLR side-infos learn from the image sets they claim, and the kNN monitor."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import embcompat.forward.train as T
from embcompat.config.fct import fct_seeds
from embcompat.forward import FCTExperiment, compatibility_table
from embcompat.forward.data import load_fct_data
from embcompat.forward.seeded import experiment_configs
from embcompat.metrics import knn_accuracy

from test_forward_units import _scale, data  # noqa: F401  (fixture)


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("EMBCOMPAT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EMBCOMPAT_DATA", str(tmp_path / "data"))


def test_two_seeds_train_different_backbones_and_side_info(data):  # noqa: F811
    a, b = FCTExperiment(_scale(seed=0), data), FCTExperiment(_scale(seed=1), data)
    for name in ("old", "new", "simclr"):
        ta, tb = a.named(name), b.named(name)
        assert ta.key != tb.key
        assert not torch.equal(a.features(ta).test, b.features(tb).test), name
    # the independent new model never shares the old model's torch seed
    import json
    spec = lambda e, n: json.loads((e.named(n).path.parent / "config.json").read_text())["spec"]
    assert spec(a, "old")["torch_seed"] != spec(a, "new")["torch_seed"]


def test_the_same_seed_twice_gives_identical_numbers(data, tmp_path, monkeypatch):  # noqa: F811
    first = compatibility_table(FCTExperiment(_scale(seed=3), data), ["none", "simclr"])
    monkeypatch.setenv("EMBCOMPAT_CACHE", str(tmp_path / "another-cache"))  # retrain from scratch
    exp = FCTExperiment(_scale(seed=3), data)
    again = compatibility_table(exp, ["none", "simclr"])
    assert not any(r["from_cache"] for r in exp.log)
    assert first.equals(again)


def _tree(root, n_classes=4, n_train=6, n_test=3, size=8):
    """``root/{train,test}/c<k>/<i>.png``; image i of class k has pixel value 40 k + i."""
    for k in range(n_classes):
        for split, n in (("train", n_train), ("test", n_test)):
            (root / split / f"c{k}").mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(np.full((size, size, 3), 40 * k + i, np.uint8)).save(
                    root / split / f"c{k}" / f"{i:02d}.png")
    return f"imagefolder:{root}"


def test_simclr_variants_learn_from_the_images_they_claim(tmp_path, monkeypatch):
    """SimCLR (the paper's SimCLR-500) sees the old classes' training images only; SimCLR-1k
    (``simclr_all``) every training image; neither gets labels."""
    spec = _tree(tmp_path / "imgs")
    d = load_fct_data(spec, None, None)
    seen = {}
    real = T.train_simclr

    def spy(model, x, cfg, **kw):
        seen[len(seen)] = x.clone()
        return real(model, x, cfg, **kw)

    monkeypatch.setattr(T, "train_simclr", spy)
    exp = FCTExperiment(_scale(dataset=spec), d)
    exp.named("simclr")
    exp.named("simclr_all")
    values = [sorted(set(x[:, 0, 0, 0].tolist())) for x in (seen[0], seen[1])]
    old_classes = range(exp.k_old)
    assert exp.k_old == 2
    assert values[0] == sorted(40 * k + i for k in old_classes for i in range(6))
    assert values[1] == sorted(40 * k + i for k in range(4) for i in range(6))
    assert len(seen[1]) == len(d.train_y) and len(seen[0]) == int((d.train_y < 2).sum())


def test_simclr_history_records_the_knn_monitor_without_changing_training(data):  # noqa: F811
    from dataclasses import replace
    base = _scale()
    cfg = replace(base.simclr_train, epochs=3)
    plain = FCTExperiment(replace(base, simclr_train=cfg), data).named("simclr")
    watched = FCTExperiment(replace(base, simclr_train=cfg, simclr_monitor_every=2),
                            data).named("simclr")
    assert [h["epoch"] for h in watched.history if "knn_top1" in h] == [2, 3]
    assert all(0 <= h["knn_top1"] <= 100 for h in watched.history if "knn_top1" in h)
    assert [h["loss"] for h in plain.history] == [h["loss"] for h in watched.history]
    for p, w in zip(plain.model.state_dict().values(), watched.model.state_dict().values()):
        assert torch.equal(p, w)


def test_knn_accuracy_matches_a_brute_force_vote():
    g = torch.Generator().manual_seed(0)
    bank, query = torch.randn(60, 5, generator=g), torch.randn(25, 5, generator=g)
    bl, ql = torch.randint(0, 3, (60,), generator=g), torch.randint(0, 3, (25,), generator=g)
    hits = 0
    for q, y in zip(query, ql):
        sims = [float(torch.dot(q / q.norm(), b / b.norm())) for b in bank]
        top = np.argsort(sims)[::-1][:7].copy()
        votes = np.bincount(bl[top].numpy(), minlength=3)
        hits += int(np.argmax(votes) == int(y))
    assert knn_accuracy(bank, bl, query, ql, k=7, block=4) == pytest.approx(hits / 25)
    assert knn_accuracy(bank, bl, bank, bl, k=1) == 1.0
    with pytest.raises(ValueError, match="one label per"):
        knn_accuracy(bank, bl[:3], query, ql)


def test_seed_and_data_set_lists_are_parameters():
    cfgs = experiment_configs("smoke", '["cifar10", "fashion-mnist"]', "[4, 2]", device="cpu")
    assert [(c.dataset, c.seed) for c in cfgs] == [("cifar10", 4), ("cifar10", 2),
                                                   ("fashion-mnist", 4), ("fashion-mnist", 2)]
    assert len(fct_seeds("demo")) >= 5
    with pytest.raises(ValueError, match="distinct"):
        experiment_configs("smoke", None, [1, 1], device="cpu")
    with pytest.raises(ValueError, match="distinct"):
        experiment_configs("smoke", ["cifar10", "cifar10"], None, device="cpu")
