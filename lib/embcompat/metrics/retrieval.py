"""Image-retrieval metrics of the FCT paper: CMC top-k and mAP, vectorised and chunked.

The official evaluation (apple/ml-fct ``utils/eval_utils.py::cmc_evaluate``) builds the full
``(n_query, n_gallery)`` distance matrix, arg-sorts it and loops over queries in Python; it is
O(n^2) in Python and took 51 s and 2.7 GB at N = 10,000 on our machines. This module gives the
same numbers (checked against the official output on ``fct_eval_N2000.npz``) with tensor ops over
chunks of queries, on CPU or GPU, with bounded memory.

Protocol (mirrors the official code; deviations are marked):

* **Self-match.** With ``exclude_self=True`` gallery item ``i`` is dropped from the ranking of
  query ``i``. The official code does this whenever the query and gallery label lists are equal,
  which is always the case in ``cmc_evaluate`` because both come from the same loader: so for the
  cross-model cases (new/old, new/h(old), ...) the query image's *own embedding in the other
  model's gallery* is removed too. We make the switch explicit instead of inferring it from labels.
* **Valid queries.** A query with no relevant gallery item (same label, self excluded) is skipped,
  in both the CMC and the mAP denominators, as in the official code.
* **CMC top-k** (``first_match_break=True``): a hit if any of the ``k`` nearest gallery items
  shares the query's label.
* **mAP**: the mean over valid queries of scikit-learn's ``average_precision_score(relevant,
  -distance)`` over the whole gallery (minus self). Scikit-learn groups tied scores: a tied block is
  entered all at once, so each relevant item's precision is ``#relevant with d <= d_j / #items with
  d <= d_j``. That is exactly what :func:`retrieval_per_query` computes, so ties give identical APs.
* **Tie rule for CMC** (deviation): items at equal distance are ordered by gallery index
  (a stable sort). The official code uses NumPy's default unstable ``argsort``, whose tie order is
  an implementation detail.
* **Distances** (deviation): ``"l2"`` ranks by the squared Euclidean distance and ``"cosine"`` by
  the true cosine distance ``1 - cos`` on L2-normalised vectors. Both are computed in float64 by
  default, so rankings are exact up to ~1e-13, whereas the official float32 ``torch.cdist`` can
  reorder pairs whose distances differ by ~1e-6. The official ``"cosine"`` L1-normalises the
  vectors, which is not a cosine distance; it is deliberately not reproduced. Ties are exact
  equality of the computed keys: exactly representable data (e.g. small integers) tie exactly, but
  two copies of one vector may differ by an ulp where BLAS tiles the matmul differently.
* **Speed** (CPU): per block of queries, one float64 GEMM gives the exact keys; their float32
  roundings are sorted per row (monotone rounding, 32-bit sorts are ~2x cheaper than 64-bit ones)
  and each relevant item's exact ``#{key <= its key}`` is read off by one binary search plus an
  exact count among the relevant items; the rare relevant items whose float32 value is shared by
  a non-relevant item are recounted with the exact keys. Blocks run in ``torch.get_num_threads()``
  worker threads (NumPy and single-threaded GEMMs, no per-op OpenMP barriers). No full argsort.
  At N = 10,000 (128-d) this takes ~1.5 s of CPU time (half GEMM, a third sort), so ~0.8 s wall
  on 2 free cores, and ~220 MB over the inputs (``benchmarks/results/retrieval.md``). Off the CPU
  the same counting is done with chunked tensor ops.
"""
from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

DISTANCES = ("l2", "cosine")
_DEFAULT_CHUNK_BYTES = 64 * 2**20
_CPU_BLOCK_BYTES = 48 * 2**20  # per worker thread (GEMMs of >= ~256 rows run ~25% faster)


@dataclass
class PerQuery:
    """Per-query retrieval results (see :func:`retrieval_per_query`).

    Attributes:
        first_match_rank: ``(n_query,)`` int64, 0-based rank of the first relevant gallery item
            (ties by gallery index); ``-1`` for invalid queries.
        average_precision: ``(n_query,)`` float64, scikit-learn-identical AP; NaN when invalid.
        valid: ``(n_query,)`` bool, the query has at least one relevant gallery item.
    """

    first_match_rank: torch.Tensor
    average_precision: torch.Tensor
    valid: torch.Tensor


def _sort_rows(key: torch.Tensor) -> torch.Tensor:
    """Row-wise ascending sort of values. On CPU NumPy's SIMD sort (threaded over rows) is several
    times faster than ``torch.sort``; on GPU ``torch.sort`` is used."""
    if key.device.type != "cpu":
        return torch.sort(key, dim=1).values
    arr = key.numpy()
    out = np.empty_like(arr)
    n_threads = max(1, min(torch.get_num_threads(), os.cpu_count() or 1, arr.shape[0]))
    bounds = np.linspace(0, arr.shape[0], n_threads + 1).astype(int)

    def work(i: int) -> None:
        out[bounds[i]:bounds[i + 1]] = np.sort(arr[bounds[i]:bounds[i + 1]], axis=1)

    if n_threads == 1:
        work(0)
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(work, range(n_threads)))
    return torch.from_numpy(out)


def _centre(q: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Subtract (nearly) the gallery mean from both sets: L2 distances are unchanged, but a large
    common offset would otherwise cost precision in ``|g|^2 - 2<q, g>``. The centre is rounded to a
    power-of-two grid near the feature spread so grid-valued data (e.g. integers) stay exact and
    their exact distance ties survive."""
    spread = float(g.std()) if g.numel() > 1 else 0.0
    if not math.isfinite(spread) or spread == 0.0:
        return q, g
    step = 2.0 ** math.floor(math.log2(spread))
    centre = torch.round(g.mean(0, keepdim=True) / step) * step
    return q - centre, g - centre


def _pairs(mask: torch.Tensor, n_cols: int, budget: int = 2**24):
    """Yield ``(rows, cols)`` index batches of the True entries of ``mask``, each batch small
    enough that a ``(batch, n_cols)`` temporary stays under ``budget`` elements."""
    idx = mask.nonzero()
    step = max(1, budget // max(n_cols, 1))
    for i in range(0, idx.shape[0], step):
        yield idx[i:i + step, 0], idx[i:i + step, 1]


def _class_table(gallery_labels: torch.Tensor):
    """Gallery indices grouped by label: ``(classes (C,), table (C, P_max) padded with -1)``."""
    order = torch.argsort(gallery_labels, stable=True)
    classes, counts = torch.unique_consecutive(gallery_labels[order], return_counts=True)
    p_max = int(counts.max()) if counts.numel() else 0
    starts = torch.cumsum(counts, 0) - counts
    col = torch.arange(p_max, device=order.device)
    pos = starts[:, None] + col[None, :]
    ok = col[None, :] < counts[:, None]
    table = torch.where(ok, order[pos.clamp(max=max(order.numel() - 1, 0))], -1)
    return classes, table


def _check_inputs(query, gallery, query_labels, gallery_labels, distance, ks):
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    if query.ndim != 2 or gallery.ndim != 2 or query.shape[1] != gallery.shape[1]:
        raise ValueError(f"query and gallery must be (n, d) with the same d; got "
                         f"{tuple(query.shape)} and {tuple(gallery.shape)}")
    if query_labels.shape != (query.shape[0],) or gallery_labels.shape != (gallery.shape[0],):
        raise ValueError("query_labels must be (n_query,) and gallery_labels (n_gallery,)")
    if any(int(k) < 1 for k in ks):
        raise ValueError(f"every k in ks must be >= 1, got {tuple(ks)}")
    if not (torch.isfinite(query).all() and torch.isfinite(gallery).all()):
        raise ValueError("query and gallery features must be finite (found NaN or inf)")


@torch.no_grad()
def retrieval_per_query(
    query: torch.Tensor,
    gallery: torch.Tensor,
    query_labels: torch.Tensor,
    gallery_labels: torch.Tensor,
    *,
    distance: str = "l2",
    exclude_self: bool = True,
    chunk_size: int | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float64,
) -> PerQuery:
    """First-match rank and average precision of every query.

    Args:
        query: ``(n_query, d)`` query features.
        gallery: ``(n_gallery, d)`` gallery features.
        query_labels: ``(n_query,)`` integer class labels.
        gallery_labels: ``(n_gallery,)`` integer class labels.
        distance: ``"l2"`` or ``"cosine"`` (true cosine distance, ``1 - cos``).
        exclude_self: drop gallery item ``i`` from query ``i``'s ranking (needs
            ``n_query == n_gallery``; row ``i`` of both must be the same image).
        chunk_size: queries per chunk (per work block on CPU); default keeps each chunk's
            matrices near 64 MB (48 MB per worker thread on CPU).
        device: where to compute; default the device of ``query``.
        dtype: compute precision; float64 (default) makes rankings exact up to ~1e-13.

    Returns:
        :class:`PerQuery` with tensors on the CPU.

    On the CPU, query blocks are processed by ``torch.get_num_threads()`` worker threads, and
    torch's intra-op thread count is set to 1 for the duration of the call (then restored).
    """
    device = torch.device(device) if device is not None else torch.as_tensor(query).device
    if device.type != "cpu":
        return _per_query(query, gallery, query_labels, gallery_labels, distance, exclude_self,
                          chunk_size, device, dtype, workers=1)
    # On the CPU the parallelism is over query blocks (worker threads); every tensor op here is
    # small, and intra-op threads would only add OpenMP barrier latency (milliseconds per op on a
    # loaded machine), so they are off for the duration of the call.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _per_query(query, gallery, query_labels, gallery_labels, distance, exclude_self,
                          chunk_size, device, dtype, workers=threads)
    finally:
        torch.set_num_threads(threads)


def _per_query(query, gallery, query_labels, gallery_labels, distance, exclude_self, chunk_size,
               device, dtype, workers) -> PerQuery:
    q = torch.as_tensor(query).to(device=device, dtype=dtype)
    g = torch.as_tensor(gallery).to(device=device, dtype=dtype)
    ql = torch.as_tensor(query_labels).to(device=device, dtype=torch.long)
    gl = torch.as_tensor(gallery_labels).to(device=device, dtype=torch.long)
    _check_inputs(q, g, ql, gl, distance, (1,))
    n_q, n_g = q.shape[0], g.shape[0]
    if exclude_self and n_q != n_g:
        raise ValueError(f"exclude_self=True needs as many queries as gallery items (row i of each "
                         f"the same image); got {n_q} and {n_g}. Pass exclude_self=False for "
                         f"disjoint query and gallery sets.")
    if distance == "cosine":
        q, g = F.normalize(q, dim=1), F.normalize(g, dim=1)
        g_term = torch.ones(n_g, device=device, dtype=dtype)  # key = 1 - <q, g>
    else:
        q, g = _centre(q, g)
        g_term = (g * g).sum(1)  # key = |g|^2 - 2<q, g>  (= d^2 - |q|^2: same order per query)
    alpha = -1.0 if distance == "cosine" else -2.0

    classes, table = _class_table(gl)
    slot = torch.searchsorted(classes, ql).clamp(max=max(classes.numel() - 1, 0))
    has_class = (classes[slot] == ql) if classes.numel() else torch.zeros_like(ql, dtype=torch.bool)
    if device.type == "cpu" and dtype in (torch.float32, torch.float64):
        return _per_query_cpu(q, g, g_term, alpha, gl, ql, table, slot, has_class,
                              exclude_self, chunk_size, workers)
    return _per_query_torch(q, g, g_term, alpha, gl, ql, table, slot, has_class,
                            exclude_self, chunk_size)


def _per_query_torch(q, g, g_term, alpha, gl, ql, table, slot, has_class, exclude_self,
                     chunk_size) -> PerQuery:
    """Chunked tensor-op implementation (used off the CPU, e.g. on CUDA)."""
    device, dtype = q.device, q.dtype
    n_q, n_g = q.shape[0], g.shape[0]
    if chunk_size is None:
        per_row = max(n_g, 1) * 8 * 3 + table.shape[1] * 8 * 6
        chunk_size = max(1, _DEFAULT_CHUNK_BYTES // per_row)
    ranks, aps, valids = [], [], []
    for s in range(0, n_q, chunk_size):
        e = min(n_q, s + chunk_size)
        rows = torch.arange(s, e, device=device)
        key = torch.addmm(g_term[None, :], q[s:e], g.T, beta=1.0, alpha=alpha)  # (B, n_g)
        if exclude_self:
            key[rows - s, rows] = math.inf
        rel = table[slot[s:e]]  # (B, P_max) gallery indices of the query's class, -1 = padding
        ok = (rel >= 0) & has_class[s:e, None]
        if exclude_self:
            ok &= rel != rows[:, None]
        r = key.gather(1, rel.clamp(min=0)).masked_fill(~ok, math.inf)
        r = _sort_rows(r.cpu()).to(device)  # relevant keys ascending, padding (+inf) last
        n_rel = ok.sum(1)
        valid_m = torch.arange(r.shape[1], device=device)[None, :] < n_rel[:, None]
        # Sorting 32-bit keys is ~2.5x cheaper than 64-bit ones. Rounding is monotone, so
        # key32 < r32 implies key < r: only items sharing r's float32 value (its "band") need the
        # exact key, and the band is almost always r's own tie group among the relevant items.
        srt = _sort_rows(key.float().cpu()).to(device)  # (B, n_g) ascending; self (+inf) last
        r32 = r.float()
        lt = torch.searchsorted(srt, r32)  # #{key32 < r32_m}
        le = torch.searchsorted(srt, r32, right=True)
        rel_lt = torch.searchsorted(r32, r32)
        rel_le32 = torch.searchsorted(r32, r32, right=True)
        cnt_rel = torch.searchsorted(r, r, right=True)  # #{relevant: key <= r_m}, exact
        cnt_all = lt + (cnt_rel - rel_lt)  # #{all: key <= r_m}, exact unless ambiguous
        amb = (le - lt > rel_le32 - rel_lt) & valid_m  # a non-relevant item shares the band
        for b, m in _pairs(amb, n_g):
            cnt_all[b, m] = (key[b] <= r[b, m, None]).sum(1)
        # sklearn AP with tie groups: mean over relevant j of #rel(<= d_j) / #all(<= d_j)
        ratio = cnt_rel.to(dtype) / cnt_all.clamp(min=1).to(dtype)
        ap = torch.where(valid_m, ratio, 0).sum(1) / n_rel.clamp(min=1)
        # First match, stable tie order: items strictly closer, plus tied non-relevant items with
        # a smaller gallery index than the first tied relevant one. Exact = lt unless ambiguous.
        rank = lt[:, 0].clone()
        fix = amb[:, 0].nonzero().squeeze(1)
        if fix.numel():
            k_fix, d_first = key[fix], r[fix, :1]
            eq = k_fix == d_first
            is_rel = gl[None, :] == ql[s + fix, None]
            idx = torch.arange(n_g, device=device)[None, :]
            first_rel = torch.where(eq & is_rel, idx, n_g).min(1).values
            rank[fix] = ((k_fix < d_first).sum(1)
                         + (eq & ~is_rel & (idx < first_rel[:, None])).sum(1))
        valid = n_rel > 0
        ranks.append(torch.where(valid, rank, -1).cpu())
        aps.append(torch.where(valid, ap.double(), math.nan).cpu())
        valids.append(valid.cpu())
    empty = torch.empty(0)
    return PerQuery(
        first_match_rank=torch.cat(ranks) if ranks else empty.long(),
        average_precision=torch.cat(aps) if aps else empty.double(),
        valid=torch.cat(valids) if valids else empty.bool(),
    )


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


def _per_query_cpu(q, g, g_term, alpha, gl, ql, table, slot, has_class, exclude_self,
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
        chunk_size = max(1, _CPU_BLOCK_BYTES // per_row)
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


def retrieval_metrics(
    query: torch.Tensor,
    gallery: torch.Tensor,
    query_labels: torch.Tensor,
    gallery_labels: torch.Tensor,
    *,
    ks: Sequence[int] = (1, 5),
    distance: str = "l2",
    exclude_self: bool = True,
    chunk_size: int | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float64,
) -> dict[str, float]:
    """CMC top-k and mAP of a query set against a gallery (FCT paper protocol).

    Example (query = gallery, the official setting)::

        m = retrieval_metrics(feats, feats, labels, labels)  # {'top1': .., 'top5': .., 'mAP': ..}

    Cross-model cases pass the two models' features of the *same* images, e.g. new/old:
    ``retrieval_metrics(new_feats, old_feats, labels, labels)``; ``exclude_self`` then drops each
    query image's own old embedding, as the official code does.

    Args:
        query: ``(n_query, d)``.
        gallery: ``(n_gallery, d)``.
        query_labels: ``(n_query,)``.
        gallery_labels: ``(n_gallery,)``.
        ks: CMC cut-offs; the result has a key ``f"top{k}"`` for each.
        distance: ``"l2"`` or ``"cosine"``.
        exclude_self: see :func:`retrieval_per_query`.
        chunk_size, device, dtype: see :func:`retrieval_per_query`.

    Returns:
        ``{"top1": float, "top5": float, "mAP": float, "num_valid_queries": int}`` (fractions in
        [0, 1]); averages run over valid queries only.

    Raises:
        ValueError: on a bad ``distance``/``ks``/shape, or when no query is valid.
    """
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    if any(int(k) < 1 for k in ks):
        raise ValueError(f"every k in ks must be >= 1, got {tuple(ks)}")
    pq = retrieval_per_query(query, gallery, query_labels, gallery_labels, distance=distance,
                             exclude_self=exclude_self, chunk_size=chunk_size, device=device,
                             dtype=dtype)
    n_valid = int(pq.valid.sum())
    if n_valid == 0:
        raise ValueError("no valid query: no query has a relevant gallery item (same label, "
                         "self excluded)")
    rank = pq.first_match_rank[pq.valid]
    out: dict[str, float] = {f"top{int(k)}": float((rank < int(k)).double().mean()) for k in ks}
    out["mAP"] = float(pq.average_precision[pq.valid].mean())
    out["num_valid_queries"] = n_valid
    return out
