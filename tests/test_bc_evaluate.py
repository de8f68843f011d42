"""Table 3's three metrics: degradation arithmetic, averaging rules, references, the pivot."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from embcompat.config.bc import bc_config
from embcompat.backward.consumers import ConsumerConfig, train_consumers
from embcompat.backward.evaluate import (ALIGN, INTENDED, INTENDED_DEG, PAPER_ORDER, TIDY_COLUMNS,
                                         UNINTENDED, UNINTENDED_DEG, alignment_vs_unintended,
                                         evaluate_methods, method_rows, pearson, rel_deg, table3,
                                         task_metric)
from embcompat.backward.experiment import assert_same_m0, resolve_methods
from embcompat.config import check_device
from embcompat.backward.methods import METHODS
from embcompat.backward.results import VersionRecord, VersionsResult
from embcompat.backward.tasks import TaskData, TaskSplit

# ------------------------------------------------------------------ hand-made numbers
RECALLS, REF_RECALLS = [0.1, 0.1, 0.1], [0.1, 0.2, 0.3]
AUCS = {"edge-rating": {1: [0.6, 0.8], 2: [0.9, 0.9]}, "user-activity": {2: [0.5, 0.9]}}
REF_AUCS = {"edge-rating": {1: [0.8, 0.8], 2: [0.7, 0.7]}, "user-activity": {2: [0.6, 1.0]}}
ALIGN_ERR = [0.0, 0.5, 1.0]


def frame(rows):
    return pd.DataFrame(rows, columns=TIDY_COLUMNS).set_index(["version", "metric"])


def test_intended_degradation_per_version_and_average_of_the_averages():
    t = frame(method_rows("d", "m", RECALLS, REF_RECALLS, AUCS, REF_AUCS, ALIGN_ERR))
    assert t.loc[("0", INTENDED_DEG), "value"] == 0.0
    assert t.loc[("1", INTENDED_DEG), "value"] == pytest.approx(-50.0)
    assert t.loc[("2", INTENDED_DEG), "value"] == pytest.approx(100 * (0.1 - 0.3) / 0.3)
    assert t.loc[("1", INTENDED), "value"] == pytest.approx(0.1)
    # the paper degrades the average (0.1 vs 0.2: -50 %), not the average of the degradations (-38.9)
    assert t.loc[("avg", INTENDED_DEG), "value"] == pytest.approx(-50.0)
    assert t.loc[("avg", INTENDED), "value"] == pytest.approx(0.1)
    assert t.loc[("avg", ALIGN), "value"] == pytest.approx(0.5)  # version 0 counts (official)
    assert t.loc[("2", ALIGN), "value"] == 1.0
    assert t.loc[("1", INTENDED), "n_consumer_seeds"] == 1 and math.isnan(t.loc[("1", INTENDED), "std"])


def test_unintended_per_task_per_version_with_seed_spread():
    t = frame(method_rows("d", "m", RECALLS, REF_RECALLS, AUCS, REF_AUCS, ALIGN_ERR))
    edge = task_metric(UNINTENDED_DEG, "edge-rating")
    assert t.loc[("1", task_metric(UNINTENDED, "edge-rating")), "value"] == pytest.approx(0.7)
    assert t.loc[("1", task_metric(UNINTENDED, "edge-rating")), "std"] == pytest.approx(np.std([0.6, 0.8], ddof=1))
    assert t.loc[("1", edge), "value"] == pytest.approx(-12.5)
    # per-seed degradations are -25 and 0 (paired seeds)
    assert t.loc[("1", edge), "std"] == pytest.approx(np.std([-25.0, 0.0], ddof=1))
    assert t.loc[("1", edge), "n_consumer_seeds"] == 2
    # user tasks are only reported where given (k >= 2): no version-1 row for them
    assert ("1", task_metric(UNINTENDED_DEG, "user-activity")) not in t.index
    # no unintended rows at version 0
    assert not any(m.startswith("unintended") for v, m in t.index if v == "0")


def test_unintended_average_over_the_tasks_reported_at_each_version():
    t = frame(method_rows("d", "m", RECALLS, REF_RECALLS, AUCS, REF_AUCS, ALIGN_ERR))
    # version 1: only the edge task
    assert t.loc[("1", UNINTENDED_DEG), "value"] == pytest.approx(-12.5)
    # version 2: per seed mean over tasks [0.7, 0.9] vs [0.65, 0.85]
    assert t.loc[("2", UNINTENDED), "value"] == pytest.approx(0.8)
    assert t.loc[("2", UNINTENDED_DEG), "value"] == pytest.approx(100 * (0.8 - 0.75) / 0.75)
    per_seed = [100 * (0.7 - 0.65) / 0.65, 100 * (0.9 - 0.85) / 0.85]
    assert t.loc[("2", UNINTENDED_DEG), "std"] == pytest.approx(np.std(per_seed, ddof=1))


def test_unintended_average_is_mean_over_versions_then_tasks_then_degradation():
    t = frame(method_rows("d", "m", RECALLS, REF_RECALLS, AUCS, REF_AUCS, ALIGN_ERR))
    # official: task mean over (seeds, reported versions): edge 0.8, user 0.7 -> 0.75; ref 0.75, 0.8
    assert t.loc[("avg", task_metric(UNINTENDED, "edge-rating")), "value"] == pytest.approx(0.8)
    assert t.loc[("avg", UNINTENDED), "value"] == pytest.approx(0.75)
    assert t.loc[("avg", UNINTENDED_DEG), "value"] == pytest.approx(100 * (0.75 - 0.775) / 0.775)
    # (pooling all (task, version) pairs would give 0.7667 vs 0.7667, i.e. 0 %)
    assert t.loc[("avg", UNINTENDED_DEG), "value"] != pytest.approx(0.0)
    assert t.loc[("avg", task_metric(UNINTENDED_DEG, "user-activity")), "value"] == pytest.approx(
        100 * (0.7 - 0.8) / 0.8)
    # one row per (version, metric)
    assert not t.index.duplicated().any()


def test_rows_against_themselves_are_exactly_zero_and_mismatches_raise():
    t = frame(method_rows("d", "Keep-All", REF_RECALLS, REF_RECALLS, REF_AUCS, REF_AUCS, [0.0] * 3))
    deg = t[t.index.get_level_values("metric").str.contains("degradation")]
    assert (deg.value == 0.0).all() and len(deg) > 0
    assert (deg["std"].fillna(0) == 0.0).all()
    with pytest.raises(ValueError, match="tasks differ"):
        method_rows("d", "m", RECALLS, REF_RECALLS, {"edge-rating": AUCS["edge-rating"]}, REF_AUCS,
                    ALIGN_ERR)
    with pytest.raises(ValueError, match="one value per version"):
        method_rows("d", "m", RECALLS[:2], REF_RECALLS, AUCS, REF_AUCS, ALIGN_ERR)


def test_rel_deg_is_nan_for_a_zero_or_missing_reference():
    assert rel_deg(0.5, 0.4) == pytest.approx(25.0)
    assert math.isnan(rel_deg(0.5, 0.0)) and math.isnan(rel_deg(float("nan"), 0.4))
    np.testing.assert_allclose(rel_deg([1.0, 2.0], [2.0, 2.0]), [-50.0, 0.0])


# ------------------------------------------------------------------ fake results, real consumers
N_USERS, N_ITEMS, D = 400, 30, 6


def _task(labels):
    ids = torch.arange(N_USERS)
    tr, va = TaskSplit(0, ids[:200], labels[:200]), TaskSplit(0, ids[200:], labels[200:])
    versions = {0: va, 1: TaskSplit(1, ids[200:], labels[200:]), 2: TaskSplit(2, ids, labels)}
    return TaskData("user-activity", "user", tr, va, versions, 1, 1.0)


def _record(k, z_u, z_i, zhat_u, zhat_i, recall, test_recall, key):
    return VersionRecord(k=k, key=key, model_key=key, dim=z_u.shape[1], layers=1,
                         num_users=N_USERS, num_items=N_ITEMS, state=None, B=None, B_kind=None,
                         z_user=z_u, z_item=z_i, zhat0_user=zhat_u, zhat0_item=zhat_i,
                         recall={50: recall}, test_recall={50: test_recall})


@pytest.fixture(scope="module")
def fake():
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    z0 = [(torch.randn(N_USERS, D, generator=g), torch.randn(N_ITEMS, D, generator=g)) for _ in range(3)]
    labels = (z0[0][0] @ torch.randn(D, generator=g) > 0).float()
    for k in (1, 2):  # same labelling rule at every version, so C_0 transfers on the true z_0
        z0[k] = (z0[0][0] + 0.05 * torch.randn(N_USERS, D, generator=g), z0[k][1])
    task = _task(labels)
    cfg = bc_config("smoke", times=(0.5, 0.6, 0.7, 0.8), dims=(D, D, D), layers=(1, 1, 1))
    win, test = [0.30, 0.32, 0.35], [0.20, 0.25, 0.28]  # selection window vs held-out test

    def result(name, noise, recall_shift):
        recs = []
        for k in range(3):
            zu, zi = z0[k]
            if k == 0 or noise == 0:
                hu, hi = zu, zi
            else:
                hu = zu + noise * torch.randn(N_USERS, D, generator=g)
                hi = zi + noise * torch.randn(N_ITEMS, D, generator=g)
            key = "m0" if k == 0 else f"{name}-{k}"
            recs.append(_record(k, zu, zi, hu, hi, win[k] - (k > 0) * recall_shift,
                                test[k] - (k > 0) * recall_shift, key))
        return VersionsResult(METHODS[name], "fake", cfg, recs)

    nonbc = result("Non-BC", 1.0, 0.0)
    fix = result("Fix-M0", 0.0, 0.1)
    keep = VersionsResult(METHODS["Keep-All"], "fake", cfg,
                          [_record(v.k, v.z_user, v.z_item, f.zhat0_user, f.zhat0_item,
                                   v.recall[50], v.test_recall[50], v.key)
                           for v, f in zip(nonbc.versions, fix.versions)])
    bca = result("BC-Aligner", 0.2, 0.02)
    consumers = train_consumers(task, fix.consumer_embeddings(),
                                ConsumerConfig(hidden_grid=(16,), dropout_grid=(0.0,), epochs=20,
                                               batch_size=64, seeds=(0, 1, 2)), device="cpu")
    results = {"BC-Aligner": bca, "Non-BC": nonbc, "Fix-M0": fix, "Keep-All": keep}
    tidy = evaluate_methods(results, {task.name: task}, {task.name: consumers}, keep)
    return tidy, results, test


def test_keep_all_has_exactly_zero_degradation_and_fix_m0_zero_alignment(fake):
    tidy, _, _ = fake
    keep = tidy[tidy.method == "Keep-All"]
    deg = keep[keep.metric.str.contains("degradation")]
    assert len(deg) > 0 and (deg.value == 0.0).all()
    fix = tidy[(tidy.method == "Fix-M0")]
    assert (fix[fix.metric == ALIGN].value == 0.0).all()
    assert (fix[fix.metric.str.startswith("unintended_degradation")].value == 0.0).all()
    assert (tidy[(tidy.method == "Non-BC") & (tidy.metric == INTENDED_DEG)].value == 0.0).all()
    # version 0 is M_0 for everyone: zero alignment error for every method
    assert (tidy[(tidy.version == "0") & (tidy.metric == ALIGN)].value == 0.0).all()


def test_noisy_z0_degrades_and_aligns_worse(fake):
    tidy, results, test = fake
    t = tidy.set_index(["method", "version", "metric"]).value
    assert t["Non-BC", "2", ALIGN] > t["BC-Aligner", "2", ALIGN] > 0
    assert t["Non-BC", "2", ALIGN] == pytest.approx(results["Non-BC"].alignment_errors(results["Fix-M0"])[2])
    assert t["Non-BC", "avg", UNINTENDED_DEG] < t["BC-Aligner", "avg", UNINTENDED_DEG] <= 0
    # intended numbers are the held-out test recalls, not the selection window's
    assert t["Non-BC", "1", INTENDED] == pytest.approx(test[1])
    assert t["Fix-M0", "1", INTENDED_DEG] == pytest.approx(100 * -0.1 / test[1])
    assert t["Fix-M0", "avg", INTENDED_DEG] == pytest.approx(
        100 * (np.mean(test) - 0.2 / 3 - np.mean(test)) / np.mean(test))
    assert (tidy[tidy.metric == UNINTENDED].n_consumer_seeds == 3).all()
    assert not tidy.duplicated(["dataset", "method", "version", "metric"]).any()


def test_table3_layout_in_paper_order(fake):
    tidy, _, test = fake
    t3 = table3(tidy)
    assert list(t3.method) == [m for m in PAPER_ORDER if m in {"Keep-All", "Fix-M0", "Non-BC", "BC-Aligner"}]
    row = t3.set_index("method")
    assert row.loc["Keep-All", "intended_%"] == 0.0 and row.loc["Keep-All", "unintended_%"] == 0.0
    assert row.loc["Keep-All", "Recall@50_%"] == pytest.approx(100 * np.mean(test))
    assert row.loc["Fix-M0", "alignment_error"] == 0.0
    assert 50 < row.loc["Keep-All", "AUC_%"] <= 100
    assert row.loc["BC-Aligner", "(1)+(2)_%"] == pytest.approx(
        row.loc["BC-Aligner", "intended_%"] + row.loc["BC-Aligner", "unintended_%"])
    assert (t3.n_consumer_seeds == 3).all()


def test_alignment_vs_unintended_points_and_pearson(fake):
    tidy, _, _ = fake
    pts = alignment_vs_unintended(tidy)
    assert set(pts.method) == {"Fix-M0", "Non-BC", "BC-Aligner"}  # Keep-All left out
    assert set(pts.version) == {"1", "2"}  # no unintended rows at version 0
    assert pearson([1, 2, 3], [2, 4, 6.5]) > 0.99 and pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1)
    assert math.isnan(pearson([1, 2], [1, 2])) and math.isnan(pearson([1, 1, 1], [1, 2, 3]))


def test_same_m0_check_and_parameter_validation(fake):
    _, results, _ = fake
    assert_same_m0(results)
    bad = dict(results)
    r = results["BC-Aligner"]
    v0 = VersionRecord(**{**r[0].__dict__, "z_user": r[0].z_user + 1e-6})
    bad["BC-Aligner"] = VersionsResult(r.method, r.dataset, r.config, [v0, *r.versions[1:]])
    with pytest.raises(AssertionError, match="BC-Aligner"):
        assert_same_m0(bad)
    assert resolve_methods(["bc-aligner", "Fix-M0", "nobc"]) == ["Fix-M0", "Non-BC", "BC-Aligner"]
    # None: everything but BC-Aligner-MLP (not in the paper, a fifth of the training time), which
    # runs when named
    assert resolve_methods(None) == [m for m in PAPER_ORDER if m != "BC-Aligner-MLP"]
    assert resolve_methods(["BC-Aligner-MLP", "bc-aligner"]) == ["BC-Aligner", "BC-Aligner-MLP"]
    with pytest.raises(ValueError, match="allowed: Non-BC"):
        resolve_methods(["BC-Magic"])
    with pytest.raises(ValueError, match="allowed: auto, cpu"):
        check_device("gpu")
    assert check_device("cuda:1") == "cuda:1"
