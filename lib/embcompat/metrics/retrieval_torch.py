"""The chunked tensor-op retrieval kernel, used off the CPU (e.g. on CUDA).

Per chunk of queries one ``addmm`` gives the ranking keys; the relevant items' keys and the
float32-rounded keys of the whole row are sorted, and each relevant item's exact
``#{key <= its key}`` is read off by binary searches, with an exact recount where a non-relevant
item shares its float32 value. It computes what :mod:`embcompat.metrics.retrieval_cpu` computes on
the CPU (``tests/test_retrieval_fast.py`` checks that they agree); callers go through
:func:`embcompat.metrics.retrieval_per_query`.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from embcompat.metrics.retrieval_inputs import PerQuery

DEFAULT_CHUNK_BYTES = 64 * 2**20


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


def _pairs(mask: torch.Tensor, n_cols: int, budget: int = 2**24):
    """Yield ``(rows, cols)`` index batches of the True entries of ``mask``, each batch small
    enough that a ``(batch, n_cols)`` temporary stays under ``budget`` elements."""
    idx = mask.nonzero()
    step = max(1, budget // max(n_cols, 1))
    for i in range(0, idx.shape[0], step):
        yield idx[i:i + step, 0], idx[i:i + step, 1]


def per_query_torch(q, g, g_term, alpha, gl, ql, table, slot, has_class, exclude_self,
                    chunk_size) -> PerQuery:
    """First-match ranks and APs of all queries, in chunks of ``chunk_size`` queries.

    Args:
        q, g, g_term, alpha, gl, ql, table, slot, has_class: the fields of
            :class:`~embcompat.metrics.retrieval_inputs.KernelInputs`.
        exclude_self: drop gallery item ``i`` from query ``i``'s ranking.
        chunk_size: queries per chunk; ``None`` keeps a chunk's matrices near 64 MB.

    Returns:
        :class:`~embcompat.metrics.retrieval_inputs.PerQuery` with tensors on the CPU.
    """
    device, dtype = q.device, q.dtype
    n_q, n_g = q.shape[0], g.shape[0]
    if chunk_size is None:
        per_row = max(n_g, 1) * 8 * 3 + table.shape[1] * 8 * 6
        chunk_size = max(1, DEFAULT_CHUNK_BYTES // per_row)
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
