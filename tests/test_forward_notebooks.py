"""papermill smoke runs of the FCT notebooks (06, 08), asserting on the tables they write."""
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


@pytest.mark.slow
def test_08_writes_the_sequence_and_its_full_compatibility_matrix(tmp_path):
    out = run_notebook("08_update_sequences.ipynb", tmp_path, side_infos=["autoencoder"],
                       device="cpu")
    seq = pd.read_csv(out / "tables" / "08_update_sequences.csv", keep_default_na=False)
    assert len(seq) == 3 + 4 * 2  # references + 4 cases per side-info (autoencoder, none)
    m = pd.read_csv(out / "tables" / "08_compat_matrix.csv", keep_default_na=False)
    assert len(m) == 2 * 2 * 6  # side-info x strategy x cells (q, g <= q) of three versions
    assert (m.gallery_version <= m.query_version).all()
    assert set(m.strategy) == {"chain", "direct"} and set(m.side_info) == {"autoencoder", "none"}
    two = seq[(seq.kind == "two-hop") & (seq.side_info == "autoencoder")].top1.iloc[0]
    cell = m[(m.side_info == "autoencoder") & (m.strategy == "chain") & (m.query_version == 3)
             & (m.gallery_version == 1)].top1.iloc[0]
    assert cell == pytest.approx(two, abs=1e-9)
    s = pd.read_csv(out / "tables" / "08_compat_matrix_summary.csv", keep_default_na=False)
    assert (s.n_cells == 3).all() and len(s) == 4
    assert (out / "figures" / "08_compat_matrix.png").stat().st_size > 1000
