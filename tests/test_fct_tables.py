"""The FCT tables (Tables 1 and 6, and 6 with CKA) cut from tiny hand-written retrieval rows."""
import math

import pandas as pd
import pytest

from embcompat.forward import cka_table, headline_side_info, table1, table6

IDS = {"seed": 3, "dataset": "toy", "scale": "smoke"}


def _compat(side_infos=("none", "simclr")):
    rows = [("Independent", "old/old", "n/a"), ("Independent", "new/old", "n/a"),
            ("Independent", "new/new", "n/a"), ("BCT", "new/old", "n/a"), ("BCT", "new/new", "n/a")]
    for si in side_infos:
        rows += [("FCT", "h/h", si), ("FCT", "new/h", si), ("FCT", "new/new", si)]
    return pd.DataFrame([{"method": m, "case": c, "side_info": s, "top1": float(i),
                          "top5": float(i) + 0.5, "mAP": float(i) / 2, **IDS}
                         for i, (m, c, s) in enumerate(rows)])


def test_headline_prefers_simclr_else_the_last():
    assert headline_side_info(["simclr", "none"]) == "simclr"
    assert headline_side_info(["none", "alt_old"]) == "alt_old"
    with pytest.raises(ValueError, match="empty"):
        headline_side_info([])


def test_table1_keeps_the_baselines_and_one_side_info():
    t = table1(_compat(("none", "alt_old", "simclr")), "alt_old")
    assert list(zip(t.method, t.case, t.side_info)) == [
        ("Independent", "old/old", "n/a"), ("Independent", "new/old", "n/a"),
        ("Independent", "new/new", "n/a"), ("BCT", "new/old", "n/a"), ("BCT", "new/new", "n/a"),
        ("FCT", "h/h", "alt_old"), ("FCT", "new/h", "alt_old"), ("FCT", "new/new", "alt_old")]
    assert t.top1.tolist() == [0, 1, 2, 3, 4, 8, 9, 10]  # the rows themselves, not recomputed
    assert list(t.index) == list(range(8))
    with pytest.raises(ValueError, match="'mixup_old'.*none, alt_old, simclr"):
        table1(_compat(("none", "alt_old", "simclr")), "mixup_old")


def test_table6_is_new_over_h_per_side_info():
    t = table6(_compat(("none", "simclr")))
    assert list(t.columns) == ["side_info", "top1", "top5", "mAP", "seed", "dataset", "scale"]
    assert t.side_info.tolist() == ["none", "simclr"]
    assert t.top1.tolist() == [6.0, 9.0] and t.mAP.tolist() == [3.0, 4.5]
    with pytest.raises(ValueError, match="no FCT new/h rows"):
        table6(_compat(()))


def test_cka_table_puts_cka_beside_new_over_h():
    cka = pd.DataFrame({"side_info": ["simclr", "none"], "label": ["SimCLR", "None"],
                        "cka": [0.25, math.nan], **IDS})
    t = cka_table(cka, _compat(("none", "simclr")))
    assert list(t.columns) == ["side_info", "label", "cka", "top1", "top5", "mAP",
                               "seed", "dataset", "scale"]
    assert t.side_info.tolist() == ["simclr", "none"]  # the CKA table's order
    assert t.top1.tolist() == [9.0, 6.0] and t.cka.iloc[0] == 0.25 and math.isnan(t.cka.iloc[1])
    with pytest.raises(ValueError, match="no FCT new/h row for side-info simclr"):
        cka_table(cka, _compat(("none",)))
