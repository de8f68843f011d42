"""The three metrics of the BC paper's Table 3 for every method on one data set, as tidy rows.

For method ``m`` and version ``k`` (Hu et al. 2022, Sec. 4 and 5.1.7; official
``embevolve/analyze_all_results.ipynb``):

1. **Intended task.** Recall@50 of ``M_k`` (the held-out test half of the window when the config
   has ``heldout_test``, else the official window) and its relative degradation in % against
   Keep-All, i.e. Non-BC's Recall@50 at the same version.
2. **Unintended tasks.** ROC-AUC of every seed model of ``C_0`` (trained once on ``M_0``'s
   ``z_0``) fed the method's ``z~_0`` at version ``k``, on the task's reported sets
   (:attr:`TaskData.test`: edge and item tasks from ``k >= 1``, user tasks from ``k >= 2``), and
   the relative degradation against Keep-All (``C_0`` fed the true ``z_0 = M_0(G_k)``).
3. **Alignment error.** Mean L2 distance between ``z~_0`` and the true ``z_0`` over all users
   and items present at ``t_{k+1}``.

Averages (``version == "avg"``) follow the official notebook, where the relative degradation is
computed *after* averaging ("the relative degradation is computed after the average is taken
across different timestamps and the five unintended tasks", Table 3 caption):

* intended: ``rel(mean_k R_m(k), mean_k R_KeepAll(k))`` over all versions ``0..K``;
* unintended: per task the mean AUC over its reported versions and the seeds, then the mean over
  tasks, then ``rel(.)`` against the same number of Keep-All;
* alignment error: the mean over all versions ``0..K`` (version 0 included, where it is 0).

Spread: the consumer seeds are paired (seed ``s`` of ``C_0`` scores both the method and Keep-All),
so ``std`` of an AUC is the sample std (ddof 1) of its per-seed values, and ``std`` of a
degradation the sample std of the per-seed degradations. Intended and alignment numbers come from
one training run (``n_consumer_seeds = 1``, ``std`` NaN); ``n_consumer_seeds`` counts the
consumer seeds behind a row, never training seeds (those are the :data:`SEED` column of a stacked
frame, and its ``n_train_seeds``). A degradation against a zero or non-finite
reference is NaN.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from embcompat.backward.consumers import TrainedConsumers, evaluate_versions
from embcompat.backward.results import VersionsResult
from embcompat.backward.tasks import TaskData

__all__ = ["PAPER_ORDER", "TIDY_COLUMNS", "INTENDED", "INTENDED_DEG", "UNINTENDED",
           "UNINTENDED_DEG", "ALIGN", "SEED", "task_metric", "rel_deg", "unintended_aucs", "method_rows",
           "evaluate_methods", "table3", "alignment_vs_unintended", "pearson",
           "assert_reference_invariants"]

#: Table 3's rows, top to bottom, with our rows that are not in the paper: the closed-form post-hoc
#: rows after Post-Lin-MLoss and BC-Aligner-MLP after BC-Aligner.
PAPER_ORDER = ("Keep-All", "Fix-M0", "Finetune-M0", "Non-BC", "Post-Lin-SLoss", "Post-Lin-MLoss",
               "Post-LS", "Post-Procrustes",
               "Joint-NoTrans", "Joint-Lin-SLoss", "BC-Aligner", "BC-Aligner-MLP")
TIDY_COLUMNS = ["dataset", "method", "version", "metric", "value", "std", "n_consumer_seeds"]
INTENDED = "intended_recall@50"
INTENDED_DEG = "intended_degradation_%"
UNINTENDED = "unintended_auc"
UNINTENDED_DEG = "unintended_degradation_%"
ALIGN = "alignment_error"
#: The training-seed column of a tidy frame that stacks several seeds (:mod:`.seed_tables`).
SEED = "train_seed"

AUCs = Mapping[str, Mapping[int, Sequence[float]]]


def task_metric(metric: str, task: str) -> str:
    """The per-task metric name, e.g. ``unintended_auc:edge-rating``."""
    return f"{metric}:{task}"


def rel_deg(value, reference):
    """``100 * (value - reference) / reference`` elementwise; NaN where the reference is 0 or
    either side is not finite (arrays or floats)."""
    v, r = np.asarray(value, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    ok = np.isfinite(v) & np.isfinite(r) & (r != 0)
    out = np.where(ok, 100.0 * (v - r) / np.where(ok, r, 1.0), np.nan)
    return float(out) if out.ndim == 0 else out


def _std(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1)) if x.size > 1 else float("nan")


def unintended_aucs(result: VersionsResult, tasks: Mapping[str, TaskData],
                    consumers: Mapping[str, TrainedConsumers]) -> dict[str, dict[int, list[float]]]:
    """ROC-AUC of every seed of ``C_0`` fed ``result``'s ``z~_0``, on each task's reported sets.

    Args:
        result: one method's versions (its :meth:`VersionsResult.consumer_embeddings`).
        tasks: ``name -> TaskData``.
        consumers: ``name -> TrainedConsumers`` (the same seeds for every task).

    Returns:
        ``task -> {k: [auc per seed]}`` for ``k`` in ``task.test``.
    """
    emb = result.consumer_embeddings()
    return {name: evaluate_versions(consumers[name], task, emb) for name, task in tasks.items()}


def _row(dataset, method, version, metric, value, std=float("nan"), n=1) -> dict:
    return dict(zip(TIDY_COLUMNS, (dataset, method, str(version), metric, float(value),
                                   float(std), int(n))))


def method_rows(dataset: str, method: str, recalls: Sequence[float], ref_recalls: Sequence[float],
                aucs: AUCs, ref_aucs: AUCs, align: Sequence[float]) -> list[dict]:
    """Tidy rows of one method (the arithmetic of the module docstring, on plain numbers).

    Args:
        dataset, method: labels.
        recalls: ``(K+1,)`` the method's Recall@50 per version.
        ref_recalls: ``(K+1,)`` Keep-All's (= Non-BC's) Recall@50 per version.
        aucs: ``task -> {k: [auc per seed]}`` of the method (reported versions only).
        ref_aucs: the same for Keep-All; same tasks, versions and seed count.
        align: ``(K+1,)`` alignment error per version.

    Returns:
        Dicts with :data:`TIDY_COLUMNS`; ``version`` is ``"0".."K"`` or ``"avg"``.
    """
    rows = []
    rec, ref = np.asarray(recalls, float), np.asarray(ref_recalls, float)
    if rec.shape != ref.shape or len(align) != rec.size:
        raise ValueError(f"recalls {rec.shape}, reference {ref.shape} and alignment errors "
                         f"({len(align)}) must have one value per version")
    for k in range(rec.size):
        rows += [_row(dataset, method, k, INTENDED, rec[k]),
                 _row(dataset, method, k, INTENDED_DEG, rel_deg(rec[k], ref[k])),
                 _row(dataset, method, k, ALIGN, align[k])]
    rows += [_row(dataset, method, "avg", INTENDED, rec.mean()),
             _row(dataset, method, "avg", INTENDED_DEG, rel_deg(rec.mean(), ref.mean())),
             _row(dataset, method, "avg", ALIGN, float(np.mean(align)))]
    if set(aucs) != set(ref_aucs):
        raise ValueError(f"tasks differ: {sorted(aucs)} vs reference {sorted(ref_aucs)}")
    per_version: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    task_avg, ref_task_avg = [], []
    for task in aucs:
        if sorted(aucs[task]) != sorted(ref_aucs[task]):
            raise ValueError(f"{task}: versions {sorted(aucs[task])} vs {sorted(ref_aucs[task])}")
        for k in sorted(aucs[task]):
            a, r = np.asarray(aucs[task][k], float), np.asarray(ref_aucs[task][k], float)
            if a.shape != r.shape:
                raise ValueError(f"{task} v{k}: {a.size} seeds vs {r.size} in the reference")
            per_version.setdefault(k, []).append((a, r))
            rows += [_row(dataset, method, k, task_metric(UNINTENDED, task), a.mean(), _std(a), a.size),
                     _row(dataset, method, k, task_metric(UNINTENDED_DEG, task),
                          rel_deg(a.mean(), r.mean()), _std(rel_deg(a, r)), a.size)]
        a = np.mean([aucs[task][k] for k in aucs[task]], axis=0)  # (seeds,) mean over versions
        r = np.mean([ref_aucs[task][k] for k in aucs[task]], axis=0)
        task_avg.append(a)
        ref_task_avg.append(r)
        rows += [_row(dataset, method, "avg", task_metric(UNINTENDED, task), a.mean(), _std(a), a.size),
                 _row(dataset, method, "avg", task_metric(UNINTENDED_DEG, task),
                      rel_deg(a.mean(), r.mean()), _std(rel_deg(a, r)), a.size)]
    groups = sorted(per_version.items()) + ([("avg", list(zip(task_avg, ref_task_avg)))]
                                            if task_avg else [])
    for k, pairs in groups:  # mean over the tasks reported at k (per seed), then degradation
        a = np.mean([p[0] for p in pairs], axis=0)
        r = np.mean([p[1] for p in pairs], axis=0)
        rows += [_row(dataset, method, k, UNINTENDED, a.mean(), _std(a), a.size),
                 _row(dataset, method, k, UNINTENDED_DEG, rel_deg(a.mean(), r.mean()),
                      _std(rel_deg(a, r)), a.size)]
    return rows


def evaluate_methods(results: Mapping[str, VersionsResult], tasks: Mapping[str, TaskData],
                     consumers: Mapping[str, TrainedConsumers], keep_all: VersionsResult, *,
                     K: int = 50, dataset: str | None = None) -> pd.DataFrame:
    """Score every method of one data set on the three metrics.

    Args:
        results: ``method name -> VersionsResult`` (same data set and config).
        tasks: the unintended tasks.
        consumers: ``C_0`` per task, trained once on the true ``z_0`` (Fix-M0's embeddings).
        keep_all: ``train_versions("Keep-All", ...)``: Non-BC's recalls, the true ``z_0``.
        K: the Recall@K cut-off (50 in the paper).
        dataset: label (default: ``keep_all.dataset``).

    Returns:
        The tidy frame (:data:`TIDY_COLUMNS`), methods in :data:`PAPER_ORDER`.
    """
    dataset = dataset or keep_all.dataset
    ref_recalls = keep_all.recalls(K)
    ref_aucs = unintended_aucs(keep_all, tasks, consumers)
    rows = []
    for name in sorted(results, key=_order):
        r = results[name]
        if len(r) != len(keep_all):
            raise ValueError(f"{name} has {len(r)} versions, Keep-All {len(keep_all)}")
        aucs = ref_aucs if r is keep_all else unintended_aucs(r, tasks, consumers)
        rows += method_rows(dataset, name, r.recalls(K), ref_recalls, aucs, ref_aucs,
                            r.alignment_errors(keep_all))
    df = pd.DataFrame(rows, columns=TIDY_COLUMNS)
    if K != 50:
        df["metric"] = df.metric.str.replace("@50", f"@{K}", regex=False)
    return df


def _order(method: str) -> int:
    return PAPER_ORDER.index(method) if method in PAPER_ORDER else len(PAPER_ORDER)


def table3(tidy: pd.DataFrame) -> pd.DataFrame:
    """Pivot the averaged rows to the paper's Table 3 layout (one row per dataset x method).

    Columns: ``intended_%`` (1), ``unintended_%`` (2) with its seed ``std``, ``(1)+(2)_%``,
    ``alignment_error`` (3), and the absolute ``Recall@50_%`` and ``AUC_%`` (Keep-All's row holds
    the reference values the paper prints in brackets).
    """
    avg = tidy[tidy.version == "avg"].set_index(["dataset", "method", "metric"])
    out = []
    for (ds, m), g in avg.groupby(level=[0, 1], sort=False):
        g = g.droplevel([0, 1])
        get = lambda metric, col="value": float(g[col].get(metric, np.nan))  # noqa: E731
        intended = next((c for c in g.index if c.startswith("intended_recall@")), INTENDED)
        out.append({"dataset": ds, "method": m, "intended_%": get(INTENDED_DEG),
                    "unintended_%": get(UNINTENDED_DEG), "unintended_%_std": get(UNINTENDED_DEG, "std"),
                    "(1)+(2)_%": get(INTENDED_DEG) + get(UNINTENDED_DEG),
                    "alignment_error": get(ALIGN),
                    f"{intended.split('_')[-1].capitalize()}_%": 100 * get(intended),
                    "AUC_%": 100 * get(UNINTENDED), "n_consumer_seeds": int(g["n_consumer_seeds"].get(UNINTENDED, 1))})
    t = pd.DataFrame(out)
    if len(t):
        t["_o"] = t.method.map(_order)
        t = t.sort_values(["dataset", "_o"], kind="stable").drop(columns="_o").reset_index(drop=True)
    return t


def alignment_vs_unintended(tidy: pd.DataFrame, *, exclude: Sequence[str] = ("Keep-All",)
                            ) -> pd.DataFrame:
    """Per (dataset, method, version) points of alignment error vs unintended degradation.

    Only versions with unintended rows (``k >= 1``; not the averages). Keep-All is left out by
    default: it is Fix-M0's ``z_0`` again, not a run of its own. A frame with a :data:`SEED`
    column gives one point per training seed too.

    Returns:
        Columns ``dataset, method, version, [train_seed,] alignment_error,
        unintended_degradation_%``.
    """
    t = tidy[(tidy.version != "avg") & tidy.metric.isin([ALIGN, UNINTENDED_DEG])
             & ~tidy.method.isin(list(exclude))]
    index = ["dataset", "method", "version"] + ([SEED] if SEED in tidy.columns else [])
    wide = t.pivot_table(index=index, columns="metric", values="value",
                         aggfunc="first").dropna().reset_index()
    wide.columns.name = None
    return wide[[*index, ALIGN, UNINTENDED_DEG]]


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson correlation of two equally long samples (NaN with < 3 points or a constant side)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size < 3 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def assert_reference_invariants(tidy: pd.DataFrame) -> None:
    """Raise ``AssertionError`` unless Fix-M0's alignment error and Keep-All's degradations are
    exactly 0 (where those methods are in ``tidy``) and no (dataset, method, version, metric) repeats."""
    key = ["dataset", "method", "version", "metric"]
    assert not tidy.duplicated(key).any(), tidy[tidy.duplicated(key, keep=False)]
    fix = tidy[(tidy.method == "Fix-M0") & (tidy.metric == ALIGN)]
    assert (fix.value == 0.0).all(), f"Fix-M0 alignment error is not 0: {fix.value.tolist()}"
    keep = tidy[(tidy.method == "Keep-All") & tidy.metric.str.contains("degradation")]
    assert (keep.value == 0.0).all(), f"Keep-All degradation is not 0: {keep.value.tolist()}"
