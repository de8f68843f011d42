"""The CPU retrieval kernel: blocks of queries in worker threads, NumPy after one GEMM per block.

Exact ranks and APs without a full per-row argsort: the float32-rounded keys are sorted and the
exact counts are read off them (see :func:`per_query_cpu`). The GEMM and the row sort take most
of the time; measured times and memory are in ``benchmarks/results/retrieval.md``. Callers go
through :func:`embcompat.metrics.retrieval_per_query`, which sets torch's intra-op threads to 1.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from embcompat.metrics.retrieval_inputs import PerQuery

CPU_BLOCK_BYTES = 48 * 2**20  # per worker thread (GEMMs of >= ~256 rows run ~25% faster)


def _run_first(a: np.ndarray, ar: np.ndarray) -> np.ndarray:
    """Row-wise, for a row-sorted ``a``: index of the first element equal to each element
    (= number of strictly smaller elements in the row)."""
    start = np.empty(a.shape, bool)
    start[:, :1] = True
    np.not_equal(a[:, 1:], a[:, :-1], out=start[:, 1:])
    return np.maximum.accumulate(np.where(start, ar, 0), axis=1)


def _run_end(a: np.ndarray, ar: np.ndarray) -> np.ndarray:
    """Row-wise, for a row-sorted ``a``: 1 + index of the last element equal to each element
    (= number of elements <= it in the row)."""
    end = np.empty(a.shape, bool)
    end[:, -1:] = True
    np.not_equal(a[:, 1:], a[:, :-1], out=end[:, :-1])
    last = np.where(end, ar + 1, a.shape[1])
    return np.minimum.accumulate(last[:, ::-1], axis=1)[:, ::-1]


def _count_le(key: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """``#{j: key_j <= t}`` for each ``t`` in ``thr``, exactly."""
    if thr.size <= 16:
        return (key[None, :] <= thr[:, None]).sum(1)
    return np.searchsorted(np.sort(key), thr, side="right")


def per_query_cpu(q, g, g_term, alpha, gl, ql, table, slot, has_class, exclude_self,
                   chunk_size, workers: int = 1) -> PerQuery:
    """CPU implementation: blocks of queries in worker threads, NumPy after one GEMM per block.

    Per block, the exact keys ``key = g_term + alpha <q, g>`` (``dtype``, self = +inf) come from
    one GEMM; their float32 roundings are sorted per row (the only O(N log N) step; 32-bit sorts
    are ~2x cheaper than 64-bit ones). For each relevant item ``r`` (exact key ``k_r``, float32
    ``k32_r``), rounding is monotone, so ``#{key <= k_r} = #{key32 < k32_r}`` (one binary search
    in the sorted row) ``+ #{key32 == k32_r and key <= k_r}``; the last term is counted exactly
    among the relevant items unless a non-relevant item shares ``k32_r`` (rare), in which case the
    row is recounted with the exact keys. So the counts -- hence ranks and APs -- are those of the
    exact keys, ties included.

    ``workers`` threads process the blocks; each runs its GEMM single-threaded (the caller sets
    torch's intra-op threads to 1), which avoids per-op OpenMP barriers, whose cost is large on a
    loaded machine.

    Args:
        q, g, g_term, alpha, gl, ql, table, slot, has_class: the fields of
            :class:`~embcompat.metrics.retrieval_inputs.KernelInputs`.
        exclude_self: drop gallery item ``i`` from query ``i``'s ranking.
        chunk_size: queries per block; ``None`` keeps a block's buffers near 48 MB.
        workers: worker threads (at most ``os.cpu_count()`` and the number of blocks are used).

    Returns:
        :class:`~embcompat.metrics.retrieval_inputs.PerQuery` with tensors on the CPU.
    """
    n_q, n_g = q.shape[0], g.shape[0]
    rank = np.full(n_q, -1, dtype=np.int64)
    ap = np.full(n_q, np.nan, dtype=np.float64)
    valid = np.zeros(n_q, dtype=bool)
    p_max = table.shape[1]
    if n_q == 0 or n_g == 0 or p_max == 0:
        return PerQuery(torch.from_numpy(rank), torch.from_numpy(ap), torch.from_numpy(valid))
    qa = (q * alpha).contiguous()  # exact: alpha is -1 or -2
    g_t = g.contiguous().T
    gt = g_term.contiguous().numpy()
    glab, qlab = gl.numpy(), ql.numpy()
    tab, slot_np, has_np = table.numpy(), slot.numpy(), has_class.numpy()
    np_dtype = gt.dtype
    if chunk_size is None:
        per_row = n_g * (gt.itemsize + 4) + p_max * 64
        chunk_size = max(1, CPU_BLOCK_BYTES // per_row)
    chunk_size = min(int(chunk_size), n_q)
    blocks = [(s, min(n_q, s + chunk_size)) for s in range(0, n_q, chunk_size)]
    ar = np.arange(p_max)
    local = threading.local()

    def work(bounds: tuple[int, int]) -> None:
        i0, i1 = bounds
        b = i1 - i0
        bufs = getattr(local, "bufs", None)
        if bufs is None:
            if threading.current_thread() is not threading.main_thread():
                torch.set_num_threads(1)  # MKL's thread count is per OS thread
            bufs = local.bufs = (np.empty((chunk_size, n_g), np_dtype),
                                 np.empty((chunk_size, n_g), np.float32))
        dot, k32 = bufs[0][:b], bufs[1][:b]
        torch.mm(qa[i0:i1], g_t, out=torch.from_numpy(dot))  # alpha <q, g>
        rows = np.arange(i0, i1)
        if exclude_self:
            dot[rows - i0, rows] = np.inf
        with np.errstate(over="ignore"):
            np.add(dot, gt, out=k32)  # float32 rounding of the exact key dot + g_term
        rel = tab[slot_np[i0:i1]]  # (b, P) gallery indices of the query's class, -1 = padding
        ok = (rel >= 0) & has_np[i0:i1, None]
        if exclude_self:
            ok &= rel != rows[:, None]
        rel = np.maximum(rel, 0)
        r = np.take_along_axis(dot, rel, 1) + gt[rel]  # exact keys (same float op as above)
        r[~ok] = np.inf
        r.sort(axis=1)  # relevant keys ascending, padding (+inf) last
        n_rel = ok.sum(1)
        valid_m = ar[None, :] < n_rel[:, None]
        with np.errstate(over="ignore"):
            r32 = r.astype(np.float32)
        k32.sort(axis=1)
        lt = np.zeros((b, p_max), np.int64)  # #{key32 < r32_m}
        for k in range(b):
            m = n_rel[k]
            if m:
                lt[k, :m] = np.searchsorted(k32[k], r32[k, :m])
        rel_lt = _run_first(r32, ar)  # #{relevant: r32 < r32_m}
        band = _run_end(r32, ar) - rel_lt  # #{relevant: r32 == r32_m}
        cnt_rel = _run_end(r, ar)  # #{relevant: key <= r_m}, exact
        cnt_all = lt + (cnt_rel - rel_lt)  # #{all: key <= r_m}, exact unless ambiguous
        nxt = np.minimum(lt + band, n_g - 1)
        amb = (valid_m & (lt + band < n_g)
               & (np.take_along_axis(k32, nxt, 1) == r32))  # a non-relevant item shares r32_m
        amb_rows = np.flatnonzero(amb.any(1))
        keys = {}  # exact key rows, computed only where needed

        def key_row(k: int) -> np.ndarray:
            if k not in keys:
                keys[k] = dot[k] + gt
            return keys[k]

        for k in amb_rows:
            ms = np.flatnonzero(amb[k])
            cnt_all[k, ms] = _count_le(key_row(k), r[k, ms])
        # sklearn AP with tie groups: mean over relevant j of #rel(<= d_j) / #all(<= d_j)
        ratio = np.where(valid_m, cnt_rel / np.maximum(cnt_all, 1), 0.0)
        ap_b = ratio.sum(1) / np.maximum(n_rel, 1)
        # First match, stable tie order: items strictly closer, plus tied non-relevant items with
        # a smaller gallery index than the first tied relevant one. Exact = lt unless ambiguous.
        rank_b = lt[:, 0].copy()
        for k in amb_rows[amb[amb_rows, 0]]:
            d0 = r[k, 0]
            key = key_row(k)
            eq = key == d0
            is_rel = glab == qlab[i0 + k]
            tied_rel = np.flatnonzero(eq & is_rel)
            first_rel = tied_rel[0] if tied_rel.size else n_g
            rank_b[k] = int((key < d0).sum()) + int((eq[:first_rel] & ~is_rel[:first_rel]).sum())
        ok_q = n_rel > 0
        valid[i0:i1] = ok_q
        rank[i0:i1] = np.where(ok_q, rank_b, -1)
        ap[i0:i1] = np.where(ok_q, ap_b, np.nan)

    n_workers = max(1, min(workers, os.cpu_count() or 1, len(blocks)))
    if n_workers == 1:
        for bounds in blocks:
            work(bounds)
    else:  # the caller has set torch's intra-op threads to 1: one thread per GEMM
        with ThreadPoolExecutor(n_workers) as pool:
            list(pool.map(work, blocks))
    return PerQuery(torch.from_numpy(rank), torch.from_numpy(ap), torch.from_numpy(valid))
