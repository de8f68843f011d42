"""Choosing λ on the validation half: the degradation, its interval and the rule, by hand."""
import math

import pandas as pd
import pytest
import scipy.stats as sps

from embcompat.backward.lambda_choice import choose_lambda, common_lambda, lambda_summary, validation_degradation


def _rows():
    # ref 0.05 everywhere; per (dataset, λ, seed) two versions.
    data = []
    vals = {  # (dataset, λ, seed) -> recalls of v1, v2
        ("a", 1.0, 1): (0.050, 0.052), ("a", 1.0, 2): (0.049, 0.051),
        ("a", 4.0, 1): (0.048, 0.0475), ("a", 4.0, 2): (0.0475, 0.048),
        ("a", 16.0, 1): (0.040, 0.040), ("a", 16.0, 2): (0.035, 0.040),
        ("b", 1.0, 1): (0.040, 0.040), ("b", 1.0, 2): (0.030, 0.040),
        ("b", 4.0, 1): (0.020, 0.020), ("b", 4.0, 2): (0.025, 0.020),
    }
    for (ds, lam, seed), recalls in vals.items():
        for v, r in enumerate(recalls, start=1):
            data.append({"dataset": ds, "seed": seed, "lam": lam, "version": v, "recall": r, "ref_recall": 0.05})
    return pd.DataFrame(data)


def test_validation_degradation_is_the_mean_relative_change_over_versions():
    out = validation_degradation(_rows()).set_index(["dataset", "lam", "seed"])
    assert out.loc[("a", 1.0, 1), "val_intended_deg"] == pytest.approx((0 + 4) / 2)
    assert out.loc[("a", 16.0, 2), "val_intended_deg"] == pytest.approx((-30 + -20) / 2)
    assert out.loc[("b", 4.0, 2), "val_intended_deg"] == pytest.approx((-50 + -60) / 2)
    assert set(out.n_versions) == {2}


def test_summary_interval_is_the_t_interval_over_seeds():
    s = lambda_summary(validation_degradation(_rows())).set_index(["dataset", "lam"])
    x = [(-20 - 20) / 2, (-30 - 20) / 2]  # a, λ 16, seeds 1 and 2
    half = sps.t.ppf(0.975, 1) * pd.Series(x).std(ddof=1) / math.sqrt(2)
    row = s.loc[("a", 16.0)]
    assert row["mean"] == pytest.approx(-22.5)
    assert (row.lo, row.hi) == pytest.approx((-22.5 - half, -22.5 + half))
    assert row.n_seeds == 2


def test_choose_the_largest_lambda_inside_the_band_and_fall_back_to_the_smallest():
    choice = choose_lambda(lambda_summary(validation_degradation(_rows())), tolerance=5.0)
    chosen = choice[choice.chosen].set_index("dataset")
    # a: λ 1 at +2.0, λ 4 at -4.5 (inside -5), λ 16 at -22.5 -> 4.
    assert chosen.loc["a", "lam"] == 4.0 and bool(chosen.loc["a", "within"])
    # b: λ 1 at -15, λ 4 at -55: nothing inside -> the smallest λ, flagged.
    assert chosen.loc["b", "lam"] == 1.0 and not bool(chosen.loc["b", "within"])
    assert common_lambda(choice) == 1.0
    # A wider band moves b's choice up, and the common λ with it.
    wide = choose_lambda(lambda_summary(validation_degradation(_rows())), tolerance=60.0)
    assert common_lambda(wide) == 4.0


def test_bad_inputs_are_refused():
    rows = _rows()
    with pytest.raises(ValueError, match="missing columns"):
        validation_degradation(rows.drop(columns="ref_recall"))
    with pytest.raises(ValueError, match="ref_recall"):
        validation_degradation(rows.assign(ref_recall=0.0))
    with pytest.raises(ValueError, match="different versions"):
        validation_degradation(rows.drop(index=0))
    with pytest.raises(ValueError, match="tolerance"):
        choose_lambda(lambda_summary(validation_degradation(rows)), tolerance=0)
