"""Train independent BC method chains side by side in worker processes.

A *chain* is one method's versions ``1..K`` at one config (e.g. BC-Aligner at λ = 4). Given the
shared ``M_0`` in the cache it depends on nothing else, so the (method, λ) chains of the λ sweep
can train concurrently. :func:`train_chains` runs each :class:`ChainJob` through
:func:`~embcompat.backward.train.train_versions`, which writes the usual per-version cache entries
atomically; the caller then loads them as if it had trained them itself.

Why processes: at the demo sizes a training step is a few small matmuls and sparse products, which
two torch threads share poorly, and 1-thread workers give more throughput on 2 cores (measured
in ``benchmarks/results/sweep.md``).

The caller must have trained (or cached) ``M_0`` and every reference first: workers only read
them, so no two processes ever write the same cache entry. Workers are *spawned* (fresh
interpreters): from a notebook that just works; from a script, call under
``if __name__ == "__main__":`` as with any spawn-based multiprocessing.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Sequence

import torch
from tqdm.auto import tqdm

from embcompat.config.bc import BCTrainConfig
from embcompat.backward.train import train_versions
from embcompat.data import InteractionGraph, VersionSplit

__all__ = ["ChainJob", "train_chains", "worker_threads"]


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


def worker_threads(workers: int) -> int:
    """Torch threads per worker: the CPU cores shared out, at least 1."""
    return max(1, (os.cpu_count() or 1) // max(workers, 1))


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def _run(job: ChainJob) -> float:
    t0 = time.perf_counter()
    train_versions(job.method, job.graph, job.splits, job.config, progress=False)
    return time.perf_counter() - t0


def train_chains(jobs: Sequence[ChainJob], workers: int = 1, *, progress: bool = True) -> dict:
    """Train (or load) every chain; returns ``{label: seconds}``.

    Args:
        jobs: the chains, longest first for the best packing (a worker takes the next job when it
            finishes one).
        workers: processes (each with :func:`worker_threads` torch threads).
        progress: one tqdm bar over the jobs.

    Raises:
        RuntimeError: naming the failed job, from the worker's exception.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    seconds: dict[str, float] = {}
    bar = tqdm(total=len(jobs), desc="chains", unit="chain", disable=not progress)
    if not jobs:
        return seconds
    try:
        ctx = mp.get_context("spawn")  # never fork a process that holds torch threads
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=ctx,
                                 initializer=_init_worker,
                                 initargs=(worker_threads(workers),)) as pool:
            futures = {pool.submit(_run, job): job for job in jobs}
            for fut in as_completed(futures):
                job = futures[fut]
                try:
                    seconds[job.label] = fut.result()
                except Exception as e:
                    for other in futures:
                        other.cancel()
                    hint = ""
                    if isinstance(e, BrokenProcessPool):
                        hint = (" (a worker died: out of memory, killed, or a script that starts "
                                "workers without an `if __name__ == \"__main__\":` guard)")
                    raise RuntimeError(f"training the chain {job.label} failed: {e}{hint}") from e
                bar.set_postfix_str(f"{job.label}: {seconds[job.label]:.0f} s")
                bar.update(1)
        return seconds
    finally:
        bar.close()
