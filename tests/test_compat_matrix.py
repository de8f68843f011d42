"""The full compatibility matrices: BC (every C_j on every later version) and FCT (query version
x gallery version). Smoke scale, synthetic data."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from embcompat.backward import compat_matrix as CM
from embcompat.backward.consumers import evaluate_consumers, train_consumers
from embcompat.backward.evaluate import UNINTENDED, UNINTENDED_DEG, task_metric
from embcompat.backward.experiment import run_experiment
from embcompat.backward.reembed import TrueEmbeddings, check_versions, fed_embeddings
from embcompat.backward.tasks import rebase_task
from embcompat.config.consumers import MatrixConfig, matrix_config
from embcompat.forward import FCTExperiment, sequence_table
from embcompat.forward.compat_matrix import (FCT_MATRIX_COLUMNS, fct_compat_matrix,
                                             fct_matrix_summary)
from embcompat.utils import cache_dir

METHODS = ["Keep-All", "Fix-M0", "Non-BC", "Post-Lin-SLoss", "Joint-NoTrans", "BC-Aligner",
           "Finetune-M0"]


@pytest.fixture(scope="module")
def exp():
    # module fixtures run before the autouse one-thread fixture: set it here, so that every
    # number below comes from the same thread count (float sums depend on it)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield run_experiment("synthetic", "smoke", METHODS, seed=3, device="cpu", progress=False)
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def matrix(exp):
    torch.set_num_threads(1)
    return CM.experiment_matrix(exp, MatrixConfig(later_seeds=(0, 1, 2)), progress=False)


def _cells(matrix, method, task=CM.TASK_MEAN):
    t = matrix[(matrix.method == method) & (matrix.task == task)]
    return t.set_index(["consumer_version", "embedding_version"])


# ------------------------------------------------------------------ BC
def test_row_zero_is_table3s_c0_over_time(exp, matrix):
    tidy = exp.evaluate().set_index(["method", "version", "metric"])
    for m in exp.methods:
        row = matrix[(matrix.method == m) & (matrix.consumer_version == 0)]
        n = 0
        for r in row[row.reported].itertuples():
            if r.task == CM.TASK_MEAN:
                auc, deg = UNINTENDED, UNINTENDED_DEG
            else:
                auc, deg = task_metric(UNINTENDED, r.task), task_metric(UNINTENDED_DEG, r.task)
            ref = tidy.loc[(m, str(r.embedding_version))]
            assert r.roc_auc == pytest.approx(ref.loc[auc, "value"], abs=1e-12), (m, r.task)
            assert r.roc_auc_std == pytest.approx(ref.loc[auc, "std"], abs=1e-12, nan_ok=True)
            assert r.degradation == pytest.approx(ref.loc[deg, "value"], abs=1e-9, nan_ok=True)
            assert r.n_consumer_seeds == ref.loc[auc, "n_consumer_seeds"] == 2  # C_0: the smoke scale's seeds
            n += 1
        assert n == sum(met.startswith(UNINTENDED) for v, met in tidy.loc[m].index if v != "avg")


def test_diagonal_is_c_j_on_its_own_true_embeddings(exp, matrix):
    diag = matrix[matrix.consumer_version == matrix.embedding_version]
    assert (diag.degradation == 0).all() and not diag.reported.any()
    assert set(diag.consumer_version) == {0, 1, 2, 3}  # K = 4: C_0 .. C_3
    # an independent C_2 of the edge task, trained by hand on BC-Aligner's z_2
    r, j = exp.results["BC-Aligner"], 2
    task = rebase_task(exp.tasks["edge-rating"], exp.graph, exp.splits, j)
    cfg = MatrixConfig(later_seeds=(0, 1, 2)).consumer_config(exp.consumer_config)
    c = train_consumers(task, {j: (r[j].z_user, r[j].z_item)}, cfg, device="cpu")
    aucs = evaluate_consumers(c, task, r[j].z_user, r[j].z_item, j)
    cell = _cells(matrix, "BC-Aligner", "edge-rating").loc[(j, j)]
    assert cell.roc_auc == pytest.approx(np.mean(aucs), abs=1e-12) and cell.n_consumer_seeds == 3
    # Non-BC, its post-hoc method and Keep-All share M_j, hence C_j and its diagonal
    for m in ("Post-Lin-SLoss", "Keep-All"):
        assert np.allclose(_cells(matrix, m).roc_auc.loc[[(1, 1), (2, 2)]],
                           _cells(matrix, "Non-BC").roc_auc.loc[[(1, 1), (2, 2)]], atol=1e-12)


def test_keep_all_and_fix_m0_never_degrade_and_others_may(matrix):
    for m in ("Keep-All", "Fix-M0"):
        t = matrix[matrix.method == m]
        assert (t.degradation == 0).all() and (t.roc_auc == t.reference_auc).all(), m
    # Keep-All's row j is Non-BC's C_j on its true z_j: the reference of every Non-BC cell
    keep, nobc = _cells(matrix, "Keep-All"), _cells(matrix, "Non-BC")
    assert np.allclose(keep.roc_auc, nobc.reference_auc.loc[keep.index], atol=1e-12)
    off = matrix[(matrix.embedding_version > matrix.consumer_version) & matrix.reported
                 & matrix.method.isin(["Non-BC", "BC-Aligner"])]
    assert (off.degradation != 0).any()


def test_cells_cover_the_upper_triangle_with_the_later_seeds(matrix):
    mean = matrix[matrix.task == CM.TASK_MEAN]
    for m, g in mean.groupby("method"):
        assert sorted(zip(g.consumer_version, g.embedding_version)) == [
            (j, k) for j in range(4) for k in range(j, 5)], m
    assert set(matrix[matrix.consumer_version > 0].n_consumer_seeds) == {3}
    assert set(matrix[matrix.consumer_version == 0].n_consumer_seeds) == {2}
    user = matrix[(matrix.task == "user-activity")]
    assert (user.reported == (user.embedding_version >= user.consumer_version + 2)).all()
    assert matrix.roc_auc.between(0, 1).all()


def test_chain_is_each_b_in_turn_and_non_bc_is_cut_to_d_j(exp):
    true = TrueEmbeddings(exp.graph, exp.splits, exp.results, device="cpu")
    r = exp.results["BC-Aligner"]
    zu, _ = fed_embeddings(r, 1, 3, true)
    assert torch.allclose(zu, r[3].z_user @ (r[2].B @ r[3].B).T, atol=1e-5)
    assert zu.shape[1] == exp.config.dims[1]
    nobc = exp.results["Non-BC"]
    assert fed_embeddings(nobc, 1, 3, true)[0] is nobc[3].z_user  # the consumer keeps d_1 dims
    # the true z_1 at version 3 is M_1 re-run on G_3; z_0 comes from Fix-M0 without a pass
    z13 = true(nobc[1], 3)[0]
    assert z13.shape == (exp.splits[3].num_users, exp.config.dims[1])
    assert true(nobc[0], 3)[0] is exp.results["Fix-M0"][3].z_user
    assert true.forward_passes == 1


def test_a_nonlinear_chain_is_fed_through_its_rebuilt_mlps():
    from embcompat.models.mlp_backward import as_backward

    torch.set_num_threads(1)
    e = run_experiment("synthetic", "smoke", ["BC-Aligner-MLP"], seed=3, device="cpu",
                       consumers=False, progress=False)
    r = e.results["BC-Aligner-MLP"]
    assert r[3].B_kind == "mlp"
    true = TrueEmbeddings(e.graph, e.splits, e.results, device="cpu")
    zu, zi = fed_embeddings(r, 1, 3, true)
    b2, b3 = (as_backward(r[k].B, "mlp") for k in (2, 3))
    with torch.no_grad():
        assert torch.allclose(zu, b2(b3(r[3].z_user)), atol=1e-6)
        assert torch.allclose(zi, b2(b3(r[3].z_item)), atol=1e-6)
    assert zu.shape[1] == e.config.dims[1]


def test_later_consumers_can_keep_c0s_grid_point(exp):
    mc = MatrixConfig(later_seeds=(1,), later_grid="c0", consumer_versions=(2,))
    m = CM.compat_matrix(exp.results, exp.tasks, exp.graph, exp.splits, exp.consumer_config, mc,
                         device="cpu", methods=["Non-BC"])
    assert set(m.consumer_version) == {2} and set(m.n_consumer_seeds) == {1}
    point = (exp.consumers["edge-rating"].spec.hidden_dim, exp.consumers["edge-rating"].spec.dropout)
    cfg = mc.consumer_config(exp.consumer_config, point)
    assert cfg.hidden_grid == (point[0],) and cfg.dropout_grid == (point[1],) and cfg.seeds == (1,)
    with pytest.raises(ValueError, match="needs C_0's chosen"):
        mc.consumer_config(exp.consumer_config)
    with pytest.raises(ValueError, match="later_grid must be one of"):
        MatrixConfig(later_grid="random")
    assert matrix_config("demo").later_grid == "c0" and matrix_config("paper").later_seeds is None


def test_c0_keeps_its_cache_keys(exp):
    before = {p.name for p in cache_dir("consumers", "x").parent.glob("consumers-*")}
    CM.compat_matrix(exp.results, exp.tasks, exp.graph, exp.splits, exp.consumer_config,
                     MatrixConfig(consumer_versions=(0,)), device="cpu", methods=["BC-Aligner"])
    after = {p.name for p in cache_dir("consumers", "x").parent.glob("consumers-*")}
    assert after - before <= {"consumers-x"}  # no new C_0 was trained


def test_summary_is_the_upper_triangle_mean_and_worst_cell():
    scores = {("d", "m", "t", 0, 0): ([0.8, 0.8], [0.8, 0.8], False),
              ("d", "m", "t", 0, 1): ([0.6, 0.6], [0.8, 0.8], True),   # -25 %
              ("d", "m", "t", 0, 2): ([0.7, 0.7], [0.7, 0.7], True),   # 0 %
              ("d", "m", "t", 1, 1): ([0.9, 0.9], [0.9, 0.9], False),
              ("d", "m", "t", 1, 2): ([0.45, 0.45], [0.9, 0.9], True),  # -50 %
              ("d", "m", "u", 0, 1): ([0.5, 0.5], [0.5, 0.5], False)}  # not reported at (0, 1)
    f = CM.matrix_frame(scores)
    cell = f[(f.task == CM.TASK_MEAN)].set_index(["consumer_version", "embedding_version"])
    assert cell.loc[(0, 1), "roc_auc"] == pytest.approx(0.6)  # the reported task only
    assert cell.loc[(0, 0), "roc_auc"] == pytest.approx(0.8) and not cell.loc[(0, 0), "reported"]
    s = CM.matrix_summary(f).iloc[0]
    assert s.n_cells == 3
    assert s.mean_degradation == pytest.approx((-25.0 + 0.0 - 50.0) / 3)
    assert s.worst_degradation == pytest.approx(-50.0) and s.worst_cell == "C_1 on v2"
    assert s.mean_auc == pytest.approx((0.6 + 0.7 + 0.45) / 3)
    assert s.diagonal_auc == pytest.approx((0.8 + 0.9) / 2)


def test_bad_inputs_raise(exp):
    t = exp.tasks["edge-rating"]
    with pytest.raises(ValueError, match="consumer version j"):
        rebase_task(t, exp.graph, exp.splits, 4)  # C_K has no later version to validate on
    with pytest.raises(ValueError, match="0 <= j <= k"):
        check_versions(5, 3, 2)
    with pytest.raises(ValueError, match="consumer_versions"):
        MatrixConfig(consumer_versions=(7,)).versions(5)
    with pytest.raises(ValueError, match="later_seeds"):
        MatrixConfig(later_seeds=())
    with pytest.raises(ValueError, match="unknown MatrixConfig field"):
        matrix_config("demo", seeds=(0,))
    with pytest.raises(ValueError, match="not among the results"):
        CM.compat_matrix(exp.results, exp.tasks, exp.graph, exp.splits, exp.consumer_config,
                         methods=["BC-Magic"])
    with pytest.raises(ValueError, match="missing columns"):
        CM.matrix_summary(pd.DataFrame({"method": ["m"]}))
    with pytest.raises(ValueError, match="seed"):
        CM.matrix_frame({("d", "m", "t", 0, 1): ([0.5, 0.6], [0.5], True)})
    with pytest.raises(ValueError, match="reserved"):
        CM.matrix_frame({("d", "m", "mean", 0, 1): ([0.5], [0.5], True)})


# ------------------------------------------------------------------ FCT
def test_fct_matrix_diagonal_and_hops_are_the_sequence_tables(monkeypatch, tmp_path):
    from test_forward_units import _images, _scale
    from embcompat.forward import FCTData

    monkeypatch.setenv("EMBCOMPAT_CACHE", str(tmp_path / "cache"))
    tx, ty = _images(12, 4, seed=0)
    sx, sy = _images(6, 4, seed=1)
    exp = FCTExperiment(_scale(), FCTData.from_tensors(tx, ty, sx, sy, name="synthetic-test"))
    seq = sequence_table(exp, ["autoencoder"]).set_index(["side_info", "case"])
    m = fct_compat_matrix(exp, ["autoencoder"])
    assert list(m.columns) == FCT_MATRIX_COLUMNS
    assert len(m) == 2 * 2 * 6  # side-info x strategy x (q, g <= q) for three versions
    cell = m.set_index(["side_info", "strategy", "query_version", "gallery_version"])
    for q in (1, 2, 3):
        ref = seq.loc[("n/a", f"phi{q}/phi{q}")]
        for si in ("autoencoder", "none"):
            for st in ("chain", "direct"):
                assert cell.loc[(si, st, q, q), "top1"] == ref.top1
                assert cell.loc[(si, st, q, q), "mAP"] == ref.mAP
                assert cell.loc[(si, st, q, q), "top1_gap"] == 0
    for si, p in (("autoencoder", "psi"), ("none", "0")):
        pairs = {(2, 1): f"phi2/h2(phi1,{p}1)", (3, 2): f"phi3/h3(phi2,{p}2)"}
        for (q, g), case in pairs.items():
            for st in ("chain", "direct"):
                assert cell.loc[(si, st, q, g), "top1"] == seq.loc[(si, case.replace("01", "0").replace("02", "0")), "top1"]
        two = seq[seq.kind == "two-hop"].loc[si]
        direct = seq[seq.kind == "direct"].loc[si]
        assert cell.loc[(si, "chain", 3, 1), "mAP"] == two.mAP.iloc[0]
        assert cell.loc[(si, "direct", 3, 1), "mAP"] == direct.mAP.iloc[0]
    s = fct_matrix_summary(m).set_index(["side_info", "strategy"])
    off = cell.xs(("none", "chain"), level=[0, 1])
    off = off[off.index.get_level_values(0) > off.index.get_level_values(1)]
    assert s.loc[("none", "chain"), "n_cells"] == 3
    assert s.loc[("none", "chain"), "mean_top1"] == pytest.approx(off.top1.mean())
    assert s.loc[("none", "chain"), "worst_top1"] == pytest.approx(off.top1.min())
    with pytest.raises(ValueError, match="allowed: chain, direct"):
        fct_compat_matrix(exp, ["none"], strategies=["three-hop"])
    with pytest.raises(ValueError, match="missing columns"):
        fct_matrix_summary(m.drop(columns="top1_gap"))
