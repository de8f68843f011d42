"""Tests of embcompat.backward.sampling.BPRSampler (the official bc-emb sampler, vectorised)."""
import pytest
import torch

from embcompat.backward.sampling import BPRSampler


def graph():
    # user 0: 1 edge, user 1: 2 edges, user 2: 4 edges (one duplicated), user 3: none, user 4: 3
    user = torch.tensor([2, 0, 1, 2, 4, 1, 2, 4, 2, 4])
    item = torch.tensor([0, 3, 1, 1, 5, 2, 2, 6, 0, 7])
    return user, item


def test_edge_weights_one_over_degree_users_uniform():
    user, item = graph()
    s = BPRSampler(user, item, num_items=12)
    n = 200_000
    u, p = s.sample_positives(n, torch.Generator().manual_seed(0))
    # users: uniform over users with a training edge (user 3 never)
    freq = torch.bincount(u, minlength=5).double() / n
    torch.testing.assert_close(freq, torch.tensor([0.25, 0.25, 0.25, 0.0, 0.25],
                                                  dtype=torch.float64), atol=6e-3, rtol=0)
    # each sample is a real training edge, and edge e has probability 1 / (A * deg(user_e))
    keys = user * 12 + item
    assert torch.isin(u * 12 + p, keys).all()
    deg = torch.bincount(user)
    for k in keys.unique():
        mult = (keys == k).sum()
        expected = mult / (4 * deg[k // 12]).double()
        got = ((u * 12 + p) == k).double().mean()
        assert abs(got - expected) < 6e-3, (k, got, expected)
    # the duplicated edge (2, 0) is drawn twice as often as (2, 1)
    r = ((u == 2) & (p == 0)).sum() / ((u == 2) & (p == 1)).sum()
    assert 1.85 < r < 2.15


def test_negatives_are_never_positives_and_cover_the_rest():
    user, item = graph()
    s = BPRSampler(user, item, num_items=8)
    u, pos, neg = s.sample_epoch(torch.Generator().manual_seed(1))
    assert u.shape == pos.shape == neg.shape == (10,)
    uu = torch.randint(5, (50_000,), generator=torch.Generator().manual_seed(2))
    uu = uu[uu != 3]
    nn_ = s.sample_negatives(uu, torch.Generator().manual_seed(3))
    train = set(zip(user.tolist(), item.tolist()))
    pairs = set(zip(uu.tolist(), nn_.tolist()))
    assert not (pairs & train)
    assert ((nn_ >= 0) & (nn_ < 8)).all()
    for v in [0, 1, 2, 4]:  # every non-positive item of the user is reachable, uniformly
        allowed = set(range(8)) - {i for (w, i) in train if w == v}
        got = nn_[uu == v]
        assert set(got.tolist()) == allowed
        counts = torch.bincount(got, minlength=8)[sorted(allowed)].double()
        assert (counts / counts.sum() - 1 / len(allowed)).abs().max() < 0.03
    assert s.is_positive(torch.tensor([2, 2, 0]), torch.tensor([0, 3, 3])).tolist() == \
        [True, False, True]


def test_deterministic_given_seed_and_batches():
    user, item = graph()
    user = user.repeat(500)
    item = item.repeat(500)
    s = BPRSampler(user, item, num_items=40, batch_size=2048)
    a = list(s.batches(torch.Generator().manual_seed(7)))
    b = list(s.batches(torch.Generator().manual_seed(7)))
    c = list(s.batches(torch.Generator().manual_seed(8)))
    assert len(a) == len(s) == 3  # 5000 samples: 2048 + 2048 + 904
    assert [x[0].numel() for x in a] == [2048, 2048, 904]
    assert all(torch.equal(x, y) for bx, by in zip(a, b) for x, y in zip(bx, by))
    assert not torch.equal(a[0][2], c[0][2])


def test_impossible_negative_raises():
    with pytest.raises(ValueError, match="every item"):
        BPRSampler(torch.tensor([0, 0]), torch.tensor([0, 1]), num_items=2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_generator_and_tensors():
    user, item = graph()
    s = BPRSampler(user.cuda(), item.cuda(), num_items=12)
    u, p, n = s.sample_epoch(torch.Generator(device="cuda").manual_seed(0))
    assert u.is_cuda and not s.is_positive(u, n).any()
    s_cpu_gen = s.sample_epoch(torch.Generator().manual_seed(0))
    assert s_cpu_gen[0].is_cuda
