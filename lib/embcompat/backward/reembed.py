"""Embeddings of the full BC compatibility matrix: the true ``z_j`` of any version, and what a
method hands a consumer ``C_j`` at a later version ``k``.

* **True ver-j embeddings at version k**, ``M_j(G_k)``: the method's version-``j`` model applied to
  version ``k``'s graph (every user and item present at ``t_{k+1}``). :class:`TrueEmbeddings`
  memoises them by ``(model_key, k)``, seeded with every record's own ``z_k = M_k(G_k)`` (and
  Fix-M0's ``M_0(G_k)``), so only the missing ones run a forward pass. ``C_j`` trains on them and
  they are its reference (the Keep-All of row ``j``: every model kept).
* **What the method hands ``C_j`` at version k** (:func:`fed_embeddings`), generalising
  :mod:`embcompat.backward.methods`' ``z~_0`` to target ``j`` from the method's attributes, never
  its name:

  - a backward chain (``method.has_backward``): ``B_{j+1} o ... o B_k (z_k)``, each ``B`` applied
    in turn (:func:`~embcompat.models.transforms.compose`; a matrix or any ``nn.Module``, so a
    nonlinear ``B`` works too);
  - ``fixed`` (Fix-M0): its ``z_k = M_0(G_k)``;
  - ``derived`` (Keep-All): the true ``z_j``, ``M_j(G_k)`` of its models (Non-BC's);
  - otherwise (Non-BC, Finetune-M0): ``z_k`` itself; the consumer keeps its first ``d_j`` columns
    (the official cut, :func:`~embcompat.backward.consumers.evaluate_consumers`).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import Tensor

from embcompat.backward.epoch import embed
from embcompat.backward.results import VersionRecord, VersionsResult
from embcompat.data.graphs import InteractionGraph
from embcompat.data.splits import VersionSplit
from embcompat.models.gnn import PinSAGE, VersionGraph
from embcompat.models.mlp_backward import as_backward  # an MLP B_k is stored as a state dict
from embcompat.models.transforms import compose
from embcompat.utils import resolve_device

__all__ = ["TrueEmbeddings", "fed_embeddings", "check_versions"]

Pair = tuple[Tensor, Tensor]


def check_versions(n: int, j: int, k: int) -> None:
    """Raise ``ValueError`` unless ``0 <= j <= k < n`` (ints)."""
    for name, v in (("consumer version j", j), ("embedding version k", k)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{name} must be an int, got {v!r}")
    if not 0 <= j <= k < n:
        raise ValueError(f"need 0 <= j <= k < {n} (versions 0..{n - 1}, embeddings no older than "
                         f"the consumer), got j={j}, k={k}")


class TrueEmbeddings:
    """``M(G_k)`` for the model ``M`` of any version record, memoised by ``(model_key, k)``.

    Args:
        graph, splits: the data set and its version splits (the results' own).
        results: ``method -> VersionsResult``; every record's ``z_k`` seeds the memo and every
            record holding a state dict can be re-run.
        device: where forward passes run (results come back on the CPU).
    """

    def __init__(self, graph: InteractionGraph, splits: Sequence[VersionSplit],
                 results: Mapping[str, VersionsResult], device: str | torch.device = "auto"):
        self.graph, self.splits = graph, list(splits)
        self.device = resolve_device(device)
        self._memo: dict[tuple[str, int], Pair] = {}
        self._models: dict[str, VersionRecord] = {}
        self.forward_passes = 0  # M_j(G_k) computed here (for logs and tests)
        for r in results.values():
            if len(r) != len(self.splits):
                raise ValueError(f"{r.method.name} has {len(r)} versions, the data {len(splits)}")
            for v in r.versions:
                self._memo.setdefault((v.model_key, v.k), (v.z_user, v.z_item))
                if v.state is not None:
                    self._models.setdefault(v.model_key, v)

    def _graph(self, k: int) -> VersionGraph:
        s, g = self.splits[k], self.graph
        return VersionGraph.build(g.user[s.train_idx], g.item[s.train_idx], s.num_users,
                                  s.num_items, g.item_brand, g.item_category_ptr,
                                  g.item_category, device=self.device)

    @torch.no_grad()
    def __call__(self, record: VersionRecord, k: int) -> Pair:
        """``(users, items)`` of ``record``'s model on ``G_k``: ``(U_k, d_j)``, ``(I_k, d_j)``.

        Raises:
            ValueError: ``k`` is not a version, or no result holds the model's weights.
        """
        check_versions(len(self.splits), 0, k)
        key = (record.model_key, k)
        if key not in self._memo:
            src = self._models.get(record.model_key)
            if src is None:
                raise ValueError(f"no version record holds the weights of model {record.model_key} "
                                 f"(version {record.k}); pass the result that trained it "
                                 "(Non-BC for the post-hoc methods)")
            model = PinSAGE(self.graph.num_brands, self.graph.num_categories, src.dim, src.layers)
            model.load_state_dict(src.state)
            zu, zi = embed(model.to(self.device), self._graph(k))
            self._memo[key] = (zu.cpu(), zi.cpu())
            self.forward_passes += 1
        return self._memo[key]


def fed_embeddings(result: VersionsResult, j: int, k: int, true: TrueEmbeddings) -> Pair:
    """What ``result``'s method hands the consumer ``C_j`` at version ``k`` (module docstring).

    Returns:
        ``(users, items)`` with ``d_j`` columns, or ``d_k >= d_j`` (Non-BC, cut by the consumer).

    Raises:
        ValueError: bad versions, or a method with a backward chain that lacks a ``B``.
    """
    check_versions(len(result), j, k)
    m, rec = result.method, result[k]
    if m.kind == "derived":
        return true(result[j], k)
    if m.kind == "fixed":
        return rec.z_user, rec.z_item
    if m.has_backward:
        Bs = [None if result[i].B is None else as_backward(result[i].B, result[i].B_kind)
              for i in range(j + 1, k + 1)]
        if any(B is None for B in Bs):
            raise ValueError(f"{m.name}: a version in {j + 1}..{k} has no backward transformation")
        with torch.no_grad():
            return compose(Bs, rec.z_user), compose(Bs, rec.z_item)
    return rec.z_user, rec.z_item
