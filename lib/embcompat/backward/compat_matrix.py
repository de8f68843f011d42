"""The full BC compatibility matrix: every consumer ``C_j`` against every later version ``k >= j``.

Table 3 scores only ``C_0``. Here, for each method and each ``j = 0 .. K-1``, a consumer ``C_j``
of every unintended task is trained on the method's own ver-``j`` embeddings ``z_j = M_j(G_j)``
(the version-0 protocol shifted to ``j``: :func:`~embcompat.backward.tasks.rebase_task`), then fed
what the method gives it at each ``k >= j`` (:func:`~embcompat.backward.reembed.fed_embeddings`:
``B_{j+1} o ... o B_k (z_k)``, the first ``d_j`` dims for Non-BC, ...). Its reference is the same
``C_j`` fed the true ``z_j = M_j(G_k)`` (Keep-All of row ``j``), so row ``j = 0`` is exactly the
``C_0`` numbers of :mod:`embcompat.backward.evaluate`, and the diagonal degradation is 0.

Consumers go through the consumer cache (:func:`train_consumers_cached`): ``C_0`` has its
existing keys; ``C_j`` (``j >= 1``) new ones, shared between methods with the same ``M_j`` (Non-BC
and the post-hoc methods) since the key hashes the embeddings; they may train fewer seeds at the
grid point ``C_0`` chose instead of a grid search (:class:`~embcompat.config.consumers.MatrixConfig`,
per scale: :func:`~embcompat.config.consumers.matrix_config`).

Aggregation as in :mod:`.evaluate`: per task, the mean (and sample std) of the per-seed AUCs, and
the degradation ``rel_deg(mean AUC, mean reference AUC)`` in %, with the std of the per-seed
degradations; the task mean (``task == "mean"``) averages, per seed, the tasks *reported* at the
cell (``k >= first_test_version`` of ``C_j``'s task: ``k > j``, user tasks from ``k >= j + 2``, as
Table 3), or every task where none is (the diagonal, flagged ``reported = False``).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from embcompat.backward.consumer_cache import consumers_cache_key, train_consumers_cached
from embcompat.backward.consumers import TrainedConsumers, evaluate_consumers
from embcompat.backward.evaluate import PAPER_ORDER, SEED, rel_deg
from embcompat.backward.reembed import TrueEmbeddings, fed_embeddings
from embcompat.backward.results import VersionsResult
from embcompat.backward.tasks import TaskData, rebase_task
from embcompat.config.consumers import ConsumerConfig, MatrixConfig
from embcompat.config.consumers import matrix_config as default_matrix_config

__all__ = ["MATRIX_COLUMNS", "SUMMARY_COLUMNS", "TASK_MEAN", "compat_matrix", "datasets_matrix", "matrix_frame",
           "matrix_summary", "experiment_matrix", "save_matrix_tables"]

MATRIX_COLUMNS = ["dataset", "method", "task", "consumer_version", "embedding_version", "roc_auc",
                  "roc_auc_std", "reference_auc", "degradation", "degradation_std", "n_consumer_seeds",
                  "reported"]
SUMMARY_COLUMNS = ["dataset", "method", "n_cells", "mean_degradation", "worst_degradation",
                   "worst_cell", "mean_auc", "diagonal_auc"]
#: ``task`` label of the task-averaged cells.
TASK_MEAN = "mean"

#: ``(dataset, method, task, j, k) -> (per-seed AUCs, per-seed reference AUCs, reported)``
Scores = Mapping[tuple, tuple[Sequence[float], Sequence[float], bool]]


def _std(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1)) if x.size > 1 else float("nan")


def _cell(key, a, r, reported: bool) -> dict:
    a, r = np.asarray(a, float), np.asarray(r, float)
    if a.shape != r.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"{key}: {a.size} seed AUCs vs {r.size} reference AUCs (need the same "
                         "non-zero number)")
    return dict(zip(MATRIX_COLUMNS, (*key, a.mean(), _std(a), r.mean(), rel_deg(a.mean(), r.mean()),
                                     _std(rel_deg(a, r)), a.size, bool(reported))))


def matrix_frame(scores: Scores) -> pd.DataFrame:
    """The tidy matrix (:data:`MATRIX_COLUMNS`) from per-seed scores, with the task means added.

    Args:
        scores: ``(dataset, method, task, j, k) -> (aucs, reference aucs, reported)``, seeds
            paired (seed ``s`` scores both).

    Returns:
        One row per key plus one ``task == "mean"`` row per ``(dataset, method, j, k)``.
    """
    rows, groups = [], {}
    for key, (a, r, rep) in scores.items():
        if key[2] == TASK_MEAN:
            raise ValueError(f"{TASK_MEAN!r} is reserved for the task average; got a task named so")
        rows.append(_cell(key, a, r, rep))
        groups.setdefault((key[0], key[1], key[3], key[4]), []).append((a, r, rep))
    for (ds, m, j, k), cells in groups.items():
        pick = [c for c in cells if c[2]] or cells  # the reported tasks, else all (diagonal)
        try:
            a = np.mean([np.asarray(c[0], float) for c in pick], axis=0)
            r = np.mean([np.asarray(c[1], float) for c in pick], axis=0)
        except ValueError as err:
            raise ValueError(f"{ds}/{m} cell ({j}, {k}): tasks have different seed counts") from err
        rows.append(_cell((ds, m, TASK_MEAN, j, k), a, r, any(c[2] for c in cells)))
    df = pd.DataFrame(rows, columns=MATRIX_COLUMNS)
    df["_o"] = df.method.map(lambda m: PAPER_ORDER.index(m) if m in PAPER_ORDER else len(PAPER_ORDER))
    df = df.sort_values(["dataset", "_o", "method", "consumer_version", "embedding_version"],
                        kind="stable")
    return df.drop(columns="_o").reset_index(drop=True)


def matrix_summary(matrix: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, method): the task-mean degradation averaged over the strict upper triangle
    (``k > j``, reported cells), the worst such cell (lowest degradation) and where it is, the mean
    AUC over those cells and over the diagonal (:data:`SUMMARY_COLUMNS`).

    Raises:
        ValueError: ``matrix`` lacks a column of :data:`MATRIX_COLUMNS`.
    """
    missing = [c for c in MATRIX_COLUMNS if c not in matrix.columns]
    if missing:
        raise ValueError(f"not a compatibility matrix: missing columns {missing}")
    t = matrix[matrix.task == TASK_MEAN]
    out = []
    for (ds, m), g in t.groupby(["dataset", "method"], sort=False):
        up = g[(g.embedding_version > g.consumer_version) & g.reported]
        diag = g[g.embedding_version == g.consumer_version]
        worst = up.loc[up.degradation.idxmin()] if up.degradation.notna().any() else None
        out.append(dict(zip(SUMMARY_COLUMNS, (
            ds, m, len(up), float(up.degradation.mean()) if len(up) else float("nan"),
            float(worst.degradation) if worst is not None else float("nan"),
            f"C_{worst.consumer_version} on v{worst.embedding_version}" if worst is not None else "",
            float(up.roc_auc.mean()) if len(up) else float("nan"),
            float(diag.roc_auc.mean()) if len(diag) else float("nan")))))
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


def compat_matrix(results: Mapping[str, VersionsResult], tasks: Mapping[str, TaskData], graph,
                  splits, consumer_config: ConsumerConfig, matrix_config: MatrixConfig | None = None,
                  *, device: str | torch.device = "auto", use_cache: bool = True,
                  progress: bool = False, dataset: str | None = None,
                  methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Train (or load) every ``C_j`` and score it on every later version, for every method.

    Args:
        results: ``method -> VersionsResult`` of one data set; must include the results holding
            the weights of every model used (Non-BC for the post-hoc methods; Fix-M0 gives
            ``M_0(G_k)`` without a forward pass).
        tasks: the unintended tasks (:func:`~embcompat.backward.tasks.build_tasks`).
        graph, splits: the data.
        consumer_config: ``C_0``'s protocol (the scale's); ``C_j`` (``j >= 1``) use
            ``matrix_config.consumer_config(consumer_config, C_0's grid point)``.
        matrix_config: consumer versions, later seeds and grid (default :class:`MatrixConfig`).
        device: consumers and forward passes; use_cache: read/write the consumer cache.
        progress: a tqdm bar over the ``(method, j)`` rows.
        dataset: label (default: the first result's).
        methods: which results to score (default all); the others only lend their weights.

    Returns:
        The tidy matrix (:func:`matrix_frame`).
    """
    mc = matrix_config or MatrixConfig()
    if not results or not tasks:
        raise ValueError("compat_matrix needs at least one method result and one task")
    methods = list(results) if methods is None else list(methods)
    unknown = [m for m in methods if m not in results]
    if unknown or not methods:
        raise ValueError(f"methods {unknown or methods} not among the results {list(results)}")
    n = len(splits)
    js = mc.versions(n)
    dataset = dataset or next(iter(results.values())).dataset
    true = TrueEmbeddings(graph, splits, results, device=device)
    rebased = {(name, j): rebase_task(t, graph, splits, j) for name, t in tasks.items() for j in js}
    trained: dict[str, TrainedConsumers] = {}

    def consumer(task: TaskData, emb, cfg) -> TrainedConsumers:
        key = consumers_cache_key(task, emb, cfg)
        if key not in trained:
            trained[key] = train_consumers_cached(task, emb, cfg, device=device, use_cache=use_cache)
        return trained[key]

    c0_points = {}  # task -> C_0's grid point, for later_grid="c0"
    if mc.later_grid == "c0" and any(j > 0 for j in js):
        r0 = results[methods[0]]
        for name, task in tasks.items():
            spec = consumer(task, {v: true(r0[0], v) for v in {task.train.version,
                                                              task.val.version}},
                            consumer_config).spec
            c0_points[name] = (spec.hidden_dim, spec.dropout)
    rows = [(m, j) for m in methods for j in js]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(rows, desc=f"compat matrix {dataset}")
    scores = {}
    for m, j in bar if bar is not None else rows:
        r = results[m]
        for name in tasks:
            task = rebased[name, j]
            cfg = consumer_config if j == 0 else mc.consumer_config(consumer_config,
                                                                    c0_points.get(name))
            emb = {v: true(r[j], v) for v in {task.train.version, task.val.version}}
            c = consumer(task, emb, cfg)
            for k in range(j, n):
                ref_emb = true(r[j], k)
                fed = fed_embeddings(r, j, k, true)
                ref = evaluate_consumers(c, task, *ref_emb, k)
                same = fed[0] is ref_emb[0] and fed[1] is ref_emb[1]
                auc = ref if same else evaluate_consumers(c, task, *fed, k)
                scores[dataset, m, name, j, k] = (auc, ref, k >= task.first_test_version)
    return matrix_frame(scores)


def experiment_matrix(exp, matrix_config: MatrixConfig | None = None, *, progress: bool = True,
                      use_cache: bool = True) -> pd.DataFrame:
    """:func:`compat_matrix` of a :class:`~embcompat.backward.experiment.BCExperiment`'s requested
    methods (its references, Non-BC and Fix-M0, lend their weights and ``M_0(G_k)``), with the
    scale's :func:`~embcompat.config.consumers.matrix_config` by default. One training seed: the
    frame says which (``train_seed``) and ``n_train_seeds`` = 1.

    Raises:
        ValueError: the experiment's consumers were not trained (``consumers=False``).
    """
    if not exp.tasks:
        raise ValueError("the experiment has no tasks (run_experiment(..., consumers=False))")
    mc = matrix_config or default_matrix_config(exp.scale)
    m = compat_matrix(exp.results, exp.tasks, exp.graph, exp.splits, exp.consumer_config,
                      mc, device=exp.config.device, use_cache=use_cache,
                      progress=progress, dataset=exp.dataset, methods=exp.methods)
    return m.assign(**{SEED: exp.config.seed, "n_train_seeds": 1})


def _dataset_matrix(job: tuple) -> pd.DataFrame:
    from embcompat.backward.experiment import run_experiment

    graph, scale, methods, seed, device, mc = job[1]
    exp = run_experiment(graph, scale, methods, seed=seed, device=device, progress=False)
    return experiment_matrix(exp, mc, progress=False)


def datasets_matrix(graphs: Sequence, scale: str, methods: Sequence[str] | None, seed: int,
                    matrix_config: MatrixConfig | None = None, *, device: str = "auto",
                    workers: int | None = None, progress: bool = True) -> pd.DataFrame:
    """:func:`experiment_matrix` of one training seed on every graph, one data set per local
    worker (each rebuilds its experiment from the cache, so run the chains and ``C_0`` first);
    the frames concatenated in the order of ``graphs``."""
    from embcompat.executors import default_workers, get_executor

    mc = matrix_config or default_matrix_config(scale)
    jobs = [(i, (g, scale, methods, seed, device, mc)) for i, g in enumerate(graphs)]
    frames = {}
    with get_executor("local", workers=min(len(jobs), workers or default_workers(device))) as executor:
        for (i, _), frame in executor.map(_dataset_matrix, jobs, label=lambda j: f"matrix {j[1][0].name}",
                                          desc="matrices", unit="data set", progress=progress):
            frames[i] = frame
    return pd.concat([frames[i] for i in range(len(jobs))], ignore_index=True)


def save_matrix_tables(matrix: pd.DataFrame, name: str, caption: str) -> dict:
    """Write the tidy matrix to ``tables/<name>.csv`` and, in ``tables/<name>.md``, the summary
    (:func:`matrix_summary`) and each method's task-mean degradation as a ``C_j x v_k`` grid.

    Returns:
        The paths, keyed ``csv``, ``md`` and ``summary_csv`` (``tables/<name>_summary.csv``).
    """
    from embcompat.report import markdown_table, save_table
    from embcompat.utils import atomic_write

    paths = save_table(matrix, name, caption=caption)
    summary = matrix_summary(matrix)
    paths["summary_csv"] = save_table(summary, f"{name}_summary", caption=caption)["csv"]
    parts = [caption, "### Summary (task-mean degradation in %, strict upper triangle)",
             markdown_table(summary, floatfmt=".3f")]
    mean = matrix[matrix.task == TASK_MEAN]
    for (ds, m), g in mean.groupby(["dataset", "method"], sort=False):
        grid = g.pivot(index="consumer_version", columns="embedding_version", values="degradation")
        grid.index = [f"C_{j}" for j in grid.index]
        grid.columns = [f"v{k}" for k in grid.columns]
        parts += [f"### {ds} · {m}", markdown_table(grid.reset_index(names="consumer"),
                                                    floatfmt=".2f")]
    with atomic_write(paths["md"], "w") as f:
        f.write("\n\n".join(parts) + "\n")
    return paths
