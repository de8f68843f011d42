"""Default knobs of the λ sweep (notebook 05) per scale: :class:`SweepScale`.

The demo's budget (notebook 05 from notebook 02/03's cache on 2 cores, with the per-chain costs
that set it) is recorded in ``benchmarks/results/bc_epoch.md`` and README.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SweepScale", "SWEEP_SCALES", "JOINT_METHODS", "PAPER_LAMBDAS"]

#: The paper's three joint methods, swept over λ (Figure 5), and BC-Aligner-MLP (not in the paper).
JOINT_METHODS = ("Joint-NoTrans", "Joint-Lin-SLoss", "BC-Aligner", "BC-Aligner-MLP")
#: The paper's λ grid.
PAPER_LAMBDAS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


@dataclass(frozen=True)
class SweepScale:
    """Default knobs of the λ sweep at one scale (the notebook's parameters override them).

    Attributes:
        datasets: graph data sets swept.
        lambdas: the λ grid.
        methods: the swept methods (the joint methods, :data:`JOINT_METHODS`).
        seeds: training seeds of the GNN versions.
        epochs: override of :attr:`BCTrainConfig.epochs` (``None``: the scale's; any other value
            retrains everything, references included).
        select_start: override of :attr:`BCTrainConfig.select_start` (``None``: the scale's;
            another value retrains only the joint methods, which alone select with it).
        workers: processes training the (method, λ) chains (:mod:`embcompat.backward.parallel`).
    """

    datasets: tuple[str, ...]
    lambdas: tuple[float, ...] = PAPER_LAMBDAS
    methods: tuple[str, ...] = JOINT_METHODS
    seeds: tuple[int, ...] = (42,)
    epochs: int | None = None
    select_start: int | None = None
    workers: int = 1


#: Per-scale defaults.
SWEEP_SCALES: dict[str, SweepScale] = {
    "smoke": SweepScale(datasets=("synthetic",), lambdas=(1.0, 4.0, 16.0), seeds=(42, 43)),
    # BC-Aligner only, on the five training seeds of notebooks 02-04 (a trend claim needs >= 5; their
    # λ = 1 chains and references come from the same cache). All four joint methods would take several
    # hours on our 2 cores; BC-Aligner alone is the paper's proposed method (README gives the time).
    # Pass methods='["Joint-NoTrans", "Joint-Lin-SLoss", "BC-Aligner"]' for Figure 5's three.
    "demo": SweepScale(datasets=("amazon-2014-hin", "movielens-latest-small"), seeds=(42, 43, 44, 45, 46),
                       methods=("BC-Aligner",), workers=2),
    "paper": SweepScale(datasets=("amazon2018-musical-instruments",), lambdas=PAPER_LAMBDAS,
                        seeds=(42, 43, 44)),
}
