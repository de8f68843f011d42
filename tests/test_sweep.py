"""The λ sweep: seed aggregation, the monotonicity report, parameter resolution, and the cache
contract (a sweep over λ retrains only the joint methods; λ = 16 reuses notebook 02/03's runs)."""
import math

import numpy as np
import pandas as pd
import pytest

from embcompat.backward import sweep as S
from embcompat.backward import sweep_analysis as SA
from embcompat.config.bc import TRAIN_SEEDS
from embcompat.config.sweep import JOINT_METHODS, PAPER_LAMBDAS, SWEEP_SCALES
from embcompat.backward.evaluate import ALIGN, INTENDED_DEG, UNINTENDED_DEG
from embcompat.backward.experiment import run_experiment


def _per_seed(values: dict, n_consumer=3):
    """Rows as evaluate() + lam + seed: values[(method, lam, metric)] = [per training seed]."""
    rows = []
    for (m, lam, metric), vals in values.items():
        for seed, v in enumerate(vals):
            rows.append({"dataset": "d", "method": m, "version": "avg", "metric": metric,
                         "value": v, "std": 0.1 * (seed + 1) if metric == UNINTENDED_DEG else np.nan,
                         "n_consumer_seeds": n_consumer if metric == UNINTENDED_DEG else 1,
                         "lam": lam, "seed": seed})
    return pd.DataFrame(rows)


def test_aggregate_seeds_mean_std_and_consumer_spread():
    df = _per_seed({("BC-Aligner", 1.0, UNINTENDED_DEG): [-2.0, -4.0],
                    ("BC-Aligner", 1.0, INTENDED_DEG): [-1.0, np.nan],
                    ("Non-BC", np.nan, INTENDED_DEG): [0.0, 0.0]})
    out = S.aggregate_seeds(df).set_index(["method", "metric"])
    u = out.loc[("BC-Aligner", UNINTENDED_DEG)]
    assert u.value == -3.0 and u["std"] == pytest.approx(np.std([-2, -4], ddof=1))
    assert u.n_train_seeds == 2 and u.n_consumer_seeds == 3
    assert u.std_consumer == pytest.approx(math.sqrt((0.1 ** 2 + 0.2 ** 2) / 2))
    i = out.loc[("BC-Aligner", INTENDED_DEG)]
    assert i.value == -1.0 and i.n_train_seeds == 1 and np.isnan(i["std"])   # NaN seed not counted
    ref = out.loc[("Non-BC", INTENDED_DEG)]
    assert np.isnan(ref.lam) and ref.n_train_seeds == 2                       # references kept, λ NaN
    assert list(SA.averages(S.aggregate_seeds(df)).columns) == S.SWEEP_COLUMNS


def test_monotone_report_directions_and_violations():
    vals = {}
    for lam, (i, u, a) in zip([1.0, 2.0, 4.0], [(-1, -5, 0.9), (-2, -3, 0.7), (-3, -4, 0.8)]):
        vals[("BC-Aligner", lam, INTENDED_DEG)] = [i]
        vals[("BC-Aligner", lam, UNINTENDED_DEG)] = [u]
        vals[("BC-Aligner", lam, ALIGN)] = [a]
    vals[("Non-BC", np.nan, INTENDED_DEG)] = [0.0]
    tidy = S.aggregate_seeds(_per_seed(vals))
    rep = SA.monotone_report(tidy).set_index("metric")
    assert set(rep.method) == {"BC-Aligner"}                   # references (λ NaN) are skipped
    assert rep.loc[INTENDED_DEG, "monotone"] and rep.loc[INTENDED_DEG, "expected"] == "decreasing"
    assert rep.loc[INTENDED_DEG, "spearman"] == pytest.approx(-1.0)
    assert not rep.loc[UNINTENDED_DEG, "monotone"] and rep.loc[UNINTENDED_DEG, "n_violations"] == 1
    assert rep.loc[UNINTENDED_DEG, "violations"] == "λ 2→4: -3 → -4 (-1)"
    assert rep.loc[ALIGN, "violations"] == "λ 2→4: 0.7 → 0.8 (+0.1)"
    assert SA.monotone_report(tidy, tol=0.2).set_index("metric").loc[ALIGN, "monotone"]


def test_resolve_sweep_defaults_and_strings():
    demo = S.resolve_sweep("demo")
    assert demo == SWEEP_SCALES["demo"] and demo.seeds == (42, 43, 44, 45, 46)
    assert set(demo.seeds) <= set(TRAIN_SEEDS["demo"])  # notebook 02-04's cache serves λ = 16
    assert 16.0 in demo.lambdas                                 # λ = 16 is notebook 02/03's: free
    got = S.resolve_sweep("smoke", datasets="synthetic", methods="joint-linear-mloss,Joint-NoTrans",
                          lambdas="[4, 1]", seeds="7")
    assert got.datasets == ("synthetic",) and got.methods == ("BC-Aligner", "Joint-NoTrans")
    assert got.lambdas == (1.0, 4.0) and got.seeds == (7,)
    assert S.resolve_sweep("smoke", dataset="synthetic").datasets == ("synthetic",)
    with pytest.raises(ValueError, match="either dataset or datasets"):
        S.resolve_sweep("smoke", dataset="a", datasets=["b"])
    with pytest.raises(ValueError, match="allowed: Non-BC"):
        S.resolve_sweep("smoke", methods=["BC-Magic"])
    with pytest.raises(ValueError, match="λ > 0"):
        S.resolve_sweep("smoke", lambdas="-1")
    with pytest.raises(ValueError, match="allowed: smoke, demo, paper"):
        S.resolve_sweep("huge")


def test_sweep_scales_defaults():
    assert set(SWEEP_SCALES) == {"smoke", "demo", "paper"}
    for sc in SWEEP_SCALES.values():
        assert set(sc.methods) <= set(JOINT_METHODS) and sc.epochs is None
        assert all(lam > 0 for lam in sc.lambdas) and 16.0 in sc.lambdas
    assert SWEEP_SCALES["paper"].lambdas == PAPER_LAMBDAS
    # the demo sweeps the paper's grid on both offline real data sets (issue #4)
    assert SWEEP_SCALES["demo"].lambdas == PAPER_LAMBDAS
    assert SWEEP_SCALES["demo"].methods == ("BC-Aligner",)  # the budget: README
    assert set(SWEEP_SCALES["paper"].methods) == set(JOINT_METHODS)
    assert set(SWEEP_SCALES["demo"].datasets) == {"amazon-2014-hin", "movielens-latest-small"}


def test_a_sweep_retrains_only_the_joint_methods(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBCOMPAT_CACHE", str(tmp_path / "cache"))
    methods = ["Joint-NoTrans", "BC-Aligner"]
    first = S.provenance(list(S.iter_runs(["synthetic"], "smoke", methods, [1], [3], "cpu",
                                          progress=False)))
    # a fresh cache: everything trained, M_0 once (Non-BC's); the others load it from disk
    loaded = first[first.from_cache]
    assert set(loaded.version) == {0} and "Non-BC" not in set(loaded.method)
    assert not first[first.version > 0].from_cache.any()
    runs = list(S.iter_runs(["synthetic"], "smoke", methods, [1, 4], [3], "cpu", progress=False))
    p = S.provenance(runs)
    trained = p[~p.from_cache]
    # only the joint methods' versions 1..4 at the new λ were trained
    assert set(trained.method) == set(methods) and set(trained.lam) == {4.0}
    assert set(trained.version) == {1, 2, 3, 4} and len(trained) == 8
    keys = p.pivot_table(index=["method", "version"], columns="lam", values="key", aggfunc="first")
    assert "Keep-All" not in set(p.method)                      # derived: no versions of its own
    for m in ("Non-BC", "Fix-M0"):                   # shared across λ: same keys
        assert keys.loc[m][1.0].tolist() == keys.loc[m][4.0].tolist()
    for m in methods:
        k1, k4 = keys.loc[m][1.0].tolist(), keys.loc[m][4.0].tolist()
        assert k1[0] == k4[0] == keys.loc["Non-BC"][1.0].tolist()[0]   # one M_0
        assert all(a != b for a, b in zip(k1[1:], k4[1:])) and len(k1) == 5
    # consumers are trained once per (data set, seed) and shared by every λ
    assert runs[0].experiment.consumers is runs[1].experiment.consumers
    assert runs[1].experiment.config.lam == 4.0


def test_lambda_16_reuses_run_experiment_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBCOMPAT_CACHE", str(tmp_path / "cache"))
    exp = run_experiment("synthetic", "smoke", ["BC-Aligner"], seed=5, device="cpu", progress=False)
    nb03 = exp.evaluate()
    runs = list(S.iter_runs(["synthetic"], "smoke", ["BC-Aligner"], [16], [5], "cpu",
                            progress=False))
    p = S.provenance(runs)
    assert p.from_cache.all()                                    # nothing retrained at λ = 16
    sweep = S.run_sweep(["synthetic"], "smoke", ["BC-Aligner"], [16], [5], "cpu", progress=False,
                        per_version=True)
    ref = nb03[nb03.method == "BC-Aligner"].set_index(["version", "metric"]).value
    got = sweep.set_index(["version", "metric"]).value
    pd.testing.assert_series_equal(got.sort_index(), ref.sort_index(), check_names=False)
    assert (sweep.n_train_seeds == 1).all() and sweep["std"].isna().all()


def test_run_sweep_rows_and_columns(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBCOMPAT_CACHE", str(tmp_path / "cache"))
    out = S.run_sweep("synthetic", "smoke", "Joint-Lin-SLoss", "[2, 8]", "[1, 2]", "cpu",
                      references=["Fix-M0"], progress=False)
    assert list(out.columns) == S.SWEEP_COLUMNS
    assert not out.duplicated(["dataset", "method", "lam", "metric"]).any()
    swept = out[out.method == "Joint-Lin-SLoss"]
    assert sorted(swept.lam.unique()) == [2.0, 8.0] and (swept.n_train_seeds == 2).all()
    assert swept.groupby("lam").metric.nunique().eq(swept.metric.nunique()).all()
    fix = out[out.method == "Fix-M0"]
    assert fix.lam.isna().all() and (fix[fix.metric == ALIGN].value == 0).all()


def test_parallel_workers_train_the_same_sweep(tmp_path, monkeypatch):
    """workers=2 trains the reference and (method, λ) chains in two processes: same table as
    in-process."""
    args = (["synthetic"], "smoke", ["Joint-NoTrans", "BC-Aligner"], [1, 4], [3], "cpu")
    monkeypatch.setenv("EMBCOMPAT_CACHE", str(tmp_path / "serial"))
    serial = S.run_sweep(*args, progress=False, per_version=True)
    monkeypatch.setenv("EMBCOMPAT_CACHE", str(tmp_path / "parallel"))
    runs = list(S.iter_runs(*args, workers=2, progress=False))
    p = S.provenance(runs)
    # every joint version, and the references' M_0 / Non-BC chain, came from the workers' cache
    # entries; Fix-M0 (forward passes of M_0) is computed in this process
    joint = p[p.method.isin(["Joint-NoTrans", "BC-Aligner"]) & (p.version > 0)]
    assert len(joint) == 2 * 2 * 4 and joint.from_cache.all()
    assert p[p.method == "Non-BC"].from_cache.all()
    assert not p[(p.method == "Fix-M0") & (p.version > 0)].from_cache.any()
    parallel = S.run_sweep(*args, workers=2, progress=False, per_version=True)
    pd.testing.assert_frame_equal(parallel, serial, check_exact=False, rtol=1e-4, atol=1e-6)


def test_workers_must_be_a_positive_integer():
    from embcompat.backward.parallel import train_chains

    assert S.resolve_sweep("demo").workers == 2 and S.resolve_sweep("smoke").workers == 1
    assert S.resolve_sweep("smoke", workers=3).workers == 3
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="workers must be an integer >= 1"):
            S.resolve_sweep("smoke", workers=bad)
    with pytest.raises(ValueError, match="workers must be >= 1"):
        train_chains([], 0)


def test_select_start_override_retrains_only_the_joint_methods(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBCOMPAT_CACHE", str(tmp_path / "cache"))
    args = (["synthetic"], "smoke", ["BC-Aligner"], [4], [3], "cpu")
    base = S.provenance(list(S.iter_runs(*args, references=["Non-BC"], progress=False)))
    later = S.provenance(list(S.iter_runs(*args, references=["Non-BC"], select_start=1,
                                          progress=False)))
    joint = later[later.method == "BC-Aligner"]
    assert not joint[joint.version > 0].from_cache.any()          # retrained with the new rule
    assert later[later.method == "Non-BC"].from_cache.all()        # references: from the cache
    assert set(joint.key) != set(base[base.method == "BC-Aligner"].key)
    assert S.resolve_sweep("smoke", select_start=1).select_start == 1
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="select_start must be an integer >= 0"):
            S.resolve_sweep("smoke", select_start=bad)
    with pytest.raises(ValueError, match="select_start"):
        list(S.iter_runs(*args, select_start=99, progress=False))   # beyond the epochs


def test_seed_trends_reads_each_seed_and_the_paired_end_difference():
    from scipy import stats as st

    lams = (1.0, 4.0, 16.0)
    # intended degradation falls with λ in every seed (the paper's direction); the alignment error
    # rises with λ in every seed (against the paper); unintended: flat in one seed, mixed otherwise
    intended = {s: [-1.0 * s - i * (1 + s) for i in range(3)] for s in range(5)}
    align = {s: [0.5 + 0.1 * s + 0.2 * i for i in range(3)] for s in range(5)}
    unint = {0: [-1, -1, -1], 1: [-3, -2, -1], 2: [-1, -2, -3], 3: [-2, -1, -3], 4: [-1, -3, -2]}
    values = {}
    for i, lam in enumerate(lams):
        values[("BC-Aligner", lam, INTENDED_DEG)] = [intended[s][i] for s in range(5)]
        values[("BC-Aligner", lam, ALIGN)] = [align[s][i] for s in range(5)]
        values[("BC-Aligner", lam, UNINTENDED_DEG)] = [float(unint[s][i]) for s in range(5)]
    df = _per_seed(values)
    # rows the trend must ignore: a reference (no λ) and a per-version row
    df = pd.concat([df, df.iloc[:1].assign(lam=np.nan, method="Non-BC"),
                    df.iloc[:1].assign(version="2", value=99.0)], ignore_index=True)
    rep = SA.seed_trends(df).set_index("metric")
    assert list(SA.seed_trends(df).columns) == SA.TREND_COLUMNS and len(rep) == 3

    r = rep.loc[INTENDED_DEG]
    assert r.rho_mean == pytest.approx(-1.0) and r.seeds_in_direction == 5 and r.n_train_seeds == 5
    diffs = np.array([intended[s][2] - intended[s][0] for s in range(5)])  # -2(1+s)
    half = st.t.ppf(0.975, 4) * diffs.std(ddof=1) / np.sqrt(5)
    assert r.end_diff == pytest.approx(diffs.mean())
    assert (r.end_lo, r.end_hi) == pytest.approx((diffs.mean() - half, diffs.mean() + half))
    assert (r.lam_lo, r.lam_hi) == (1.0, 16.0) and r.verdict == "paper's direction"

    a = rep.loc[ALIGN]
    assert a.rho_mean == pytest.approx(1.0) and a.seeds_in_direction == 0
    assert a.end_diff == pytest.approx(0.4) and a.verdict == "against the paper"

    u = rep.loc[UNINTENDED_DEG]  # seed 0 is flat: rho undefined, left out of the rho interval
    rhos = [1.0, -1.0, -0.5, -0.5]  # seeds 1-4, by hand: 1 - 6 sum(d^2) / (n (n^2 - 1))
    assert u.rho_mean == pytest.approx(np.mean(rhos)) and u.seeds_in_direction == 1
    assert u.verdict == "undecided"

    three = SA.seed_trends(df[df.seed < 3]).set_index("metric")
    assert (three.verdict == "too few seeds").all() and (three.n_train_seeds == 3).all()
