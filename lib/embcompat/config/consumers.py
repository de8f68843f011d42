"""How the consumer models C_0 are tuned and trained: :class:`ConsumerConfig` and its named sizes."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConsumerConfig", "CONSUMER_PRESETS"]


@dataclass(frozen=True)
class ConsumerConfig:
    """How C_0 is tuned and trained (defaults: the paper / official code).

    Attributes:
        hidden_grid: hidden sizes tried.
        dropout_grid: dropout ratios tried.
        epochs: training epochs per run.
        batch_size: minibatch size.
        lr: Adam learning rate.
        eval_every: validate every this many epochs.
        patience: stop a run after this many validations without improvement (None: never).
        grid_seed: the seed of every grid run.
        seeds: the seeds of the final models.
        num_blocks, batch_norm, relu_every_block: the MLP layout (:class:`ConsumerSpec`).
        eval_batch_size: rows per forward pass when scoring.
    """

    hidden_grid: tuple[int, ...] = (128, 256, 512, 1024)
    dropout_grid: tuple[float, ...] = (0.0, 0.25, 0.5)
    epochs: int = 300
    batch_size: int = 2048
    lr: float = 1e-3
    eval_every: int = 1
    patience: int | None = None
    grid_seed: int = 0
    seeds: tuple[int, ...] = tuple(range(10))
    num_blocks: int = 2
    batch_norm: bool = True
    relu_every_block: bool = True
    eval_batch_size: int = 65536


#: Named sizes; ``paper`` is the official protocol.
CONSUMER_PRESETS = {
    "smoke": ConsumerConfig(hidden_grid=(32,), dropout_grid=(0.0,), epochs=5, seeds=(0, 1)),
    "demo": ConsumerConfig(hidden_grid=(128, 256), dropout_grid=(0.0, 0.5), epochs=20, patience=5,
                           seeds=(0, 1, 2)),
    "paper": ConsumerConfig(),
}
