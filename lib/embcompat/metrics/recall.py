"""Recall@K for link prediction on the evolving user-item graph (the BC paper's intended task).

Protocol of the official code (snap-stanford/bc-emb ``recsys/evaluate.py::RecallEvaluator``):

* **Users scored**: every user with at least one edge in the evaluation window.
* **Items ranked**: every item id ``< num_items_ranked`` (all items present at ``t_{k+1}``).
* **Score**: the dot product ``<z_user, z_item>``.
* **Masking**: every *training* edge of the user is removed from the ranking (the official code
  sets those scores to ``-1024``; we use ``-inf``).
* **Ground truth**: the *distinct* items of the user in the window. The official code builds a
  SciPy CSR matrix from the edges and takes its non-zero columns, so duplicate edges count once.
  An eval item that is also a training item stays in the denominator but is masked, so it can
  never be a hit (a repeat purchase is unrecoverable by design).
* **Recall of a user**: hits in the top K / number of distinct ground-truth items; the reported
  value is the plain mean over scored users (``np.average`` of the concatenated per-user values).

Deviations, documented:

* **Tie rule**: items are ranked by score descending, then by item id ascending. The official
  code uses ``torch.topk``, whose order among equal scores is unspecified.
* **Masked items are never hits.** When a user has fewer than K unmasked items, the official top-K
  is padded with masked items (score ``-1024``) in arbitrary order, and such a masked item counts as
  a hit if it is also in the window. Here masked items are out of the ranking altogether.
"""
from __future__ import annotations

from typing import Sequence

import torch

_DEFAULT_CHUNK_BYTES = 256 * 2**20


def _as_edges(edges: torch.Tensor | None, name: str, device: torch.device) -> torch.Tensor:
    if edges is None:
        return torch.empty(2, 0, dtype=torch.long, device=device)
    e = torch.as_tensor(edges).to(device=device, dtype=torch.long)
    if e.ndim != 2 or e.shape[0] != 2:
        raise ValueError(f"{name} must be a (2, num_edges) tensor of (user, item) ids; "
                         f"got shape {tuple(e.shape)}")
    return e


def _check_ids(e: torch.Tensor, name: str, num_users: int, num_items: int) -> None:
    if e.numel() == 0:
        return
    if int(e[0].min()) < 0 or int(e[0].max()) >= num_users:
        raise ValueError(f"{name} has user ids outside [0, {num_users}) (rows of user_emb)")
    if int(e[1].min()) < 0 or int(e[1].max()) >= num_items:
        raise ValueError(f"{name} has item ids outside [0, num_items_ranked={num_items}); every "
                         f"ranked item must have an embedding and every edge a ranked item")


@torch.no_grad()
def recall_per_user(
    user_emb: torch.Tensor,
    item_emb: torch.Tensor,
    eval_edges: torch.Tensor,
    train_edges: torch.Tensor | None = None,
    *,
    num_items_ranked: int | None = None,
    ks: Sequence[int] = (10, 20, 50, 100),
    chunk_size: int | None = None,
    device: str | torch.device | None = None,
) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """Recall@K of every user that has an edge in the evaluation window.

    Args:
        user_emb: ``(num_users, d)`` user embeddings.
        item_emb: ``(num_items, d)`` item embeddings (``num_items >= num_items_ranked``).
        eval_edges: ``(2, E_eval)`` (user, item) ids of the evaluation window; duplicates allowed.
        train_edges: ``(2, E_train)`` training (user, item) ids, all masked; ``None`` for none.
        num_items_ranked: rank items ``0 .. num_items_ranked - 1``; default all rows of
            ``item_emb``.
        ks: the cut-offs K.
        chunk_size: users per chunk; default keeps a chunk's score matrix near 256 MB.
        device: where to compute; default the device of ``user_emb``.

    Returns:
        ``(users, recall)``: ``users`` ``(U,)`` the scored user ids, ascending; ``recall[K]``
        ``(U,)`` float64, on the CPU.
    """
    dev = torch.device(device) if device is not None else user_emb.device
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    u_emb = torch.as_tensor(user_emb).to(dev)
    i_emb = torch.as_tensor(item_emb).to(dev)
    if u_emb.ndim != 2 or i_emb.ndim != 2 or u_emb.shape[1] != i_emb.shape[1]:
        raise ValueError(f"user_emb and item_emb must be (n, d) with the same d; got "
                         f"{tuple(u_emb.shape)} and {tuple(i_emb.shape)}")
    n_users = u_emb.shape[0]
    n_items = i_emb.shape[0] if num_items_ranked is None else int(num_items_ranked)
    if not 0 < n_items <= i_emb.shape[0]:
        raise ValueError(f"num_items_ranked must be in [1, {i_emb.shape[0]}] (rows of item_emb), "
                         f"got {num_items_ranked}")
    if not (torch.isfinite(u_emb).all() and torch.isfinite(i_emb).all()):
        raise ValueError("user_emb and item_emb must be finite (found NaN or inf)")
    ev = _as_edges(eval_edges, "eval_edges", dev)
    tr = _as_edges(train_edges, "train_edges", dev)
    _check_ids(ev, "eval_edges", n_users, n_items)
    _check_ids(tr, "train_edges", n_users, n_items)
    i_emb = i_emb[:n_items]

    # distinct ground-truth pairs, sorted by (user, item)
    pair = torch.unique(ev[0] * n_items + ev[1])
    gt_user, gt_item = pair // n_items, pair % n_items
    users, gt_count = torch.unique_consecutive(gt_user, return_counts=True)
    lookup = torch.full((n_users,), -1, dtype=torch.long, device=dev)
    lookup[users] = torch.arange(users.numel(), device=dev)
    gt_pos = lookup[gt_user]
    tr_pos = lookup[tr[0]]
    keep = tr_pos >= 0
    tr_pos, tr_item = tr_pos[keep], tr[1][keep]
    order = torch.argsort(tr_pos)
    tr_pos, tr_item = tr_pos[order], tr_item[order]

    top = min(ks[-1] + 1, n_items)  # +1 so a tie straddling the K_max boundary is always seen
    if chunk_size is None:
        chunk_size = max(1, _DEFAULT_CHUNK_BYTES // (n_items * i_emb.element_size() * 2))
    hits = torch.zeros(len(ks), users.numel(), dtype=torch.float64, device=dev)
    idx = torch.arange(n_items, device=dev)
    for s in range(0, users.numel(), chunk_size):
        e = min(users.numel(), s + chunk_size)
        scores = u_emb[users[s:e]] @ i_emb.T  # (B, n_items)
        a, b = torch.searchsorted(tr_pos, torch.tensor([s, e], device=dev)).tolist()
        scores[tr_pos[a:b] - s, tr_item[a:b]] = float("-inf")
        a, b = torch.searchsorted(gt_pos, torch.tensor([s, e], device=dev)).tolist()
        row, item = gt_pos[a:b] - s, gt_item[a:b]
        gs = scores[row, item]  # (E_c,) score of each ground-truth item
        best = torch.topk(scores, top, dim=1).values[row]  # (E_c, top), descending
        rank = (best > gs[:, None]).sum(1)  # exact whenever it is < top
        tied = (best == gs[:, None]).sum(1) > 1
        fix = (tied & (gs > float("-inf"))).nonzero().squeeze(1)
        if fix.numel():  # exact tie order: equal scores with a smaller item id come first
            same = scores[row[fix]] == gs[fix, None]
            rank[fix] += (same & (idx[None, :] < item[fix, None])).sum(1)
        ranked = gs > float("-inf")
        for j, k in enumerate(ks):
            hit = (ranked & (rank < k)).double()
            hits[j].index_add_(0, row + s, hit)
    recall = {k: (hits[j] / gt_count).cpu() for j, k in enumerate(ks)}
    return users.cpu(), recall


def recall_at_k(
    user_emb: torch.Tensor,
    item_emb: torch.Tensor,
    eval_edges: torch.Tensor,
    train_edges: torch.Tensor | None = None,
    *,
    num_items_ranked: int | None = None,
    ks: Sequence[int] = (10, 20, 50, 100),
    chunk_size: int | None = None,
    device: str | torch.device | None = None,
) -> dict[int, float]:
    """Mean Recall@K over the users with an edge in the evaluation window (BC paper protocol).

    Example::

        r = recall_at_k(z_user, z_item, val_edges, train_edges, num_items_ranked=n_items_next)
        r[50]  # the paper's main number (as a fraction; the paper prints it x 100)

    Args: see :func:`recall_per_user`.

    Returns:
        ``{K: mean recall}`` for each K in ``ks``.

    Raises:
        ValueError: on bad shapes, ids out of range, or an empty evaluation window.
    """
    users, rec = recall_per_user(user_emb, item_emb, eval_edges, train_edges,
                                 num_items_ranked=num_items_ranked, ks=ks,
                                 chunk_size=chunk_size, device=device)
    if users.numel() == 0:
        raise ValueError("eval_edges is empty: no user to score")
    return {k: float(v.mean()) for k, v in rec.items()}
