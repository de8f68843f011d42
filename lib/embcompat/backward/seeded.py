"""Training seeds as an axis of the BC experiments (notebooks 02-04): every (data set, seed)
trains its whole chain, ``M_0`` included, and the chains of all seeds train side by side.

A training seed ``s`` is :attr:`BCTrainConfig.seed`: it draws ``M_0`` and every later ``M_k`` /
``B_k``, the BPR triples, and the validation / test halves of each version's evaluation window
(``version_splits(..., seed=s)``); within one seed ``M_0`` stays shared by every method, as in
:func:`~embcompat.backward.experiment.run_experiment`. So one seed is one full repetition of the
experiment, and the per-seed numbers are independent draws of it (:mod:`embcompat.stats`).

:func:`pretrain` puts every chain of every (data set, seed) into the cache through
:func:`~embcompat.backward.parallel.train_chains`, in two waves, because a chain may only be sent
once what it builds on is cached:

1. Non-BC of every (data set, seed): trains ``M_0`` and Non-BC's ``M_1..M_K``;
2. every other method that trains anything (the joint methods, Finetune-M0, the post-hoc ``B_k``
   on Non-BC's models), the largest data set first.

Fix-M0 (forward passes of ``M_0``) and Keep-All (derived) are left to the experiment, which then
finds every version in the cache. With ``workers > 1`` (or Ray) the chains run in parallel; the
results are the same bit for bit (``tests/test_executors.py``).

:func:`pretrain_consumers` does the same for the consumers ``C_0`` of every (data set, seed): each
worker trains those of one pair (they depend on its ``M_0`` only) and returns them, and this
process writes them into the cache, where :func:`~embcompat.backward.experiment.run_experiment`
then finds them.
"""
from __future__ import annotations

from typing import Sequence

from embcompat.backward.experiment import BCExperiment, resolve_methods, run_experiment
from embcompat.backward.methods import get_method
from embcompat.backward.parallel import ChainJob, train_chains
from embcompat.config import bc_config, get_scale
from embcompat.config.bc import train_seeds
from embcompat.data import InteractionGraph, load_graph, version_splits
from embcompat.executors import Executor, default_workers, get_executor

__all__ = ["default_workers", "seed_jobs", "pretrain", "pretrain_consumers", "run_seeds"]

#: Method kinds that train nothing of their own (left to the experiment).
_FREE = ("fixed", "derived")


def seed_jobs(graph: InteractionGraph, scale: str, methods: Sequence[str], seeds: Sequence[int],
              device: str = "auto") -> tuple[list[ChainJob], list[ChainJob]]:
    """The two waves of chains of one data set: ``(Non-BC per seed, the rest per seed)``."""
    first, second = [], []
    for seed in seeds:
        cfg = bc_config(scale, graph.name, seed=seed, device=device)
        splits = version_splits(graph, cfg.times, heldout_test=cfg.heldout_test, seed=seed)
        first.append(ChainJob(graph, splits, "Non-BC", cfg))
        for m in methods:
            kind = get_method(m).kind
            if m != "Non-BC" and kind not in _FREE:
                second.append(ChainJob(graph, splits, m, cfg))
    return first, second


def _cost(job: ChainJob) -> tuple:
    """Sort key, longest chain first: data size, then joint > finetune > post-hoc."""
    rank = {"independent": 0, "joint": 0, "finetune": 1, "posthoc": 2}[get_method(job.method).kind]
    return (-job.graph.num_edges, rank)


def pretrain(graphs: Sequence[InteractionGraph], scale: str, methods: Sequence[str] | None,
             seeds: Sequence[int] | None = None, *, device: str = "auto",
             workers: int | None = None, executor: Executor | None = None,
             progress: bool = True) -> dict:
    """Train every chain of every (data set, seed) that is not cached yet; ``{label: seconds}``.

    Args:
        graphs: the data sets.
        scale: the scale's name.
        methods: Table 3 names or slugs (None: all).
        seeds: training seeds (None: the scale's :data:`~embcompat.config.bc.TRAIN_SEEDS`).
        device: as everywhere.
        workers: local processes (default :func:`default_workers`); not with ``executor``.
        executor: where to run the chains (:func:`embcompat.executors.get_executor`).
        progress: tqdm bars.
    """
    names = resolve_methods(methods)
    sd = train_seeds(scale, seeds)
    if executor is not None and workers is not None:
        raise ValueError(f"pass workers={workers} to the executor, not with executor={executor!r}")
    own = executor is None
    if own:
        executor = get_executor("local", workers=workers or default_workers(device))
    waves = [[], []]
    for g in graphs:
        for wave, jobs in zip(waves, seed_jobs(g, scale, names, sd, device)):
            wave.extend(jobs)
    seconds: dict = {}
    try:
        for wave in waves:
            seconds.update(train_chains(sorted(wave, key=_cost), executor=executor,
                                        progress=progress))
    finally:
        if own:
            executor.close()
    return seconds


def _train_c0(job: tuple) -> list:
    """The ``C_0`` of every task of one (graph, scale, seed, device) that the cache lacks, as
    ``[(cache key, TrainedConsumers on the CPU)]`` (``M_0`` comes from the cache)."""
    from embcompat.backward.consumer_cache import consumers_cache_key, load_consumers
    from embcompat.backward.consumers import train_consumers
    from embcompat.backward.tasks import build_tasks
    from embcompat.backward.train import train_versions
    from embcompat.cache_files import CorruptCacheError
    from embcompat.utils import cache_dir

    graph, scale, seed, device = job
    sc = get_scale(scale)
    cfg = bc_config(sc.name, graph.name, seed=seed, device=device)
    splits = version_splits(graph, cfg.times, heldout_test=cfg.heldout_test, seed=seed)
    z0 = train_versions("Fix-M0", graph, splits, cfg, progress=False).consumer_embeddings()
    out = []
    for task in build_tasks(graph, splits=splits).values():
        key = consumers_cache_key(task, z0, sc.consumers)
        try:
            load_consumers(cache_dir("consumers", key), "cpu")
            continue  # cached and intact
        except (FileNotFoundError, CorruptCacheError):
            pass
        trained = train_consumers(task, z0, sc.consumers, device=cfg.device)
        trained.models = [m.cpu() for m in trained.models]
        out.append((key, trained))
    return out


def pretrain_consumers(graphs: Sequence[InteractionGraph], scale: str, seeds: Sequence[int] | None = None, *,
                       device: str = "auto", workers: int | None = None, progress: bool = True) -> int:
    """Train the consumers ``C_0`` of every (data set, seed) that the cache lacks, one pair per
    local worker, and cache them; returns how many task models were trained. Call after
    :func:`pretrain` (``C_0`` is trained on each seed's ``M_0``)."""
    from embcompat.backward.consumer_cache import save_consumers
    from embcompat.utils import cache_dir

    sd = train_seeds(scale, seeds)
    jobs = sorted(((g, scale, s, device) for g in graphs for s in sd), key=lambda j: -j[0].num_edges)
    n = 0
    with get_executor("local", workers=workers or default_workers(device)) as executor:
        for _, out in executor.map(_train_c0, jobs, label=lambda j: f"C_0 {j[0].name} seed {j[2]}",
                                   desc="consumers", unit="seed", progress=progress):
            for key, trained in out:
                save_consumers(trained, cache_dir("consumers", key))
                n += 1
    return n


def run_seeds(dataset: str | InteractionGraph, scale: str, methods: Sequence[str] | None = None,
              seeds: Sequence[int] | None = None, *, device: str = "auto", consumers: bool = True,
              workers: int | None = None, executor: Executor | None = None,
              progress: bool = True) -> list[BCExperiment]:
    """One :class:`~embcompat.backward.experiment.BCExperiment` per training seed, in seed order
    (chains trained first by :func:`pretrain`, then everything loaded from the cache; ``C_0`` is
    trained per seed, on that seed's ``M_0``)."""
    sc = get_scale(scale)
    graph = load_graph(dataset) if isinstance(dataset, str) else dataset
    sd = train_seeds(sc.name, seeds)
    pretrain([graph], sc.name, methods, sd, device=device, workers=workers, executor=executor,
             progress=progress)
    return [run_experiment(graph, sc.name, methods, seed=s, device=device, consumers=consumers,
                           progress=progress) for s in sd]
