"""The official per-version split on a hand-built graph whose answer is written out literally."""
import numpy as np
import pytest
import torch

from embcompat.data.graphs import InteractionGraph
from embcompat.data.splits import (DEFAULT_TIMES, VersionSplit, assert_no_leakage, heldout_user_order,
                                   version_splits)

# 17 edges, so the official edge fraction linspace(0, 1, 17) = e / 16 is exact in binary and the
# slice times 0.5 and 0.75 fall exactly on edges 8 and 12 (boundary semantics are tested).
#        e:  0  1  2  3  4  5  6  7  8 | 9 10 11 12 | 13 14 15 16
USERS = [0, 1, 0, 2, 1, 2, 0, 3, 1, 0, 4, 5, 4, 5, 6, 6, 6]
ITEMS = [0, 1, 1, 0, 2, 2, 3, 1, 3, 4, 0, 2, 4, 5, 0, 5, 1]
TIMES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 15, 16]
T3 = (0.5, 0.75, 1.0)


def tiny_graph() -> InteractionGraph:
    n = len(USERS)
    return InteractionGraph(
        name="tiny", user=torch.tensor(USERS), item=torch.tensor(ITEMS),
        rating=torch.arange(n, dtype=torch.float32) % 5 + 1, time=torch.tensor(TIMES),
        num_users=7, num_items=6, item_brand=torch.tensor([0, -1, 1, 0, -1, 1]), num_brands=2,
        item_category_ptr=torch.tensor([0, 1, 3, 3, 4, 5, 6]),
        item_category=torch.tensor([0, 0, 1, 2, 1, 0]), num_categories=3, meta={"source": "test"})


def as_list(t):
    return t.tolist()


def test_official_split_literal():
    g = tiny_graph()
    s0, s1 = version_splits(g, T3)
    # version 0: train on r <= 0.5 (edges 0..8, edge 8 has r = 0.5 exactly: inclusive);
    # window (0.5, 0.75] = edges 9..12 (edge 12 has r = 0.75: inclusive on the right).
    #   9: user 0 existing -> eval; 10, 12: new user 4 with two edges -> 10 train, last (12) eval;
    #   11: new user 5 with a single edge -> train.
    assert as_list(s0.train_idx) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11]
    assert as_list(s0.eval_idx) == [9, 12]
    assert (s0.num_users, s0.num_items, s0.num_users_train, s0.num_items_train) == (6, 5, 4, 4)
    assert (s0.k, s0.t_train, s0.t_eval) == (0, 0.5, 0.75)
    # version 1: train on r <= 0.75 (edges 0..12, including the eval edges of version 0);
    # window (0.75, 1] = 13..16: 13 user 5 (present at 0.75) -> eval; user 6 new with 3 edges
    # (14, 15 share a timestamp) -> 14, 15 train, 16 eval.
    assert as_list(s1.train_idx) == list(range(13)) + [14, 15]
    assert as_list(s1.eval_idx) == [13, 16]
    assert (s1.num_users, s1.num_items, s1.num_users_train) == (7, 6, 6)
    assert s0.val_idx is None and s0.test_idx is None
    assert_no_leakage(g, [s0, s1])


def test_default_times_float_boundary():
    # With 11 edges, linspace(0, 1, 11)[6] == 0.6000000000000001 > 0.6, so, exactly as in the
    # official code, edge 6 is NOT in the graph at t = 0.6 and the (0.5, 0.6] window is empty.
    users = [0, 1, 2, 0, 1, 2, 0, 3, 3, 1, 0]
    items = [0, 0, 1, 1, 2, 2, 3, 0, 3, 4, 4]
    g = InteractionGraph("b", torch.tensor(users), torch.tensor(items), torch.ones(11),
                         torch.arange(11), 4, 5, torch.full((5,), -1), 0,
                         torch.zeros(6, dtype=torch.long), torch.zeros(0, dtype=torch.long), 0)
    s = version_splits(g, DEFAULT_TIMES)
    assert len(s) == 5
    assert as_list(s[0].train_idx) == [0, 1, 2, 3, 4, 5] and as_list(s[0].eval_idx) == []
    # (0.6, 0.7]: edges 6 (r=.6000000000000001) and 7 (r=.7000000000000001 > .7: not included)
    assert as_list(s[1].eval_idx) == [6] and as_list(s[1].train_idx) == [0, 1, 2, 3, 4, 5]
    assert as_list(s[2].train_idx) == [0, 1, 2, 3, 4, 5, 6, 7]  # user 3's only window edge
    assert_no_leakage(g, s)


def _splitmix_ref(x: int) -> int:
    m = (1 << 64) - 1
    z = (x + 0x9E3779B97F4A7C15) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


def test_heldout_order_matches_pure_python_reference():
    users = np.array([9, 3, 0, 17, 5, 1000])
    for seed in (0, 1, 42):
        salt = _splitmix_ref(seed)
        ref = sorted(users.tolist(), key=lambda u: (_splitmix_ref(u ^ salt), u))
        assert heldout_user_order(users, seed).tolist() == ref


def test_heldout_split_is_a_deterministic_partition_by_user():
    g = tiny_graph()
    a = version_splits(g, T3, heldout_test=True, seed=3)
    b = version_splits(g, T3, heldout_test=True, seed=3)
    for sa, sb in zip(a, b):
        assert torch.equal(sa.val_idx, sb.val_idx) and torch.equal(sa.test_idx, sb.test_idx)
        # eval users are {0, 4} and {5, 6}: one user each side
        vu = set(g.user[sa.val_idx].tolist())
        tu = set(g.user[sa.test_idx].tolist())
        assert len(vu) == 1 and len(tu) == 1 and not vu & tu
        expected_test_user = heldout_user_order(np.unique(g.user[sa.eval_idx].numpy()), 3)[0]
        assert tu == {int(expected_test_user)}
        assert sorted(sa.val_idx.tolist() + sa.test_idx.tolist()) == sa.eval_idx.tolist()
        assert torch.equal(sa.train_idx, version_splits(g, T3)[sa.k].train_idx)
    assert_no_leakage(g, a)


def _copy(s: VersionSplit, **kw) -> VersionSplit:
    d = dict(s.__dict__)
    d.update(kw)
    return VersionSplit(**d)


def test_leakage_assertion_fires():
    g = tiny_graph()
    s0, s1 = version_splits(g, T3, heldout_test=True)
    leak = _copy(s0, train_idx=torch.cat([s0.train_idx, s0.eval_idx[:1]]))
    with pytest.raises(AssertionError, match=r"version 0: 1 edge\(s\) are in both train_idx and eval_idx"):
        assert_no_leakage(g, [leak, s1])
    future = _copy(s0, train_idx=torch.cat([s0.train_idx, torch.tensor([15])]))
    with pytest.raises(AssertionError, match="after t_eval"):
        assert_no_leakage(g, [future])
    overlap = _copy(s1, test_idx=torch.cat([s1.test_idx, s1.val_idx[:1]]))
    with pytest.raises(AssertionError, match="both val_idx and test_idx"):
        assert_no_leakage(g, [overlap])
    outside = _copy(s1, eval_idx=torch.tensor([3, 13, 16]), val_idx=None, test_idx=None,
                    train_idx=s1.train_idx[s1.train_idx != 3])
    with pytest.raises(AssertionError, match="outside"):
        assert_no_leakage(g, [outside])


def test_bad_times_and_fraction():
    g = tiny_graph()
    with pytest.raises(ValueError, match="strictly increasing"):
        version_splits(g, (0.5, 0.5, 1.0))
    with pytest.raises(ValueError, match="test_fraction"):
        version_splits(g, T3, heldout_test=True, test_fraction=1.0)


def test_graph_validation_and_roundtrip(tmp_path):
    g = tiny_graph()
    st = g.stats()
    assert (st["users"], st["items"], st["interactions"], st["time_min"], st["time_max"]) == (7, 6, 17, 1, 16)
    assert g.item_categories(1).tolist() == [0, 1] and g.item_categories(2).tolist() == []
    g.save(tmp_path / "g.safetensors")
    h = InteractionGraph.load(tmp_path / "g.safetensors")
    for n in ("user", "item", "rating", "time", "item_brand", "item_category_ptr", "item_category"):
        assert torch.equal(getattr(g, n), getattr(h, n)), n
    assert (h.name, h.num_users, h.num_brands, h.meta) == ("tiny", 7, 2, {"source": "test"})
    bad = list(USERS)
    bad[1] = 2  # user 2 appears before user 1: not first-appearance numbering
    with pytest.raises(ValueError, match="first appearance"):
        InteractionGraph("x", torch.tensor(bad), torch.tensor(ITEMS), torch.ones(17), torch.tensor(TIMES),
                         7, 6, g.item_brand, 2, g.item_category_ptr, g.item_category, 3)
    with pytest.raises(ValueError, match="not sorted"):
        InteractionGraph("x", torch.tensor(USERS), torch.tensor(ITEMS), torch.ones(17),
                         torch.tensor(TIMES[::-1]), 7, 6, g.item_brand, 2, g.item_category_ptr,
                         g.item_category, 3)
