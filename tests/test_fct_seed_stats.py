"""embcompat.forward.seed_stats against hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from embcompat.forward.seed_stats import (ci_wide, cka_gain_correlations, cka_gain_points,
                                          correlation_ci,
                                          paired_sequence, paired_vs_none, retrieval_chance,
                                          seed_ci)


def _new_h(values: dict[str, list[float]], dataset="toy") -> pd.DataFrame:
    rows = []
    for si, vals in values.items():
        for seed, v in enumerate(vals):
            rows.append({"method": "FCT", "case": "new/h", "side_info": si, "top1": v,
                         "top5": v + 10, "mAP": v / 2, "seed": seed, "dataset": dataset})
    return pd.DataFrame(rows)


def test_seed_ci_is_the_t_interval_over_seeds():
    t = _new_h({"none": [10, 12, 14, 11, 13]})
    ci = seed_ci(t, ["method", "case", "side_info"])
    row = ci[ci.metric == "top1"].iloc[0]
    # mean 12, s = sqrt(2.5), t_{0.975, 4} = 2.7764
    half = 2.776445 * math.sqrt(2.5) / math.sqrt(5)
    assert row["mean"] == pytest.approx(12) and row.half_width == pytest.approx(half, rel=1e-5)
    assert row.n_train_seeds == 5
    wide = ci_wide(ci)
    assert wide.top1.iloc[0] == f"12.0 ± {half:.1f}" and wide.n_train_seeds.iloc[0] == 5


def test_paired_vs_none_pairs_by_seed_and_gives_a_verdict():
    # simclr is none + 2 (+-0.1) seed by seed, though the seeds' spread is large
    none = [10, 30, 50, 20, 40]
    t = _new_h({"none": none, "simclr": [v + 2 + 0.1 * (-1) ** i for i, v in enumerate(none)],
                "autoencoder": [v + (-1) ** i for i, v in enumerate(none)]})
    p = paired_vs_none(t, metrics=["top1"]).set_index("side_info")
    assert p.loc["simclr", "verdict"] == "simclr better"
    assert p.loc["simclr", "mean"] == pytest.approx(2.02)
    assert p.loc["autoencoder", "verdict"] == "undecided"
    few = paired_vs_none(_new_h({"none": [1, 2], "simclr": [3, 4]}), metrics=["top1"])
    assert few.verdict.iloc[0] == "too few seeds"


def test_correlation_ci_matches_scipy_and_fisher_z():
    x = np.array([0.1, 0.3, 0.5, 0.7, 0.2, 0.9, 0.4])
    y = np.array([3.0, 2.5, 1.0, 0.5, 2.0, -0.5, 1.8])
    c = correlation_ci(x, y)
    r, _ = sps.pearsonr(x, y)
    assert c["r"] == pytest.approx(r)
    half = 1.959964 / math.sqrt(4)
    assert c["lo"] == pytest.approx(math.tanh(math.atanh(r) - half), rel=1e-5)
    assert c["hi"] == pytest.approx(math.tanh(math.atanh(r) + half), rel=1e-5)
    with pytest.raises(ValueError, match="constant"):
        correlation_ci([1, 1, 1, 1], [1, 2, 3, 4])


def test_cka_gain_points_subtract_the_same_seeds_none():
    t = _new_h({"none": [10, 20], "simclr": [15, 21]})
    cka = pd.DataFrame({"dataset": "toy", "seed": [0, 1, 0, 1], "side_info": ["none", "none",
                        "simclr", "simclr"], "cka": [np.nan, np.nan, 0.3, 0.4]})
    p = cka_gain_points(cka, t)
    assert p.side_info.tolist() == ["simclr", "simclr"] and p.gain.tolist() == [5, 1]


def test_retrieval_chance_is_the_same_class_fraction_without_self():
    y = [0, 0, 0, 1, 1, 2]
    brute = np.mean([sum(y[j] == y[i] for j in range(6) if j != i) / 5 for i in range(6)])
    assert retrieval_chance(y) == pytest.approx(100 * brute)


def test_paired_sequence_compares_routes_and_side_info():
    rows = []
    for seed in range(5):
        for si, kind, v in (("simclr", "two-hop", 40), ("simclr", "direct", 45),
                            ("none", "two-hop", 38), ("none", "direct", 44)):
            rows.append({"dataset": "toy", "seed": seed, "side_info": si, "kind": kind,
                         "top1": v + seed + (0.2 if kind == "direct" and seed % 2 else 0)})
    p = paired_sequence(pd.DataFrame(rows))
    two = p[(p.comparison == "two-hop minus direct, top1") & (p.side_info == "simclr")].iloc[0]
    assert two.verdict == "direct better" and two["mean"] == pytest.approx(-5.08)
    si = p[p.comparison == "two-hop: side-info minus none, top1"].iloc[0]
    assert si.verdict == "side-info better" and si["mean"] == pytest.approx(2)


def test_cka_gain_correlations_per_data_set_and_pooled_with_verdicts():
    x = np.linspace(0.1, 0.9, 12)
    pts = pd.concat([
        pd.DataFrame({"dataset": "a", "metric": "mAP", "cka": x, "gain": 2 - 2 * x}),   # r = -1
        pd.DataFrame({"dataset": "b", "metric": "mAP", "cka": x,
                      "gain": np.sin(np.arange(12) * 2.1)})])                            # ~ 0
    c = cka_gain_correlations(pts).set_index("dataset")
    assert c.loc["a", "verdict"] == "lower CKA, larger gain" and c.loc["a", "r"] == pytest.approx(-1)
    assert c.loc["b", "verdict"] == "undecided"
    assert c.loc["all data sets", "n"] == 24
