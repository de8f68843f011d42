"""The five unintended tasks on a hand-built graph whose labels are written out literally."""
import numpy as np
import pytest
import torch

from embcompat.backward.task_features import split_features, task_features
from embcompat.backward.tasks import TASK_NAMES, TaskConfig, build_tasks, item_rating_stats
from embcompat.data import InteractionGraph, load_graph, version_splits

# 17 edges: edge fraction r = e / 16, so t = .25/.5/.75 fall exactly on edges 4, 8 and 12.
#   e:    0  1  2  3  4 | 5  6  7  8 | 9 10 11 12 | 13 14 15 16
USERS = [0, 1, 0, 2, 1, 0, 3, 4, 3, 1, 5, 2, 4, 0, 6, 3, 6]
ITEMS = [0, 0, 1, 0, 1, 2, 0, 1, 1, 2, 0, 1, 2, 3, 0, 2, 3]
RATES = [5, 5, 3, 4, 4, 5, 1, 5, 3, 3, 5, 4, 2, 4, 1, 5, 3]
TIMES4 = (0.25, 0.5, 0.75, 1.0)
SMALL = TaskConfig(item_min_reviews=2)
# Splits (checked below): v0 train [0..4, 6, 7], eval [5, 8] (u0 existing; u3 new with 2 window
# edges -> last one eval; u4 new with 1 -> train); v1 train [0..8, 10], eval [9, 11, 12];
# v2 train [0..12, 14], eval [13, 15, 16].


def hand_graph() -> InteractionGraph:
    n = len(USERS)
    return InteractionGraph(
        name="hand", user=torch.tensor(USERS), item=torch.tensor(ITEMS),
        rating=torch.tensor(RATES, dtype=torch.float32), time=torch.arange(n), num_users=7,
        num_items=4, item_brand=torch.full((4,), -1), num_brands=0,
        item_category_ptr=torch.zeros(5, dtype=torch.long), item_category=torch.zeros(0, dtype=torch.long),
        num_categories=0)


@pytest.fixture(scope="module")
def hand():
    g = hand_graph()
    splits = version_splits(g, TIMES4)
    return g, splits, build_tasks(g, splits=splits, config=SMALL)


def L(t):
    return t.tolist()


def test_hand_splits_as_documented(hand):
    _, s, _ = hand
    assert L(s[0].train_idx) == [0, 1, 2, 3, 4, 6, 7] and L(s[0].eval_idx) == [5, 8]
    assert L(s[1].train_idx) == list(range(9)) + [10] and L(s[1].eval_idx) == [9, 11, 12]
    assert L(s[2].train_idx) == list(range(13)) + [14] and L(s[2].eval_idx) == [13, 15, 16]
    assert [x.num_users for x in s] == [5, 6, 7] and [x.num_items for x in s] == [3, 3, 4]


def test_edge_rating_literal(hand):
    t = hand[2]["edge-rating"]
    assert t.kind == "edge" and t.first_test_version == 1
    # train: the version-0 training edges 0,1,2,3,4,6,7 (incl. new users' non-last window edges)
    assert L(t.train.ids) == [[0, 0], [1, 0], [0, 1], [2, 0], [1, 1], [3, 0], [4, 1]]
    assert L(t.train.labels) == [1, 1, 0, 1, 1, 0, 1]
    assert L(t.train.edge_idx) == [0, 1, 2, 3, 4, 6, 7] and t.train.version == 0
    # val: the version-0 evaluation edges 5, 8, with version-0 embeddings
    assert L(t.val.ids) == [[0, 2], [3, 1]] and L(t.val.labels) == [1, 0] and t.val.version == 0
    assert sorted(t.test) == [1, 2]
    assert L(t.test[1].ids) == [[1, 2], [2, 1], [4, 2]] and L(t.test[1].labels) == [0, 1, 0]
    assert L(t.test[2].ids) == [[0, 3], [3, 2], [6, 3]] and L(t.test[2].labels) == [1, 1, 0]
    assert t.test[2].version == 2


def test_user_activity_literal(hand):
    t = hand[2]["user-activity"]
    assert t.kind == "user" and t.first_test_version == 2
    # official population: every user present at t_{k+1}; label = has an eval edge in the window
    assert L(t.train.ids) == [0, 1, 2, 3, 4] and L(t.train.labels) == [1, 0, 0, 1, 0]
    assert t.train.version == 0
    assert L(t.val.ids) == [0, 1, 2, 3, 4, 5] and L(t.val.labels) == [0, 1, 1, 0, 1, 0]
    assert t.val.version == 1
    assert sorted(t.test) == [2]
    assert L(t.test[2].labels) == [1, 0, 0, 1, 0, 0, 1] and t.test[2].version == 2


def test_user_positive_activity_literal(hand):
    t = hand[2]["user-positive-activity"]
    assert L(t.train.labels) == [1, 0, 0, 0, 0]        # u0 rated 5; u3's eval edge is a 3
    assert L(t.val.labels) == [0, 0, 1, 0, 0, 0]        # only u2's 4 counts (u1: 3, u4: 2)
    assert L(t.test[2].labels) == [1, 0, 0, 1, 0, 0, 0]  # u6's eval edge is a 3


def test_user_population_existing(hand):
    g, s, _ = hand
    t = build_tasks(g, splits=s, config=TaskConfig(item_min_reviews=2, user_population="existing"),
                    names=["user-activity"])["user-activity"]
    assert L(t.train.ids) == [0, 1, 2] and L(t.train.labels) == [1, 0, 0]
    assert L(t.val.labels) == [0, 1, 1, 0, 1]
    assert L(t.test[2].labels) == [1, 0, 0, 1, 0, 0]
    with pytest.raises(ValueError, match="user_population"):
        TaskConfig(user_population="all")


def test_item_rating_avg_literal(hand):
    t = hand[2]["item-rating-avg"]
    # train (version-0 training edges): item0 {5,5,4,1} mean 3.75, item1 {3,4,5} mean 4; item2 has
    # one edge (< 2). Threshold = median(3.75, 4) = 3.875.
    assert t.threshold == pytest.approx(3.875)
    assert L(t.train.ids) == [0, 1] and L(t.train.labels) == [0, 1]
    # val: edges up to t_1 (train_0 + eval_0): item0 3.75, item1 {3,4,5,3} 3.75 -> both below
    assert L(t.val.ids) == [0, 1] and L(t.val.labels) == [0, 0] and t.val.version == 0
    # v1 (edges up to t_2): item0 4.0, item1 3.8, item2 {5,3,2} 3.33
    assert L(t.test[1].ids) == [0, 1, 2] and L(t.test[1].labels) == [1, 0, 0]
    # v2 (all edges): item0 3.5, item1 3.8, item2 3.75, item3 {4,3} 3.5
    assert L(t.test[2].ids) == [0, 1, 2, 3] and L(t.test[2].labels) == [0, 0, 0, 0]


def test_item_rating_std_literal(hand):
    t = hand[2]["item-rating-std"]
    assert t.threshold == 1.0
    # item1 at train has ratings {3,4,5}: sample std exactly 1, but the official formula
    # sqrt(SS / (n - 1 + 1e-6)) puts it just below 1 -> label 0.
    assert L(t.train.ids) == [0, 1] and L(t.train.labels) == [1, 0]
    assert L(t.val.labels) == [1, 0]                      # item1 {3,4,5,3}: std 0.957
    assert L(t.test[1].labels) == [1, 0, 1]               # item2 {5,3,2}: std 1.53
    assert L(t.test[2].labels) == [1, 0, 1, 0]            # item3 {4,3}: std 0.707


def test_item_std_epsilon_and_float32():
    g = hand_graph()
    items, mean, std = item_rating_stats(g, torch.tensor([2, 4, 7]), 1)
    assert L(items) == [1] and mean.dtype == torch.float32 and float(mean[0]) == 4.0
    assert 0.9999 < float(std[0]) < 1.0


def test_default_min_reviews_errors_on_tiny_graph():
    g = hand_graph()
    with pytest.raises(ValueError, match="reviews"):
        build_tasks(g, TIMES4, names=["item-rating-avg"])
    with pytest.raises(ValueError, match="unknown task"):
        build_tasks(g, TIMES4, names=["nope"])


def test_task_features_shapes_and_cut(hand):
    tasks = hand[2]
    ue, ie = torch.randn(7, 6), torch.randn(4, 6)
    e = tasks["edge-rating"]
    x = task_features(e, ue, ie, e.train.ids)
    assert x.shape == (7, 12)
    assert torch.equal(x[2], torch.cat([ue[0], ie[1]]))        # edge (user 0, item 1)
    xc = task_features(e, ue, ie, e.train.ids, dim=4)
    assert xc.shape == (7, 8) and torch.equal(xc[2], torch.cat([ue[0, :4], ie[1, :4]]))
    u = tasks["user-activity"]
    assert torch.equal(task_features(u, ue, None, u.test[2].ids), ue)
    with pytest.raises(ValueError, match="fewer than"):
        task_features(u, ue, None, u.train.ids, dim=8)
    with pytest.raises(ValueError, match="present at"):
        task_features(u, ue[:3], None, u.train.ids)              # 5 users need 5 rows
    with pytest.raises(ValueError, match="version-1"):
        split_features(u, u.val, {0: (ue, ie)})


@pytest.fixture(scope="module")
def synthetic():
    g = load_graph("synthetic")
    splits = version_splits(g)
    return g, splits, build_tasks(g, splits=splits)


def test_synthetic_both_classes_everywhere(synthetic):
    _, splits, tasks = synthetic
    assert tuple(tasks) == TASK_NAMES
    for t in tasks.values():
        assert sorted(t.test) == list(range(t.first_test_version, len(splits)))
        for s in [t.train, t.val, *t.test.values()]:
            assert len(s) > 0 and 0.0 < s.positive_rate() < 1.0, (t.name, s.version)
            rows = splits[s.version].num_users if t.kind != "item" else splits[s.version].num_items
            assert int(s.ids.max()) < rows


def test_synthetic_edge_task_no_leakage(synthetic):
    g, splits, tasks = synthetic
    t = tasks["edge-rating"]
    r = g.edge_fraction()
    train = set(L(t.train.edge_idx))
    assert not train & set(L(t.val.edge_idx))
    assert float(r[t.train.edge_idx].max()) <= splits[0].t_eval
    for k, s in t.test.items():
        assert not train & set(L(s.edge_idx)) and not set(L(t.val.edge_idx)) & set(L(s.edge_idx))
        rk = r[s.edge_idx.numpy()]
        assert rk.min() > splits[k].t_train and rk.max() <= splits[k].t_eval
    assert int(t.train.labels.sum()) == int((g.rating[t.train.edge_idx] >= 4).sum())


def test_synthetic_user_labels_from_their_own_window(synthetic):
    g, splits, tasks = synthetic
    r = g.edge_fraction()
    for name in ("user-activity", "user-positive-activity"):
        t = tasks[name]
        for k, s in t.versions.items():
            w = (r > splits[k].t_train) & (r <= splits[k].t_eval)
            if name == "user-positive-activity":
                w &= g.rating.numpy() >= 4
            window_users = set(np.unique(g.user.numpy()[w]).tolist())
            positives = set(L(s.ids[s.labels == 1]))
            assert positives <= window_users          # labels only ever come from window k
            existing = {u for u in window_users if u < splits[k].num_users_train}
            assert existing <= positives               # every existing user active in k is positive


def test_synthetic_item_thresholds(synthetic):
    g, splits, tasks = synthetic
    avg = tasks["item-rating-avg"]
    items, mean, _ = item_rating_stats(g, splits[0].train_idx, 10)
    assert avg.threshold == pytest.approx(float(np.median(mean.numpy())))
    assert L(avg.train.ids) == L(items) and avg.train.positive_rate() >= 0.5
    for t in (avg, tasks["item-rating-std"]):
        for k, s in t.versions.items():
            cnt = torch.bincount(g.item[torch.cat([splits[k].train_idx, splits[k].eval_idx])])
            assert bool((cnt[s.ids] >= 10).all())
            assert int((cnt >= 10).sum()) == len(s)
