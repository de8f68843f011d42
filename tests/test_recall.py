"""Recall@K (embcompat.metrics.recall) against a naive per-user Python reference."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from embcompat.metrics.recall import recall_at_k, recall_per_user



def naive_recall(user_emb, item_emb, eval_edges, train_edges, num_items, ks):
    """Per user: rank unmasked items by (-score, item id), count distinct window items in top K."""
    item_emb = item_emb[:num_items].double()
    train = {}
    for u, i in np.asarray(train_edges).T.tolist():
        train.setdefault(u, set()).add(i)
    truth = {}
    for u, i in np.asarray(eval_edges).T.tolist():
        truth.setdefault(u, set()).add(i)
    out = {k: [] for k in ks}
    users = sorted(truth)
    for u in users:
        masked = train.get(u, set())
        score = (item_emb @ user_emb[u].double()).tolist()
        ranking = sorted((i for i in range(num_items) if i not in masked),
                         key=lambda i: (-score[i], i))
        for k in ks:
            out[k].append(len(set(ranking[:k]) & truth[u]) / len(truth[u]))
    return users, {k: np.array(v) for k, v in out.items()}


def _case(seed, n_users=40, n_items=30, d=6, e_eval=60, e_train=200, integer=True):
    g = torch.Generator().manual_seed(seed)
    if integer:  # small integers: exact scores and many exact ties
        u = torch.randint(-2, 3, (n_users, d), generator=g).float()
        i = torch.randint(-2, 3, (n_items + 5, d), generator=g).float()
    else:
        u = torch.randn(n_users, d, generator=g, dtype=torch.float64)
        i = torch.randn(n_items + 5, d, generator=g, dtype=torch.float64)
    ev = torch.stack([torch.randint(0, n_users, (e_eval,), generator=g),
                      torch.randint(0, n_items, (e_eval,), generator=g)])
    ev = torch.cat([ev, ev[:, :15]], 1)  # duplicate edges
    tr = torch.stack([torch.randint(0, n_users, (e_train,), generator=g),
                      torch.randint(0, n_items, (e_train,), generator=g)])
    return u, i, ev, tr


@pytest.mark.parametrize("seed,integer", [(0, True), (1, True), (2, False)])
def test_matches_naive_reference(seed, integer):
    u, i, ev, tr = _case(seed, integer=integer)
    ks = (1, 3, 5, 10, 29)
    users, ours = recall_per_user(u, i, ev, tr, num_items_ranked=30, ks=ks, chunk_size=7)
    ref_users, ref = naive_recall(u, i, ev, tr, 30, ks)
    assert users.tolist() == ref_users
    for k in ks:
        np.testing.assert_allclose(ours[k].numpy(), ref[k], rtol=0, atol=1e-15)
    mean = recall_at_k(u, i, ev, tr, num_items_ranked=30, ks=ks)
    assert mean == pytest.approx({k: ref[k].mean() for k in ks}, abs=1e-15)
    if integer:
        s = u @ i[:30].T
        assert (s[:, :, None] == s[:, None, :]).float().mean() > 0.05  # ties really occur


def test_duplicates_count_once_and_masked_eval_items_stay_in_denominator():
    u = torch.eye(4)
    i = torch.eye(4)  # user j likes item j best; all other scores tie at 0
    ev = torch.tensor([[0, 0, 0, 0], [0, 0, 0, 1]])  # item 0 three times, item 1 once
    users, rec = recall_per_user(u, i, ev, None, ks=(1, 2))
    assert users.tolist() == [0]
    assert rec[1].item() == 0.5  # top-1 = item 0; ground truth {0, 1}
    assert rec[2].item() == 1.0  # tie among items 1..3 at 0 -> lowest id (1) first
    # the same window with item 0 in training: item 0 masked but still in the denominator
    tr = torch.tensor([[0], [0]])
    _, rec = recall_per_user(u, i, ev, tr, ks=(1, 4))
    assert rec[1].item() == 0.5 and rec[4].item() == 0.5


def test_every_item_masked_but_one():
    u, i, _, _ = _case(3, n_users=5, n_items=12)
    items = torch.arange(12)
    # user 0 trained on all items but 7; its window holds 7 and (repeat) 3
    tr = torch.stack([torch.zeros(11, dtype=torch.long), items[items != 7]])
    ev = torch.tensor([[0, 0, 1], [7, 3, 4]])
    users, rec = recall_per_user(u, i, ev, tr, num_items_ranked=12, ks=(1, 5, 10))
    for k in (1, 5, 10):
        assert rec[k][0].item() == 0.5  # 7 is found; the masked 3 is never a hit
    ref_users, ref = naive_recall(u, i, ev, tr, 12, (1, 5, 10))
    for k in (1, 5, 10):
        np.testing.assert_allclose(rec[k].numpy(), ref[k], atol=1e-15)


def test_tie_straddling_the_largest_k():
    # 6 items with equal scores; K_max = 3: only the 3 lowest ids are in the top 3
    u = torch.ones(1, 2)
    i = torch.ones(6, 2)
    for item, expected in [(2, 1.0), (3, 0.0), (5, 0.0), (0, 1.0)]:
        ev = torch.tensor([[0], [item]])
        _, rec = recall_per_user(u, i, ev, None, ks=(3,))
        assert rec[3].item() == expected, item
    # K_max - 1 items strictly above, then a tie whose lower id takes the last slot
    u = torch.ones(1, 1)
    i = torch.tensor([[5.0], [1.0], [1.0], [-1.0]])
    _, rec = recall_per_user(u, i, torch.tensor([[0], [2]]), None, ks=(2,))
    assert rec[2].item() == 0.0
    _, rec = recall_per_user(u, i, torch.tensor([[0], [1]]), None, ks=(2,))
    assert rec[2].item() == 1.0


def test_num_items_ranked_restricts_the_ranking():
    u, i, ev, tr = _case(4, n_items=30)
    full = recall_at_k(u, i, ev, tr, num_items_ranked=30, ks=(5,))
    ref_users, ref = naive_recall(u, i, ev, tr, 30, (5,))
    assert full[5] == pytest.approx(ref[5].mean(), abs=1e-15)
    with pytest.raises(ValueError, match="num_items_ranked"):
        recall_at_k(u, i, ev, tr, num_items_ranked=20)  # window items >= 20
    with pytest.raises(ValueError, match="num_items_ranked"):
        recall_at_k(u, i, ev, tr, num_items_ranked=1000)


def test_chunking_does_not_change_results():
    u, i, ev, tr = _case(5, integer=False)
    a = recall_per_user(u, i, ev, tr, num_items_ranked=30, chunk_size=1)[1]
    b = recall_per_user(u, i, ev, tr, num_items_ranked=30, chunk_size=10_000)[1]
    for k in a:
        assert torch.equal(a[k], b[k])


def test_bad_inputs():
    u, i, ev, tr = _case(6)
    with pytest.raises(ValueError, match=r"\(2, num_edges\)"):
        recall_at_k(u, i, ev.T, tr)
    with pytest.raises(ValueError, match="ks"):
        recall_at_k(u, i, ev, tr, ks=(0,))
    with pytest.raises(ValueError, match="empty"):
        recall_at_k(u, i, torch.empty(2, 0, dtype=torch.long), tr)
    bad = u.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        recall_at_k(bad, i, ev, tr)
    with pytest.raises(ValueError, match="user ids"):
        recall_at_k(u[:3], i, ev, tr)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu():
    u, i, ev, tr = _case(7, integer=False)
    cpu = recall_at_k(u, i, ev, tr, num_items_ranked=30)
    gpu = recall_at_k(u.cuda(), i.cuda(), ev.cuda(), tr.cuda(), num_items_ranked=30)
    assert gpu == pytest.approx(cpu, abs=1e-12)
