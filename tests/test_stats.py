"""Seed statistics: the t interval against a hand computation, paired differences and verdicts."""
import math

import numpy as np
import pandas as pd
import pytest

from embcompat.stats import ci_table, mean_ci, paired_difference


def test_t_interval_matches_a_hand_computation():
    # values 1..5: mean 3, s = sqrt(2.5), se = s / sqrt(5) = 0.70711; t_{0.975, 4} = 2.7764 (tables)
    ci = mean_ci([1, 2, 3, 4, 5])
    assert ci.mean == 3 and ci.n == 5
    assert ci.half_width == pytest.approx(2.7764 * math.sqrt(2.5) / math.sqrt(5), abs=1e-4)
    assert ci.half_width == pytest.approx(1.9632, abs=1e-4)
    assert (ci.lo, ci.hi) == pytest.approx((3 - 1.9632, 3 + 1.9632), abs=1e-4)
    # a 90 % interval is narrower: t_{0.95, 4} = 2.1318
    assert mean_ci([1, 2, 3, 4, 5], level=0.9).half_width == pytest.approx(
        2.1318 * math.sqrt(0.5), abs=1e-4)


def test_one_value_has_no_interval_and_bad_input_is_refused():
    ci = mean_ci([0.7])
    assert ci.mean == 0.7 and math.isnan(ci.lo) and math.isnan(ci.half_width)
    with pytest.raises(ValueError, match="no values"):
        mean_ci([])
    with pytest.raises(ValueError, match="finite"):
        mean_ci([1.0, float("nan")])
    with pytest.raises(ValueError, match="level"):
        mean_ci([1, 2], level=95)
    with pytest.raises(ValueError, match="method"):
        mean_ci([1, 2], method="normal")


def test_bootstrap_is_seeded_and_close_to_t_on_many_values():
    x = np.random.default_rng(1).normal(10, 2, size=200)
    a, b = mean_ci(x, method="bootstrap", seed=3), mean_ci(x, method="bootstrap", seed=3)
    assert a == b
    t = mean_ci(x)
    assert a.lo < a.mean < a.hi
    assert a.half_width == pytest.approx(t.half_width, rel=0.1)
    assert mean_ci([2.0, 2.0, 2.0], method="bootstrap").half_width == 0


def test_paired_difference_pairs_by_seed_and_gives_a_verdict():
    a = {s: 0.5 + 0.03 * s for s in range(6)}
    b = {s: a[s] - 0.02 - 0.001 * (s % 2) for s in range(6)}  # a better by ~2 points every seed
    d = paired_difference(a, b)
    assert d["seeds"] == list(range(6)) and d["n"] == 6
    assert d["mean"] == pytest.approx(0.0205)
    assert d["verdict"] == "a better"
    assert paired_difference(b, a)["verdict"] == "b better"
    assert paired_difference(a, b, higher_is_better=False)["verdict"] == "b better"
    # unpaired, the same numbers would not separate: the seed effect (0.03 per seed) dominates
    assert mean_ci(list(a.values())).covers(float(np.mean(list(b.values()))))
    noisy = {s: a[s] + (0.05 if s % 2 else -0.05) for s in range(6)}
    assert paired_difference(noisy, a)["verdict"] == "undecided"
    assert paired_difference({0: 1.0, 1: 2.0, 9: 3.0}, {0: 0.0, 1: 0.5})["verdict"] == "too few seeds"
    with pytest.raises(ValueError, match="no common seed"):
        paired_difference({0: 1.0}, {1: 1.0})


def test_ci_table_groups_and_refuses_a_duplicated_seed():
    f = pd.DataFrame({"method": ["A"] * 5 + ["B"] * 2, "seed": [0, 1, 2, 3, 4, 0, 1],
                      "v": [1, 2, 3, 4, 5, 7, 7]})
    t = ci_table(f, ["method"], "v")
    assert t.method.tolist() == ["A", "B"]
    assert t.loc[0, "half_width"] == pytest.approx(1.9632, abs=1e-4)
    assert t.loc[1, "half_width"] == 0 and t.loc[1, "n"] == 2
    with pytest.raises(ValueError, match="seed twice"):
        ci_table(pd.concat([f, f.iloc[:1]]), ["method"], "v")
    with pytest.raises(ValueError, match="missing columns"):
        ci_table(f, ["dataset"], "v")
