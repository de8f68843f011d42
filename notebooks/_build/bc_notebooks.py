"""Write notebooks 02-04 (the backward-compatibility part of the workbook) with nbformat, no outputs.

Usage (from the repository root)::

    .venv/bin/python notebooks/_build/bc_notebooks.py

The notebooks are thin: a ``parameters`` cell, calls into :mod:`embcompat.backward.experiment`,
:mod:`~embcompat.backward.evaluate` and :mod:`~embcompat.backward.plots`, tables via ``save_table``,
figures via ``savefig`` and in-notebook asserts. The three notebooks call ``run_experiment`` with
the same parameters, so 03 and 04 load what 02 trained (same config hashes).
"""
from __future__ import annotations

from nbformat.v4 import new_code_cell, new_markdown_cell
from nbtools import notebook, params_cell, write

_COMMON = '''# Table 3 methods, paper names or official slugs (Non-BC, Post-Lin-SLoss, Post-Lin-MLoss,
# Joint-NoTrans, Joint-Lin-SLoss, BC-Aligner, Fix-M0, Finetune-M0, Keep-All); None means all nine
methods = None
# seed of every GNN version (official 42) and of the held-out test split
seed = 42
# auto | cpu | cuda | cuda:N | mps
device = "auto"'''

PARAMS_ONE = '''import os

# smoke | demo | paper
scale = os.environ.get("EMBCOMPAT_SCALE", "demo")
# a graph data set: amazon2018-musical-instruments, amazon2018-video-games, amazon2018-grocery,
# amazon-2014-hin, movielens-latest-small, synthetic, interactions-csv:/abs/dir;
# None means the first real one present (the paper's Musical Instruments first)
dataset = None
''' + _COMMON

PARAMS_MANY = '''import os

# smoke | demo | paper
scale = os.environ.get("EMBCOMPAT_SCALE", "demo")
# graph data sets (see notebook 01); None means every real one present: amazon2018-* (the
# paper's), amazon-2014-hin, movielens-latest-small
datasets = None
''' + _COMMON

SETUP_ONE = '''import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from embcompat.backward import evaluate as E
from embcompat.backward import experiment as X
from embcompat.backward import plots as P
from embcompat.config import check_device, get_scale
from embcompat.data import assert_no_leakage
from embcompat.report import save_table, savefig, set_style

# validates every parameter; a bad value raises a ValueError naming the allowed ones
sc = get_scale(scale)
method_names = X.resolve_methods(methods)
check_device(device, available=True)
name = dataset if dataset is not None else X.default_dataset()
set_style()
print(f"scale={sc.name} dataset={name} seed={seed} device={device}\\nmethods: {method_names}")'''


RUN_CHECKS = '''assert_no_leakage(exp.graph, exp.splits)
X.assert_same_m0(exp.results)  # M_0 is one model: same cache key, bit-identical embeddings
assert all(e == 0.0 for e in exp.results["Fix-M0"].alignment_errors(exp.keep_all))
assert exp.keep_all.recalls() == exp.results["Non-BC"].recalls()
cached = sum(v.from_cache for r in exp.results.values() for v in r.versions)
total = sum(len(r) for r in exp.results.values())
print(f"{exp.dataset}: {len(exp.splits)} versions, dims {exp.config.dims}; {cached} of {total} "
      f"version records loaded from the cache")'''


def nb02():
    return notebook([
        new_markdown_cell(
            "# 02 · BC: training every method's versions M_0 … M_K\n\n"
            "Hu et al. (KDD 2022). A PinSAGE model M_k is trained on the graph at each time slice "
            "t_k (edge fractions 0.5 … 0.9); the methods of Table 3 differ in how M_k and the backward "
            "transformation B_k (d_k → d_{k-1}) are obtained: trained alone (Non-BC), B_k fitted "
            "post hoc on Non-BC's models (Post-Lin-SLoss/MLoss), trained jointly with an alignment "
            "loss (Joint-NoTrans, Joint-Lin-SLoss, BC-Aligner = multi-step loss), M_0 kept (Fix-M0) "
            "or fine-tuned (Finetune-M0). Keep-All is not a run: Non-BC's M_k for the intended task, "
            "the true z_0 for the consumers.\n\n"
            "Every version is cached by config hash (`outputs/cache/bc-version-*`), so notebooks 03 "
            "and 04 reuse what is trained here, and a killed run resumes at the first missing version.\n\n"
            "Outputs: `outputs/tables/02_recall` (tidy: Recall@K per method and version on the "
            "reported split, selected epoch, timings), `outputs/figures/02_training_curves`, "
            "`02_recall_per_version`."),
        params_cell(PARAMS_ONE),
        new_code_cell(SETUP_ONE),
        new_markdown_cell("## Train (or load) every method\nOne progress bar per version; the "
                          "references Non-BC and Fix-M0 always run."),
        new_code_cell("exp = X.run_experiment(name, scale, method_names, seed=seed, device=device,\n"
                      "                       consumers=False)\n" + RUN_CHECKS),
        new_code_cell(
            "recall = X.recall_table(exp)\n"
            "split = recall.split[recall.split != \"\"].iloc[0]\n"
            "cmd = f\"python -m embcompat.runner --scale {sc.name} --only 02\"\n"
            "save_table(recall, \"02_recall\",\n"
            "           caption=f\"Intended task (Recall@K on the {split} split), selected epoch and \"\n"
            "                   f\"timings per method and version ({exp.dataset}, scale={sc.name}, \"\n"
            "                   f\"seed {seed}). Regenerate with `{cmd}`.\")\n"
            "display(recall[recall.metric == \"recall@50\"].pivot(index=\"method\", columns=\"version\",\n"
            "                                                   values=\"value\").loc[exp.methods])"),
        new_markdown_cell("## Training curves\nRecall@50 on the selection split at every evaluation "
                          "(dots: the selected epoch). Post-hoc methods share Non-BC's curves, "
                          "Fix-M0 only has M_0's."),
        new_code_cell(
            "fig = P.plot_training_curves(exp.requested())\n"
            "savefig(fig, \"02_training_curves\")\n"
            "plt.show()\n"
            "fig = P.plot_recall_per_version(recall)\n"
            "savefig(fig, \"02_recall_per_version\")\n"
            "plt.show()"),
    ], "bc02")


def nb03():
    return notebook([
        new_markdown_cell(
            "# 03 · BC: Table 3, the three compatibility metrics\n\n"
            "For every available data set and method: (1) the intended task's Recall@50 degradation "
            "from Keep-All (= Non-BC) in %, (2) the unintended tasks' ROC-AUC degradation of the "
            "consumers C_0 (trained once on M_0's z_0) fed the method's z~_0 = B_1∘…∘B_k(z_k) instead of "
            "the true z_0, and (3) the alignment error, mean ‖z~_0 − z_0‖₂. As in the paper, the "
            "degradations are taken after averaging over versions (and the five tasks); user tasks "
            "are reported from version 2, the others from version 1.\n\n"
            "Reuses notebook 02's versions and caches C_0 by config hash. Outputs: "
            "`outputs/tables/03_compatibility.csv` (tidy: one row per data set × method × version × "
            "metric, with the spread over consumer seeds), `03_compatibility.md` (the Table 3 layout "
            "per data set) and `outputs/figures/03_alignment_vs_unintended`."),
        params_cell(PARAMS_MANY),
        new_code_cell(
            "import matplotlib.pyplot as plt\n"
            "import pandas as pd\n"
            "from IPython.display import Markdown, display\n\n"
            "from embcompat.backward import evaluate as E\n"
            "from embcompat.backward import experiment as X\n"
            "from embcompat.backward import plots as P\n"
            "from embcompat.config import check_device, get_scale\n"
            "from embcompat.report import savefig, set_style\n\n"
            "# validates every parameter; a bad value raises a ValueError naming the allowed ones\n"
            "sc = get_scale(scale)\n"
            "method_names = X.resolve_methods(methods)\n"
            "check_device(device, available=True)\n"
            "graphs, skipped = X.resolve_datasets(datasets)\n"
            "for ds, why in skipped:\n"
            "    print(f\"skipped {ds}: {why}\")\n"
            "set_style()\n"
            "print(f\"scale={sc.name} seed={seed} device={device}\\ndata sets: {[g.name for g in graphs]}\"\n"
            "      f\"\\nmethods: {method_names}\")"),
        new_markdown_cell("## Train or load, then score every method on every data set"),
        new_code_cell(
            "tidy, n_seeds = [], set()\n"
            "for g in graphs:\n"
            "    exp = X.run_experiment(g, scale, method_names, seed=seed, device=device)\n"
            "    X.assert_same_m0(exp.results)  # M_0 is identical across methods\n"
            "    tidy.append(exp.evaluate())\n"
            "    n_seeds.add(len(exp.consumer_config.seeds))\n"
            "tidy = pd.concat(tidy, ignore_index=True)\n"
            "E.assert_reference_invariants(tidy)  # Fix-M0 alignment 0, Keep-All degradation 0\n"
            "table = E.table3(tidy)\n"
            "display(table)"),
        new_code_cell(
            "import json\n\n"
            "cmd = f\"python -m embcompat.runner --scale {sc.name} --only 03\"\n"
            "extra = {k: v for k, v in dict(datasets=datasets, methods=methods, seed=seed).items()\n"
            "         if v is not None and not (k == \"seed\" and v == 42)}\n"
            "if extra:  # non-default parameters: name them\n"
            "    cmd = (f\"papermill notebooks/03_compatibility_tables.ipynb out.ipynb -p scale {sc.name} \"\n"
            "           f\"-y '{json.dumps(extra)}'\")\n"
            "caption = (f\"Table 3 analogue (scale={sc.name}, GNN seed {seed}, consumer seeds per task: \"\n"
            "           f\"{'/'.join(map(str, sorted(n_seeds)))}): (1) intended Recall@50 and (2) unintended \"\n"
            "           f\"ROC-AUC degradation from Keep-All in % (after averaging over versions and tasks; \"\n"
            "           f\"unintended_%_std: std over consumer seeds), (3) alignment error; Recall@50_% and \"\n"
            "           f\"AUC_% are absolute. The csv is tidy (per version and averaged). \"\n"
            "           f\"Regenerate with `{cmd}`.\")\n"
            "paths = X.save_compatibility_tables(tidy, \"03_compatibility\", caption)\n"
            "display(Markdown(paths[\"md\"].read_text()))"),
        new_markdown_cell("## Alignment error vs unintended degradation\nOne point per data set × "
                          "method × version (k ≥ 1); the paper proposes the alignment error as a "
                          "task-agnostic proxy of the unintended degradation."),
        new_code_cell(
            "fig, r, points = P.plot_alignment_vs_unintended(tidy)\n"
            "savefig(fig, \"03_alignment_vs_unintended\")\n"
            "plt.show()\n"
            "print(f\"Pearson r(alignment error, unintended degradation) = {r:.3f} over {len(points)} points\")"),
    ], "bc03")


def nb04():
    return notebook([
        new_markdown_cell(
            "# 04 · BC: performance over time (Figures 3 and 4)\n\n"
            "Figure 3: per version, (1) the intended degradation, (2) the unintended degradation "
            "(averaged over the tasks reported at that version) and (3) the alignment error, one "
            "line per method. Figure 4: BC-Aligner's degradation on each unintended task over time "
            "(error bars: std over consumer seeds).\n\n"
            "Reuses notebook 02's versions and 03's consumers (same config hashes). Outputs: "
            "`outputs/tables/04_over_time` (tidy, per version), `outputs/figures/04_performance_over_time`, "
            "`04_per_task_over_time`."),
        params_cell(PARAMS_ONE),
        new_code_cell(SETUP_ONE),
        new_code_cell("exp = X.run_experiment(name, scale, method_names, seed=seed, device=device)\n"
                      + RUN_CHECKS + "\n"
                      "tidy = exp.evaluate()\n"
                      "E.assert_reference_invariants(tidy)  # Fix-M0 alignment 0, Keep-All degradation 0"),
        new_code_cell(
            "over_time = tidy[tidy.version != \"avg\"].reset_index(drop=True)\n"
            "cmd = f\"python -m embcompat.runner --scale {sc.name} --only 04\"\n"
            "save_table(over_time, \"04_over_time\",\n"
            "           caption=f\"The three metrics per version ({exp.dataset}, scale={sc.name}, GNN seed \"\n"
            "                   f\"{seed}, {len(exp.consumer_config.seeds)} consumer seeds; degradations in % \"\n"
            "                   f\"from Keep-All). Regenerate with `{cmd}`.\")\n"
            "display(over_time[over_time.metric.isin([E.INTENDED_DEG, E.UNINTENDED_DEG, E.ALIGN])]\n"
            "        .pivot_table(index=[\"method\", \"metric\"], columns=\"version\", values=\"value\"))"),
        new_code_cell(
            "fig = P.plot_over_time(tidy, times=exp.config.times[:-1])\n"
            "savefig(fig, \"04_performance_over_time\")\n"
            "plt.show()\n"
            "focus = \"BC-Aligner\" if \"BC-Aligner\" in exp.methods else exp.methods[-1]\n"
            "fig = P.plot_per_task(tidy, focus)\n"
            "savefig(fig, \"04_per_task_over_time\")\n"
            "plt.show()"),
    ], "bc04")


def main() -> None:
    for name, build in (("02_version_updates", nb02), ("03_compatibility_tables", nb03),
                        ("04_performance_over_time", nb04)):
        write(build(), name)


if __name__ == "__main__":
    main()
