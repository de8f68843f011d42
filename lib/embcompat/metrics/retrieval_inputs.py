"""The inputs and the output the two retrieval kernels share: checks, ranking keys, class table.

:func:`kernel_inputs` checks the features and labels, turns them into ranking keys and groups the
gallery by label; the CPU kernel (:mod:`embcompat.metrics.retrieval_cpu`) and the chunked
tensor-op kernel (:mod:`embcompat.metrics.retrieval_torch`) take these and return a
:class:`PerQuery`. Callers go through :func:`embcompat.metrics.retrieval_per_query`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F

DISTANCES = ("l2", "cosine")


@dataclass
class PerQuery:
    """Per-query retrieval results (see :func:`embcompat.metrics.retrieval_per_query`).

    Attributes:
        first_match_rank: ``(n_query,)`` int64, 0-based rank of the first relevant gallery item
            (ties by gallery index); ``-1`` for invalid queries.
        average_precision: ``(n_query,)`` float64, scikit-learn-identical AP; NaN when invalid.
        valid: ``(n_query,)`` bool, the query has at least one relevant gallery item.
    """

    first_match_rank: torch.Tensor
    average_precision: torch.Tensor
    valid: torch.Tensor


def check_options(distance: str, ks: Sequence[int]) -> None:
    """Raise ``ValueError`` unless ``distance`` is one of :data:`DISTANCES` and every ``k >= 1``."""
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    if any(int(k) < 1 for k in ks):
        raise ValueError(f"every k in ks must be >= 1, got {tuple(ks)}")


def check_inputs(query, gallery, query_labels, gallery_labels, distance: str) -> None:
    """Raise ``ValueError`` on a bad ``distance``, bad shapes, or non-finite features."""
    check_options(distance, ())
    if query.ndim != 2 or gallery.ndim != 2 or query.shape[1] != gallery.shape[1]:
        raise ValueError(f"query and gallery must be (n, d) with the same d; got "
                         f"{tuple(query.shape)} and {tuple(gallery.shape)}")
    if query_labels.shape != (query.shape[0],) or gallery_labels.shape != (gallery.shape[0],):
        raise ValueError("query_labels must be (n_query,) and gallery_labels (n_gallery,)")
    if not (torch.isfinite(query).all() and torch.isfinite(gallery).all()):
        raise ValueError("query and gallery features must be finite (found NaN or inf)")


def centre(q: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Subtract (nearly) the gallery mean from both sets: L2 distances are unchanged, but a large
    common offset would otherwise cost precision in ``|g|^2 - 2<q, g>``. The centre is rounded to a
    power-of-two grid near the feature spread so grid-valued data (e.g. integers) stay exact and
    their exact distance ties survive."""
    spread = float(g.std()) if g.numel() > 1 else 0.0
    if not math.isfinite(spread) or spread == 0.0:
        return q, g
    step = 2.0 ** math.floor(math.log2(spread))
    mean = torch.round(g.mean(0, keepdim=True) / step) * step
    return q - mean, g - mean


def class_table(gallery_labels: torch.Tensor):
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


class KernelInputs(NamedTuple):
    """The kernels' leading arguments; the ranking key of (query i, gallery j) is
    ``g_term[j] + alpha * <q[i], g[j]>``, ascending = nearer.

    Attributes:
        q: ``(n_query, d)`` query features, L2-normalised (cosine) or centred (L2).
        g: ``(n_gallery, d)`` gallery features, likewise.
        g_term: ``(n_gallery,)`` ones (cosine) or ``|g_j|^2`` (L2).
        alpha: ``-1.0`` (cosine) or ``-2.0`` (L2).
        gl: ``(n_gallery,)`` int64 gallery labels.
        ql: ``(n_query,)`` int64 query labels.
        table: ``(C, P_max)`` gallery indices per class, ``-1`` padding (:func:`class_table`).
        slot: ``(n_query,)`` row of ``table`` of each query's label.
        has_class: ``(n_query,)`` bool, the query's label occurs in the gallery.
    """

    q: torch.Tensor
    g: torch.Tensor
    g_term: torch.Tensor
    alpha: float
    gl: torch.Tensor
    ql: torch.Tensor
    table: torch.Tensor
    slot: torch.Tensor
    has_class: torch.Tensor


def kernel_inputs(query, gallery, query_labels, gallery_labels, *, distance: str,
                  exclude_self: bool, device: torch.device, dtype: torch.dtype) -> KernelInputs:
    """Check features and labels and turn them into :class:`KernelInputs` on ``device``.

    Raises:
        ValueError: bad ``distance``, shapes or non-finite features, or ``exclude_self`` with
            different numbers of queries and gallery items.
    """
    q = torch.as_tensor(query).to(device=device, dtype=dtype)
    g = torch.as_tensor(gallery).to(device=device, dtype=dtype)
    ql = torch.as_tensor(query_labels).to(device=device, dtype=torch.long)
    gl = torch.as_tensor(gallery_labels).to(device=device, dtype=torch.long)
    check_inputs(q, g, ql, gl, distance)
    n_q, n_g = q.shape[0], g.shape[0]
    if exclude_self and n_q != n_g:
        raise ValueError(f"exclude_self=True needs as many queries as gallery items (row i of each "
                         f"the same image); got {n_q} and {n_g}. Pass exclude_self=False for "
                         f"disjoint query and gallery sets.")
    if distance == "cosine":
        q, g = F.normalize(q, dim=1), F.normalize(g, dim=1)
        g_term = torch.ones(n_g, device=device, dtype=dtype)  # key = 1 - <q, g>
    else:
        q, g = centre(q, g)
        g_term = (g * g).sum(1)  # key = |g|^2 - 2<q, g>  (= d^2 - |q|^2: same order per query)
    alpha = -1.0 if distance == "cosine" else -2.0
    classes, table = class_table(gl)
    slot = torch.searchsorted(classes, ql).clamp(max=max(classes.numel() - 1, 0))
    has_class = (classes[slot] == ql) if classes.numel() else torch.zeros_like(ql, dtype=torch.bool)
    return KernelInputs(q, g, g_term, alpha, gl, ql, table, slot, has_class)
