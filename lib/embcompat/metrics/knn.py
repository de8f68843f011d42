"""k-nearest-neighbour classification accuracy of features: how much class information an
unsupervised representation (the FCT SimCLR side-info) carries, the standard monitor of
self-supervised training (Wu et al. 2018; the SimCLR/MoCo kNN monitor).

Cosine similarity, the ``k`` nearest memory-bank items vote, each with weight 1 (majority; ties
go to the smallest class id). Vectorised in query blocks, so memory stays ``O(block x bank)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["knn_accuracy"]


def knn_accuracy(bank: torch.Tensor, bank_labels: torch.Tensor, query: torch.Tensor,
                 query_labels: torch.Tensor, k: int = 20, block: int = 1024) -> float:
    """Top-1 accuracy of a majority-vote kNN classifier on cosine similarity.

    Args:
        bank: ``(N, d)`` memory-bank features. bank_labels: ``(N,)`` int labels.
        query: ``(M, d)`` features to classify. query_labels: ``(M,)`` their true labels.
        k: neighbours that vote (at most ``N``).
        block: queries per similarity block.

    Returns:
        The fraction of queries whose vote equals their label, in ``[0, 1]``.

    Raises:
        ValueError: mismatched shapes, an empty bank or query set, or ``k < 1``.
    """
    if bank.ndim != 2 or query.ndim != 2 or bank.shape[1] != query.shape[1]:
        raise ValueError(f"knn_accuracy: bank {tuple(bank.shape)} and query {tuple(query.shape)} "
                         "must be (N, d) and (M, d)")
    if len(bank) != len(bank_labels) or len(query) != len(query_labels):
        raise ValueError("knn_accuracy: one label per bank row and per query row")
    if len(bank) == 0 or len(query) == 0 or k < 1:
        raise ValueError(f"knn_accuracy: need a non-empty bank and query set and k >= 1, got "
                         f"{len(bank)}, {len(query)}, k={k}")
    k = min(k, len(bank))
    b = F.normalize(bank.float(), dim=1)
    bl = bank_labels.long()
    classes = int(max(bl.max(), query_labels.max())) + 1
    correct = 0
    for s in range(0, len(query), block):
        q = F.normalize(query[s:s + block].float(), dim=1)
        idx = (q @ b.T).topk(k, dim=1).indices  # (m, k)
        votes = torch.zeros(len(q), classes).scatter_add_(
            1, bl[idx], torch.ones(idx.shape))
        correct += int((votes.argmax(1) == query_labels[s:s + block].long()).sum())
    return correct / len(query)
