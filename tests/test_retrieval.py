"""CMC top-k and mAP (embcompat.metrics.retrieval) against a naive per-query reference and the
official ml-fct output."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from embcompat.metrics.retrieval import retrieval_metrics, retrieval_per_query
from embcompat.utils import project_root



def naive_retrieval(query, gallery, query_labels, gallery_labels, *, ks=(1, 5), distance="l2",
                    exclude_self=True, exact_l2=False):
    """One query at a time: float64 distance matrix, stable argsort, scikit-learn AP.

    ``exact_l2`` uses the direct-difference ``torch.cdist`` (no matmul expansion)."""
    q = torch.as_tensor(query, dtype=torch.float64)
    g = torch.as_tensor(gallery, dtype=torch.float64)
    ql = np.asarray(query_labels)
    gl = np.asarray(gallery_labels)
    if distance == "l2":
        mode = "donot_use_mm_for_euclid_dist" if exact_l2 else "use_mm_for_euclid_dist_if_necessary"
        dist = torch.cdist(q, g, compute_mode=mode).numpy()
    else:
        qn = q / q.norm(dim=1, keepdim=True)
        gn = g / g.norm(dim=1, keepdim=True)
        dist = (1 - qn @ gn.T).numpy()
    ranks, aps = [], []
    for i in range(len(q)):
        keep = np.arange(len(g)) != i if exclude_self else np.ones(len(g), bool)
        d = dist[i][keep]
        rel = gl[keep] == ql[i]
        if not rel.any():
            ranks.append(-1)
            aps.append(np.nan)
            continue
        order = np.argsort(d, kind="stable")
        ranks.append(int(np.nonzero(rel[order])[0][0]))
        aps.append(average_precision_score(rel, -d))
    ranks, aps = np.array(ranks), np.array(aps)
    valid = ranks >= 0
    out = {f"top{k}": float(np.mean(ranks[valid] < k)) for k in ks}
    out["mAP"] = float(np.mean(aps[valid]))
    out["num_valid_queries"] = int(valid.sum())
    return out, ranks, aps


def _random(n, d, classes, seed, integer=False):
    g = torch.Generator().manual_seed(seed)
    if integer:  # small integers: float64 distances are exact, so there are many exact ties
        x = torch.randint(-1, 2, (n, d), generator=g).double()
    else:
        x = torch.randn(n, d, generator=g)
    return x, torch.randint(0, classes, (n,), generator=g)


@pytest.mark.parametrize("distance", ["l2", "cosine"])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_naive_reference_no_ties(distance, seed):
    x, y = _random(150, 16, 7, seed)
    ours = retrieval_metrics(x, x, y, y, ks=(1, 5, 10), distance=distance, chunk_size=37)
    ref, ranks, aps = naive_retrieval(x, x, y, y, ks=(1, 5, 10), distance=distance)
    assert ours == pytest.approx(ref, abs=1e-12)
    pq = retrieval_per_query(x, x, y, y, distance=distance, chunk_size=64)
    assert torch.equal(pq.first_match_rank, torch.from_numpy(ranks))
    np.testing.assert_allclose(pq.average_precision.numpy(), aps, rtol=0, atol=1e-12)


def test_matches_naive_reference_with_ties_l2():
    x, y = _random(120, 4, 5, 3, integer=True)
    x = torch.cat([x, x[:30]])  # exact duplicates of some images, with other labels
    y = torch.cat([y, (y[:30] + 1) % 5])
    ours = retrieval_metrics(x, x, y, y, ks=(1, 2, 5), chunk_size=50)
    ref, ranks, aps = naive_retrieval(x, x, y, y, ks=(1, 2, 5))
    pq = retrieval_per_query(x, x, y, y, chunk_size=50)
    torch_ties = torch.cdist(x, x).numpy()
    assert (np.diff(np.sort(torch_ties, 1), axis=1) == 0).mean() > 0.5  # the data really is tied
    assert torch.equal(pq.first_match_rank, torch.from_numpy(ranks))
    np.testing.assert_allclose(pq.average_precision.numpy(), aps, rtol=0, atol=1e-12)
    assert ours == pytest.approx(ref, abs=1e-12)


def test_matches_naive_reference_with_ties_cosine():
    # +-1 entries with 4 or 16 non-zeros: the norms (2, 4) and all cosines are dyadic, so every
    # dot product is exact and equal cosines tie exactly in any summation order.
    g = torch.Generator().manual_seed(4)
    x = torch.zeros(140, 16, dtype=torch.float64)
    for i in range(140):
        nnz = 4 if i % 3 else 16
        cols = torch.randperm(16, generator=g)[:nnz]
        x[i, cols] = torch.randint(0, 2, (nnz,), generator=g).double() * 2 - 1
    x[100:] = x[:40] * 2.0  # positive multiples: identical directions
    y = torch.randint(0, 4, (140,), generator=g)
    ours = retrieval_metrics(x, x, y, y, ks=(1, 3, 5), distance="cosine", chunk_size=33)
    ref, ranks, aps = naive_retrieval(x, x, y, y, ks=(1, 3, 5), distance="cosine")
    pq = retrieval_per_query(x, x, y, y, distance="cosine", chunk_size=33)
    assert torch.equal(pq.first_match_rank, torch.from_numpy(ranks))
    np.testing.assert_allclose(pq.average_precision.numpy(), aps, rtol=0, atol=1e-12)
    assert ours == pytest.approx(ref, abs=1e-12)


def test_tie_rule_is_gallery_index_order():
    # query 0 at the origin; gallery items 1 (irrelevant) and 2 (relevant) at the same distance.
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    y = torch.tensor([0, 1, 0, 1])
    pq = retrieval_per_query(x, x, y, y)
    assert pq.first_match_rank[0] == 1  # item 1 comes first among the tie
    y2 = torch.tensor([0, 0, 1, 1])
    assert retrieval_per_query(x, x, y2, y2).first_match_rank[0] == 0
    # sklearn groups the tie: AP = (1 relevant among the 2 tied) = 0.5 for query 0 under y
    assert pq.average_precision[0] == pytest.approx(0.5, abs=1e-15)


def test_cross_model_and_disjoint_sets():
    x, y = _random(90, 12, 6, 5)
    new = x @ torch.randn(12, 12, generator=torch.Generator().manual_seed(1)) + 0.1
    # new/old: same images, different models; self = the same row of the other gallery
    ours = retrieval_metrics(new, x, y, y, ks=(1, 5), chunk_size=20)
    ref, *_ = naive_retrieval(new, x, y, y, ks=(1, 5))
    assert ours == pytest.approx(ref, abs=1e-12)
    # disjoint query and gallery sets of different sizes
    ours = retrieval_metrics(new[:30], x[30:], y[:30], y[30:], exclude_self=False)
    ref, *_ = naive_retrieval(new[:30], x[30:], y[:30], y[30:], exclude_self=False)
    assert ours == pytest.approx(ref, abs=1e-12)
    with pytest.raises(ValueError, match="exclude_self=False"):
        retrieval_metrics(new[:30], x[30:], y[:30], y[30:])


def test_invalid_queries_are_skipped():
    x, y = _random(40, 6, 3, 6)
    y = y.clone()
    y[0] = 17  # a singleton class: nothing relevant once self is excluded
    y[1] = 18
    pq = retrieval_per_query(x, x, y, y)
    assert not pq.valid[0] and not pq.valid[1] and pq.valid[2:].all()
    assert pq.first_match_rank[0] == -1 and torch.isnan(pq.average_precision[0])
    ours = retrieval_metrics(x, x, y, y)
    ref, *_ = naive_retrieval(x, x, y, y)
    assert ours == pytest.approx(ref, abs=1e-12) and ours["num_valid_queries"] == 38
    # query labels absent from the gallery entirely
    ql = torch.full((5,), 99)
    with pytest.raises(ValueError, match="no valid query"):
        retrieval_metrics(x[:5], x, ql, y, exclude_self=False)


def test_precision_robust_to_a_common_offset():
    x, y = _random(100, 32, 5, 7)
    shifted = x.double() + 1e4  # float32 cdist would scramble these rankings
    ours = retrieval_per_query(shifted, shifted, y, y)
    _, ranks, aps = naive_retrieval(shifted, shifted, y, y, exact_l2=True)
    assert torch.equal(ours.first_match_rank, torch.from_numpy(ranks))
    np.testing.assert_allclose(ours.average_precision.numpy(), aps, rtol=0, atol=1e-12)


def test_cosine_is_true_cosine():
    # scaling a gallery vector changes L1/L2-agnostic nothing under a true cosine distance
    x, y = _random(60, 8, 3, 8)
    scaled = x * torch.rand(60, 1, generator=torch.Generator().manual_seed(2)).add(0.1) * 10
    a = retrieval_per_query(x, x, y, y, distance="cosine")
    b = retrieval_per_query(scaled, scaled, y, y, distance="cosine")
    assert torch.equal(a.first_match_rank, b.first_match_rank)
    # and it differs from the L1-normalised "cosine" of the official code on generic data
    l1 = torch.nn.functional.normalize(x, p=1, dim=1)
    off = 1 - l1 @ l1.T
    off.fill_diagonal_(float("inf"))
    true = 1 - torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(x, dim=1).T
    true.fill_diagonal_(float("inf"))
    assert not torch.equal(torch.argsort(off, dim=1, stable=True), torch.argsort(true, dim=1, stable=True))


def test_bad_parameters_name_allowed_values():
    x, y = _random(10, 4, 2, 9)
    with pytest.raises(ValueError, match="'l2', 'cosine'"):
        retrieval_metrics(x, x, y, y, distance="manhattan")
    with pytest.raises(ValueError, match="ks"):
        retrieval_metrics(x, x, y, y, ks=(0,))
    with pytest.raises(ValueError, match="finite"):
        bad = x.clone()
        bad[0, 0] = float("nan")
        retrieval_metrics(bad, bad, y, y)


def _oracle_dir() -> Path | None:
    cand = project_root().parent / "shared" / "reference"
    if (cand / "fct_eval_N2000.npz").exists() and (cand / "fct_eval_N2000.json").exists():
        return cand
    return None


def test_official_oracle_fct_eval_n2000():
    where = _oracle_dir()
    if where is None:
        pytest.skip("fct_eval_N2000.npz/.json not found in ../shared/reference (relative to the "
                    "repo root): the official ml-fct output oracle is unavailable")
    data = np.load(where / "fct_eval_N2000.npz")
    official = json.loads((where / "fct_eval_N2000.json").read_text())
    f = torch.from_numpy(data["features"])
    y = torch.from_numpy(data["labels"])
    ours = retrieval_metrics(f, f, y, y, ks=(1, 5), distance="l2", exclude_self=True)
    assert ours["top1"] == official["cmc_top1"]
    assert ours["top5"] == official["cmc_top5"]
    assert abs(ours["mAP"] - official["mAP"]) < 1e-6


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu():
    x, y = _random(300, 16, 9, 10)
    cpu = retrieval_metrics(x, x, y, y, chunk_size=70)
    gpu = retrieval_metrics(x.cuda(), x.cuda(), y.cuda(), y.cuda(), chunk_size=70)
    assert gpu == pytest.approx(cpu, abs=1e-12)
