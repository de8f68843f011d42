"""papermill smoke runs of the FCT notebooks (06, 08), asserting on the tables they write."""
from __future__ import annotations

import pandas as pd
import papermill as pm
import pytest

from test_notebooks import run_notebook


@pytest.mark.slow
def test_06_writes_one_row_per_case_side_info_and_seed_with_intervals(tmp_path):
    side_infos = ["none", "alt_old", "simclr_all"]
    out = run_notebook("06_side_info_ablation.ipynb", tmp_path, seeds=[1, 2],
                       side_infos=side_infos, device="cpu", workers=1)
    t = pd.read_csv(out / "tables" / "06_retrieval.csv", keep_default_na=False)
    assert not t.duplicated(["seed", "method", "case", "side_info"]).any()
    assert sorted(t.seed.unique()) == [1, 2]
    assert (t.scale == "smoke").all() and (t.dataset == "cifar10").all()
    for seed, one in t.groupby("seed"):
        fct = one[one.method == "FCT"]
        assert sorted(fct.side_info.unique()) == sorted(side_infos)
        for si in side_infos:
            assert sorted(fct[fct.side_info == si].case) == ["h/h", "new/h", "new/new"]
        base = one[one.method != "FCT"]
        assert sorted(zip(base.method, base.case)) == [
            ("BCT", "new/new"), ("BCT", "new/old"), ("Independent", "new/new"),
            ("Independent", "new/old"), ("Independent", "old/old")]
        assert (base.side_info == "n/a").all()
        assert len(one) == 5 + 3 * len(side_infos)
    # two seeds, two old models: old/old differs or at least the new/old pair does
    oo = t[(t.method == "Independent")].pivot_table(index="case", columns="seed", values="mAP")
    assert (oo[1] != oo[2]).any()
    ci = pd.read_csv(out / "tables" / "06_retrieval_ci.csv", keep_default_na=False)
    row = ci[(ci.method == "Independent") & (ci.case == "old/old") & (ci.metric == "top1")].iloc[0]
    vals = t[(t.method == "Independent") & (t.case == "old/old")].top1
    assert row["mean"] == pytest.approx(vals.mean()) and row.n_train_seeds == 2
    t6 = pd.read_csv(out / "tables" / "06_table6.csv", keep_default_na=False)
    assert list(t6.side_info) == side_infos and (t6.n_train_seeds == 2).all()
    assert t6.top1.str.contains(" ± ").all()
    paired = pd.read_csv(out / "tables" / "06_paired.csv", keep_default_na=False)
    assert set(paired.side_info) == {"alt_old", "simclr_all"}
    assert (paired.verdict == "too few seeds").all()  # 2 seeds: no claim
    t1 = pd.read_csv(out / "tables" / "06_table1.csv", keep_default_na=False)
    assert t1.chance_top1.between(5, 15).all()  # 10 balanced classes
    md = (out / "tables" / "06_table1.md").read_text()
    # the caption names the non-default parameters in the command that regenerates the table
    assert "papermill notebooks/06_side_info_ablation.ipynb" in md
    assert '"seeds": [1, 2]' in md and "2 training seeds [1, 2]" in md
    assert (out / "figures" / "06_side_info_ablation.png").stat().st_size > 1000


def test_06_rejects_an_unknown_side_info_naming_the_allowed_ones(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="allowed: none, autoencoder"):
        run_notebook("06_side_info_ablation.ipynb", tmp_path, side_infos=["rotation"])


@pytest.mark.slow
def test_08_writes_the_sequence_and_its_full_compatibility_matrix(tmp_path):
    out = run_notebook("08_update_sequences.ipynb", tmp_path, side_infos=["autoencoder"],
                       device="cpu", workers=1)
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
    assert len(s) == 4 * 3 and (s.n_train_seeds == 1).all()  # side-info x strategy x metric
    p = pd.read_csv(out / "tables" / "08_paired.csv", keep_default_na=False)
    assert "two-hop minus direct, top1" in set(p.comparison)
    assert (out / "figures" / "08_compat_matrix.png").stat().st_size > 1000
