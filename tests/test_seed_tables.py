"""Table 3 over training seeds: per-seed rows built by hand through ``method_rows``, then the
interval, the paired table, the version bands, the correlation and the growth comparison checked
against numbers computed here."""
import math

import numpy as np
import pandas as pd
import pytest

from embcompat.backward.evaluate import TIDY_COLUMNS, method_rows
from embcompat.backward import seed_tables as T
from embcompat.stats import mean_ci

SEEDS = [42, 43, 44, 45, 46]
K = 3  # versions 0..2


def _frame(seed: int, bca_recall: float, jls_recall: float, align_slope_jls: float) -> pd.DataFrame:
    """One seed's tidy frame: Keep-All, Joint-Lin-SLoss and BC-Aligner on one task ``t`` with two
    consumer seeds (AUCs fixed, so (2) is the same for every seed)."""
    ref = [0.10, 0.10, 0.10]
    ref_auc = {"t": {1: [0.8, 0.8], 2: [0.8, 0.8]}}
    rows = method_rows("d", "Keep-All", ref, ref, ref_auc, ref_auc, [0.0, 0.0, 0.0])
    auc = {"t": {1: [0.72, 0.72], 2: [0.72, 0.72]}}  # -10 % unintended
    rows += method_rows("d", "Joint-Lin-SLoss", [0.10, jls_recall, jls_recall], ref, auc, ref_auc,
                        [0.0, align_slope_jls, 2 * align_slope_jls])
    rows += method_rows("d", "BC-Aligner", [0.10, bca_recall, bca_recall], ref, auc, ref_auc,
                        [0.0, 0.1, 0.2])
    return T.with_seed(pd.DataFrame(rows, columns=TIDY_COLUMNS), seed)


def _tidy(bca, jls, slopes):
    return pd.concat([_frame(s, b, j, g) for s, b, j, g in zip(SEEDS, bca, jls, slopes)],
                     ignore_index=True)


def test_table3_ci_is_the_t_interval_of_the_per_seed_rows():
    bca = [0.09, 0.095, 0.1, 0.085, 0.092]
    tidy = _tidy(bca, [0.08] * 5, [0.1] * 5)
    t = T.table3_ci(tidy)
    row = t[t.method == "BC-Aligner"].iloc[0]
    # (1) per seed: versions 0..2 average (0.10 + 2 b) / 3 against 0.10
    per_seed = [100 * ((0.10 + 2 * b) / 3 - 0.10) / 0.10 for b in bca]
    ci = mean_ci(per_seed)
    assert row["intended_%"] == pytest.approx(ci.mean)
    assert row["intended_%_ci"] == pytest.approx(ci.half_width)
    assert (row["intended_%_lo"], row["intended_%_hi"]) == pytest.approx((ci.lo, ci.hi))
    assert row["unintended_%"] == pytest.approx(-10.0) and row["unintended_%_ci"] == pytest.approx(0)
    assert row["n_train_seeds"] == 5 and row["n_consumer_seeds"] == 2
    assert t.method.tolist() == ["Keep-All", "Joint-Lin-SLoss", "BC-Aligner"]  # paper order
    assert (t[t.method == "Keep-All"]["(1)+(2)_%"] == 0).all()
    md = T.table3_ci_markdown(t, "d")
    assert md.loc[md.method == "BC-Aligner", "(1) intended %"].iloc[0] == \
        f"{ci.mean:.2f} ± {ci.half_width:.2f}"


def test_paired_table_pairs_by_seed_and_gives_verdicts():
    bca = [0.09, 0.095, 0.1, 0.085, 0.092]
    jls = [b - 0.01 for b in bca]  # always 1 point of Recall below: (1) is 2/3 * 10 % lower
    p = T.paired_table(_tidy(bca, jls, [0.1] * 5))
    row = p[p.method == "Joint-Lin-SLoss"].iloc[0]
    assert row["mean"] == pytest.approx(100 * 2 * 0.01 / 3 / 0.10)
    assert row["half_width"] == pytest.approx(0, abs=1e-9)  # the same gap at every seed
    assert row["verdict"] == "BC-Aligner better" and row["n"] == 5
    # the same gap hidden in noise: undecided
    jls_noisy = [b + d for b, d in zip(bca, [-0.02, 0.015, -0.01, 0.02, -0.01])]
    row = T.paired_table(_tidy(bca, jls_noisy, [0.1] * 5)).query("method == 'Joint-Lin-SLoss'").iloc[0]
    assert row["lo"] < 0 < row["hi"] and row["verdict"] == "undecided"
    # fewer than 5 seeds: no verdict
    few = _tidy(bca, jls, [0.1] * 5)
    few = few[few[T.SEED] != 46]
    assert T.paired_table(few).query("method == 'Joint-Lin-SLoss'").verdict.iloc[0] == "too few seeds"


def test_version_bands_correlation_and_growth():
    slopes = [0.2, 0.25, 0.3, 0.22, 0.28]
    tidy = _tidy([0.09] * 5, [0.08] * 5, slopes)
    v = T.version_ci(tidy, "alignment_error")
    r = v[(v.method == "Joint-Lin-SLoss") & (v.version == 2)].iloc[0]
    ci = mean_ci([2 * s for s in slopes])
    assert r["mean"] == pytest.approx(ci.mean) and r["half_width"] == pytest.approx(ci.half_width)
    g = T.growth_paired(tidy).iloc[0]
    # BC-Aligner's slope is 0.1 at every seed
    assert g["mean"] == pytest.approx(np.mean(slopes) - 0.1)
    assert g["verdict"] == "Joint-Lin-SLoss grows faster"
    c = T.correlation_ci(tidy)
    # every seed has identical unintended degradation for all points: r is undefined, no row
    assert c.empty
    with pytest.raises(ValueError, match="train_seed"):
        T.table3_per_seed(tidy.drop(columns=T.SEED))


def test_one_seed_has_nan_intervals():
    t = T.table3_ci(_frame(42, 0.09, 0.08, 0.1))
    assert t["n_train_seeds"].eq(1).all() and math.isnan(t["intended_%_ci"].iloc[1])
    assert "1 training seed (fewer than 5" in T.claim_seeds(1)


def test_count_train_seeds_counts_per_dataset_and_method():
    tidy = _tidy([0.09] * 5, [0.08] * 5, [0.1] * 5)
    tidy = tidy[~((tidy.method == "BC-Aligner") & (tidy.train_seed == 46))]  # one seed missing
    n = T.count_train_seeds(tidy).groupby("method").n_train_seeds.unique()
    assert n["Keep-All"].tolist() == [5] and n["BC-Aligner"].tolist() == [4]
    with pytest.raises(ValueError, match="train_seed"):
        T.count_train_seeds(tidy.drop(columns="train_seed"))
