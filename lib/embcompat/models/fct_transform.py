"""The FCT transformation ``h(phi_old, psi) -> phi_new`` (paper Section 3.3, Figure 4).

Architecture of apple/ml-fct ``MLP_BN_SIDE_PROJECTION`` (there written with 1x1 convolutions on
``(N, C, 1, 1)`` tensors; a 1x1 convolution on a 1x1 map *is* a linear layer and ``BatchNorm2d``
over ``(N, C, 1, 1)`` is ``BatchNorm1d`` over ``(N, C)``, so we write it with ``nn.Linear``):

* every hidden layer is ``Linear(bias=False) -> BatchNorm1d -> ReLU``;
* old branch ``p1``: ``old_dim -> 2*old_dim -> 2*new_dim`` (128 -> 256 -> 256);
* side branch ``p2``: ``side_dim -> 2*side_dim -> 2*new_dim`` (128 -> 256 -> 256);
* mixer on the concatenation: ``4*new_dim -> 2048 -> 2048 -> new_dim`` (512 -> ... -> 128), the
  last layer a plain ``Linear`` with bias, no BN, no activation.

PyTorch's default initialisation of ``Linear`` equals that of a 1x1 ``Conv2d`` with the same fan-in,
so the initial distribution matches the official module as well.

``side_dim = 0`` builds no side branch (the mixer then takes ``branch_out`` inputs). This is
*exactly* the paper's zero side-info: with ``psi = 0`` the side branch outputs a constant vector,
whose contribution to the first mixer layer is a constant shift removed by that layer's BatchNorm
(tested in ``tests/test_fct_transform.py``), so the zero branch only adds parameters. The
equivalence is exact with batch statistics; with running statistics (eval mode) it holds once the
running mean has absorbed the shift, i.e. up to a term that decays as ``(1 - momentum)^steps``.

Training (not here): Adam, lr 5e-4, weight decay 2^-15, 80 epochs with a cosine schedule and 5
warm-up epochs, MSE to the new feature; for the second half of the epochs the official trainer puts
the whole transformation in ``eval()`` mode -- see :func:`freeze_batchnorm`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["FCTTransformConfig", "FCTTransform", "freeze_batchnorm", "batchnorm_frozen"]


@dataclass(frozen=True)
class FCTTransformConfig:
    """Layer sizes of :class:`FCTTransform`.

    Attributes:
        old_dim: old embedding size ``d_old``.
        side_dim: side-info size ``d_side``; ``0`` means no side branch.
        new_dim: new embedding size ``d_new``.
        branch_hidden: hidden width of each branch; ``None`` is the official ``2 * input dim``
            (``2*old_dim`` for ``p1``, ``2*side_dim`` for ``p2``).
        branch_out: output width of each branch; ``None`` is the official ``2 * new_dim``.
        mixer_hidden: hidden width of the mixer (official ``inner_dim`` = 2048).
        mixer_layers: number of hidden ``Linear-BN-ReLU`` layers in the mixer (official 2).
    """

    old_dim: int = 128
    side_dim: int = 128
    new_dim: int = 128
    branch_hidden: int | None = None
    branch_out: int | None = None
    mixer_hidden: int = 2048
    mixer_layers: int = 2

    def __post_init__(self) -> None:
        for name in ("old_dim", "new_dim", "mixer_hidden", "mixer_layers"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"FCTTransformConfig.{name} must be a positive int, got {v!r}")
        if not isinstance(self.side_dim, int) or self.side_dim < 0:
            raise ValueError("FCTTransformConfig.side_dim must be a non-negative int "
                             f"(0 = no side-info branch), got {self.side_dim!r}")
        for name in ("branch_hidden", "branch_out"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise ValueError(f"FCTTransformConfig.{name} must be None (official size) or a "
                                 f"positive int, got {v!r}")

    @property
    def out_width(self) -> int:
        """Output width of each branch."""
        return self.branch_out if self.branch_out is not None else 2 * self.new_dim

    def hidden_width(self, in_dim: int) -> int:
        """Hidden width of a branch whose input has ``in_dim`` features."""
        return self.branch_hidden if self.branch_hidden is not None else 2 * in_dim


def _lbr(d_in: int, d_out: int) -> list[nn.Module]:
    return [nn.Linear(d_in, d_out, bias=False), nn.BatchNorm1d(d_out), nn.ReLU(inplace=True)]


def _branch(d_in: int, cfg: FCTTransformConfig) -> nn.Sequential:
    hidden = cfg.hidden_width(d_in)
    return nn.Sequential(*_lbr(d_in, hidden), *_lbr(hidden, cfg.out_width))


class FCTTransform(nn.Module):
    """``h(old, side) = mixer([p1(old), p2(side)])``.

    Args:
        config: layer sizes (default: the official 128/128/128 with 2048-wide mixer).
    """

    def __init__(self, config: FCTTransformConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or FCTTransformConfig()
        self.old_branch = _branch(cfg.old_dim, cfg)
        self.side_branch = _branch(cfg.side_dim, cfg) if cfg.side_dim > 0 else None
        n_branches = 2 if self.side_branch is not None else 1
        layers: list[nn.Module] = []
        d = n_branches * cfg.out_width
        for _ in range(cfg.mixer_layers):
            layers += _lbr(d, cfg.mixer_hidden)
            d = cfg.mixer_hidden
        layers.append(nn.Linear(d, cfg.new_dim))
        self.mixer = nn.Sequential(*layers)

    @staticmethod
    def _check(t: Tensor, dim: int, what: str) -> None:
        if not isinstance(t, Tensor) or t.dim() != 2 or t.shape[1] != dim:
            shape = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"FCTTransform expects {what} of shape (B, {dim}), got {shape}")

    def forward(self, old: Tensor, side: Tensor | None = None) -> Tensor:
        """Transform old embeddings (with side-info) to the new embedding space.

        Args:
            old: ``(B, old_dim)`` old embeddings.
            side: ``(B, side_dim)`` side-info; must be ``None`` when ``side_dim == 0``.

        Returns:
            ``(B, new_dim)``.
        """
        cfg = self.config
        self._check(old, cfg.old_dim, "old embeddings")
        parts = [self.old_branch(old)]
        if self.side_branch is None:
            if side is not None:
                raise ValueError("this FCTTransform has side_dim=0 (no side-info branch); "
                                 "call it with side=None")
        else:
            if side is None:
                raise ValueError(f"this FCTTransform expects side-info of shape (B, {cfg.side_dim});"
                                 " use embcompat.models.side_info.zero_side_info for 'None'")
            self._check(side, cfg.side_dim, "side-info")
            if side.shape[0] != old.shape[0]:
                raise ValueError(f"old ({old.shape[0]}) and side ({side.shape[0]}) batch sizes differ")
            parts.append(self.side_branch(side))
        return self.mixer(torch.cat(parts, dim=1))


def freeze_batchnorm(module: nn.Module) -> int:
    """Put every BatchNorm layer of ``module`` in eval mode (the second half of FCT training).

    What the official code does: for epochs ``>= epochs / 2`` (``switch_mode_to_eval``) it calls
    ``model.eval()`` on the transformation before each training epoch. The transformation has no
    dropout, so the only effect is on BatchNorm: it normalises with its running mean/variance
    instead of the batch statistics, and those running statistics stop updating. BatchNorm's affine
    ``weight``/``bias`` stay trainable (the optimizer still updates them) and gradients still flow.
    This helper does exactly that, to BatchNorm layers only, so it is also correct for modules
    that contain dropout.

    ``module.train()`` undoes it: call this *after* ``model.train()`` at the start of each epoch.

    Args:
        module: any module.

    Returns:
        The number of BatchNorm layers switched to eval mode.
    """
    n = 0
    for m in module.modules():
        if isinstance(m, _BatchNorm):
            m.eval()
            n += 1
    return n


def batchnorm_frozen(module: nn.Module) -> bool:
    """True when ``module`` has BatchNorm layers and all of them are in eval mode."""
    bns = [m for m in module.modules() if isinstance(m, _BatchNorm)]
    return bool(bns) and not any(m.training for m in bns)
