"""Train independent BC method chains side by side, on any :mod:`embcompat.executors` back-end.

A *chain* is one method's versions ``1..K`` at one config (e.g. BC-Aligner at λ = 4). Given the
shared ``M_0`` it depends on nothing else, so the (method, λ) chains of the λ sweep can train
concurrently: in local processes (``workers`` > 1) or on a Ray cluster.

**Workers never touch the cache.** For each :class:`ChainJob` this process (the driver) loads the
versions the chain builds on that are already in its cache (``M_0``, and Non-BC's for a post-hoc
method) and ships them with the job; the worker runs the unchanged
:func:`~embcompat.backward.train.train_versions` logic against them and *returns* every version it
trained (the cache entry's ``config.json`` and ``version.pt`` payload); the driver writes those
entries under the usual keys. So a cluster needs no shared filesystem (neither the cache nor the
data mirror: the graph and its splits travel with the job), only one process ever writes a cache
entry, and the caller then loads the chains from the cache as if it had trained them itself.
Chains whose every version is cached are not sent at all.

Why processes at all: at the demo sizes a training step is a few small matmuls and sparse
products, which two torch threads share poorly, and 1-thread workers give more throughput on 2
cores (measured in ``benchmarks/results/sweep.md``).

The caller must have trained (or cached) ``M_0`` first (and Non-BC for post-hoc chains): a chain
sent without it would retrain it in the worker.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

from embcompat.config.bc import BCTrainConfig
from embcompat.backward.methods import get_method
from embcompat.backward.results import VersionRecord
from embcompat.backward.train import _keys, _run
from embcompat.backward.version_context import TrainContext, write_version
from embcompat.data import InteractionGraph, VersionSplit
from embcompat.executors import Executor, get_executor, worker_threads

__all__ = ["ChainJob", "ChainTask", "ChainOutput", "run_chain", "train_chains", "worker_threads"]


@dataclass(frozen=True)
class ChainJob:
    """One method's versions on one data set at one config.

    Attributes:
        graph: the data set (pickled to the worker).
        splits: its version splits (as the caller made them).
        method: a Table 3 name or official slug.
        config: the training config (``lam`` set).
    """

    graph: InteractionGraph
    splits: Sequence[VersionSplit]
    method: str
    config: BCTrainConfig

    @property
    def label(self) -> str:
        return f"{self.graph.name} {self.method} λ={self.config.lam:g} seed={self.config.seed}"


@dataclass(frozen=True)
class ChainTask:
    """What a worker gets: the job and the records it builds on, by cache key."""

    job: ChainJob
    known: dict[str, VersionRecord] = field(default_factory=dict)


@dataclass
class ChainOutput:
    """What a worker returns: its training time and one ``(key, config.json, version.pt payload)``
    per version it trained (none for versions it found in :attr:`ChainTask.known`)."""

    seconds: float
    entries: list[tuple[str, dict, dict]]


class _Collect(TrainContext):
    """train_versions' context, with the cache replaced by the shipped records (read) and a list
    of new entries (write)."""

    def __init__(self, task: ChainTask):
        job = task.job
        super().__init__(job.graph, job.splits, job.config, cache=True, progress=False)
        self.known, self.entries = task.known, []

    def load(self, key: str) -> VersionRecord | None:
        return self.known.get(key)

    def save(self, rec: VersionRecord, method, key_parts) -> None:
        self.entries.append((rec.key, self.entry(rec, method, key_parts), rec.to_payload()))


def run_chain(task: ChainTask) -> ChainOutput:
    """The worker's side: train the chain's missing versions and return them (no file written)."""
    t0 = time.perf_counter()
    ctx = _Collect(task)
    _run(get_method(task.job.method), ctx, None)
    return ChainOutput(time.perf_counter() - t0, ctx.entries)


def _needs(method: str) -> list[str]:
    """The methods whose versions a chain of ``method`` reads (its own included)."""
    m = get_method(method)
    return {"posthoc": ["Non-BC", m.name], "derived": ["Non-BC", "Fix-M0"]}.get(m.kind, [m.name])


def _task(job: ChainJob, loaded: dict) -> tuple[ChainTask, bool]:
    """The job with the driver's cached records it reads; True when all its versions are cached.
    ``loaded`` memoises the records by key (``M_0`` is shared by every chain of a data set)."""
    ctx = TrainContext(job.graph, job.splits, job.config, cache=True, progress=False)
    known, complete = {}, True
    for name in _needs(job.method):
        for key in _keys(get_method(name), ctx):
            if key not in loaded:
                loaded[key] = ctx.load(key)
            if loaded[key] is None:
                complete = False
                break  # the later keys build on this one
            known[key] = loaded[key]
    return ChainTask(job, known), complete


def train_chains(jobs: Sequence[ChainJob], workers: int = 1, *, executor: Executor | None = None,
                 progress: bool = True) -> dict:
    """Train every chain not yet in the cache and write its versions there; ``{label: seconds}``
    (0 for a chain found complete in the cache).

    Args:
        jobs: the chains, longest first for the best packing (a worker takes the next job when it
            finishes one).
        workers: local processes when no ``executor`` is given (1: this process).
        executor: where to run them (:func:`embcompat.executors.get_executor`); the results are
            the same on every back-end.
        progress: one tqdm bar over the chains.

    Raises:
        RuntimeError: naming the failed chain, from the worker's exception.
    """
    executor = executor if executor is not None else get_executor("local", workers=workers)
    seconds: dict[str, float] = {}
    loaded: dict = {}
    tasks = []
    for job in jobs:
        task, complete = _task(job, loaded)
        if complete:
            seconds[job.label] = 0.0
        else:
            tasks.append(task)
    loaded.clear()
    for task, out in executor.map(run_chain, tasks, label=lambda t: f"chain {t.job.label}",
                                  desc="chains", unit="chain", progress=progress):
        for key, meta, payload in out.entries:
            write_version(key, meta, payload)
        seconds[task.job.label] = out.seconds
    return seconds
