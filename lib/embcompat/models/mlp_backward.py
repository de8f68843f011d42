"""A nonlinear backward transformation: a residual 2-layer MLP (not in the BC paper).

The BC paper (Sec. 6) names "more expressive backward transformation functions with
non-linearity" as future work. :class:`MLPBackward` is the smallest such step that keeps the
linear BC-Aligner as its starting point::

    B_k(z) = W_lin z + W_2 relu(W_1 z + b_1)

with ``W_lin: (d_{k-1}, d_k)`` (bias-free, as :class:`~embcompat.models.transforms.LinearBackward`),
``W_1: (h, d_k)``, ``b_1: (h,)`` and ``W_2: (d_{k-1}, h)`` (no output bias, so ``B_k(0) = 0`` like
the linear map).

**Init.** ``W_lin`` is drawn first from the generator exactly as ``LinearBackward``'s ``weight``
(Kaiming-uniform, ``a = sqrt(5)``), so with the same generator seed the MLP starts as the *same*
linear ``B_k`` as BC-Aligner; ``W_1`` and ``b_1`` get ``nn.Linear``'s default init
(``U(-1/sqrt(d_k), 1/sqrt(d_k))``); ``W_2`` is zero, so at init ``B_k`` is exactly the linear
map and the nonlinear branch grows only as far as the loss asks (``W_2`` gets gradients at once;
``W_1, b_1`` once ``W_2 != 0``).

A nonlinear ``B`` has no matrix: :func:`~embcompat.models.transforms.backward_matrix` refuses it,
and chains that contain one are applied step by step (:func:`~embcompat.models.transforms.compose`,
the multi-step loss, :class:`~embcompat.versions.VersionStore`). :func:`as_backward` turns what a
cached version record holds (a matrix, or this module's state dict) back into something
``compose`` applies.
"""
from __future__ import annotations

import math
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from embcompat.models.transforms import _check_dim, _check_input

__all__ = ["MLPBackward", "MLP_TENSORS", "as_backward"]

#: The parameter names of :class:`MLPBackward` (also its state-dict and file tensor names).
MLP_TENSORS = ("W_lin", "W_1", "b_1", "W_2")


class MLPBackward(nn.Module):
    """Residual MLP backward transformation ``B(z) = W_lin z + W_2 relu(W_1 z + b_1)``.

    Args:
        d_new: input dimension ``d_k``.
        d_old: output dimension ``d_{k-1}``.
        hidden: hidden width ``h`` of the nonlinear branch.
        generator: optional ``torch.Generator`` for a reproducible init (see the module docstring).
        device, dtype: where and how to create the parameters.

    Attributes:
        W_lin: ``(d_old, d_new)`` linear path.
        W_1: ``(hidden, d_new)``; b_1: ``(hidden,)``; W_2: ``(d_old, hidden)``, zero at init.
    """

    linear = False  # read by embcompat.models.transforms.is_linear

    def __init__(self, d_new: int, d_old: int, hidden: int, *,
                 generator: torch.Generator | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.d_new = _check_dim("d_new", d_new)
        self.d_old = _check_dim("d_old", d_old)
        self.hidden = _check_dim("hidden", hidden)
        kw = dict(device=device, dtype=dtype)
        self.W_lin = nn.Parameter(torch.empty(d_old, d_new, **kw))
        self.W_1 = nn.Parameter(torch.empty(hidden, d_new, **kw))
        self.b_1 = nn.Parameter(torch.empty(hidden, **kw))
        self.W_2 = nn.Parameter(torch.empty(d_old, hidden, **kw))
        self.reset_parameters(generator=generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """``W_lin`` as ``LinearBackward`` (drawn first), ``W_1, b_1`` as ``nn.Linear``, ``W_2 = 0``."""
        nn.init.kaiming_uniform_(self.W_lin, a=math.sqrt(5), generator=generator)
        nn.init.kaiming_uniform_(self.W_1, a=math.sqrt(5), generator=generator)
        bound = 1.0 / math.sqrt(self.d_new)
        with torch.no_grad():
            self.b_1.uniform_(-bound, bound, generator=generator)
        nn.init.zeros_(self.W_2)

    def forward(self, z: Tensor, *, frozen: bool = False) -> Tensor:
        """Map ver-k embeddings back to version k-1.

        Args:
            z: ``(n, d_new)`` embeddings (any leading dims).
            frozen: use detached parameters (a frozen earlier ``B``: gradients still flow to ``z``,
                never into this module).

        Returns:
            ``(n, d_old)``.
        """
        _check_input(z, self.d_new, "MLPBackward")
        p = [getattr(self, n) for n in MLP_TENSORS]
        if frozen:
            p = [t.detach() for t in p]
        W_lin, W_1, b_1, W_2 = (t.to(device=z.device, dtype=z.dtype) for t in p)
        return F.linear(z, W_lin) + F.linear(torch.relu(F.linear(z, W_1, b_1)), W_2)

    @classmethod
    def from_tensors(cls, tensors: Mapping[str, Tensor], *, what: str = "MLPBackward") -> "MLPBackward":
        """Rebuild from a state dict ``{W_lin, W_1, b_1, W_2}`` (dims read from the shapes, checked).

        The rebuilt module is frozen (``requires_grad=False``): it is a stored ``B``, not one being
        trained, so applying it builds no autograd graph.

        Raises:
            ValueError: a missing tensor or inconsistent shapes, naming ``what`` and the tensor.
        """
        missing = [n for n in MLP_TENSORS if n not in tensors]
        if missing:
            raise ValueError(f"{what}: an MLP backward needs tensors {MLP_TENSORS}; missing {missing}")
        W_lin, W_1, b_1, W_2 = (tensors[n] for n in MLP_TENSORS)
        if W_lin.dim() != 2 or W_1.dim() != 2:
            raise ValueError(f"{what}: W_lin and W_1 must be 2-D, got {tuple(W_lin.shape)}, {tuple(W_1.shape)}")
        d_old, d_new = W_lin.shape
        h = W_1.shape[0]
        want = {"W_lin": (d_old, d_new), "W_1": (h, d_new), "b_1": (h,), "W_2": (d_old, h)}
        for n, shape in want.items():
            if tuple(tensors[n].shape) != shape:
                raise ValueError(f"{what}: {n} should be {shape} (d_old={d_old}, d_new={d_new}, "
                                 f"hidden={h}), found {tuple(tensors[n].shape)}")
        B = cls.__new__(cls)
        nn.Module.__init__(B)
        B.d_new, B.d_old, B.hidden = int(d_new), int(d_old), int(h)
        for n in MLP_TENSORS:
            setattr(B, n, nn.Parameter(tensors[n].detach().clone(), requires_grad=False))
        return B

    def tensors(self) -> dict[str, Tensor]:
        """Detached CPU copies of the parameters (what a version record and a store file keep)."""
        return {n: getattr(self, n).detach().to("cpu", copy=True) for n in MLP_TENSORS}

    def extra_repr(self) -> str:
        return f"d_new={self.d_new}, d_old={self.d_old}, hidden={self.hidden}"


def as_backward(B, kind: str | None = None):
    """What ``compose`` can apply, from what a version record stores as ``B``.

    Args:
        B: a ``(d_{k-1}, d_k)`` matrix (returned as is), an :class:`MLPBackward` / other module
            (as is), or an MLP state dict ``{W_lin, W_1, b_1, W_2}`` (rebuilt).
        kind: the record's ``B_kind``; ``"mlp"`` requires a state dict or module.

    Raises:
        ValueError: ``kind="mlp"`` with a plain matrix, or an unusable mapping.
    """
    if isinstance(B, Mapping):
        return MLPBackward.from_tensors(B)
    if kind == "mlp" and not isinstance(B, MLPBackward):
        raise ValueError(f"B_kind 'mlp' needs an MLP state dict {MLP_TENSORS}, got {type(B).__name__}")
    return B
