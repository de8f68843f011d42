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
# Post-Procrustes, BC-Aligner-MLP); None means all of them (embcompat.backward.evaluate.PAPER_ORDER)
methods = None
# seed of every GNN version (official 42) and of the held-out test split
seed = 42
# auto | cpu | cuda | cuda:N | mps
device = "auto"

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from embcompat.backward import evaluate as E
from embcompat.backward import experiment as X
from embcompat.backward import plots as P
from embcompat.config import check_device, get_scale
from embcompat.data import assert_no_leakage
from embcompat.report import regen_command, save_table, savefig, set_style

# validates every parameter; a bad value raises a ValueError naming the allowed ones
sc = get_scale(scale)
method_names = X.resolve_methods(methods)
check_device(device, available=True)
name = dataset if dataset is not None else X.default_dataset()
set_style()
print(f"scale={sc.name} dataset={name} seed={seed} device={device}\nmethods: {method_names}")

# %% [markdown]
# ## Train (or load) every method
# One progress bar per version; the references Non-BC and Fix-M0 always run.

# %%
exp = X.run_experiment(name, scale, method_names, seed=seed, device=device,
                       consumers=False)
assert_no_leakage(exp.graph, exp.splits)
X.assert_same_m0(exp.results)  # M_0 is one model: same cache key, bit-identical embeddings
assert all(e == 0.0 for e in exp.results["Fix-M0"].alignment_errors(exp.keep_all))
assert exp.keep_all.recalls() == exp.results["Non-BC"].recalls()
cached = sum(v.from_cache for r in exp.results.values() for v in r.versions)
total = sum(len(r) for r in exp.results.values())
print(f"{exp.dataset}: {len(exp.splits)} versions, dims {exp.config.dims}; {cached} of {total} "
      f"version records loaded from the cache")

# %%
recall = X.recall_table(exp)
split = recall.split[recall.split != ""].iloc[0]
cmd = regen_command("02_version_updates", sc.name,
                    dict(dataset=dataset, methods=methods, seed=seed), defaults={"seed": 42})
save_table(recall, "02_recall",
           caption=f"Intended task (Recall@K on the {split} split), selected epoch and "
                   f"timings per method and version ({exp.dataset}, scale={sc.name}, "
                   f"seed {seed}). Regenerate with `{cmd}`.")
display(recall[recall.metric == "recall@50"].pivot(index="method", columns="version",
                                                   values="value").loc[exp.methods])

# %% [markdown]
# ## Training curves
# Recall@50 on the selection split at every evaluation (dots: the selected epoch). Post-hoc methods share Non-BC's curves, Fix-M0 only has M_0's.

# %%
fig = P.plot_training_curves(exp.requested())
savefig(fig, "02_training_curves")
plt.show()
fig = P.plot_recall_per_version(recall)
savefig(fig, "02_recall_per_version")
plt.show()
