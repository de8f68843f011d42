"""Closed-form post-hoc backward maps (Post-LS, Post-Procrustes): not in the paper.

Both fit a bias-free ``B_k(z) = z @ W^T``, ``W`` of shape ``(d_{k-1}, d_k)``, on Non-BC's frozen
``z_k`` and ``z_{k-1} = M_{k-1}(G_k)``, with the objective Post-Lin-SLoss is *selected* on
(:func:`embcompat.backward.posthoc._selection_mse`): ``0.5 * (MSE_users + MSE_items)``, i.e. row
``r`` of group ``g`` (users, items) weighted by ``w_r = 1 / (G n_g)`` (``G`` = number of groups,
1 or 2; with one tensor, the plain MSE of all rows). Writing ``x_r`` for a ``z_k`` row and ``y_r``
for its ``z_{k-1}`` row,

* :func:`fit_least_squares` (Post-LS) minimises ``sum_r w_r ||W x_r - y_r||^2 + ridge ||W||_F^2``,
  i.e. ``d_{k-1} * selection MSE + ridge ||W||_F^2``. It solves the sqrt(w)-weighted system,
  augmented with ``sqrt(ridge) I`` rows when ``ridge > 0``, by ``torch.linalg.lstsq`` (SVD-based
  ``gelsd``) in float64 on the CPU; with ``ridge = 0`` and a rank-deficient ``z_k`` it returns the
  minimum-norm solution. With ``ridge = 0`` no linear ``B`` has a lower selection MSE: this is the
  optimum Post-Lin-SLoss's Adam fit approaches.
* :func:`fit_procrustes` (Post-Procrustes) is the weighted orthogonal Procrustes map
  ``W = U V^T`` from the thin SVD ``U S V^T = sum_r w_r y_r x_r^T`` (float64, CPU). The dimension
  mismatch is handled by zero padding, so that it is exactly square Procrustes:

  - ``d_k >= d_{k-1}`` (the BC schedules: dimensions grow): ``z_{k-1}`` is zero-padded to ``d_k``,
    the orthogonal ``Q (d_k, d_k)`` minimising ``sum_r w_r ||Q x_r - [y_r; 0]||^2`` is found and
    ``W`` is its first ``d_{k-1}`` rows: orthonormal rows, ``W W^T = I``. ``W`` then maximises
    ``sum_r w_r <W x_r, y_r>`` over such maps, which is the padded objective; it is *not* in
    general the minimiser of the selection MSE under ``W W^T = I`` (that "unbalanced" problem has
    no closed form), because ``||W x||`` varies with ``W`` when ``d_k > d_{k-1}``.
  - ``d_k < d_{k-1}``: ``z_k`` is zero-padded to ``d_{k-1}``, ``W`` is the first ``d_k`` columns
    of the square solution: orthonormal columns, ``W^T W = I``, and here ``||W x|| = ||x||``, so it
    minimises the selection MSE over all such maps.

  No scale factor is fitted: the map preserves norms (of ``z_k``, or of its projection).
"""
from __future__ import annotations

from typing import Sequence, Union

import torch
from torch import Tensor

__all__ = ["selection_weights", "selection_mse", "fit_least_squares", "fit_procrustes",
           "fit_closed_form"]

Embs = Union[Tensor, Sequence[Tensor]]


def _groups(z_new: Embs, z_old: Embs) -> tuple[list[Tensor], list[Tensor]]:
    news = [z_new] if isinstance(z_new, Tensor) else list(z_new)
    olds = [z_old] if isinstance(z_old, Tensor) else list(z_old)
    if len(news) != len(olds) or not 1 <= len(news) <= 2:
        raise ValueError("z_new and z_old must both be one tensor (n, d) or both a "
                         f"(users, items) pair; got {len(news)} and {len(olds)} tensors")
    for a, b in zip(news, olds):
        if a.dim() != 2 or b.dim() != 2 or a.shape[0] != b.shape[0] or a.shape[0] == 0:
            raise ValueError("z_new rows (n, d_k) and z_old rows (n, d_(k-1)) must match and be "
                             f"non-empty; got {tuple(a.shape)} and {tuple(b.shape)}")
    if len({a.shape[1] for a in news}) != 1 or len({b.shape[1] for b in olds}) != 1:
        raise ValueError(f"users and items must have the same widths: got z_new "
                         f"{[tuple(a.shape) for a in news]}, "
                         f"z_old {[tuple(b.shape) for b in olds]}")
    return [a.detach() for a in news], [b.detach() for b in olds]


def selection_weights(n_rows: Sequence[int]) -> list[float]:
    """The weight of one row of each group in the selection objective: ``1 / (G n_g)``."""
    return [1.0 / (len(n_rows) * int(n)) for n in n_rows]


def _weighted(news: list[Tensor], olds: list[Tensor]) -> tuple[Tensor, Tensor]:
    """``sqrt(w_r) x_r`` and ``sqrt(w_r) y_r`` stacked, float64 on the CPU."""
    w = selection_weights([a.shape[0] for a in news])
    X = torch.cat([a.to("cpu", torch.float64) * wi ** 0.5 for a, wi in zip(news, w)])
    Y = torch.cat([b.to("cpu", torch.float64) * wi ** 0.5 for b, wi in zip(olds, w)])
    return X, Y


@torch.no_grad()
def selection_mse(W: Tensor, z_new: Embs, z_old: Embs) -> float:
    """Post-Lin-SLoss's selection MSE of ``B(z) = z @ W^T``: the mean over groups of the MSE of
    all rows (computed as :func:`~embcompat.backward.posthoc._selection_mse`, in ``z_new``'s dtype
    and device)."""
    news, olds = _groups(z_new, z_old)
    if W.shape != (olds[0].shape[1], news[0].shape[1]):
        raise ValueError(f"W must be (d_(k-1), d_k) = {(olds[0].shape[1], news[0].shape[1])}, "
                         f"got {tuple(W.shape)}")
    W = W.to(news[0].device, news[0].dtype)
    return float(sum(torch.mean((torch.nn.functional.linear(a, W) - b.to(a.device, a.dtype)) ** 2)
                     .item() for a, b in zip(news, olds)) / len(news))


@torch.no_grad()
def fit_least_squares(z_new: Embs, z_old: Embs, *, ridge: float = 0.0) -> Tensor:
    """Post-LS: the weighted (ridge) least-squares ``W`` (see the module docstring).

    Args:
        z_new: frozen ver-k embeddings ``(n, d_k)`` or ``(z_user, z_item)``.
        z_old: the ver-(k-1) embeddings of the same rows, same structure, ``d_{k-1}`` columns.
        ridge: ``>= 0``, the weight of ``||W||_F^2`` (the data term's weights sum to 1).

    Returns:
        ``W (d_{k-1}, d_k)`` in ``z_new``'s dtype and device.

    Raises:
        ValueError: mismatched rows or structures, or a negative / non-finite ridge.
    """
    ridge = float(ridge)
    if not ridge >= 0.0 or ridge == float("inf"):
        raise ValueError(f"ridge must be a finite number >= 0, got {ridge}")
    news, olds = _groups(z_new, z_old)
    X, Y = _weighted(news, olds)
    if ridge > 0:
        d = X.shape[1]
        X = torch.cat([X, torch.eye(d, dtype=X.dtype) * ridge ** 0.5])
        Y = torch.cat([Y, torch.zeros(d, Y.shape[1], dtype=Y.dtype)])
    S = torch.linalg.lstsq(X, Y, driver="gelsd").solution  # (d_k, d_{k-1})
    return S.T.contiguous().to(news[0].device, news[0].dtype)


@torch.no_grad()
def fit_procrustes(z_new: Embs, z_old: Embs) -> Tensor:
    """Post-Procrustes: the weighted (semi-)orthogonal Procrustes ``W`` (see the module docstring).

    Args:
        z_new, z_old: as :func:`fit_least_squares`.

    Returns:
        ``W (d_{k-1}, d_k)`` in ``z_new``'s dtype and device, with ``W W^T = I`` when
        ``d_k >= d_{k-1}`` and ``W^T W = I`` when ``d_k < d_{k-1}``.

    Raises:
        ValueError: mismatched rows or structures.
    """
    news, olds = _groups(z_new, z_old)
    X, Y = _weighted(news, olds)
    U, _, Vh = torch.linalg.svd(Y.T @ X, full_matrices=False)  # sum_r w_r y_r x_r^T
    return (U @ Vh).contiguous().to(news[0].device, news[0].dtype)


def fit_closed_form(solver: str, z_new: Embs, z_old: Embs, *, ridge: float = 0.0
                    ) -> tuple[Tensor, dict]:
    """Fit ``W`` with ``solver`` (``"lstsq"``: :func:`fit_least_squares` with ``ridge``;
    ``"procrustes"``: :func:`fit_procrustes`, ``ridge`` unused).

    Returns:
        ``(W, extra)``: ``W (d_{k-1}, d_k)`` in ``z_new``'s dtype and device, and
        ``{"solver", "ridge", "selection_mse"}`` for the version record.

    Raises:
        ValueError: an unknown solver, or what the solver raises.
    """
    if solver == "lstsq":
        W = fit_least_squares(z_new, z_old, ridge=ridge)
    elif solver == "procrustes":
        W, ridge = fit_procrustes(z_new, z_old), None
    else:
        raise ValueError(f"solver must be 'lstsq' or 'procrustes', got {solver!r}")
    return W, {"solver": solver, "ridge": ridge, "selection_mse": selection_mse(W, z_new, z_old)}
