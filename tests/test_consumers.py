"""Consumer models C_0: the MLP layout, training, grid selection, seeds, evaluation and caching."""
import dataclasses

import pytest
import torch

from embcompat.backward import consumer_cache as C
from embcompat.backward import consumers as consumers_mod
from embcompat.backward.consumer_cache import load_consumers, save_consumers, train_consumers_cached
from embcompat.backward.consumers import (evaluate_consumers, evaluate_versions, fit_consumer,
                                          predict, roc_auc, train_consumers)
from embcompat.config import ConsumerConfig
from embcompat.backward.tasks import TaskData, TaskSplit, build_tasks
from embcompat.data import load_graph, version_splits
from embcompat.models.consumer import ConsumerMLP, ConsumerSpec

FAST = ConsumerConfig(hidden_grid=(16,), dropout_grid=(0.0,), epochs=30, batch_size=32, seeds=(0, 1))


def separable(n=600, d=8, seed=0):
    """Users whose label is the sign of a fixed projection of their embedding (margin-free)."""
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, d, generator=g)
    w = torch.randn(d, generator=g)
    return emb, (emb @ w > 0).float()


def user_task(labels, n_train, n_val):
    """A user task: train on the first users, validate on the next, test (version 1) on the rest."""
    n = labels.numel()
    ids = torch.arange(n)
    cut = [slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, n)]
    tr, va, te = (TaskSplit(0, ids[c], labels[c]) for c in cut)
    test = TaskSplit(1, ids[cut[2]], labels[cut[2]])
    return TaskData("user-activity", "user", tr, va, {0: va, 1: test}, 1, 1.0)


def test_mlp_layouts():
    x = torch.randn(5, 6)
    official = ConsumerMLP(ConsumerSpec(6, 4, 0.25, relu_every_block=False))
    fixed = ConsumerMLP(ConsumerSpec(6, 4, 0.25))
    one = ConsumerMLP(ConsumerSpec(6, 4, 0.25, num_blocks=1))
    kinds = lambda m: [type(l).__name__ for l in m.mlp]  # noqa: E731
    assert kinds(official) == ["Linear", "BatchNorm1d", "ReLU", "Dropout",
                               "Linear", "BatchNorm1d", "Dropout", "Linear"]
    assert kinds(fixed) == ["Linear", "BatchNorm1d", "ReLU", "Dropout",
                            "Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear"]
    assert kinds(one) == ["Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear"]
    assert official(x).shape == (5,) and fixed(x).shape == (5,)
    with pytest.raises(ValueError):
        ConsumerSpec(6, 4, dropout=1.0)


def test_official_tail_is_affine_and_the_fix_is_not():
    """Without the second ReLU, everything after block 1 is affine: a 1-hidden-layer MLP."""
    torch.manual_seed(0)
    a, b = torch.rand(64, 8) * 3, torch.rand(64, 8) * 3
    for relu, affine in ((False, True), (True, False)):
        m = ConsumerMLP(ConsumerSpec(6, 8, relu_every_block=relu)).eval()
        for l in m.mlp:
            if isinstance(l, torch.nn.BatchNorm1d):  # non-trivial running statistics
                l.running_mean.uniform_(-1, 1)
                l.running_var.uniform_(0.5, 2)
        tail = m.mlp[4:]
        gap = (tail(a + b) - tail(a) - tail(b) + tail(torch.zeros_like(a))).abs().max()
        assert (gap < 1e-4) == affine


def test_separable_embeddings_reach_high_auc():
    emb, y = separable()
    task = user_task(y, 300, 150)
    trained = train_consumers(task, {0: (emb, None)}, FAST, device="cpu")
    aucs = evaluate_consumers(trained, task, emb, None, 1)
    assert len(aucs) == 2 and min(aucs) > 0.9
    # the kept epoch is the best-validation one: its validation AUC is what was reported
    val_auc = roc_auc(task.val.labels, predict(trained.models[0], emb[task.val.ids]))
    assert val_auc == pytest.approx(trained.val_aucs[0])
    assert trained.feature_dim == 8 and trained.spec.in_dim == 8


def test_permuted_embeddings_drop_to_chance():
    emb, y = separable(n=3000)
    task = user_task(y, 600, 300)
    trained = train_consumers(task, {0: (emb, None)}, dataclasses.replace(FAST, seeds=(0,)), device="cpu")
    good = evaluate_consumers(trained, task, emb, None, 1)[0]
    perm = torch.randperm(emb.shape[0], generator=torch.Generator().manual_seed(1))
    shuffled = evaluate_consumers(trained, task, emb[perm], None, 1)[0]
    assert good > 0.9 and abs(shuffled - 0.5) < 0.06


def test_wider_embeddings_are_cut_to_d0_and_narrower_rejected():
    emb, y = separable()
    task = user_task(y, 300, 150)
    trained = train_consumers(task, {0: (emb, None)}, FAST, device="cpu")
    wide = torch.cat([emb, 100 * torch.randn(emb.shape[0], 5)], dim=1)
    assert evaluate_consumers(trained, task, wide, None, 1) == evaluate_consumers(trained, task, emb, None, 1)
    with pytest.raises(ValueError, match="fewer than"):
        evaluate_consumers(trained, task, emb[:, :4], None, 1)


def test_seeds_differ_but_each_is_deterministic():
    emb, y = separable()
    x, v = emb[:300], emb[300:450]
    spec = ConsumerSpec(8, 16, 0.25)
    cfg = dataclasses.replace(FAST, epochs=3)
    m0, auc0, ep0 = fit_consumer(x, y[:300], v, y[300:450], spec, cfg, seed=0, device="cpu")
    torch.manual_seed(123)  # the global RNG state must not matter
    m0b, auc0b, ep0b = fit_consumer(x, y[:300], v, y[300:450], spec, cfg, seed=0, device="cpu")
    m1, _, _ = fit_consumer(x, y[:300], v, y[300:450], spec, cfg, seed=1, device="cpu")
    s0, s0b, s1 = m0.state_dict(), m0b.state_dict(), m1.state_dict()
    assert all(torch.equal(s0[k], s0b[k]) for k in s0) and (auc0, ep0) == (auc0b, ep0b)
    assert not torch.equal(s0["mlp.0.weight"], s1["mlp.0.weight"])


def test_grid_selects_by_validation_auc(monkeypatch):
    emb, y = separable()
    task = user_task(y, 300, 150)
    fake_val = {(128, 0.0): 0.60, (256, 0.0): 0.62, (128, 0.5): 0.71, (256, 0.5): 0.71}
    calls = []

    def fake_fit(x_tr, y_tr, x_va, y_va, spec, cfg, seed, device="auto"):
        calls.append((spec.hidden_dim, spec.dropout, seed))
        auc = fake_val[(spec.hidden_dim, spec.dropout)] + (0.001 * seed if seed else 0.0)
        return ConsumerMLP(spec).eval(), auc, 7

    monkeypatch.setattr(consumers_mod, "fit_consumer", fake_fit)
    cfg = ConsumerConfig(hidden_grid=(128, 256), dropout_grid=(0.0, 0.5), seeds=(0, 1, 2))
    trained = train_consumers(task, {0: (emb, None)}, cfg, device="cpu")
    # best 0.71 is tied between (128, .5) and (256, .5): the first in the official loop order wins
    assert (trained.spec.hidden_dim, trained.spec.dropout) == (128, 0.5)
    assert calls[:4] == [(128, 0.0, 0), (256, 0.0, 0), (128, 0.5, 0), (256, 0.5, 0)]
    # seed 0 reuses the grid run; only seeds 1 and 2 are trained again, at the chosen point
    assert calls[4:] == [(128, 0.5, 1), (128, 0.5, 2)]
    assert trained.val_aucs == pytest.approx([0.71, 0.711, 0.712])
    assert [g["val_auc"] for g in trained.grid] == [0.60, 0.62, 0.71, 0.71]


def test_single_class_validation_is_an_error():
    emb, y = separable()
    task = user_task(y, 300, 150)
    task.val = TaskSplit(0, task.val.ids, torch.ones(len(task.val)))
    with pytest.raises(ValueError, match="lacks a class"):
        train_consumers(task, {0: (emb, None)}, FAST, device="cpu")


def test_save_load_and_cache(tmp_path, monkeypatch):
    emb, y = separable()
    task = user_task(y, 300, 150)
    trained = train_consumers(task, {0: (emb, None)}, FAST, device="cpu")
    save_consumers(trained, tmp_path / "c")
    back = load_consumers(tmp_path / "c", device="cpu")
    assert back.spec == trained.spec and back.config == trained.config and back.seeds == [0, 1]
    assert evaluate_consumers(back, task, emb, None, 1) == evaluate_consumers(trained, task, emb, None, 1)

    monkeypatch.setenv("EMBCOMPAT_CACHE", str(tmp_path / "cache"))
    first = train_consumers_cached(task, {0: (emb, None)}, FAST, device="cpu")
    monkeypatch.setattr(C, "train_consumers", lambda *a, **k: pytest.fail("cache was not used"))
    again = train_consumers_cached(task, {0: (emb, None)}, FAST, device="cpu")
    assert again.val_aucs == first.val_aucs
    # other embeddings -> another key -> a retrain (here: the failing stub)
    with pytest.raises(pytest.fail.Exception):
        train_consumers_cached(task, {0: (emb + 1, None)}, FAST, device="cpu")


def test_pipeline_on_synthetic_tasks():
    g = load_graph("synthetic")
    splits = version_splits(g)
    tasks = build_tasks(g, splits=splits)
    gen = torch.Generator().manual_seed(0)
    z0 = {s.k: (torch.randn(s.num_users, 8, generator=gen), torch.randn(s.num_items, 8, generator=gen))
          for s in splits}
    cfg = dataclasses.replace(FAST, epochs=2, seeds=(0,))
    for name in ("edge-rating", "user-activity", "item-rating-std"):
        t = tasks[name]
        trained = train_consumers(t, z0, cfg, device="cpu")
        assert trained.spec.in_dim == (16 if name == "edge-rating" else 8)
        res = evaluate_versions(trained, t, z0)
        assert sorted(res) == sorted(t.test) and all(0.0 <= a[0] <= 1.0 for a in res.values())
