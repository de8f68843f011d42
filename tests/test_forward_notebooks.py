"""papermill smoke runs of the FCT notebooks (06), asserting on the tables they write."""
from __future__ import annotations

import pandas as pd
import papermill as pm
import pytest

from test_notebooks import run_notebook


@pytest.mark.slow
def test_06_writes_one_row_per_case_and_side_info(tmp_path):
    side_infos = ["none", "alt_old"]
    out = run_notebook("06_side_info_ablation.ipynb", tmp_path, seed=1, side_infos=side_infos,
                       device="cpu")
    t = pd.read_csv(out / "tables" / "06_retrieval.csv", keep_default_na=False)
    assert not t.duplicated(["method", "case", "side_info"]).any()
    assert (t.seed == 1).all() and (t.scale == "smoke").all() and (t.dataset == "cifar10").all()
    fct = t[t.method == "FCT"]
    assert sorted(fct.side_info.unique()) == sorted(side_infos)
    for si in side_infos:
        assert sorted(fct[fct.side_info == si].case) == ["h/h", "new/h", "new/new"]
    base = t[t.method != "FCT"]
    assert sorted(zip(base.method, base.case)) == [
        ("BCT", "new/new"), ("BCT", "new/old"), ("Independent", "new/new"),
        ("Independent", "new/old"), ("Independent", "old/old")]
    assert (base.side_info == "n/a").all()
    assert len(t) == 5 + 3 * len(side_infos)
    t6 = pd.read_csv(out / "tables" / "06_table6.csv", keep_default_na=False)
    assert list(t6.side_info) == side_infos
    md = (out / "tables" / "06_table1.md").read_text()
    # the caption names the non-default parameters in the command that regenerates the table
    assert "seed 1" in md and "papermill notebooks/06_side_info_ablation.ipynb" in md
    assert '"seed": 1, "side_infos": ["none", "alt_old"]' in md
    assert (out / "figures" / "06_side_info_ablation.png").stat().st_size > 1000


def test_06_rejects_an_unknown_side_info_naming_the_allowed_ones(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="allowed: none, autoencoder"):
        run_notebook("06_side_info_ablation.ipynb", tmp_path, side_infos=["rotation"])
