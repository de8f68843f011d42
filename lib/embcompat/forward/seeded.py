"""Training seeds and data sets as axes of the FCT notebooks 06-08.

One *experiment* is one (data set, training seed): a :class:`~embcompat.forward.experiment.FCTExperiment`
whose ``scale.seed`` draws every model it trains -- old, new (the independent new model has a
torch seed of its own, :func:`~embcompat.forward.experiment.model_seed`), BCT, every side-info
model, every h and g. The image subsets stay fixed (``data_seed``), so the per-seed numbers are
independent repetitions of the training on the same data, and their spread is training noise.

:func:`pretrain` trains what a notebook needs for every experiment side by side in ``workers``
local processes (each writes its own models into the shared cache, atomically; no two
experiments share a model), then the notebook loads everything from the cache in order.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Sequence

import pandas as pd

from embcompat.config.fct import FCTScale, fct_config, fct_seeds
from embcompat.executors import get_executor
from embcompat.params import as_list

__all__ = ["PARTS", "experiment_configs", "pretrain", "experiments", "stack"]

#: What :func:`pretrain` trains: ``compat`` (notebooks 06/07: Table 1 and 6 models, every h) or
#: ``sequence`` (notebook 08: the v1 -> v2 -> v3 models, h and g).
PARTS = ("compat", "sequence")


def experiment_configs(scale: str | None, datasets=None, seeds=None, *, device: str = "auto",
                       side_infos=None) -> list[FCTScale]:
    """One config per (data set, training seed), data sets outermost.

    Args:
        scale: the scale's name.
        datasets: data set specs (``None``: the scale's ``datasets``); a string as ``papermill -p``
            passes it is accepted.
        seeds: training seeds (``None``: the scale's :data:`~embcompat.config.fct.FCT_SEEDS`).
        device, side_infos: as :func:`~embcompat.config.fct.fct_config`.

    Raises:
        ValueError: a bad value, naming the allowed ones.
    """
    base = fct_config(scale, device=device, side_infos=side_infos)
    names = base.datasets if datasets is None else as_list(datasets, "datasets", item_type=str)
    if len(set(names)) != len(names):
        raise ValueError(f"datasets must be distinct, got {names}")
    sd = fct_seeds(base.name, seeds)
    return [fct_config(base.name, dataset=ds, seed=s, device=device, side_infos=side_infos)
            for ds in names for s in sd]


def _warm(job: tuple) -> dict:
    """Train (or find) every model one notebook part needs for one config; runs in a worker."""
    cfg, part, side_infos = job
    from embcompat.forward.compat_matrix import fct_compat_matrix
    from embcompat.forward.evaluate import compatibility_table
    from embcompat.forward.experiment import FCTExperiment
    from embcompat.forward.sequences import sequence_table

    start = time.perf_counter()
    exp = FCTExperiment(replace(cfg, num_threads=None))  # keep the executor's per-worker threads
    if part == "compat":
        compatibility_table(exp)
    else:
        sequence_table(exp, side_infos)
        fct_compat_matrix(exp, side_infos)
    trained = sum(not r["from_cache"] for r in exp.log)
    return {"dataset": cfg.dataset, "seed": cfg.seed, "part": part, "trained": trained,
            "seconds": time.perf_counter() - start}


def pretrain(configs: Sequence[FCTScale], part: str, *, side_infos=None, workers: int = 1,
             progress: bool = True) -> pd.DataFrame:
    """Train what ``part`` needs for every config, ``workers`` experiments at a time.

    Args:
        configs: from :func:`experiment_configs`.
        part: one of :data:`PARTS`.
        side_infos: the sequence's side-info kinds (``sequence`` only; ``None``: the scale's).
        workers: local processes (1: in this process, one after the other).
        progress: one bar over the experiments.

    Returns:
        One row per experiment: dataset, seed, part, trained (models trained now), seconds.
    """
    if part not in PARTS:
        raise ValueError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
    jobs = [(c, part, side_infos) for c in configs]
    with get_executor("local", workers=workers) as ex:
        rows = [r for _, r in ex.map(_warm, jobs, label=lambda j: f"{j[0].dataset} seed {j[0].seed}",
                                     desc=f"FCT {part}", unit="experiment", progress=progress)]
    return pd.DataFrame(rows).sort_values(["dataset", "seed"]).reset_index(drop=True)


def experiments(configs: Sequence[FCTScale]) -> list:
    """The experiments of ``configs`` in order, each data set's images loaded once."""
    from embcompat.forward.data import load_fct_data
    from embcompat.forward.experiment import FCTExperiment

    data: dict = {}
    out = []
    for c in configs:
        key = (c.dataset, c.train_per_class, c.eval_per_class, c.data_seed, c.norm_stats)
        if key not in data:
            data[key] = load_fct_data(*key)
        out.append(FCTExperiment(c, data=data[key]))
    return out


def stack(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Per-experiment tidy frames as one (each already carries its ``dataset`` and ``seed``)."""
    return pd.concat(list(frames), ignore_index=True)
