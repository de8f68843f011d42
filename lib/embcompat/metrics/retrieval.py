"""Image-retrieval metrics of the FCT paper, CMC top-k and mAP: the public API and its protocol.

The official evaluation (apple/ml-fct ``utils/eval_utils.py::cmc_evaluate``) builds the full
``(n_query, n_gallery)`` distance matrix, arg-sorts it and loops over queries in Python: O(n^2)
work in Python (its time and memory at N = 10,000 are in ``benchmarks/results/retrieval.md``).
This module gives the same numbers (checked against the official output on
``fct_eval_N2000.npz``) with tensor ops over chunks of queries, on CPU or GPU, with bounded memory.

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
* **Kernels.** On the CPU, :mod:`embcompat.metrics.retrieval_cpu` (blocks of queries in worker
  threads, exact counts read off sorted float32 keys, no full argsort); elsewhere the chunked
  tensor ops of :mod:`embcompat.metrics.retrieval_torch`. Both get their inputs from
  :mod:`embcompat.metrics.retrieval_inputs`. Measured times and memory:
  ``benchmarks/results/retrieval.md``.
"""
from __future__ import annotations

from typing import Sequence

import torch

from embcompat.metrics.retrieval_cpu import per_query_cpu
from embcompat.metrics.retrieval_inputs import DISTANCES, PerQuery, check_options, kernel_inputs
from embcompat.metrics.retrieval_torch import per_query_torch

__all__ = ["DISTANCES", "PerQuery", "retrieval_metrics", "retrieval_per_query"]


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
    inputs = kernel_inputs(query, gallery, query_labels, gallery_labels, distance=distance,
                           exclude_self=exclude_self, device=device, dtype=dtype)
    if device.type == "cpu" and dtype in (torch.float32, torch.float64):
        return per_query_cpu(*inputs, exclude_self, chunk_size, workers)
    return per_query_torch(*inputs, exclude_self, chunk_size)


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
    check_options(distance, ks)
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
