"""Single-step (Eq. 7) and multi-step (Eq. 10) alignment losses of the BC paper.

Both losses compare ``B_k(z_k)`` with the previous version's embeddings ``z_{k-1}`` of the *same*
nodes. ``z_{k-1}`` comes from the frozen ``M_{k-1}`` and is always detached here.

**Groups.** The official code (``embgen_strategy/joint_sloss.py``, ``joint_mloss.py``,
``posthoc_*.py``) computes the loss on each BPR minibatch as three separate terms, one for the
batch's users, one for its positive items and one for its negative items, and *adds* them:
``MSE(users) + MSE(pos items) + MSE(neg items)``. To reproduce that scale (which matters for
``lambda``), pass ``z_new`` and ``z_old`` as sequences of per-group tensors, e.g.
``(z_user[u], z_item[i], z_item[j])``; a single tensor is one group.

**Reduction.** ``reduction="mean"`` (default, the official code): each group's term is
``torch.nn.MSELoss()``, the mean over *elements*, i.e. ``||delta||^2 / d`` averaged over the rows.
``reduction="sum_dims"`` (the paper's Eq. 7 and Eq. 10): the squared L2 norm per row, averaged over
rows. The two differ by a factor ``1/d`` per term; in the multi-step loss the official code
therefore weights the term projected to version ``j`` by ``1/d_j``, which the paper's Eq. 10 does
not.
"""
from __future__ import annotations

from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from embcompat.models.transforms import BackwardLike, backward_dims, backward_matrix, compose, is_linear

__all__ = ["single_step_alignment_loss", "multi_step_alignment_loss", "alignment_metric",
           "group_weights", "weighted_alignment_loss", "chain_targets",
           "weighted_chain_alignment_loss", "compose", "REDUCTIONS"]

REDUCTIONS = ("mean", "sum_dims")

Embs = Union[Tensor, Sequence[Tensor]]


def _groups(z_new: Embs, z_old: Embs, who: str) -> list[tuple[Tensor, Tensor]]:
    """Pair up per-group tensors and check their shapes."""
    if isinstance(z_new, Tensor) != isinstance(z_old, Tensor):
        raise TypeError(
            f"{who}: z_new and the previous-version embeddings must both be tensors or both be "
            f"sequences of per-group tensors (users, pos items, neg items); got "
            f"{type(z_new).__name__} and {type(z_old).__name__}. The previous version's embeddings "
            "are z_{k-1} only: earlier versions enter through the frozen B weights, not as inputs"
        )
    news = [z_new] if isinstance(z_new, Tensor) else list(z_new)
    olds = [z_old] if isinstance(z_old, Tensor) else list(z_old)
    if len(news) != len(olds) or not news:
        raise ValueError(f"{who}: got {len(news)} new groups and {len(olds)} old groups; need the same, >= 1")
    for g, (a, b) in enumerate(zip(news, olds)):
        if a.dim() != 2 or b.dim() != 2 or a.shape[0] != b.shape[0]:
            raise ValueError(
                f"{who}: group {g} needs z_new (n, d_k) and z_old (n, d_(k-1)) with the same n; "
                f"got {tuple(a.shape)} and {tuple(b.shape)}"
            )
    return list(zip(news, olds))


def _reduce(delta: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return delta.pow(2).mean()
    if reduction == "sum_dims":
        return delta.pow(2).sum(dim=-1).mean()
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def single_step_alignment_loss(z_new: Embs, z_old: Embs, B: BackwardLike, *, reduction: str = "mean") -> Tensor:
    """Single-step alignment loss ``L_align(B_k o M_k, M_{k-1})`` (paper Eq. 7).

    ``sum_g reduce(B(z_new[g]) - z_old[g])`` over the groups (see the module docstring).

    Args:
        z_new: ``(n, d_k)`` ver-k embeddings, or a sequence of per-group ``(n_g, d_k)`` tensors.
        z_old: ``(n, d_{k-1})`` ver-(k-1) embeddings of the same nodes (same structure as
            ``z_new``); detached.
        B: the backward transformation ``B_k`` (module or ``(d_{k-1}, d_k)`` weight).
        reduction: ``"mean"`` (official code, per-element mean) or ``"sum_dims"`` (paper Eq. 7).

    Returns:
        scalar loss.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    total = None
    for new, old in _groups(z_new, z_old, "single_step_alignment_loss"):
        term = _reduce(compose([B], new) - old.detach(), reduction)
        total = term if total is None else total + term
    return total


def multi_step_alignment_loss(
    z_new: Embs, past_embs: Embs, Bs: Sequence[BackwardLike], *, reduction: str = "mean"
) -> Tensor:
    """Multi-step alignment loss (paper Eq. 10), as in the official ``joint_mloss.py``.

    With ``delta = B_k(z_k) - z_{k-1}`` the single-step residual, the loss is::

        1/k * sum_{j=0}^{k-1} reduce( W_{j+1} ... W_{k-1} delta )

    (the ``j = k-1`` term has the empty product ``I``), i.e. the residual is passed through the
    frozen earlier weights ``W_{k-1}``, then ``W_{k-2}``, ..., ``W_1``, and the ``k`` terms are
    averaged. The earlier weights are detached: gradients reach only ``B_k`` and ``z_new``. Per
    group terms are summed as in :func:`single_step_alignment_loss`. For ``k = 1`` this equals the
    single-step loss.

    Paper vs code: Eq. 10 uses squared L2 norms (``reduction="sum_dims"``); the official code uses
    ``torch.mean(diff**2)`` per term (``reduction="mean"``, the default), which divides the term
    projected to version ``j`` by ``d_j``. The code's residual is ``z_{k-1} - B_k(z_k)``; the sign
    does not matter.

    Nonlinear earlier ``B``'s (:class:`~embcompat.models.mlp_backward.MLPBackward`, not in the
    paper): the residual cannot be pushed through them, so the term of version ``j`` becomes
    ``B_{j+1} o ... o B_{k-1}`` applied in turn to ``B_k(z_k)`` and to ``z_{k-1}``, then
    subtracted; for linear steps that is the same number. ``B_k`` itself may be nonlinear either way.

    Args:
        z_new: ``(n, d_k)`` ver-k embeddings, or a sequence of per-group tensors.
        past_embs: the previous version's ``(n, d_{k-1})`` embeddings ``z_{k-1}`` of the same
            nodes, with the same structure as ``z_new`` (a tensor, or one tensor per group such as
            ``[users, pos items, neg items]``); detached.
        Bs: ``[B_1, ..., B_k]`` oldest first; ``B_k`` (last) is the one being trained, the others
            are frozen (modules or ``(d_{j-1}, d_j)`` weights; ``NoTransBackward`` counts as
            ``[I | 0]``).
        reduction: ``"mean"`` (official) or ``"sum_dims"`` (paper).

    Returns:
        scalar loss.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    Bs = list(Bs)
    if not Bs:
        raise ValueError("multi_step_alignment_loss needs Bs = [B_1, ..., B_k] with k >= 1, got an empty list")
    B_k, earlier = Bs[-1], Bs[:-1]
    _check_chain(Bs, "multi_step_alignment_loss")
    k = len(Bs)
    if not all(is_linear(B) for B in earlier):
        return _nonlinear_multi_step(z_new, past_embs, B_k, earlier, reduction) / k
    frozen = [backward_matrix(B).detach() for B in earlier]
    total = None
    for new, old in _groups(z_new, past_embs, "multi_step_alignment_loss"):
        delta = compose([B_k], new) - old.detach()
        group = _reduce(delta, reduction)
        for W in reversed(frozen):
            delta = F.linear(delta, W.to(device=delta.device, dtype=delta.dtype))
            group = group + _reduce(delta, reduction)
        total = group if total is None else total + group
    return total / k


def _check_chain(Bs: Sequence[BackwardLike], who: str) -> None:
    """``B_j`` must accept ``d_j``, the output dim of ``B_{j+1}`` (``Bs`` oldest first)."""
    d_prev = backward_dims(Bs[-1])[1]
    for j in range(len(Bs) - 2, -1, -1):
        d_new, d_old = backward_dims(Bs[j])
        if d_new != d_prev:
            raise ValueError(
                f"{who}: B_{j + 1} maps {d_new} -> {d_old} dims but must accept d_{j + 1} = {d_prev} "
                f"(the output dim of B_{j + 2}); Bs must be [B_1, ..., B_k] oldest first"
            )
        d_prev = d_old


def _frozen(B: BackwardLike):
    """``B`` as a function with no gradient into its own parameters (inputs keep theirs)."""
    if is_linear(B):
        W = backward_matrix(B).detach()
        return lambda x: F.linear(x, W.to(device=x.device, dtype=x.dtype))
    return lambda x: B(x, frozen=True)


def _nonlinear_multi_step(z_new: Embs, past_embs: Embs, B_k, earlier, reduction: str) -> Tensor:
    """Eq. 10 through a chain with a nonlinear frozen ``B``: the residual cannot be pushed through
    a nonlinear map, so the term of version ``j`` is ``B^j(B_k(z_k)) - B^j(z_{k-1})`` with
    ``B^j = B_{j+1} o ... o B_{k-1}`` applied to both sides in turn (the same value for linear
    steps, where ``W (a - b) = W a - W b``)."""
    steps = [_frozen(B) for B in reversed(earlier)]
    total = None
    for new, old in _groups(z_new, past_embs, "multi_step_alignment_loss"):
        a, b = compose([B_k], new), old.detach()
        group = _reduce(a - b, reduction)
        for step in steps:
            a, b = step(a), step(b)
            group = group + _reduce(a - b, reduction)
        total = group if total is None else total + group
    return total


def alignment_metric(Bs: Sequence[BackwardLike], *, reduction: str = "mean") -> Tensor:
    """The ``(d_{k-1}, d_{k-1})`` matrix ``M`` with Eq. 10's per-row term ``delta M delta^T``.

    With ``Q_j = W_{k-1}^T ... W_{j+1}^T`` (``Q_{k-1} = I``) the multi-step loss of one row is
    ``1/k * sum_j ||delta Q_j||^2 / c_j = delta M delta^T`` with ``M = 1/k * sum_j Q_j Q_j^T / c_j``,
    ``c_j = d_j`` for ``reduction="mean"`` (the official per-element mean) and ``1`` for
    ``"sum_dims"``. ``M`` depends only on the frozen ``B_1 .. B_{k-1}`` and ``B_k``'s output dim,
    so a training loop computes it once per version. ``Bs = [B_k]`` gives ``I / d_{k-1}`` (mean),
    the single-step loss.

    Args:
        Bs: ``[B_1, ..., B_k]`` oldest first; only the dims of ``B_k`` are used.
        reduction: ``"mean"`` or ``"sum_dims"``.

    Returns:
        ``(d_{k-1}, d_{k-1})`` symmetric PSD tensor, detached.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    Bs = list(Bs)
    if not Bs:
        raise ValueError("alignment_metric needs Bs = [B_1, ..., B_k] with k >= 1, got an empty list")
    d = backward_dims(Bs[-1])[1]
    frozen = [backward_matrix(B).detach() for B in Bs[:-1]]
    ref = frozen[-1] if frozen else None
    q = torch.eye(d, dtype=ref.dtype if ref is not None else None,
                  device=ref.device if ref is not None else None)
    total = q / (d if reduction == "mean" else 1)
    for W in reversed(frozen):
        if W.shape[1] != q.shape[1]:
            raise ValueError(f"alignment_metric: a frozen B maps {W.shape[1]} dims but receives "
                             f"{q.shape[1]}; Bs must be [B_1, ..., B_k] oldest first")
        q = q @ W.t()
        total = total + q @ q.t() / (W.shape[0] if reduction == "mean" else 1)
    return total / len(Bs)


def group_weights(groups: Sequence[Tensor], num: int) -> Tensor:
    """``(num,)`` weights ``sum_g count_g(i) / n_g`` of node ``i`` over index groups.

    ``sum_g mean_r f(z[idx_g[r]])`` equals ``sum_i w_i f(z[i])`` with these weights, so a loss
    over minibatch rows (duplicates counted) can be computed once per node.
    """
    w = None
    for idx in groups:
        c = torch.bincount(idx, minlength=num).to(torch.get_default_dtype()) / max(idx.numel(), 1)
        w = c if w is None else w + c
    if w is None:
        raise ValueError("group_weights needs at least one index group")
    return w


def weighted_alignment_loss(z_new: Tensor, z_old: Tensor, weights: Tensor, B: BackwardLike,
                            metric: Tensor) -> Tensor:
    """``sum_i w_i * delta_i M delta_i^T`` with ``delta = B(z_new) - z_old`` over whole tables.

    With ``weights = group_weights(batch index groups)`` and ``metric = alignment_metric(Bs)`` this
    equals :func:`multi_step_alignment_loss` on the gathered groups (and the single-step loss with
    ``Bs = [B]``) in value and gradient, but applies ``B`` once per node instead of once per
    minibatch row and the frozen chain as one ``(d, d)`` matrix: in joint training the minibatch
    rows (3 x 8,192 at the demo) outnumber the nodes.

    Args:
        z_new: ``(N, d_k)`` embeddings of all nodes.
        z_old: ``(N, d_{k-1})`` previous-version embeddings (detached).
        weights: ``(N,)`` node weights; zero-weight rows get zero gradient.
        B: ``B_k``.
        metric: ``(d_{k-1}, d_{k-1})`` from :func:`alignment_metric`.

    Returns:
        scalar loss.
    """
    delta = compose([B], z_new) - z_old.detach()
    quad = ((delta @ metric.to(delta.dtype)) * delta).sum(dim=1)
    return (weights.to(quad.dtype) * quad).sum()


def chain_targets(z_old: Tensor, earlier: Sequence[BackwardLike]) -> list[Tensor]:
    """``[z_{k-1}, B_{k-1}(z_{k-1}), ..., B_1 o ... o B_{k-1}(z_{k-1})]``, detached: the fixed side of
    every Eq. 10 term when the frozen chain ``earlier = [B_1, ..., B_{k-1}]`` is nonlinear."""
    out = [z_old.detach()]
    with torch.no_grad():
        for step in (_frozen(B) for B in reversed(list(earlier))):
            out.append(step(out[-1]))
    return out


def weighted_chain_alignment_loss(z_new: Tensor, targets: Sequence[Tensor], weights: Tensor, B,
                                  earlier: Sequence[BackwardLike], *,
                                  reduction: str = "mean") -> Tensor:
    """:func:`weighted_alignment_loss` for a nonlinear frozen chain (no metric matrix exists).

    ``sum_i w_i * 1/k sum_j reduce_row(B^j(B(z_new_i)) - targets[k-1-j]_i)`` with the frozen
    ``B^j = B_{j+1} o ... o B_{k-1}`` applied in turn; with ``targets = chain_targets(z_old,
    earlier)`` and ``weights = group_weights(...)`` it equals :func:`multi_step_alignment_loss` on
    the gathered groups (tested).
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    earlier = list(earlier)
    if len(targets) != len(earlier) + 1:
        raise ValueError(f"weighted_chain_alignment_loss: {len(targets)} targets for "
                         f"{len(earlier)} frozen B's; use chain_targets(z_old, earlier)")
    a = compose([B], z_new)
    per_row = None
    for step, t in zip([None] + [_frozen(E) for E in reversed(earlier)], targets):
        a = a if step is None else step(a)
        sq = (a - t).pow(2).sum(dim=1) / (a.shape[1] if reduction == "mean" else 1)
        per_row = sq if per_row is None else per_row + sq
    return (weights.to(per_row.dtype) * per_row).sum() / (len(earlier) + 1)
