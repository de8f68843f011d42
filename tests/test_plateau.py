"""The plateau check of 02_training_curves, by hand."""
import math
from types import SimpleNamespace as NS

import pandas as pd
import pytest
import scipy.stats as sps

from embcompat.backward.plateau import late_gain, late_gain_rows, plateau_table


def test_late_gain_windows_by_hand():
    # 8 evaluations, quarter = 2: last two (7, 9) minus the two before (3, 5)
    assert late_gain([0, 1, 2, 2, 3, 5, 7, 9]) == pytest.approx(8 - 4)
    # 5 evaluations: round(1.25) = 1 -> last minus the one before
    assert late_gain([1, 1, 1, 2, 4]) == pytest.approx(2)
    assert late_gain([3, 1]) == pytest.approx(-2)
    assert late_gain([5, 5, 5, 5, 5, 5]) == 0.0
    with pytest.raises(ValueError, match="at least 2"):
        late_gain([1.0])
    with pytest.raises(ValueError, match="frac"):
        late_gain([1, 2, 3], frac=0.75)


def _hist(vals, every=2):
    h = []
    for i, v in enumerate(vals, start=1):
        h.append({"epoch": 2 * i - 1, "train_loss": 1.0})
        h.append({"epoch": 2 * i, "train_loss": 1.0, "recall@50": v})
    return h


def test_rows_keep_only_the_versions_a_method_trains():
    rising, flat = _hist([0.01, 0.02, 0.03, 0.04]), _hist([0.05, 0.05, 0.05, 0.05])
    vers = [NS(k=k, history=h) for k, h in enumerate([flat, rising, flat])]
    run = {m: NS(dataset="d", config=NS(seed=7), versions=vers)
           for m in ("Non-BC", "BC-Aligner", "Post-Lin-SLoss", "Fix-M0", "Keep-All")}
    rows = late_gain_rows([run])
    got = sorted(zip(rows.method, rows.version))
    assert got == [("BC-Aligner", 1), ("BC-Aligner", 2), ("Non-BC", 0), ("Non-BC", 1), ("Non-BC", 2)]
    r = rows.set_index(["method", "version"])
    assert r.loc[("Non-BC", 1), "late_gain"] == pytest.approx(100 * (0.04 - 0.03))
    assert r.loc[("Non-BC", 0), "late_gain"] == pytest.approx(0.0)
    assert set(rows.seed) == {7} and set(rows.last_epoch) == {8}


def test_verdicts_from_the_t_interval():
    def rows(method, gains):
        return pd.DataFrame({"dataset": "d", "method": method, "version": 1, "seed": range(len(gains)),
                             "evaluations": 30, "last_epoch": 60, "late_gain": gains})

    t = plateau_table(pd.concat([rows("up", [1.0, 1.2, 0.9, 1.1, 1.0]), rows("flat", [0.1, -0.2, 0.0, 0.1, -0.1]),
                                 rows("noisy", [1.5, -1.5, 1.0, -1.0, 0.5]), rows("one", [0.0])]))
    v = t.set_index("method").verdict
    assert v["up"] == "rising" and v["flat"] == "plateau" and v["noisy"] == "undecided" and v["one"] == "undecided"
    flat = t.set_index("method").loc["flat"]
    x = pd.Series([0.1, -0.2, 0.0, 0.1, -0.1])
    half = sps.t.ppf(0.975, 4) * x.std(ddof=1) / math.sqrt(5)
    assert (flat.lo, flat.hi) == pytest.approx((x.mean() - half, x.mean() + half))
    # a tighter tolerance turns the flat one undecided
    tight = plateau_table(rows("flat", [0.1, -0.2, 0.0, 0.1, -0.1]), tolerance=0.05)
    assert tight.verdict.iloc[0] == "undecided"
    # a small but detectable rise, interval about [+0.09, +0.21]: flat to within 0.5 points, so a
    # plateau, and flagged as still rising; with a tolerance it does not clear it is rising
    sliver = rows("sliver", [0.10, 0.20, 0.15, 0.12, 0.18])
    s = plateau_table(sliver).iloc[0]
    assert 0 < s.lo and s.hi < 0.5 and s.verdict == "plateau" and s.still_rising
    assert plateau_table(sliver, tolerance=0.2).verdict.iloc[0] == "rising"
    assert not t.set_index("method").still_rising[["flat", "noisy", "one"]].any()
    assert t.set_index("method").still_rising["up"]
