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
# # 04 · BC: performance over time (Figures 3 and 4)
#
# **Seeds.** `seeds` lists the training seeds (demo: 42 … 46; each retrains every chain, M_0 included). Every line is the mean over training seeds and its shaded band the 95 % t interval over them (the consumer seeds are averaged within each training seed first); with one seed the figures fall back to error bars of the consumer-seed std and rank nothing.
#
# Figure 3: per version, (1) the intended degradation, (2) the unintended degradation (averaged over the tasks reported at that version) and (3) the alignment error, one line per method. Figure 4: BC-Aligner's degradation on each unintended task over time.
#
# Reuses notebook 02's versions and 03's consumers (same config hashes). Outputs: `outputs/tables/04_over_time` (tidy, per version), `outputs/figures/04_performance_over_time`, `04_per_task_over_time`.

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
from embcompat.backward import seed_tables as T
from embcompat.backward import seeded as S
from embcompat.config.bc import train_seeds
from embcompat.params import check_int
from embcompat.config import check_device, get_scale
from embcompat.data import assert_no_leakage
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

# %%
exps = S.run_seeds(name, scale, method_names, seed_list, device=device, workers=n_workers)
tidy = []
for exp in exps:
    assert_no_leakage(exp.graph, exp.splits)
    X.assert_same_m0(exp.results)  # M_0 is one model per seed: same key, bit-identical embeddings
    assert all(e == 0.0 for e in exp.results["Fix-M0"].alignment_errors(exp.keep_all))
    assert exp.keep_all.recalls() == exp.results["Non-BC"].recalls()
    t = exp.evaluate()
    E.assert_reference_invariants(t)  # Fix-M0 alignment 0, Keep-All degradation 0
    tidy.append(T.with_seed(t, exp.config.seed))
tidy = pd.concat(tidy, ignore_index=True)
exp = exps[0]
print(f"{exp.dataset}: {len(exp.splits)} versions, dims {exp.config.dims}, training seeds "
      f"{seed_list}")

# %%
over_time = tidy[tidy.version != "avg"].reset_index(drop=True)
cmd = regen_command("04_performance_over_time", sc.name,
                    dict(dataset=dataset, methods=methods, seeds=seeds))
save_table(T.count_train_seeds(over_time), "04_over_time",
           caption=f"The three metrics per version and training seed ({exp.dataset}, "
                   f"scale={sc.name}, {T.claim_seeds(len(seed_list))} {seed_list}, "
                   f"{len(exp.consumer_config.seeds)} consumer seeds each; degradations in % from "
                   f"Keep-All). `04_over_time_ci` has the mean and 95 % interval over training "
                   f"seeds. Regenerate with `{cmd}`.")
bands = pd.concat([T.version_ci(tidy, m).assign(metric=m)
                   for m in (E.INTENDED_DEG, E.UNINTENDED_DEG, E.ALIGN)], ignore_index=True)
save_table(bands, "04_over_time_ci",
           caption=f"Mean and 95 % t interval over training seeds per version ({exp.dataset}, "
                   f"scale={sc.name}, {T.claim_seeds(len(seed_list))}). Regenerate with `{cmd}`.")
display(bands.pivot_table(index=["method", "metric"], columns="version", values="mean"))

# %%
fig = P.plot_over_time(tidy, times=exp.config.times[:-1])
savefig(fig, "04_performance_over_time")
plt.show()
focus = "BC-Aligner" if "BC-Aligner" in exp.methods else exp.methods[-1]
fig = P.plot_per_task(tidy, focus)
savefig(fig, "04_per_task_over_time")
plt.show()

# %% [markdown]
# ## What a team ships: the keep-latest store
#
# Keep-All stores an embedding table per version; a method with backward transformations stores only the latest embeddings z_K and B_1..B_K, and turns z_K into any older version on demand (`embcompat.versions.VersionStore`, README: *Using the keep-latest store*). This cell builds BC-Aligner's store from its trained versions, checks that it gives exactly what the consumers C_0 were fed, and compares the storage.

# %%
import torch

if "BC-Aligner" in exp.results:
    r = exp.results["BC-Aligner"]
    store = r.version_store()
    last = r.versions[-1]
    z0 = store.transform(to_version=0)
    assert torch.allclose(z0, torch.cat([last.zhat0_user, last.zhat0_item]), rtol=1e-4, atol=1e-5)
    keep_all = sum(v.z_user.numel() + v.z_item.numel() for v in exp.results["Non-BC"].versions)
    shipped = store.embeddings.numel() + sum(B.numel() for B in store.matrices)
    print(f"{store}\nKeep-All stores {keep_all:,} floats (every version's table); the store "
          f"{shipped:,} ({shipped / keep_all:.0%}), and C_0's inputs come back exactly.")
