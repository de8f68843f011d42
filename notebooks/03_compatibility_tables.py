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
# # 03 · BC: Table 3, the three compatibility metrics
#
# **Seeds.** Every number here comes from ONE GNN training seed (the `seed` parameter); the spread shown is over consumer seeds only. These tables therefore rank nothing: a claim that one method beats another needs >= 5 training seeds, a 95 % CI and the paired difference (`embcompat.stats`; issue #10).
#
# For every available data set and method: (1) the intended task's Recall@50 degradation from Keep-All (= Non-BC) in %, (2) the unintended tasks' ROC-AUC degradation of the consumers C_0 (trained once on M_0's z_0) fed the method's z~_0 = B_1∘…∘B_k(z_k) instead of the true z_0, and (3) the alignment error, mean ‖z~_0 − z_0‖₂. As in the paper, the degradations are taken after averaging over versions (and the five tasks); user tasks are reported from version 2, the others from version 1.
#
# Reuses notebook 02's versions and caches C_0 by config hash. Outputs: `outputs/tables/03_compatibility.csv` (tidy: one row per data set × method × version × metric, with the spread over consumer seeds), `03_compatibility.md` (the Table 3 layout per data set) and `outputs/figures/03_alignment_vs_unintended`. The last section goes beyond the paper: the full compatibility matrix of every consumer C_j (trained on version j) against every later version k, in `outputs/tables/03_compat_matrix.{csv,md}`, `03_compat_matrix_summary.{csv,md}` and `outputs/figures/03_compat_matrix`.

# %% tags=["parameters"]
import os

# smoke | demo | paper
scale = os.environ.get("EMBCOMPAT_SCALE", "demo")
# graph data sets (see notebook 01); None means every real one present: amazon2018-* (the
# paper's), amazon-2014-hin, movielens-latest-small
datasets = None
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
from embcompat.backward.posthoc_check import posthoc_optimum
from embcompat.config import check_device, get_scale
from embcompat.report import regen_command, save_table, savefig, set_style

# validates every parameter; a bad value raises a ValueError naming the allowed ones
sc = get_scale(scale)
method_names = X.resolve_methods(methods)
check_device(device, available=True)
graphs, skipped = X.resolve_datasets(datasets)
for ds, why in skipped:
    print(f"skipped {ds}: {why}")
set_style()
print(f"scale={sc.name} seed={seed} device={device}\ndata sets: {[g.name for g in graphs]}"
      f"\nmethods: {method_names}")

# %% [markdown]
# ## Train or load, then score every method on every data set

# %%
tidy, n_seeds, optimum, exps = [], set(), [], []
for g in graphs:
    exp = X.run_experiment(g, scale, method_names, seed=seed, device=device)
    X.assert_same_m0(exp.results)  # M_0 is identical across methods
    tidy.append(exp.evaluate())
    n_seeds.add(len(exp.consumer_config.seeds))
    if {"Post-Lin-SLoss", "Post-LS"} <= set(exp.results):
        optimum.append(posthoc_optimum(exp))  # selection MSE of both B_k on the same data
    exps.append(exp)
tidy = pd.concat(tidy, ignore_index=True)
E.assert_reference_invariants(tidy)  # Fix-M0 alignment 0, Keep-All degradation 0
table = E.table3(tidy)
display(table)

# %%
cmd = regen_command("03_compatibility_tables", sc.name,
                    dict(datasets=datasets, methods=methods, seed=seed), defaults={"seed": 42})
caption = (f"Table 3 analogue (scale={sc.name}, GNN seed {seed}, consumer seeds per task: "
           f"{'/'.join(map(str, sorted(n_seeds)))}): (1) intended Recall@50 and (2) unintended "
           f"ROC-AUC degradation from Keep-All in % (after averaging over versions and tasks; "
           f"unintended_%_std: std over consumer seeds), (3) alignment error; Recall@50_% and "
           f"AUC_% are absolute. The csv is tidy (per version and averaged). "
           f"Regenerate with `{cmd}`.")
paths = X.save_compatibility_tables(tidy, "03_compatibility", caption)
display(Markdown(paths["md"].read_text()))

# %% [markdown]
# ## Alignment error vs unintended degradation
# One point per data set × method × version (k ≥ 1); the paper proposes the alignment error as a task-agnostic proxy of the unintended degradation.

# %%
fig, r, points = P.plot_alignment_vs_unintended(tidy)
savefig(fig, "03_alignment_vs_unintended")
plt.show()
print(f"Pearson r(alignment error, unintended degradation) = {r:.3f} over {len(points)} points")

# %% [markdown]
# ## Does our Post-Lin-SLoss reach the least-squares optimum?
# Post-LS (not in the paper) minimises, in closed form, the objective Post-Lin-SLoss's Adam fit is selected on (0.5 · (MSE over all users + MSE over all items), on Non-BC's frozen z_k and z_{k-1}), so with `posthoc_ridge = 0` the ratio of Post-Lin-SLoss's selection MSE to Post-LS's is ≥ 1, and how far above 1 it is says how far the gradient fit stopped from the optimum.

# %%
if optimum:
    optimum = pd.concat(optimum, ignore_index=True)
    save_table(optimum, "03_posthoc_optimum",
               caption=(f"Selection MSE of Post-Lin-SLoss's B_k (Adam) and Post-LS's (closed form) "
                        f"on the same data, per data set and version (scale={sc.name}); "
                        f"ratio = Post-Lin-SLoss / Post-LS."))
    display(optimum)
else:
    print("skipped: the optimum check needs Post-Lin-SLoss and Post-LS in `methods`")

# ## The full compatibility matrix: every consumer C_j on every later version
# Table 3 only scores C_0. A team shipping embeddings has consumers trained on every version: here C_j of each task is trained on the method's own z_j = M_j(G_j) (the version-0 protocol shifted to j) and fed what the method gives it at each k ≥ j: B_{j+1}∘…∘B_k(z_k) for the methods with a B, the first d_j dims of z_k for Non-BC, z_k for Finetune-M0, M_0(G_k) for Fix-M0, the true z_j for Keep-All. The degradation (%) is against the same C_j fed the true z_j = M_j(G_k), so row C_0 is Table 3's per-version numbers and the diagonal is 0. The summary averages the task-mean degradation over the strict upper triangle (k > j; user tasks from k ≥ j + 2) and names the worst cell. The consumers C_j (j ≥ 1) follow the scale's `matrix_config` (`lib/embcompat/config/consumers.py`): at demo scale they are trained at the grid point C_0 chose, with one seed instead of a grid search and 3 seeds (so the rows j ≥ 1 have no seed spread; docs/deviations.md); C_0 keeps its cache keys.

# %%
from embcompat.backward import compat_matrix as CM
from embcompat.config.consumers import matrix_config
from embcompat.matrix_plots import plot_bc_matrix
from embcompat.report import slug

mcfg = matrix_config(sc.name)
matrix = pd.concat([CM.experiment_matrix(e, mcfg) for e in exps], ignore_index=True)
diag = matrix[matrix.consumer_version == matrix.embedding_version]
assert (diag.degradation == 0).all()  # C_j on its own true z_j is its reference
assert (matrix[matrix.method == "Keep-All"].degradation == 0).all()
summary = CM.matrix_summary(matrix)
display(summary)

# %%
seeds_note = (f"C_0: {'/'.join(map(str, sorted(n_seeds)))} consumer seeds; C_j (j >= 1): "
              + (f"seeds {list(mcfg.later_seeds)}" if mcfg.later_seeds else "the same seeds")
              + (", at C_0's grid point" if mcfg.later_grid == "c0" else ", own grid search"))
mcaption = (f"Full BC compatibility matrix (scale={sc.name}, GNN seed {seed}; {seeds_note}): "
            f"ROC-AUC of consumer C_j (trained on version j) fed each method's embeddings of "
            f"version k >= j, and its degradation in % against the same C_j fed the true "
            f"z_j = M_j(G_k); task = mean averages the tasks reported at the cell (seed-paired). "
            f"Summary: mean and worst task-mean degradation over k > j. Regenerate with `{cmd}`.")
mpaths = CM.save_matrix_tables(matrix, "03_compat_matrix", mcaption)
display(Markdown(mpaths["md"].read_text()))
for ds in matrix.dataset.unique():
    fig = plot_bc_matrix(matrix, ds)
    # the first data set's figure is 03_compat_matrix; any further one gets its name appended
    savefig(fig, "03_compat_matrix" if ds == matrix.dataset.iloc[0] else f"03_compat_matrix_{slug(ds)}")
    plt.show()
