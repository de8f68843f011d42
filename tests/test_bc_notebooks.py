"""papermill smoke runs of the BC notebooks (03), asserting on the tables they write."""
from __future__ import annotations

import pandas as pd
import papermill as pm
import pytest

from test_notebooks import run_notebook

METHODS = ["BC-Aligner", "Fix-M0", "Keep-All", "Post-Lin-MLoss"]
TASKS = {"edge-rating": 1, "user-activity": 2, "user-positive-activity": 2, "item-rating-avg": 1,
         "item-rating-std": 1}  # task -> first reported version (paper App. A.2)


def expected_metrics(version: str) -> set[str]:
    """The metrics a method has at a version: intended and alignment everywhere, unintended
    (averaged and per task) where a task is reported."""
    out = {"intended_recall@50", "intended_degradation_%", "alignment_error"}
    tasks = [t for t, first in TASKS.items() if version == "avg" or int(version) >= first]
    if tasks:
        out |= {"unintended_auc", "unintended_degradation_%"}
        out |= {f"unintended_{m}:{t}" for t in tasks for m in ("auc", "degradation_%")}
    return out


@pytest.mark.slow
def test_03_one_row_per_method_version_metric_and_keep_all_is_zero(tmp_path):
    out = run_notebook("03_compatibility_tables.ipynb", tmp_path, datasets=["synthetic"],
                       methods=list(reversed(METHODS)), seeds=[7, 8], device="cpu")
    t = pd.read_csv(out / "tables" / "03_compatibility.csv", dtype={"version": str})
    assert list(t.columns) == ["dataset", "method", "version", "metric", "value", "std",
                               "n_consumer_seeds", "train_seed", "n_train_seeds"]
    assert (t.n_train_seeds == 2).all()
    assert set(t.dataset) == {"synthetic"} and set(t.train_seed) == {7, 8}
    assert list(dict.fromkeys(t.method)) == ["Keep-All", "Fix-M0", "Post-Lin-MLoss", "BC-Aligner"]
    assert not t.duplicated(["train_seed", "method", "version", "metric"]).any()
    for (m, v, s), g in t.groupby(["method", "version", "train_seed"]):
        assert set(g.metric) == expected_metrics(v), (m, v, s)
    # another seed is another chain: other numbers for every trained method
    a, b = (t[(t.train_seed == s) & (t.method == "BC-Aligner") & (t.version == "avg")]
            .set_index("metric").value for s in (7, 8))
    assert a["alignment_error"] != b["alignment_error"]
    ci = pd.read_csv(out / "tables" / "03_compatibility_ci.csv")
    assert (ci.n_train_seeds == 2).all() and ci["(1)+(2)_%_ci"].notna().all()
    bca = ci[ci.method == "BC-Aligner"].iloc[0]
    per_seed = [t[(t.train_seed == s) & (t.method == "BC-Aligner") & (t.version == "avg")
                  & (t.metric == "alignment_error")].value.iloc[0] for s in (7, 8)]
    assert bca["alignment_error"] == pytest.approx(sum(per_seed) / 2)
    paired = pd.read_csv(out / "tables" / "03_paired.csv")
    assert set(paired.method) == {"Keep-All", "Fix-M0", "Post-Lin-MLoss"}
    assert (paired.verdict == "too few seeds").all() and (paired.n == 2).all()
    assert set(t.version) == {"0", "1", "2", "3", "4", "avg"}
    keep = t[t.method == "Keep-All"]
    assert (keep[keep.metric.str.contains("degradation")].value == 0.0).all()
    assert (t[(t.method == "Fix-M0") & (t.metric == "alignment_error")].value == 0.0).all()
    # post-hoc keeps Non-BC's models: no intended degradation, but its z~_0 is not M_0's
    post = t[t.method == "Post-Lin-MLoss"].set_index(["train_seed", "version", "metric"]).value
    for s in (7, 8):
        assert post[s, "avg", "intended_degradation_%"] == 0.0
        assert post[s, "4", "alignment_error"] > 0
    auc = t[t.metric.str.startswith("unintended_auc")]
    assert auc.value.between(0, 1).all() and (auc.n_consumer_seeds == 2).all()  # smoke: 2 consumer seeds
    md = (out / "tables" / "03_compatibility.md").read_text()
    assert "### synthetic" in md and "BC-Aligner" in md and "scale=smoke" in md
    assert "2 consumer seeds per task" in md and '"seeds": [7, 8]' in md and " ± " in md
    assert "fewer than 5: no claim" in md
    assert (out / "figures" / "03_alignment_vs_unintended.png").stat().st_size > 1000
    # the full compatibility matrix: C_0..C_3 on every later version, per method and task
    mx = pd.read_csv(out / "tables" / "03_compat_matrix.csv")
    assert set(mx.train_seed) == {7} and (mx.n_train_seeds == 1).all()  # one training seed, said
    assert set(mx.method) == set(METHODS) and set(mx.consumer_version) == {0, 1, 2, 3}
    assert (mx.embedding_version >= mx.consumer_version).all()
    assert (mx[mx.method == "Keep-All"].degradation == 0).all()
    assert set(mx.task) == set(TASKS) | {"mean"}
    summary = pd.read_csv(out / "tables" / "03_compat_matrix_summary.csv")
    assert sorted(summary.method) == sorted(METHODS) and (summary.n_cells == 10).all()
    assert "C_0" in (out / "tables" / "03_compat_matrix.md").read_text()
    assert (out / "figures" / "03_compat_matrix.png").stat().st_size > 1000


@pytest.mark.slow
def test_02_and_04_carry_every_training_seed(tmp_path):
    out = run_notebook("02_version_updates.ipynb", tmp_path, dataset="synthetic",
                       methods=["BC-Aligner"], seeds=[5, 6], device="cpu", workers=1)
    r = pd.read_csv(out / "tables" / "02_recall.csv")
    assert set(r.train_seed) == {5, 6} and set(r.method) == {"BC-Aligner"}
    assert (r.n_train_seeds == 2).all()
    sizes = pd.read_csv(out / "tables" / "02_evaluation_sizes.csv")
    assert set(sizes.split) == {"eval", "val", "test"} and (sizes.users > 0).all()
    assert set(sizes.train_seed) == {5, 6}
    plateau = pd.read_csv(out / "tables" / "02_plateau.csv")
    bca = plateau[plateau.method == "BC-Aligner"]
    assert sorted(bca.version) == [1, 2, 3, 4] and (bca.n_seeds == 2).all()
    assert set(plateau.verdict) <= {"rising", "plateau", "undecided"}
    out = run_notebook("04_performance_over_time.ipynb", tmp_path, dataset="synthetic",
                       methods=["BC-Aligner"], seeds=[5, 6], device="cpu", workers=1)
    assert (pd.read_csv(out / "tables" / "04_over_time.csv").n_train_seeds == 2).all()
    bands = pd.read_csv(out / "tables" / "04_over_time_ci.csv")
    assert (bands.n == 2).all() and (bands.lo <= bands["mean"]).all()
    assert (out / "figures" / "04_performance_over_time.png").stat().st_size > 1000


def test_02_rejects_an_unknown_method_naming_the_allowed_ones(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="allowed: Non-BC"):
        run_notebook("02_version_updates.ipynb", tmp_path, dataset="synthetic", methods=["BC-Magic"])
