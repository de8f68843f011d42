"""The synthetic evolving graph: determinism, sizes and the shape properties it promises."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from embcompat.data import assert_no_leakage, load_graph, version_splits
from embcompat.data.sources import synthetic
from embcompat.data.sources.synthetic import PRESETS, SyntheticConfig, generate


@pytest.fixture(scope="module")
def g():
    return load_graph("synthetic")


def test_deterministic_given_seed(g):
    h = generate(SyntheticConfig(), name="synthetic")
    for n in ("user", "item", "rating", "time", "item_brand", "item_category_ptr", "item_category"):
        assert torch.equal(getattr(g, n), getattr(h, n)), n
    other = generate(replace(SyntheticConfig(), seed=1))
    assert not torch.equal(g.item, other.item)
    assert torch.equal(synthetic.load("synthetic-tiny", seed=1).item, other.item)


def test_sizes_of_tiny_preset(g):
    c = PRESETS["tiny"]
    assert (g.num_users, g.num_edges) == (c.num_users, c.num_edges)
    assert 0.98 * c.num_items <= g.num_items <= c.num_items
    assert 0.8 * c.num_brands <= g.num_brands <= c.num_brands
    assert 0.8 * c.num_categories <= g.num_categories <= c.num_categories
    assert set(g.rating.unique().tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert (g.rating == 5).float().mean() > 0.5                       # Amazon-like skew
    assert torch.bincount(g.user).min() >= c.min_user_degree         # 5-core-like users
    assert torch.bincount(g.item, minlength=g.num_items).min() >= 1
    per_item = g.item_category_ptr[1:] - g.item_category_ptr[:-1]
    assert per_item.min() >= 1 and per_item.max() > 1                 # multi-label


def test_heavy_tailed_degrees(g):
    ud = torch.bincount(g.user).double()
    idg = torch.bincount(g.item).double().sort(descending=True).values
    assert ud.max() > 5 * ud.median()
    assert idg[: len(idg) // 10].sum() > 0.3 * idg.sum()             # top 10% items: > 30% edges


def test_nodes_arrive_over_time_and_users_churn(g):
    splits = version_splits(g)
    assert_no_leakage(g, splits)
    nu = [s.num_users for s in splits]
    ni = [s.num_items for s in splits]
    assert all(b > a for a, b in zip(nu, nu[1:])) and all(b >= a for a, b in zip(ni, ni[1:]))
    assert all(s.eval_idx.numel() > 0 for s in splits)
    r = g.edge_fraction()
    early = np.unique(g.user.numpy()[r <= 0.5])
    late = np.unique(g.user.numpy()[r > 0.9])
    active_late = np.isin(early, late).mean()
    assert 0.05 < active_late < 0.9                                   # "active next window" varies


def test_structure_is_learnable(g):
    """Items of one user share categories more than random items; item mean ratings differ."""
    rng = np.random.default_rng(0)
    u, it = g.user.numpy(), g.item.numpy()
    ptr, cat = g.item_category_ptr.numpy(), g.item_category.numpy()
    m = np.zeros((g.num_items, g.num_categories), dtype=bool)
    m[np.repeat(np.arange(g.num_items), np.diff(ptr)), cat] = True
    order = np.lexsort((np.arange(len(u)), u))
    a, b = it[order][:-1], it[order][1:]
    same_user = u[order][:-1] == u[order][1:]
    share = (m[a[same_user]] & m[b[same_user]]).any(1).mean()
    rand = (m[a[same_user]] & m[rng.permutation(it)[: same_user.sum()]]).any(1).mean()
    assert share > rand + 0.1
    # ratings depend on the item: spread of item means above a permutation of the ratings
    rt = g.rating.numpy()
    cnt = np.bincount(it)
    ok = cnt >= 10

    def spread(x):
        return (np.bincount(it, x) / cnt)[ok].std()

    assert spread(rt) > 1.5 * spread(rng.permutation(rt))


def test_bad_config_and_preset():
    with pytest.raises(ValueError, match="num_edges"):
        generate(SyntheticConfig(num_users=100, num_edges=100))
    with pytest.raises(ValueError, match="synthetic-tiny"):
        load_graph("synthetic-huge")
    with pytest.raises(ValueError, match="allowed: 'synthetic'"):
        synthetic.load("synthetic-huge")
