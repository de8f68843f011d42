"""The CPU fast path of CMC/mAP (embcompat.metrics.retrieval_cpu): float32-sorted exact counting,
worker threads, and agreement with the chunked tensor-op path used off the CPU (retrieval_torch)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from embcompat.metrics import retrieval_cpu
from embcompat.metrics.retrieval import retrieval_metrics, retrieval_per_query
from embcompat.metrics.retrieval_inputs import kernel_inputs
from embcompat.metrics.retrieval_torch import per_query_torch
from test_retrieval import _random, naive_retrieval



def _torch_path(x, g, y, yg, *, distance="l2", exclude_self=True, chunk_size=None):
    """The chunked tensor-op implementation (the CUDA path), run on the CPU."""
    inputs = kernel_inputs(x, g, y, yg, distance=distance, exclude_self=exclude_self,
                           device=torch.device("cpu"), dtype=torch.float64)
    return per_query_torch(*inputs, exclude_self, chunk_size)


def _float32_near_ties(n=160, d=8, seed=11):
    """Copies of images moved by ~1e-9 under other labels: their float64 keys differ from the
    original's, but their float32 roundings coincide, so the exact recount path is taken."""
    x, y = _random(n, d, 4, seed)
    x = x.double()
    g = torch.Generator().manual_seed(seed + 1)
    dup = x[:60] + 1e-9 * torch.randn(60, d, generator=g, dtype=torch.float64)
    return torch.cat([x, dup]), torch.cat([y, (y[:60] + 1) % 4])


@pytest.mark.parametrize("distance", ["l2", "cosine"])
def test_float32_band_collisions_are_recounted_exactly(distance, monkeypatch):
    x, y = _float32_near_ties()
    calls = []
    real = retrieval_cpu._count_le
    monkeypatch.setattr(retrieval_cpu, "_count_le",
                        lambda key, thr: calls.append(len(thr)) or real(key, thr))
    pq = retrieval_per_query(x, x, y, y, distance=distance, chunk_size=50)
    assert calls, "the data should put non-relevant items in relevant items' float32 bands"
    _, ranks, aps = naive_retrieval(x, x, y, y, distance=distance, exact_l2=True)
    assert torch.equal(pq.first_match_rank, torch.from_numpy(ranks))
    np.testing.assert_allclose(pq.average_precision.numpy(), aps, rtol=0, atol=1e-12)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_worker_threads_give_identical_results(threads):
    x, y = _random(400, 16, 9, 12)
    torch.set_num_threads(1)
    ref = retrieval_per_query(x, x, y, y, chunk_size=400)
    torch.set_num_threads(threads)
    pq = retrieval_per_query(x, x, y, y, chunk_size=23)
    assert torch.get_num_threads() == threads  # restored after the worker section
    assert torch.equal(pq.first_match_rank, ref.first_match_rank)
    assert torch.equal(pq.average_precision, ref.average_precision)  # bit-identical
    assert torch.equal(pq.valid, ref.valid)


@pytest.mark.parametrize("distance,integer", [("l2", True), ("l2", False), ("cosine", False)])
def test_cpu_path_matches_tensor_path(distance, integer):
    # integer L2 data: exact keys, so exact ties, identical in both paths; generic data: no ties
    # (normalised integer vectors are not exact, so their cosine ties may break differently)
    torch.set_num_threads(1)
    x, y = _random(200, 12, 6, 13, integer=integer)
    if integer:  # exact duplicates under other labels: many exact ties
        x = torch.cat([x, x[:40]])
        y = torch.cat([y, (y[:40] + 2) % 6])
    fast = retrieval_per_query(x, x, y, y, distance=distance, chunk_size=31)
    slow = _torch_path(x, x, y, y, distance=distance, chunk_size=31)
    assert torch.equal(fast.first_match_rank, slow.first_match_rank)
    np.testing.assert_allclose(fast.average_precision.numpy(), slow.average_precision.numpy(),
                               rtol=0, atol=1e-12)
    assert torch.equal(fast.valid, slow.valid)


def test_many_tied_thresholds_use_the_sorted_recount():
    # one big class of +-1 vectors in 3-d: only 8 distinct points, so every relevant item's band
    # holds many non-relevant items and the per-row recount takes the sort branch (> 16).
    torch.set_num_threads(1)
    x, y = _random(300, 3, 2, 14, integer=True)
    x = x.clamp(min=0) * 2 - 1
    ours = retrieval_metrics(x, x, y, y, ks=(1, 3, 10), chunk_size=64)
    ref, ranks, aps = naive_retrieval(x, x, y, y, ks=(1, 3, 10))
    pq = retrieval_per_query(x, x, y, y, chunk_size=64)
    assert torch.equal(pq.first_match_rank, torch.from_numpy(ranks))
    np.testing.assert_allclose(pq.average_precision.numpy(), aps, rtol=0, atol=1e-12)
    assert ours == pytest.approx(ref, abs=1e-12)


def test_float32_compute_dtype_runs_and_stays_close():
    torch.set_num_threads(1)
    x, y = _random(300, 16, 7, 15)
    m64 = retrieval_metrics(x, x, y, y)
    m32 = retrieval_metrics(x, x, y, y, dtype=torch.float32)
    assert m32 == pytest.approx(m64, abs=1e-2)


def test_disjoint_sets_and_labels_missing_from_gallery():
    torch.set_num_threads(2)
    x, y = _random(120, 10, 5, 16)
    ql = y[:40].clone()
    ql[:5] = 77  # not in the gallery: invalid
    pq = retrieval_per_query(x[:40], x[40:], ql, y[40:], exclude_self=False, chunk_size=7)
    _, ranks, aps = naive_retrieval(x[:40], x[40:], ql, y[40:], exclude_self=False)
    assert torch.equal(pq.first_match_rank, torch.from_numpy(ranks))
    assert torch.equal(pq.valid, torch.from_numpy(ranks >= 0))
    np.testing.assert_allclose(pq.average_precision.numpy(), aps, rtol=0, atol=1e-12)
