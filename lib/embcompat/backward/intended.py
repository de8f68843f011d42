"""The intended task of a version: Recall@K on its evaluation window (official ``RecallEvaluator``).

Version ``k`` is scored on the edges of ``(t_k, t_{k+1}]`` that :func:`embcompat.data.version_splits`
put in evaluation; every item present at ``t_{k+1}`` is ranked and every training edge of version
``k`` is masked (see :mod:`embcompat.metrics.recall`). With ``heldout_test`` the window's users are
split into a validation half (model selection) and a test half (reported); without it, as in the
official code, the same window selects and reports.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from embcompat.data.graphs import InteractionGraph
from embcompat.data.splits import VersionSplit
from embcompat.metrics.recall import recall_at_k

__all__ = ["VersionEvaluator", "evaluate_version", "evaluation_sizes", "WHICH"]

WHICH = ("eval", "val", "test")


def _edges(graph: InteractionGraph, idx: Tensor, device) -> Tensor:
    idx = idx.to(graph.user.device)
    return torch.stack([graph.user[idx], graph.item[idx]]).to(device)


class VersionEvaluator:
    """Recall@K of embeddings of one version, with its edge sets prepared once.

    Args:
        graph: the whole graph.
        split: the version's split.
        heldout_test: select on ``split.val_idx`` and report ``split.test_idx``.
        ks: Recall@K cut-offs.
        device: where the ranking runs.

    Raises:
        ValueError: ``heldout_test`` on a split made without ``heldout_test=True``.
    """

    def __init__(self, graph: InteractionGraph, split: VersionSplit, *, heldout_test: bool = False,
                 ks: Sequence[int] = (10, 20, 50, 100), device: str | torch.device = "cpu") -> None:
        if heldout_test and split.val_idx is None:
            raise ValueError("heldout_test=True needs splits made with "
                             "version_splits(graph, heldout_test=True)")
        self.ks = tuple(ks)
        self.num_items = split.num_items
        self.num_users = split.num_users
        self.heldout_test = heldout_test
        self.train_edges = _edges(graph, split.train_idx, device)  # (2, E_train)
        self._sets = {"eval": _edges(graph, split.eval_idx, device)}
        if split.val_idx is not None:
            self._sets["val"] = _edges(graph, split.val_idx, device)
            self._sets["test"] = _edges(graph, split.test_idx, device)

    @property
    def selection_split(self) -> str:
        """``"val"`` with a held-out test, else ``"eval"`` (official)."""
        return "val" if self.heldout_test else "eval"

    @property
    def report_split(self) -> str:
        """``"test"`` with a held-out test, else ``"eval"`` (official)."""
        return "test" if self.heldout_test else "eval"

    def edges(self, which: str) -> Tensor:
        """The ``(2, E)`` (user, item) edges of ``which`` in :data:`WHICH`."""
        if which not in self._sets:
            raise ValueError(f"which must be one of {tuple(self._sets)}, got {which!r}")
        return self._sets[which]

    @torch.no_grad()
    def __call__(self, user_emb: Tensor, item_emb: Tensor, which: str | None = None) -> dict[int, float]:
        """Mean Recall@K.

        Args:
            user_emb: ``(num_users, d)``, rows = users present at ``t_{k+1}``.
            item_emb: ``(num_items, d)``, rows = items present at ``t_{k+1}``.
            which: ``"eval"``, ``"val"`` or ``"test"``; default the selection split.

        Returns:
            ``{K: recall}`` as fractions.
        """
        which = which or self.selection_split
        return recall_at_k(user_emb, item_emb, self.edges(which), self.train_edges,
                           num_items_ranked=self.num_items, ks=self.ks)


def evaluate_version(user_emb: Tensor, item_emb: Tensor, graph: InteractionGraph,
                     split: VersionSplit, *, which: str = "eval",
                     ks: Sequence[int] = (10, 20, 50, 100)) -> dict[int, float]:
    """One-off Recall@K of a version's embeddings on ``which`` of its window (see the class)."""
    ev = VersionEvaluator(graph, split, heldout_test=which != "eval", ks=ks,
                          device=user_emb.device)
    return ev(user_emb, item_emb, which)


def evaluation_sizes(graph: InteractionGraph, splits: Sequence[VersionSplit]) -> list[dict]:
    """How much each version's intended-task evaluation rests on: per version and split
    (``eval``, and ``val`` / ``test`` where the splits hold them), the distinct users and the
    edges scored. A Recall@50 over a few dozen users moves in steps of a few points.

    Returns:
        One dict per (version, split): ``version, split, users, edges``.
    """
    rows = []
    for s in splits:
        for which, idx in (("eval", s.eval_idx), ("val", s.val_idx), ("test", s.test_idx)):
            if idx is None:
                continue
            users = graph.user[idx.to(graph.user.device)]
            rows.append({"version": s.k, "split": which, "users": int(torch.unique(users).numel()),
                         "edges": int(idx.numel())})
    return rows
