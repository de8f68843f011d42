# ---
# jupyter:
#   kernelspec:
#     display_name: Python (embcompat)
#     language: python
#     name: embcompat
#   language_info:
#     name: python
# ---

# %% [markdown]
# # 02 · BC: training every method's versions M_0 … M_K
#
# Hu et al. (KDD 2022). A PinSAGE model M_k is trained on the graph at each time slice t_k (edge fractions 0.5 … 0.9); the methods of Table 3 differ in how M_k and the backward transformation B_k (d_k → d_{k-1}) are obtained: trained alone (Non-BC), B_k fitted post hoc on Non-BC's models (Post-Lin-SLoss/MLoss), trained jointly with an alignment loss (Joint-NoTrans, Joint-Lin-SLoss, BC-Aligner = multi-step loss), M_0 kept (Fix-M0) or fine-tuned (Finetune-M0). Keep-All is not a run: Non-BC's M_k for the intended task, the true z_0 for the consumers.
#
# **Training seeds.** `seeds` lists the training seeds (demo: 42 … 46). Each seed retrains the whole chain, M_0 included, and draws its own validation / test halves of each version's evaluation window; within one seed M_0 is shared by every method. The chains of all seeds train side by side in `workers` processes (`embcompat.backward.seeded`). At demo scale every version trains for a fixed 40 epochs (Finetune-M0: 20) while its learning rate decays to 0 by a cosine from a base chosen per data set on the validation half (3e-3 on amazon-2014-hin, 1e-3 on movielens-latest-small; `benchmarks/results/bc_lr_choice.md`), and keeps its best evaluation by Recall@50 on the validation half (joint methods only after a 10-epoch warm-up); the section on plateaus below checks that the curves have flattened by the end (`embcompat.config.bc`, `docs/deviations.md`).
#
# Every version is cached by config hash (`outputs/cache/bc-version-*`), so notebooks 03 and 04 reuse what is trained here, and a killed run resumes at the first missing version.
#
# Outputs: `outputs/tables/02_recall` (tidy: Recall@K per method and version on the reported split, selected epoch, timings), `outputs/figures/02_training_curves`, `02_recall_per_version`.

# %% tags=["parameters"]
import os

# smoke | demo | paper
scale = os.environ.get("EMBCOMPAT_SCALE", "demo")
# a graph data set: amazon2018-musical-instruments, amazon2018-video-games, amazon2018-grocery,
# amazon-2014-hin, movielens-latest-small, synthetic, interactions-csv:/abs/dir;
# None means the first real one present (the paper's Musical Instruments first)
dataset = None
# Table 3 methods, paper names or official slugs (Non-BC, Post-Lin-SLoss, Post-Lin-MLoss,
# Joint-NoTrans, Joint-Lin-SLoss, BC-Aligner, Fix-M0, Finetune-M0, Keep-All, and ours: Post-LS,
# Post-Procrustes, BC-Aligner-MLP); None means all but BC-Aligner-MLP, which costs a fifth of the
# training time (embcompat.backward.experiment.DEFAULT_METHODS)
methods = None
# training seeds of the GNN versions (each also draws the held-out test halves); None means the
# scale's (demo: 42, 43, 44, 45, 46; embcompat.config.bc.TRAIN_SEEDS)
seeds = None
# auto | cpu | cuda | cuda:N | mps
device = "auto"
# local processes training the chains side by side; None means one per CPU core (1 on a GPU)
workers = None

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from embcompat.backward import evaluate as E
from embcompat.backward import experiment as X
from embcompat.backward import plots as P
from embcompat.backward import seeded as S
from embcompat.backward.intended import evaluation_sizes
from embcompat.backward.plateau import late_gain_rows, plateau_table
from embcompat.backward.seed_tables import SEED, count_train_seeds
from embcompat.config import check_device, get_scale
from embcompat.config.bc import train_seeds
from embcompat.data import assert_no_leakage
from embcompat.params import check_int
from embcompat.report import regen_command, save_table, savefig, set_style

# validates every parameter; a bad value raises a ValueError naming the allowed ones
sc = get_scale(scale)
method_names = X.resolve_methods(methods)
check_device(device, available=True)
seed_list = train_seeds(sc.name, seeds)
n_workers = S.default_workers(device) if workers is None else check_int(workers, "workers", minimum=1)
name = dataset if dataset is not None else X.default_dataset()
set_style()
print(f"scale={sc.name} dataset={name} training seeds={seed_list} device={device} "
      f"workers={n_workers}\nmethods: {method_names}")

# %% [markdown]
# ## Train (or load) every method, every seed
# One bar over the chains (wave 1: Non-BC with M_0 per seed; wave 2: every other method); the references Non-BC and Fix-M0 always run.

# %%
exps = S.run_seeds(name, scale, method_names, seed_list, device=device, consumers=False,
                   workers=n_workers)
for exp in exps:
    assert_no_leakage(exp.graph, exp.splits)
    X.assert_same_m0(exp.results)  # M_0 is one model per seed: same key, bit-identical embeddings
    assert all(e == 0.0 for e in exp.results["Fix-M0"].alignment_errors(exp.keep_all))
    assert exp.keep_all.recalls() == exp.results["Non-BC"].recalls()
assert len({e.results["Non-BC"][0].key for e in exps}) == len(exps)  # one M_0 per seed
exp = exps[0]
total = sum(len(r) for e in exps for r in e.results.values())
print(f"{exp.dataset}: {len(exp.splits)} versions, dims {exp.config.dims}, {len(exps)} training "
      f"seeds; {total} version records")

# %%
recall = pd.concat([X.recall_table(e).assign(**{SEED: e.config.seed}) for e in exps],
                   ignore_index=True)
split = recall.split[recall.split != ""].iloc[0]
cmd = regen_command("02_version_updates", sc.name, dict(dataset=dataset, methods=methods,
                                                        seeds=seeds))
save_table(count_train_seeds(recall), "02_recall",
           caption=f"Intended task (Recall@K on the {split} split), selected epoch and "
                   f"timings per method, version and training seed ({exp.dataset}, "
                   f"scale={sc.name}, seeds {seed_list}). Regenerate with `{cmd}`.")
r50 = recall[recall.metric == "recall@50"]
display(r50.groupby(["method", "version"]).value.agg(["mean", "std"]).unstack("version")
        .loc[exp.methods])

# %% [markdown]
# ## Has every curve plateaued?
# Per method and version, over the training seeds: the range of the last epoch trained and of the selected epoch, then the **late gain** of each validation Recall@50 curve: the mean of its last quarter of evaluations minus the mean of the quarter before (`embcompat.backward.plateau`). `plateau`: the 95 % interval of the mean late gain stays below 0.5 Recall@50 points, so whatever rise is left at the end of the budget is smaller than that; `rising`: otherwise, when the interval lies above 0 (still climbing, perhaps by more); `undecided`: neither. `still_rising` marks every interval above 0, plateaus included: the cosine's last small steps can add a detectable sliver to a flat curve. (Until 2026-12-07 `rising` was tested first, so such slivers counted as rising.) Only the versions a method trains itself count (post-hoc methods and Fix-M0 reuse Non-BC's and M_0's).

# %%
stops = recall[recall.metric.isin(["epochs_trained", "best_epoch"])].pivot_table(
    index=["method", "version"], columns="metric", values="value", aggfunc=["min", "max"])
display(stops.loc[[m for m in exp.methods if m in stops.index.get_level_values(0)]])
gains = late_gain_rows([e.requested() for e in exps])
plateau = plateau_table(gains)
save_table(plateau, "02_plateau",
           caption=f"Late gain of each validation Recall@50 curve (mean of the last quarter of its "
                   f"evaluations minus the quarter before, x100), mean and 95 % t interval over "
                   f"training seeds, with a verdict ({exp.dataset}, scale={sc.name}, seeds {seed_list}). "
                   f"Regenerate with `{cmd}`.")
display(plateau)
print(plateau.verdict.value_counts().to_string())

# %% [markdown]
# ## How much each evaluation rests on
# Users and edges of each version's evaluation window and of its validation (selection) and test (reported) halves, per training seed. A Recall@50 over a few dozen users moves in steps of several points, whatever the model.

# %%
sizes = pd.concat([pd.DataFrame(evaluation_sizes(e.graph, e.splits)).assign(**{SEED: e.config.seed})
                   for e in exps], ignore_index=True).assign(dataset=exp.dataset)
save_table(sizes, "02_evaluation_sizes",
           caption=f"Intended-task evaluation sizes per version, split and training seed "
                   f"({exp.dataset}, scale={sc.name}): distinct users and edges scored. "
                   f"Regenerate with `{cmd}`.")
display(sizes.groupby(["version", "split"])[["users", "edges"]].agg(["min", "max"]))

# %% [markdown]
# ## Training curves
# Recall@50 on the selection split at every evaluation, one line per version and training seed (dots: the selected epoch). A line ending before the cap stopped on patience (the demo has none: every version runs its 40 epochs, the learning rate decaying to 0). Post-hoc methods share Non-BC's curves, Fix-M0 only has M_0's.

# %%
fig = P.plot_training_curves([e.requested() for e in exps])
savefig(fig, "02_training_curves")
plt.show()
fig = P.plot_recall_per_version(recall)
savefig(fig, "02_recall_per_version")
plt.show()
