"""Backward transformations B_k: R^{d_k} -> R^{d_{k-1}} (BC paper, Section 3.2.1).

Two choices from the paper:

* :class:`LinearBackward` -- ``B_k(z) = W_k z`` with a learnable ``W_k: (d_{k-1}, d_k)`` and no bias
  (Joint-Lin-*, Post-Lin-*, BC-Aligner).
* :class:`NoTransBackward` -- the identity, truncated to the first ``d_{k-1}`` dimensions when
  ``d_k >= d_{k-1}`` (Joint-NoTrans). It has no parameters, but is still a linear map, so it can be
  written as the matrix ``[I_{d_{k-1}} | 0]`` (:meth:`NoTransBackward.matrix`).

:func:`backward_matrix` turns either module (or an ``nn.Linear`` without bias, or a plain weight
tensor) into its ``(d_{k-1}, d_k)`` matrix, and :func:`compose` applies a chain
``B_k, B_{k-1}, ..., B_{j+1}`` to latest-version embeddings (paper Eq. 2 / Eq. 6). ``compose``
also applies nonlinear modules (:class:`~embcompat.models.mlp_backward.MLPBackward`, which has no
matrix: :func:`is_linear` tells the two apart and :func:`backward_matrix` refuses it).
"""
from __future__ import annotations

import math
from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "LinearBackward",
    "NoTransBackward",
    "BackwardLike",
    "backward_matrix",
    "backward_dims",
    "is_linear",
    "compose",
]


def _check_dim(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _check_input(z: Tensor, d_in: int, who: str) -> None:
    if not isinstance(z, Tensor):
        raise TypeError(f"{who} expects a torch.Tensor of shape (n, {d_in}), got {type(z).__name__}")
    if z.dim() < 1 or z.shape[-1] != d_in:
        raise ValueError(
            f"{who} expects embeddings of shape (n, {d_in}) (last dim d_k = {d_in}), "
            f"got shape {tuple(z.shape)}"
        )


class LinearBackward(nn.Module):
    """Bias-free linear backward transformation ``B_k(z) = z @ W_k^T``.

    Initialisation follows the official code, which builds ``torch.nn.Linear(d_k, d_{k-1},
    bias=False)`` and keeps PyTorch's default init: Kaiming-uniform with ``a = sqrt(5)``, i.e.
    ``W_k[i, j] ~ U(-1/sqrt(d_k), 1/sqrt(d_k))``. The parameter is named ``weight`` so a state dict
    of the official ``trans_fun`` loads directly.

    Args:
        d_new: input dimension ``d_k`` (the newer version).
        d_old: output dimension ``d_{k-1}`` (the previous version).
        generator: optional ``torch.Generator`` for a reproducible init (the global RNG otherwise).
        device: where to create the weight.
        dtype: weight dtype (default: torch's default dtype).

    Attributes:
        weight: ``(d_old, d_new)`` learnable matrix ``W_k``.
    """

    def __init__(
        self,
        d_new: int,
        d_old: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.d_new = _check_dim("d_new", d_new)
        self.d_old = _check_dim("d_old", d_old)
        self.weight = nn.Parameter(torch.empty(d_old, d_new, device=device, dtype=dtype))
        self.reset_parameters(generator=generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Re-draw ``weight`` with ``nn.Linear``'s default init, ``U(-1/sqrt(d_new), 1/sqrt(d_new))``."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)

    def forward(self, z: Tensor) -> Tensor:
        """Map ver-k embeddings back to version k-1.

        Args:
            z: ``(n, d_new)`` embeddings (any leading dims are allowed).

        Returns:
            ``(n, d_old)`` transformed embeddings.
        """
        _check_input(z, self.d_new, "LinearBackward")
        return F.linear(z, self.weight)

    def matrix(self) -> Tensor:
        """The ``(d_old, d_new)`` weight ``W_k`` (the live parameter, not a copy)."""
        return self.weight

    def extra_repr(self) -> str:
        return f"d_new={self.d_new}, d_old={self.d_old}"


class NoTransBackward(nn.Module):
    """Identity backward transformation keeping the first ``d_old`` dims (Joint-NoTrans).

    Args:
        d_new: input dimension ``d_k``.
        d_old: output dimension ``d_{k-1}``; must satisfy ``d_old <= d_new``.
    """

    def __init__(self, d_new: int, d_old: int) -> None:
        super().__init__()
        self.d_new = _check_dim("d_new", d_new)
        self.d_old = _check_dim("d_old", d_old)
        if d_old > d_new:
            raise ValueError(
                f"NoTransBackward keeps the first d_old dims of z, so it needs d_old <= d_new; "
                f"got d_new={d_new}, d_old={d_old}"
            )

    def forward(self, z: Tensor) -> Tensor:
        """Return ``z[..., :d_old]``.

        Args:
            z: ``(n, d_new)`` embeddings.

        Returns:
            ``(n, d_old)`` view of the first ``d_old`` columns.
        """
        _check_input(z, self.d_new, "NoTransBackward")
        return z[..., : self.d_old]

    def matrix(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> Tensor:
        """The equivalent ``(d_old, d_new)`` matrix ``[I_{d_old} | 0]``."""
        return torch.eye(self.d_old, self.d_new, device=device, dtype=dtype)

    def extra_repr(self) -> str:
        return f"d_new={self.d_new}, d_old={self.d_old}"


BackwardLike = Union[LinearBackward, NoTransBackward, nn.Linear, Tensor, nn.Module]


def is_linear(B) -> bool:
    """Whether ``B`` is a linear map with a matrix (:func:`backward_matrix`); False for a module
    that declares ``linear = False`` (e.g. :class:`~embcompat.models.mlp_backward.MLPBackward`)."""
    return getattr(B, "linear", True) is not False


def backward_matrix(B: BackwardLike) -> Tensor:
    """The ``(d_{k-1}, d_k)`` matrix of a linear backward transformation.

    Args:
        B: a :class:`LinearBackward`, :class:`NoTransBackward`, bias-free ``nn.Linear`` or a 2-D
            weight tensor ``(d_{k-1}, d_k)``.

    Returns:
        ``(d_{k-1}, d_k)`` tensor. For modules with parameters this is the live parameter (so
        gradients flow); detach it yourself to freeze.
    """
    if isinstance(B, LinearBackward):
        return B.weight
    if isinstance(B, NoTransBackward):
        return B.matrix()
    if isinstance(B, nn.Linear):
        if B.bias is not None:
            raise ValueError("backward transformations are bias-free; got an nn.Linear with a bias")
        return B.weight
    if not is_linear(B):
        raise ValueError(f"{type(B).__name__} is a nonlinear backward transformation and has no "
                         "matrix; apply it (compose) instead of precomposing it")
    if isinstance(B, Tensor):
        if B.dim() != 2:
            raise ValueError(f"a backward weight must be 2-D (d_old, d_new), got shape {tuple(B.shape)}")
        return B
    raise TypeError(
        "expected LinearBackward, NoTransBackward, a bias-free nn.Linear or a (d_old, d_new) tensor; "
        f"got {type(B).__name__}"
    )


def backward_dims(B: BackwardLike) -> tuple[int, int]:
    """``(d_new, d_old)`` of a backward transformation (see :func:`backward_matrix`)."""
    if isinstance(B, (LinearBackward, NoTransBackward)) or not is_linear(B):
        return B.d_new, B.d_old
    W = backward_matrix(B)
    return int(W.shape[1]), int(W.shape[0])


def _apply(B: BackwardLike, z: Tensor) -> Tensor:
    if isinstance(B, nn.Module):
        return B(z)
    W = backward_matrix(B)
    if z.shape[-1] != W.shape[1]:
        raise ValueError(
            f"a backward weight of shape {tuple(W.shape)} expects inputs (n, {W.shape[1]}), "
            f"got shape {tuple(z.shape)}"
        )
    return F.linear(z, W)


def compose(Bs: Sequence[BackwardLike], z: Tensor) -> Tensor:
    """Apply a chain of backward transformations, newest first (paper Eq. 2).

    Args:
        Bs: ``[B_{j+1}, ..., B_k]`` in version order (oldest first). They are applied as
            ``B_k`` first, then ``B_{k-1}``, ..., ``B_{j+1}`` last. An empty list returns ``z``.
        z: ``(n, d_k)`` ver-k embeddings.

    Returns:
        ``(n, d_j)`` ver-j compatible embeddings ``B_{j+1} o ... o B_k (z)``.
    """
    out = z
    for step, B in enumerate(reversed(list(Bs))):
        d_new, _ = backward_dims(B)
        if out.shape[-1] != d_new:
            pos = len(Bs) - 1 - step
            raise ValueError(
                f"compose: Bs[{pos}] expects inputs of dim {d_new} but receives dim {out.shape[-1]}; "
                "Bs must be ordered oldest first, [B_{j+1}, ..., B_k], with matching dims"
            )
        out = _apply(B, out)
    return out
