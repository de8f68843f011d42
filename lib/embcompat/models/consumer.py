"""The consumer model C of the unintended tasks: a small MLP producing one logit.

The official ``recsys/models/mlp.py`` (bc-emb) builds, with its default ``num_mlp_layers=2``::

    Linear(d_in, h) -> BatchNorm1d(h) -> ReLU -> Dropout(p)      # block 1
    Linear(h, h)    -> BatchNorm1d(h)         -> Dropout(p)      # block 2: no ReLU (a bug)
    Linear(h, 1)

Without the second ReLU, block 2 and the output layer compose to one affine map, so the official
consumer computes exactly the function class of a 1-hidden-layer MLP, which is what the paper calls
it. We keep the official layout (two blocks, BatchNorm) and, by default, restore the missing ReLU
(``relu_every_block=True``), which makes block 2 a real second hidden layer: a documented deviation.
``relu_every_block=False`` gives the official network bit for bit; ``num_blocks=1`` gives the
paper's literal 1-hidden-layer MLP ``Linear -> BatchNorm -> ReLU -> Dropout -> Linear``. The
official output clamp (``min_value``/``max_value``, regression only) is unused by binary tasks and
left out.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ConsumerSpec:
    """Shape of a consumer MLP.

    Attributes:
        in_dim: input width (``d_0`` for node tasks, ``2 d_0`` for the edge task).
        hidden_dim: hidden width ``h``.
        dropout: dropout probability after each block.
        num_blocks: ``Linear -> [BatchNorm] -> ReLU -> Dropout`` blocks before the output layer.
        batch_norm: BatchNorm1d after each hidden Linear (official: yes).
        relu_every_block: ReLU in every block; ``False`` drops it from blocks 2.. as the official
            code does.
    """

    in_dim: int
    hidden_dim: int = 128
    dropout: float = 0.0
    num_blocks: int = 2
    batch_norm: bool = True
    relu_every_block: bool = True

    def __post_init__(self) -> None:
        if self.in_dim < 1 or self.hidden_dim < 1 or self.num_blocks < 1:
            raise ValueError(f"in_dim, hidden_dim and num_blocks must be >= 1: {self}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class ConsumerMLP(nn.Module):
    """MLP consumer: ``(n, in_dim) -> (n,)`` logits.

    Args:
        spec: the :class:`ConsumerSpec`.
    """

    def __init__(self, spec: ConsumerSpec):
        super().__init__()
        self.spec = spec
        layers: list[nn.Module] = []
        width = spec.in_dim
        for b in range(spec.num_blocks):
            layers.append(nn.Linear(width, spec.hidden_dim))
            if spec.batch_norm:
                layers.append(nn.BatchNorm1d(spec.hidden_dim))
            if b == 0 or spec.relu_every_block:
                layers.append(nn.ReLU())
            layers.append(nn.Dropout(spec.dropout))
            width = spec.hidden_dim
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)

    @property
    def in_dim(self) -> int:
        """Input width."""
        return self.spec.in_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits.

        Args:
            x: ``(n, in_dim)`` inputs.

        Returns:
            ``(n,)`` logits of the positive class.
        """
        return self.mlp(x).squeeze(-1)
