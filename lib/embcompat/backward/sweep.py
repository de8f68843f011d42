"""The λ sweep of the BC paper (Sec. 5.2, Figure 5): the three metrics as functions of λ.

λ weighs the alignment loss against the BPR loss of the joint methods (paper Eq. 3). The sweep
trains the joint methods once per λ and scores them exactly as notebook 03 does
(:meth:`~embcompat.backward.experiment.BCExperiment.evaluate`); everything else is shared:

* λ enters only the joint methods' cache keys (:meth:`Method.key_fields`), so ``M_0``, Non-BC,
  Fix-M0, the post-hoc methods and the consumers ``C_0`` are trained once (or loaded from notebook
  02/03's cache) and reused at every λ; the references are run once per (data set, seed);
* the scale's config is ``bc_config(scale, dataset, seed=...)`` with only ``lam`` replaced, so at
  the scale's own λ (demo 1, paper 16) the joint methods hit notebook 02/03's cache entries: free.

**Seeds** are training seeds of the GNN versions (:attr:`BCTrainConfig.seed`); each seed is a
full, separately cached run (its own ``M_0``, references and ``C_0``).

**Output** (:func:`run_sweep`): a tidy frame, one row per dataset x method x λ x metric (plus
``version`` with ``per_version=True``), columns :data:`SWEEP_COLUMNS`:

* ``value``: the mean over the training seeds of the metric (as in :mod:`.evaluate`: averaged over
  versions and tasks before the relative degradation);
* ``std``, ``n_train_seeds``: sample std (ddof 1; NaN with one seed) and count of the training seeds;
* ``std_consumer``, ``n_consumer_seeds``: the spread over the seeds of ``C_0`` (unintended metrics
  only), pooled over training seeds as ``sqrt(mean(std^2))``.

Reference methods (``references=("Non-BC", "Fix-M0")``) are added once per data set with ``lam``
NaN (they do not depend on λ).

**Per-scale defaults** live in :data:`embcompat.config.sweep.SWEEP_SCALES`; the demo's time
budget is recorded in ``benchmarks/results/sweep.md``.

movielens-latest-small's intended Recall@50 is erratic between versions (each test half holds
about 35-50 users), so read its trends with care; amazon-2014-hin has thousands of test edges per
version.

The demo uses the five training seeds of notebooks 02-04 (42-46, whose cache holds their runs at
the scale's λ and the references); with one seed ``std`` is NaN and the figures show the
consumer-seed spread instead (their captions say which). No epoch override: changing the
epochs changes every cache key and would retrain the references (``epochs`` exists for users who
accept that). ``paper`` is the paper's protocol (Musical Instruments, the full grid) with three
training seeds.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from embcompat.backward.consumer_cache import train_consumers_cached
from embcompat.backward.evaluate import evaluate_methods
from embcompat.backward.experiment import BCExperiment, resolve_datasets
from embcompat.backward.methods import METHOD_NAMES, METHODS
from embcompat.backward.parallel import ChainJob, train_chains
from embcompat.backward.tasks import build_tasks
from embcompat.backward.train import train_versions
from embcompat.executors import Executor, get_executor
from embcompat.data import InteractionGraph, version_splits
from embcompat.params import as_list, check_int, check_lambdas
from embcompat.backward.sweep_analysis import averages
from embcompat.config import bc_config, check_device, get_scale
from embcompat.config.sweep import JOINT_METHODS, PAPER_LAMBDAS, SweepScale

__all__ = ["SWEEP_COLUMNS", "METHOD_ALIASES", "resolve_sweep", "SweepRun", "iter_runs",
           "provenance", "aggregate_seeds", "score_sweep_per_seed", "run_sweep"]

SWEEP_COLUMNS = ["dataset", "method", "lam", "metric", "value", "std", "n_train_seeds", "std_consumer",
                 "n_consumer_seeds"]
#: Every accepted spelling of a method (paper name, official slug) -> its paper name.
METHOD_ALIASES = {**{n: n for n in METHOD_NAMES}, **{m.slug: n for n, m in METHODS.items()},
                  "joint-lin-mloss": "BC-Aligner"}


def resolve_sweep(scale: str, *, datasets=None, dataset=None, methods=None, lambdas=None,
                  seeds=None, epochs: int | None = None, select_start=None,
                  workers=None) -> SweepScale:
    """Validate notebook parameters (any form :func:`embcompat.params.as_list` accepts) and fill
    the ``None`` ones from the scale's :class:`~embcompat.config.sweep.SweepScale`.

    Args:
        scale: ``smoke``, ``demo`` or ``paper``.
        datasets, dataset: data set names (give at most one of the two).
        methods: paper names or official slugs.
        lambdas: λ values > 0.
        seeds: training seeds (integers).
        epochs: see :attr:`SweepScale.epochs`.
        select_start: see :attr:`SweepScale.select_start` (an integer >= 0).
        workers: see :attr:`SweepScale.workers` (an integer >= 1).

    Returns:
        The resolved :class:`SweepScale` (methods canonical and in the order given, λ sorted).

    Raises:
        ValueError: naming the parameter and the allowed values.
    """
    base = get_scale(scale).sweep
    if dataset is not None and datasets is not None:
        raise ValueError("pass either dataset or datasets, not both")
    ds = datasets if datasets is not None else dataset
    ds = base.datasets if ds is None else as_list(ds, "datasets", item_type=str)
    ms = base.methods if methods is None else as_list(methods, "methods", item_type=str,
                                                      allowed=METHOD_ALIASES)
    lams = base.lambdas if lambdas is None else check_lambdas(lambdas)
    sd = base.seeds if seeds is None else as_list(seeds, "seeds", item_type=int)
    if select_start is not None:
        select_start = check_int(select_start, "select_start", minimum=0)
    workers = check_int(base.workers if workers is None else workers, "workers", minimum=1)
    return SweepScale(datasets=tuple(dict.fromkeys(ds)), lambdas=tuple(lams),
                      methods=tuple(dict.fromkeys(ms)), seeds=tuple(dict.fromkeys(sd)),
                      epochs=base.epochs if epochs is None else int(epochs),
                      select_start=base.select_start if select_start is None else select_start,
                      workers=workers)


@dataclass
class SweepRun:
    """One (data set, training seed, λ) point of the sweep: the experiment, scored by
    :meth:`BCExperiment.evaluate`. ``lam`` is NaN for the λ-independent reference run."""

    dataset: str
    seed: int
    lam: float
    experiment: BCExperiment


def iter_runs(datasets, scale: str, methods: Sequence[str], lambdas: Sequence[float],
              seeds: Sequence[int], device: str = "auto", *, references: Sequence[str] = (),
              epochs: int | None = None, select_start: int | None = None, workers: int = 1,
              executor: Executor | None = None, progress: bool = True) -> Iterator[SweepRun]:
    """Train (or load) every (data set, seed, λ) point; yields one :class:`SweepRun` each.

    Three phases. First, per (data set, seed), the references Non-BC and Fix-M0 (Keep-All) and
    ``C_0`` are obtained once, in this process; on an ``executor`` that runs tasks elsewhere, the
    M_0 / Non-BC chains of every (data set, seed) are trained there side by side beforehand. Then
    every (method, λ) chain that the references do not cover is trained: on such an executor
    (``workers > 1`` local processes, or Ray; see :mod:`embcompat.executors`) first, by
    :func:`~embcompat.backward.parallel.train_chains` (the largest data set first; the driver
    writes what the workers return to the cache), else in this process as each point is assembled.
    ``from_cache`` (:func:`provenance`) is therefore True for everything trained by a worker. With
    ``references`` a first run per (data set, seed) with ``lam`` NaN holds those. Give either
    ``workers`` or ``executor``.
    """
    check_device(device)
    if executor is not None and workers != 1:
        raise ValueError(f"pass workers={workers} to the executor, not with executor={executor!r}")
    executor = executor if executor is not None else get_executor("local", workers=workers)
    lams = check_lambdas(lambdas)
    names = as_list(methods, "methods", item_type=str, allowed=METHOD_ALIASES)
    refs = as_list(references, "references", item_type=str, allowed=METHOD_ALIASES,
                   allow_empty=True)
    sc = get_scale(scale)
    graphs, _ = resolve_datasets(datasets) if not isinstance(datasets, InteractionGraph) \
        else ([datasets], [])
    points = []
    for graph in graphs:
        for seed in as_list(seeds, "seeds", item_type=int):
            cfg = bc_config(sc.name, graph.name, seed=seed, device=device)
            if epochs is not None:
                cfg = replace(cfg, epochs=int(epochs))
            if select_start is not None:
                cfg = replace(cfg, select_start=int(select_start))
            cfg.validate()
            splits = version_splits(graph, cfg.times, heldout_test=cfg.heldout_test, seed=seed)
            points.append((graph, seed, cfg, splits))
    if not executor.in_process:  # the references' chains (M_0 and Non-BC) side by side first
        train_chains([ChainJob(graph, splits, "Non-BC", cfg) for graph, _, cfg, splits in
                      sorted(points, key=lambda p: -p[0].num_edges)],
                     executor=executor, progress=progress)
    prepared = []
    for graph, seed, cfg, splits in points:
        shared = {m: train_versions(m, graph, splits, cfg, progress=progress)
                  for m in ("Non-BC", "Fix-M0", "Keep-All")}
        tasks = build_tasks(graph, splits=splits)
        z0 = shared["Fix-M0"].consumer_embeddings()
        consumers = {n: train_consumers_cached(t, z0, sc.consumers, device=cfg.device,
                                               progress=progress) for n, t in tasks.items()}
        prepared.append((graph, seed, cfg, splits, shared, tasks, consumers))

    if not executor.in_process:
        by_size = sorted(prepared, key=lambda p: -p[0].num_edges)
        train_chains([ChainJob(graph, splits, m, replace(cfg, lam=lam))
                      for graph, _, cfg, splits, shared, _, _ in by_size
                      for lam in lams for m in names if m not in shared],
                     executor=executor, progress=progress)

    for graph, seed, cfg, splits, shared, tasks, consumers in prepared:
        def make(run_cfg, run_names, lam):
            results = dict(shared)
            for m in run_names:
                if m not in results:  # loads from the cache if a worker trained it
                    results[m] = train_versions(m, graph, splits, run_cfg, progress=progress)
            exp = BCExperiment(graph.name, sc.name, graph, splits, run_cfg, sc.consumers,
                               list(run_names), results, tasks, consumers)
            return SweepRun(graph.name, seed, lam, exp)

        if refs:
            yield make(cfg, refs, float("nan"))
        for lam in lams:
            yield make(replace(cfg, lam=lam), names, lam)


def provenance(runs: Sequence[SweepRun]) -> pd.DataFrame:
    """One row per (run, method, version), references included: its cache ``key`` and whether it
    was ``from_cache`` (loaded from disk rather than trained in this process), to check what a sweep
    retrained. (The references are run once per data set and seed and shared by every λ's run.)"""
    rows = []
    for r in runs:
        for m, res in r.experiment.results.items():
            if res.method.kind == "derived":
                continue  # Keep-All: Non-BC's and Fix-M0's records again, nothing of its own
            for v in res.versions:
                rows.append({"dataset": r.dataset, "seed": r.seed, "lam": r.lam, "method": m,
                             "version": v.k, "key": v.key, "from_cache": bool(v.from_cache)})
    return pd.DataFrame(rows)


def _pooled(s: pd.Series) -> float:
    s = s.dropna()
    return float(np.sqrt(np.mean(np.square(s)))) if len(s) else float("nan")


def aggregate_seeds(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Collapse per-seed rows (``evaluate`` output plus ``lam`` and ``seed``) over the seeds.

    Returns:
        :data:`SWEEP_COLUMNS` with ``version`` after ``lam``; ``n_train_seeds`` counts the seeds with a
        finite value.
    """
    keys = ["dataset", "method", "lam", "version", "metric"]
    df = per_seed.copy()
    df["lam"] = df["lam"].astype(float)
    g = df.groupby(keys, sort=False, dropna=False)
    out = g.agg(value=("value", "mean"), std=("value", lambda s: float(s.std(ddof=1))),
                n_train_seeds=("value", lambda s: int(np.isfinite(s).sum())),
                std_consumer=("std", _pooled), n_consumer_seeds=("n_consumer_seeds", "max")).reset_index()
    out["n_train_seeds"] = out["n_train_seeds"].astype(int)
    out["n_consumer_seeds"] = out["n_consumer_seeds"].astype(int)
    return out[["dataset", "method", "lam", "version"] + SWEEP_COLUMNS[3:]]


def score_sweep_per_seed(datasets, scale: str, methods: Sequence[str] = JOINT_METHODS,
                         lambdas: Sequence[float] = PAPER_LAMBDAS, seeds: Sequence[int] = (42,),
                         device: str = "auto", *, references: Sequence[str] = (),
                         epochs: int | None = None, select_start: int | None = None, workers: int = 1,
                         executor: Executor | None = None, progress: bool = True) -> pd.DataFrame:
    """Train (or load) and score the λ sweep, one set of rows per training seed.

    The arguments are :func:`run_sweep`'s (without ``per_version``).

    Returns:
        :func:`~embcompat.backward.evaluate.evaluate_methods` rows (every version and ``"avg"``)
        with ``lam`` (NaN for the references) and ``seed``: the input of :func:`aggregate_seeds`
        and of :func:`embcompat.backward.sweep_analysis.seed_trends`.
    """
    frames = []
    for run in iter_runs(datasets, scale, methods, lambdas, seeds, device, references=references,
                         epochs=epochs, select_start=select_start, workers=workers,
                         executor=executor, progress=progress):
        e = run.experiment
        t = evaluate_methods(e.requested(), e.tasks, e.consumers, e.keep_all, dataset=e.dataset)
        frames.append(t.assign(lam=run.lam, seed=run.seed))
    return pd.concat(frames, ignore_index=True)


def run_sweep(datasets, scale: str, methods: Sequence[str] = JOINT_METHODS,
              lambdas: Sequence[float] = PAPER_LAMBDAS, seeds: Sequence[int] = (42,),
              device: str = "auto", *, references: Sequence[str] = (), per_version: bool = False,
              epochs: int | None = None, select_start: int | None = None, workers: int = 1,
              executor: Executor | None = None, progress: bool = True) -> pd.DataFrame:
    """Train (or load) and score the λ sweep (see the module docstring for the columns).

    Args:
        datasets: data set names (or one loaded graph).
        scale: ``smoke``, ``demo`` or ``paper``.
        methods: the swept methods (default: the paper's three joint methods).
        lambdas: the λ grid (default: the paper's 1 ... 32).
        seeds: training seeds of the GNN versions.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        references: λ-independent methods added once with ``lam`` NaN (e.g. Non-BC, Fix-M0).
        per_version: keep a ``version`` column with rows per version ``"0".."K"`` and ``"avg"``
            (default: only the averages, without the column).
        epochs: optional :attr:`BCTrainConfig.epochs` override (retrains everything).
        select_start: optional :attr:`BCTrainConfig.select_start` override (retrains the joint
            methods only).
        workers: local processes training the (method, λ) chains (1: this process).
        executor: instead of ``workers``, where the chains train (e.g. ``get_executor("ray")``);
            the results are the same on every back-end.
        progress: tqdm bars.

    Returns:
        The tidy frame: references first, then λ increasing, methods in Table 3 order.
    """
    out = aggregate_seeds(score_sweep_per_seed(
        datasets, scale, methods, lambdas, seeds, device, references=references, epochs=epochs,
        select_start=select_start, workers=workers, executor=executor, progress=progress))
    if not per_version:
        out = averages(out)
    return out
