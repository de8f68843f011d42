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
# **Seeds.** Every number here comes from ONE GNN training seed (the `seed` parameter); the spread shown is over consumer seeds only. These tables therefore rank nothing: a claim that one method beats another needs >= 5 training seeds, a 95 % CI and the paired difference (`embcompat.stats`; issue #10).
#
# Figure 3: per version, (1) the intended degradation, (2) the unintended degradation (averaged over the tasks reported at that version) and (3) the alignment error, one line per method. Figure 4: BC-Aligner's degradation on each unintended task over time (error bars: std over consumer seeds).
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

# %%
exp = X.run_experiment(name, scale, method_names, seed=seed, device=device)
assert_no_leakage(exp.graph, exp.splits)
X.assert_same_m0(exp.results)  # M_0 is one model: same cache key, bit-identical embeddings
assert all(e == 0.0 for e in exp.results["Fix-M0"].alignment_errors(exp.keep_all))
assert exp.keep_all.recalls() == exp.results["Non-BC"].recalls()
cached = sum(v.from_cache for r in exp.results.values() for v in r.versions)
total = sum(len(r) for r in exp.results.values())
print(f"{exp.dataset}: {len(exp.splits)} versions, dims {exp.config.dims}; {cached} of {total} "
      f"version records loaded from the cache")
tidy = exp.evaluate()
E.assert_reference_invariants(tidy)  # Fix-M0 alignment 0, Keep-All degradation 0

# %%
over_time = tidy[tidy.version != "avg"].reset_index(drop=True)
cmd = regen_command("04_performance_over_time", sc.name,
                    dict(dataset=dataset, methods=methods, seed=seed), defaults={"seed": 42})
save_table(over_time, "04_over_time",
           caption=f"The three metrics per version ({exp.dataset}, scale={sc.name}, GNN seed "
                   f"{seed}, {len(exp.consumer_config.seeds)} consumer seeds; degradations in % "
                   f"from Keep-All). Regenerate with `{cmd}`.")
display(over_time[over_time.metric.isin([E.INTENDED_DEG, E.UNINTENDED_DEG, E.ALIGN])]
        .pivot_table(index=["method", "metric"], columns="version", values="value"))

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
