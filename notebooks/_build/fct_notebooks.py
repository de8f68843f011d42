"""Write notebooks 06-08 (the FCT part of the workbook) with nbformat, without outputs.

Usage (from the repository root)::

    .venv/bin/python notebooks/_build/fct_notebooks.py

The notebooks are thin: a ``parameters`` cell, calls into :mod:`embcompat.forward`, tables via
``save_table``, figures via ``savefig`` and in-notebook asserts.
"""
from __future__ import annotations

from nbformat.v4 import new_code_cell, new_markdown_cell
from nbtools import notebook, params_cell, write

PARAMETERS = '''import os

# smoke | demo | paper
scale = os.environ.get("EMBCOMPAT_SCALE", "demo")
# cifar10 | cifar100 | fashion-mnist | imagefolder:/abs/dir; None means the scale default
dataset = None
# seeds every model (the alternate old models, plain and Mixup, use seed + 1000)
seed = 0
# auto | cpu | cuda | cuda:N | mps
device = "auto"
# side-info kinds: none, autoencoder, alt_old, mixup_old, simclr; None means the scale default
side_infos = None'''

SETUP = '''import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from embcompat.config import fct_config
from embcompat.forward import FCTExperiment
from embcompat.report import save_table, savefig, set_style
from embcompat.utils import set_seed

# validates every parameter; a bad value raises a ValueError naming the allowed ones
cfg = fct_config(scale, dataset=dataset, seed=seed, device=device, side_infos=side_infos)
set_seed(cfg.seed)
set_style()
exp = FCTExperiment(cfg)
d = exp.data
seeds = (f"seed {cfg.seed} (alternate old models: seed {cfg.seed + cfg.alt_seed_offset}), "
         f"data seed {cfg.data_seed}")
print(f"scale={cfg.name} dataset={d.name} device={exp.device} backbone={cfg.backbone}-"
      f"{cfg.feature_dim}; train {tuple(d.train_x.shape)}, test {tuple(d.test_x.shape)}; "
      f"old classes 0..{exp.k_old - 1} of {d.num_classes}; {seeds}")
if d.shortfalls:  # own image folders: classes with fewer images than the scale asks for
    print(d.note)
assert d.train_x.shape[1:] == d.test_x.shape[1:]
assert sorted(set(d.test_y.tolist())) == list(range(d.num_classes)), "every class is in the gallery"
assert 0 < exp.k_old < d.num_classes'''


def nb06():
    return notebook([
        new_markdown_cell(
            "# 06 · FCT: compatibility cases and the side-information ablation\n\n"
            "Forward Compatible Training (Ramanujan et al., CVPR 2022). The **old** model trains on "
            "the first half of the classes, the **new** model on all of them, independently. "
            "FCT stores side-information ψ(x) with every old gallery embedding and learns a "
            "transformation h(φ_old, ψ) → φ_new (MSE on the new training set, Adam, BatchNorm "
            "frozen for the second half). The BCT baseline instead trains the new model through the "
            "old model's frozen classifier.\n\n"
            "Retrieval: the held-out test images are query and gallery (self-match excluded), L2 "
            "distance, CMC top-1/top-5 and mAP in percent; cases are written *query / gallery*.\n\n"
            "Outputs: `outputs/tables/06_retrieval` (every row), `06_table1` (Table 1 analogue), "
            "`06_table6` (Table 6 analogue) and `outputs/figures/06_side_info_ablation`. "
            "Every model is cached by config hash, so notebooks 07 and 08 reuse them."),
        params_cell(PARAMETERS),
        new_code_cell(SETUP),
        new_markdown_cell("## Train (or load) every model and evaluate all cases\n"
                          "Old, new, BCT, the side-info models (on the old data only) and one h per "
                          "side-info. One progress bar per model."),
        new_code_cell(
            "from embcompat.forward import compatibility_table\n\n"
            "table = compatibility_table(exp)\n"
            "log = pd.DataFrame(exp.log)\n"
            "print(f\"{(~log.from_cache).sum()} models trained, {log.from_cache.sum()} loaded from \"\n"
            "      f\"the cache, {log.seconds.sum():.0f} s\")\n"
            "display(table)"),
        new_code_cell(
            "n_si = len(cfg.side_infos)\n"
            "assert len(table) == 5 + 3 * n_si, len(table)\n"
            "assert not table.duplicated([\"method\", \"case\", \"side_info\"]).any()\n"
            "assert table[[\"top1\", \"top5\", \"mAP\"]].apply(lambda c: c.between(0, 100)).all().all()\n"
            "assert (table.top5 >= table.top1).all()\n\n\n"
            "def row(method, case, side_info=\"n/a\"):\n"
            "    return table[(table.method == method) & (table.case == case)\n"
            "                 & (table.side_info == side_info)].iloc[0]\n\n\n"
            "# independently trained models are not compatible: new/old is far below new/new\n"
            "assert row(\"Independent\", \"new/old\").top1 < row(\"Independent\", \"new/new\").top1\n"
            "assert row(\"Independent\", \"new/old\").mAP < row(\"Independent\", \"new/new\").mAP\n"
            "# FCT does not touch the new model\n"
            "fct_new = table[(table.method == \"FCT\") & (table.case == \"new/new\")]\n"
            "assert (fct_new.top1 == row(\"Independent\", \"new/new\").top1).all()\n"
            "f_old = exp.features(exp.named(\"old\"))\n"
            "assert f_old.test.shape == (len(d.test_y), cfg.feature_dim)\n"
            "assert f_old.train.shape == (2, len(d.train_y), cfg.feature_dim)"),
        new_markdown_cell("## Tables\nTable 1 uses the SimCLR side-info when it was run (the "
                          "paper's choice), else the last side-info of the list."),
        new_code_cell(
            "cmd = f\"python -m embcompat.runner --scale {cfg.name} --only 06\"\n"
            "where = f\"{d.name}, {cfg.backbone}-{cfg.feature_dim}, scale={cfg.name}, {seeds}\"\n"
            "save_table(table, \"06_retrieval\",\n"
            "           caption=f\"FCT retrieval, every case ({where}); top1/top5/mAP in %. \"\n"
            "                   f\"Regenerate with `{cmd}`.\")\n"
            "headline = \"simclr\" if \"simclr\" in cfg.side_infos else cfg.side_infos[-1]\n"
            "table1 = table[(table.method != \"FCT\") | (table.side_info == headline)]\n"
            "save_table(table1, \"06_table1\",\n"
            "           caption=f\"Table 1 analogue: Independent / BCT / FCT (side-info {headline}) \"\n"
            "                   f\"({where}); %. Regenerate with `{cmd}`.\")\n"
            "table6 = table[(table.method == \"FCT\") & (table.case == \"new/h\")]\n"
            "table6 = table6[[\"side_info\", \"top1\", \"top5\", \"mAP\", \"seed\", \"dataset\", \"scale\"]]\n"
            "save_table(table6, \"06_table6\",\n"
            "           caption=f\"Table 6 analogue: new / h(old, side-info) per side-info ({where}); %. \"\n"
            "                   f\"Regenerate with `{cmd}`.\")\n"
            "display(Markdown(\"**Table 1 analogue**\"), table1, Markdown(\"**Table 6 analogue**\"), table6)"),
        new_code_cell(
            "from embcompat.forward.plots import plot_compatibility\n\n"
            "fig = plot_compatibility(table)\n"
            "savefig(fig, \"06_side_info_ablation\")\n"
            "plt.show()"),
    ], "fct06")


def nb07():
    return notebook([
        new_markdown_cell(
            "# 07 · FCT: CKA between the old model and the side-information\n\n"
            "Linear CKA (Kornblith et al. 2019) between the old model's features and each "
            "side-information on the gallery (test) images, the paper's measure of how "
            "*complementary* a side-info is (Table 6's CKA column), next to the compatibility it "
            "buys (new / h(old, ψ)). CKA of the zero vector is undefined (the paper prints 0.0). "
            "A heatmap shows CKA across all models' features.\n\n"
            "Reuses notebook 06's cached models (same config hashes): run 06 first to avoid "
            "training here. Outputs: `outputs/tables/07_cka`, `07_cka_matrix`, "
            "`outputs/figures/07_cka_heatmap`, `07_cka_vs_compatibility`."),
        params_cell(PARAMETERS),
        new_code_cell(SETUP),
        new_code_cell(
            "from embcompat.forward import cka_all_models, cka_side_info_table, compatibility_table\n\n"
            "cka = cka_side_info_table(exp)\n"
            "compat = compatibility_table(exp)\n"
            "new_h = compat[(compat.method == \"FCT\") & (compat.case == \"new/h\")]\n"
            "cka = cka.merge(new_h[[\"side_info\", \"top1\", \"top5\", \"mAP\"]], on=\"side_info\")\n"
            "cka = cka[[\"side_info\", \"label\", \"cka\", \"top1\", \"top5\", \"mAP\", \"seed\", \"dataset\", \"scale\"]]\n"
            "log = pd.DataFrame(exp.log)\n"
            "print(f\"{log.from_cache.sum()} of {len(log)} models loaded from the cache\")\n"
            "display(cka)"),
        new_code_cell(
            "finite = cka.cka.dropna()\n"
            "assert len(cka) == len(cfg.side_infos)\n"
            "assert ((finite >= -1e-9) & (finite <= 1 + 1e-9)).all()\n"
            "assert cka.loc[cka.side_info == \"none\", \"cka\"].isna().all()  # undefined for zeros\n"
            "matrix = cka_all_models(exp)\n"
            "assert (matrix.values.diagonal() == 1).all()\n"
            "assert ((matrix - matrix.T).abs() < 1e-12).all().all()"),
        new_code_cell(
            "cmd = f\"python -m embcompat.runner --scale {cfg.name} --only 07\"\n"
            "where = f\"{d.name}, {cfg.backbone}-{cfg.feature_dim}, scale={cfg.name}, {seeds}\"\n"
            "save_table(cka, \"07_cka\",\n"
            "           caption=f\"Table 6 analogue with CKA: linear CKA(old, side-info) on the test images \"\n"
            "                   f\"and new/h(old, side-info) in % ({where}); CKA of the zero vector is \"\n"
            "                   f\"undefined (empty). Regenerate with `{cmd}`.\")\n"
            "tidy = matrix.rename_axis(\"model_a\").reset_index().melt(\n"
            "    id_vars=\"model_a\", var_name=\"model_b\", value_name=\"cka\")\n"
            "save_table(tidy, \"07_cka_matrix\",\n"
            "           caption=f\"Linear CKA between all models' test features ({where}). \"\n"
            "                   f\"Regenerate with `{cmd}`.\")"),
        new_code_cell(
            "from embcompat.forward.plots import plot_cka_heatmap, plot_cka_vs_compatibility\n\n"
            "fig = plot_cka_heatmap(matrix)\n"
            "savefig(fig, \"07_cka_heatmap\")\n"
            "plt.show()\n"
            "fig = plot_cka_vs_compatibility(cka)\n"
            "savefig(fig, \"07_cka_vs_compatibility\")\n"
            "plt.show()"),
    ], "fct07")


def nb08():
    params = PARAMETERS.replace(
        "# side-info kinds: none, autoencoder, alt_old, mixup_old, simclr; None means the scale default",
        "# side-info kinds of the sequence (each also run without side-info): none, autoencoder,\n"
        "# alt_old, mixup_old, simclr; None means the scale default (the paper's simclr)")
    return notebook([
        new_markdown_cell(
            "# 08 · FCT: a sequence of model updates v1 → v2 → v3\n\n"
            "Paper Section 4.4 / Table 5. Version i has a backbone φ_i and a side-info model ψ_i "
            "trained on a growing prefix of the classes (`sequence_fractions` of the scale; v2 and "
            "v3 are notebook 06's old and new models, reused from the cache). An update transforms "
            "both: φ_{i+1} ← h_{i+1}(φ_i, ψ_i) and ψ_{i+1} ← g_{i+1}(φ_i, ψ_i). We compare "
            "(i) two hops h3(h2(φ1, ψ1), g2(φ1, ψ1)) with (ii) the direct h_{1→3}(φ1, ψ1), each "
            "with and without side-info.\n\n"
            "Output: `outputs/tables/08_update_sequences`, `outputs/figures/08_update_sequences`."),
        params_cell(params),
        new_code_cell(SETUP),
        new_code_cell(
            "from embcompat.forward import sequence_table\n\n"
            "seq = sequence_table(exp, cfg.side_infos if side_infos is not None else None)\n"
            "log = pd.DataFrame(exp.log)\n"
            "print(f\"{(~log.from_cache).sum()} models trained, {log.from_cache.sum()} loaded from \"\n"
            "      f\"the cache\")\n"
            "display(seq)"),
        new_code_cell(
            "kinds = [s for s in seq.side_info.unique() if s != \"n/a\"]\n"
            "assert (seq.kind == \"reference\").sum() == 3\n"
            "assert len(seq) == 3 + 4 * len(kinds)\n"
            "for s in kinds:\n"
            "    assert sorted(seq[seq.side_info == s].kind) == [\"direct\", \"one-hop\", \"one-hop\", \"two-hop\"]\n"
            "assert (seq.top5 >= seq.top1).all()\n"
            "assert seq[[\"top1\", \"top5\", \"mAP\"]].apply(lambda c: c.between(0, 100)).all().all()\n"
            "assert seq.classes.nunique() == 1"),
        new_code_cell(
            "cmd = f\"python -m embcompat.runner --scale {cfg.name} --only 08\"\n"
            "where = (f\"{d.name}, classes per version {seq.classes.iloc[0]}, {cfg.backbone}-\"\n"
            "         f\"{cfg.feature_dim}, scale={cfg.name}, {seeds}\")\n"
            "save_table(seq, \"08_update_sequences\",\n"
            "           caption=f\"Table 5 analogue: sequence of updates ({where}); query / gallery, %. \"\n"
            "                   f\"Regenerate with `{cmd}`.\")\n"
            "from embcompat.forward.plots import plot_sequences\n\n"
            "fig = plot_sequences(seq)\n"
            "savefig(fig, \"08_update_sequences\")\n"
            "plt.show()"),
    ], "fct08")


def main() -> None:
    for name, build in (("06_side_info_ablation", nb06), ("07_cka", nb07),
                        ("08_update_sequences", nb08)):
        write(build(), name)


if __name__ == "__main__":
    main()
