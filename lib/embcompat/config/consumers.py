"""How the consumer models C_0 are tuned and trained: :class:`ConsumerConfig` and its named sizes;
:class:`MatrixConfig`, the later consumers C_j of the full compatibility matrix."""
from __future__ import annotations

from dataclasses import dataclass, replace

from embcompat.config.common import check_scale

__all__ = ["ConsumerConfig", "CONSUMER_PRESETS", "MatrixConfig", "MATRIX_PRESETS", "LATER_GRIDS",
           "matrix_config"]


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


@dataclass(frozen=True)
class MatrixConfig:
    """The consumers ``C_j`` of the full BC compatibility matrix
    (:mod:`embcompat.backward.compat_matrix`). ``C_0`` is always the scale's
    :class:`ConsumerConfig`, untouched (same cache keys as Table 3).

    Attributes:
        later_seeds: the seeds of ``C_j`` for ``j >= 1``; ``None``: the same seeds as ``C_0``.
        later_grid: ``"search"``: ``C_j`` runs ``C_0``'s whole grid search on its own data;
            ``"c0"``: ``C_j`` takes the grid point (hidden size, dropout) ``C_0`` of the same task
            chose, and only trains its seeds (a team re-training its consumer keeps its layout).
        consumer_versions: which ``j`` get a row; ``None``: every ``j = 0 .. K-1`` (``C_K``
            would have no later version to validate its user tasks on).
    """

    later_seeds: tuple[int, ...] | None = None
    later_grid: str = "search"
    consumer_versions: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.later_grid not in LATER_GRIDS:
            raise ValueError(f"later_grid must be one of {LATER_GRIDS}, got {self.later_grid!r}")
        if self.later_seeds is not None:
            object.__setattr__(self, "later_seeds", tuple(int(s) for s in self.later_seeds))
            if not self.later_seeds or len(set(self.later_seeds)) != len(self.later_seeds):
                raise ValueError(f"later_seeds must be distinct and non-empty, got {self.later_seeds}")
        if self.consumer_versions is not None:
            object.__setattr__(self, "consumer_versions",
                               tuple(int(j) for j in self.consumer_versions))

    def consumer_config(self, base: ConsumerConfig, c0_point: tuple[int, float] | None = None
                        ) -> ConsumerConfig:
        """``C_j``'s protocol for ``j >= 1``: ``base`` with :attr:`later_seeds` and, with
        ``later_grid="c0"``, the grid cut to ``c0_point = (hidden_dim, dropout)`` of ``C_0``.

        Raises:
            ValueError: ``later_grid="c0"`` without ``c0_point``.
        """
        cfg = base if self.later_seeds is None else replace(base, seeds=self.later_seeds)
        if self.later_grid == "c0":
            if c0_point is None:
                raise ValueError("later_grid='c0' needs C_0's chosen (hidden_dim, dropout)")
            cfg = replace(cfg, hidden_grid=(int(c0_point[0]),), dropout_grid=(float(c0_point[1]),))
        return cfg

    def versions(self, num_versions: int) -> list[int]:
        """The consumer versions ``j`` of a run with ``num_versions = K + 1`` versions.

        Raises:
            ValueError: fewer than 2 versions, or a requested ``j`` outside ``0 .. K-1``.
        """
        if num_versions < 2:
            raise ValueError(f"the matrix needs at least 2 versions, got {num_versions}")
        js = list(range(num_versions - 1)) if self.consumer_versions is None \
            else sorted(set(self.consumer_versions))
        bad = [j for j in js if not 0 <= j <= num_versions - 2]
        if bad or not js:
            raise ValueError(f"consumer_versions {bad or js} must lie in 0..{num_versions - 2}")
        return js


#: The choices of :attr:`MatrixConfig.later_grid`.
LATER_GRIDS = ("search", "c0")
#: Per scale. ``demo`` trains C_j (j >= 1) at C_0's grid point with one seed instead of a grid
#: search and 3 seeds, to stay near 5 CPU minutes per data set (measured in docs/deviations.md);
#: ``paper`` keeps the whole protocol.
MATRIX_PRESETS = {
    "smoke": MatrixConfig(),
    "demo": MatrixConfig(later_seeds=(0,), later_grid="c0"),
    "paper": MatrixConfig(),
}


def matrix_config(scale: str | None = None, **overrides) -> MatrixConfig:
    """The scale's :class:`MatrixConfig` with field overrides (``later_seeds=(0,)``).

    Raises:
        ValueError: an unknown scale or field.
    """
    cfg = MATRIX_PRESETS[check_scale(scale)]
    try:
        return replace(cfg, **overrides)
    except TypeError as err:
        raise ValueError(f"unknown MatrixConfig field in {sorted(overrides)}; allowed: "
                         "later_seeds, later_grid, consumer_versions") from err
