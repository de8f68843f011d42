"""Post-hoc fitting of a backward transformation on frozen embeddings (Post-Lin-SLoss / -MLoss).

Protocol of the official code (``embgen_strategy/posthoc_sloss.py`` and ``posthoc_mloss.py``),
which this module follows:

* ``M_k`` is trained alone (Non-BC); then ``B_k = nn.Linear(d_k, d_{k-1}, bias=False)`` (default
  init) is fitted with Adam, lr 1e-3, for 200 epochs on the frozen ``z_k`` and ``z_{k-1}``.
* **Batches** are the BPR training triples of version k: each epoch draws ``E`` (= number of
  training edges) edges *with replacement*, users weighted by ``1 / degree`` (so users are
  sampled about uniformly), a uniform negative item per edge with observed (user, item) pairs
  rejected, shuffled, in batches of 2048 triples. The loss of a batch sums the terms of its users,
  positive items and negative items. Pass ``edges=`` to get exactly this; without edges every row
  of ``z`` (users and items pooled) is visited once per epoch in a random order, as one group.
* **Selection**: every ``eval_every`` epochs (official: 10) the *single-step* MSE is measured on
  *all* users and *all* items, ``0.5 * (MSE_users + MSE_items)`` (for a single tensor, the MSE of
  all rows), also for the multi-step variant; the best ``B`` among epochs ``> select_after``
  (official: ``epoch > 50``) is kept.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Iterator, Sequence, Union

import torch
from torch import Tensor

from embcompat.losses.alignment import multi_step_alignment_loss, single_step_alignment_loss
from embcompat.models.transforms import BackwardLike, LinearBackward
from embcompat.backward.sampling import BPRSampler

__all__ = ["PosthocResult", "posthoc_fit_backward"]

Embs = Union[Tensor, Sequence[Tensor]]


@dataclass
class PosthocResult:
    """What :func:`posthoc_fit_backward` returns.

    Attributes:
        B: the selected :class:`LinearBackward` ``(d_{k-1}, d_k)``, in eval mode, requires_grad off.
        train_loss: per-epoch mean minibatch training loss, length ``epochs``.
        eval_mse: per-epoch selection MSE on all rows (``nan`` on epochs not evaluated).
        best_epoch: the 1-based epoch of the selected ``B``.
        best_mse: its selection MSE.
    """

    B: LinearBackward
    train_loss: list[float] = field(default_factory=list)
    eval_mse: list[float] = field(default_factory=list)
    best_epoch: int = -1
    best_mse: float = math.inf


def _epoch_batches(
    n_rows: Sequence[int], sampler: BPRSampler | None, batch_size: int, generator: torch.Generator
) -> Iterator[list[tuple[int, Tensor]]]:
    """Yield minibatches as lists of (group index, row indices) on the CPU."""
    if sampler is None:  # one pooled group, each row once per epoch in a random order
        perm = torch.randperm(n_rows[0], generator=generator)
        for start in range(0, perm.numel(), batch_size):
            yield [(0, perm[start : start + batch_size])]
        return
    u, i, j = sampler.sample_epoch(generator)  # the official BPR triples of the version
    perm = torch.randperm(u.numel(), generator=generator)
    for start in range(0, perm.numel(), batch_size):
        b = perm[start : start + batch_size]
        yield [(0, u[b]), (1, i[b]), (1, j[b])]


@torch.no_grad()
def _selection_mse(B: LinearBackward, news: list[Tensor], olds: list[Tensor]) -> float:
    return float(sum(torch.mean((B(a) - b) ** 2).item() for a, b in zip(news, olds)) / len(news))


def posthoc_fit_backward(
    z_new: Embs,
    z_old: Embs,
    *,
    epochs: int = 200,
    lr: float = 1e-3,
    select_after: int = 50,
    batch_size: int = 2048,
    seed: int = 0,
    earlier_Bs: Sequence[BackwardLike] | None = None,
    edges: Tensor | None = None,
    eval_every: int = 10,
    reduction: str = "mean",
) -> PosthocResult:
    """Fit ``B_k`` on frozen embeddings; keep the best by alignment MSE after ``select_after``.

    Args:
        z_new: frozen ver-k embeddings: ``(n, d_k)``, or ``(z_user (n_u, d_k), z_item (n_i, d_k))``.
        z_old: frozen ver-(k-1) embeddings of the same nodes, same structure, ``d_{k-1}`` columns.
        epochs: training epochs (official: 200).
        lr: Adam learning rate (official: 1e-3).
        select_after: only epochs strictly after this are eligible (official: 50).
        batch_size: rows (or triples, with ``edges``) per minibatch (official: 2048).
        seed: seeds the init of ``B`` and all sampling.
        earlier_Bs: ``[B_1, ..., B_{k-1}]`` frozen; given, the training loss is the multi-step
            loss (Post-Lin-MLoss), else single-step (Post-Lin-SLoss).
        edges: optional ``(2, E)`` (user, item) training edges of version k; requires
            ``z_new = (z_user, z_item)`` and switches to the official triple batches.
        eval_every: evaluate the selection MSE every this many epochs (official: 10).
        reduction: alignment-loss reduction for training, see :mod:`embcompat.losses.alignment`.

    Returns:
        :class:`PosthocResult` with the selected ``B`` and the per-epoch history.
    """
    news = [z_new] if isinstance(z_new, Tensor) else list(z_new)
    olds = [z_old] if isinstance(z_old, Tensor) else list(z_old)
    if len(news) != len(olds) or not 1 <= len(news) <= 2:
        raise ValueError("z_new and z_old must both be one tensor (n, d) or both a (users, items) pair")
    news = [t.detach() for t in news]
    olds = [t.detach() for t in olds]
    for a, b in zip(news, olds):
        if a.dim() != 2 or b.dim() != 2 or a.shape[0] != b.shape[0]:
            raise ValueError("z_new rows (n, d_k) and z_old rows (n, d_(k-1)) must match; "
                             f"got {tuple(a.shape)}, {tuple(b.shape)}")
    if edges is not None and (len(news) != 2 or edges.dim() != 2 or edges.shape[0] != 2):
        raise ValueError("edges=(2, E) needs z_new=(z_user, z_item) and z_old=(z_user, z_item)")
    if epochs < 1 or eval_every < 1 or batch_size < 1:
        raise ValueError(f"epochs, eval_every and batch_size must be >= 1; got {epochs}, {eval_every}, {batch_size}")
    eligible = [e for e in range(1, epochs + 1) if e % eval_every == 0 and e > select_after]
    if not eligible:
        raise ValueError(
            f"no epoch is eligible for selection: need an epoch e in ({select_after}, {epochs}] with "
            f"e % eval_every == 0 (eval_every={eval_every}); raise epochs or lower select_after"
        )
    d_new, d_old = news[0].shape[1], olds[0].shape[1]
    device, dtype = news[0].device, news[0].dtype
    gen = torch.Generator().manual_seed(seed)
    B = LinearBackward(d_new, d_old, generator=gen, dtype=dtype).to(device)
    earlier = list(earlier_Bs or [])
    opt = torch.optim.Adam(B.parameters(), lr=lr)
    result = PosthocResult(B=B)
    best_state = None
    if edges is None:  # pool users and items into one group of rows
        train_new, train_old = [torch.cat(news)], [torch.cat(olds)]
    else:
        train_new, train_old = news, olds
    n_rows = [t.shape[0] for t in train_new]
    sampler = None if edges is None else BPRSampler(edges[0].cpu(), edges[1].cpu(), n_rows[1])
    for epoch in range(1, epochs + 1):
        B.train()
        total, steps = 0.0, 0
        for batch in _epoch_batches(n_rows, sampler, batch_size, gen):
            new_b = [train_new[g][idx.to(device)] for g, idx in batch]
            old_b = [train_old[g][idx.to(device)] for g, idx in batch]
            if earlier:
                loss = multi_step_alignment_loss(new_b, old_b, [*earlier, B], reduction=reduction)
            else:
                loss = single_step_alignment_loss(new_b, old_b, B, reduction=reduction)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach())
            steps += 1
        result.train_loss.append(total / max(steps, 1))
        mse = math.nan
        if epoch % eval_every == 0:
            B.eval()
            mse = _selection_mse(B, news, olds)
            if epoch > select_after and mse < result.best_mse:
                result.best_mse, result.best_epoch = mse, epoch
                best_state = copy.deepcopy(B.state_dict())
        result.eval_mse.append(mse)
    if best_state is None:
        raise RuntimeError(
            f"the alignment MSE was not finite at any eligible epoch (> {select_after}); "
            f"training diverged, try a lower lr (got lr={lr})"
        )
    B.load_state_dict(best_state)
    B.eval()
    B.requires_grad_(False)
    return result
