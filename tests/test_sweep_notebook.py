"""papermill smoke runs of notebook 05 (the λ sweep), with parameters passed as the CLI passes
them (``-p lambdas "[1, 4]"`` arrives as a string), asserting on the tables it writes."""
import pandas as pd
import papermill as pm
import pytest

from test_notebooks import run_notebook

DIRECTED = {"intended_degradation_%", "unintended_degradation_%", "alignment_error"}


def _table(out, name):
    return pd.read_csv(out / "tables" / f"{name}.csv")


@pytest.mark.slow
def test_05_string_parameters_one_row_per_method_lambda_metric(tmp_path):
    out = run_notebook("05_lambda_sweep.ipynb", tmp_path, datasets="synthetic", device="cpu",
                       lambdas="[1, 4]", methods="BC-Aligner,Joint-NoTrans", seeds="[42]",
                       interactive=False)
    t = _table(out, "05_lambda_sweep")
    assert list(t.columns) == ["dataset", "method", "lam", "metric", "value", "std", "n_train_seeds",
                               "std_consumer", "n_consumer_seeds"]
    swept = t[t.lam.notna()]
    assert set(swept.dataset) == {"synthetic"}
    assert set(swept.method) == {"BC-Aligner", "Joint-NoTrans"}
    assert sorted(swept.lam.unique()) == [1.0, 4.0]
    counts = swept.groupby(["method", "lam", "metric"]).size()
    assert (counts == 1).all()
    for m in ("BC-Aligner", "Joint-NoTrans"):
        for lam in (1.0, 4.0):
            got = set(swept[(swept.method == m) & (swept.lam == lam)].metric)
            assert DIRECTED | {"intended_recall@50", "unintended_auc"} <= got, (m, lam)
    assert (swept.n_train_seeds == 1).all() and swept["std"].isna().all()      # one training seed
    refs = t[t.lam.isna()].set_index(["method", "metric"]).value
    assert refs["Fix-M0", "alignment_error"] == 0.0 and refs["Non-BC", "intended_degradation_%"] == 0
    mono = _table(out, "05_monotonicity")
    assert len(mono) == 2 * 3 and set(mono.metric) == DIRECTED
    assert (mono.lambdas == "1, 4").all()
    assert (mono.monotone == (mono.n_violations == 0)).all()
    trend = _table(out, "05_lambda_trend")  # seed by seed: one seed decides nothing
    assert len(trend) == 2 * 3 and set(trend.metric) == DIRECTED
    assert (trend.n_train_seeds == 1).all() and (trend.verdict == "too few seeds").all()
    assert ((trend.lam_lo == 1.0) & (trend.lam_hi == 4.0)).all()
    md = (out / "tables" / "05_lambda_sweep.md").read_text()
    assert "papermill notebooks/05_lambda_sweep.ipynb" in md and "scale=smoke" in md
    per_version = _table(out, "05_lambda_sweep_per_version")
    assert set(per_version.version.astype(str)) == {"0", "1", "2", "3", "4"}
    for fig in ("05_lambda_sweep", "05_pareto", "05_explorer"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 1000


@pytest.mark.slow
def test_05_a_single_lambda(tmp_path):
    out = run_notebook("05_lambda_sweep.ipynb", tmp_path, dataset="synthetic", device="cpu",
                       lambdas=4, methods=["Joint-Lin-SLoss"], seeds=[42])
    t = _table(out, "05_lambda_sweep")
    swept = t[t.lam.notna()]
    assert set(swept.lam) == {4.0} and set(swept.method) == {"Joint-Lin-SLoss"}
    assert not swept.duplicated(["method", "lam", "metric"]).any()
    mono = _table(out, "05_monotonicity")
    assert len(mono) == 3 and mono.monotone.all() and mono.spearman.isna().all()


@pytest.mark.slow
@pytest.mark.parametrize("params, message", [
    (dict(methods="[BC-Aligner, BC-Magic]"), r"methods: unknown value 'BC-Magic'; allowed: Non-BC"),
    (dict(lambdas="[1, -4]"), r"λ = -4.0 is out of range; allowed: finite numbers λ > 0"),
    (dict(lambdas="[]"), r"lambdas is empty; allowed: one or more finite numbers λ > 0"),
    (dict(methods=[]), r"methods is empty; give at least one value; allowed: Non-BC"),
    (dict(datasets="[]"), r"datasets is empty"),
    (dict(executor="dask"), r"executor must be one of local, ray, got 'dask'"),
    (dict(ray_address="auto"), r"address and Ray options need executor='ray'"),
])
def test_05_parameter_errors_name_the_allowed_values(tmp_path, params, message):
    with pytest.raises(pm.PapermillExecutionError, match=message):
        run_notebook("05_lambda_sweep.ipynb", tmp_path, device="cpu",
                     **{"datasets": "synthetic", **params})
