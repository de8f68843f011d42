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
# **Seeds.** `seeds` lists the training seeds (demo: 42 … 46). Each seed retrains every chain, M_0 included, draws its own validation / test halves, and gets its own consumers C_0 (trained on that seed's z_0). Table 3 reports, per data set and method, the mean over training seeds and its 95 % t interval (`embcompat.stats`; the consumer seeds are averaged inside each training seed first). "A beats B" is read only from the *paired* table (same seed, same data: BC-Aligner minus each method), and only when its interval excludes 0 with at least 5 seeds; otherwise the verdict says `undecided` or `too few seeds`.
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
from embcompat.backward.posthoc_check import posthoc_optimum
from embcompat.config import check_device, get_scale
from embcompat.config.bc import train_seeds
from embcompat.params import check_int
from embcompat.report import regen_command, save_table, savefig, set_style

# validates every parameter; a bad value raises a ValueError naming the allowed ones
sc = get_scale(scale)
method_names = X.resolve_methods(methods)
check_device(device, available=True)
seed_list = train_seeds(sc.name, seeds)
n_workers = S.default_workers(device) if workers is None else check_int(workers, "workers", minimum=1)
graphs, skipped = X.resolve_datasets(datasets)
for ds, why in skipped:
    print(f"skipped {ds}: {why}")
set_style()
print(f"scale={sc.name} training seeds={seed_list} device={device} workers={n_workers}"
      f"\ndata sets: {[g.name for g in graphs]}\nmethods: {method_names}")

# %% [markdown]
# ## Train or load, then score every method on every data set

# %%
# every chain of every (data set, seed) first, side by side, then the consumers C_0 of every
# (data set, seed) the same way; then each seed's experiment loads them
S.pretrain(graphs, sc.name, method_names, seed_list, device=device, workers=n_workers)
S.pretrain_consumers(graphs, sc.name, seed_list, device=device, workers=n_workers)
tidy, n_seeds, optimum, exps = [], set(), [], {}
for g in graphs:
    for s in seed_list:
        exp = X.run_experiment(g, scale, method_names, seed=s, device=device)
        X.assert_same_m0(exp.results)  # M_0 is identical across methods
        tidy.append(T.with_seed(exp.evaluate(), s))
        n_seeds.add(len(exp.consumer_config.seeds))
        if {"Post-Lin-SLoss", "Post-LS"} <= set(exp.results):
            optimum.append(posthoc_optimum(exp).assign(**{T.SEED: s}))  # both B_k on the same data
        exps[g.name, s] = exp
tidy = pd.concat(tidy, ignore_index=True)
for s in seed_list:
    E.assert_reference_invariants(tidy[tidy[T.SEED] == s])  # Fix-M0 alignment 0, Keep-All 0

# %%
cmd = regen_command("03_compatibility_tables", sc.name,
                    dict(datasets=datasets, methods=methods, seeds=seeds))
caption = (f"Table 3 analogue (scale={sc.name}; {T.claim_seeds(len(seed_list))} {seed_list}, each "
           f"with its own M_0, splits and C_0 of {'/'.join(map(str, sorted(n_seeds)))} consumer "
           f"seeds per task): every cell is the mean over training seeds ± the half-width of its "
           f"95 % t interval. (1) intended Recall@50 and (2) unintended ROC-AUC degradation from "
           f"Keep-All in % (after averaging over versions and tasks), (3) alignment error; "
           f"Recall@50 % and AUC % are absolute. The csv is tidy (per training seed, version and "
           f"averaged), `03_compatibility_ci.csv` holds the intervals. Regenerate with `{cmd}`.")
saved = T.save_table3_ci(tidy, "03_compatibility", caption)
table = saved["table"]
display(Markdown(saved["md"].read_text()))

# %% [markdown]
# ## Paired differences: BC-Aligner minus each method
# Per training seed, BC-Aligner's number minus the other method's (same seed: the same M_0, validation / test halves and consumers), then the mean and its 95 % interval over seeds. Positive is BC-Aligner better on every metric here ((1), (2) and (1)+(2) are degradations from Keep-All, higher is better). The verdict names the better method only when the interval excludes 0.

# %%
paired = pd.concat([T.paired_table(tidy, "BC-Aligner", m)
                    for m in ("(1)+(2)_%", "intended_%", "unintended_%")], ignore_index=True)
save_table(paired, "03_paired",
           caption=(f"BC-Aligner minus each method, paired by training seed (scale={sc.name}; "
                    f"{T.claim_seeds(len(seed_list))}): mean, 95 % t interval [lo, hi], seeds, "
                    f"verdict. Regenerate with `{cmd}`."))
display(paired[paired.metric.str.endswith("(1)+(2)_%")])

# %% [markdown]
# ## Alignment error vs unintended degradation
# One point per data set × method × version (k ≥ 1) × training seed; the paper proposes the alignment error as a task-agnostic proxy of the unintended degradation. The interval is over training seeds: Pearson r within each seed's points, then its mean and 95 % t interval. The growth question (does Joint-Lin-SLoss's alignment error grow faster over versions than BC-Aligner's, the paper's argument for the multi-step loss) is the per-seed slope of the alignment error over versions 1..K, paired.

# %%
fig, r, points = P.plot_alignment_vs_unintended(tidy)
savefig(fig, "03_alignment_vs_unintended")
plt.show()
corr = T.correlation_ci(tidy)
growth = T.growth_paired(tidy) if {"Joint-Lin-SLoss", "BC-Aligner"} <= set(method_names) else None
claims = [corr.assign(question="Pearson r(alignment error, unintended degradation), per seed")]
if growth is not None and len(growth):
    claims.append(growth.assign(question="slope of alignment error over versions: "
                                         "Joint-Lin-SLoss minus BC-Aligner"))
claims = pd.concat(claims, ignore_index=True)
save_table(claims, "03_claims",
           caption=(f"The alignment-error questions with 95 % intervals over training seeds "
                    f"(scale={sc.name}; {T.claim_seeds(len(seed_list))}). "
                    f"Regenerate with `{cmd}`."))
display(claims)

# %% [markdown]
# ## Does our Post-Lin-SLoss reach the least-squares optimum?
# Post-LS (not in the paper) minimises, in closed form, the objective Post-Lin-SLoss's Adam fit is selected on (0.5 · (MSE over all users + MSE over all items), on Non-BC's frozen z_k and z_{k-1}), so with `posthoc_ridge = 0` the ratio of Post-Lin-SLoss's selection MSE to Post-LS's is ≥ 1, and how far above 1 it is says how far the gradient fit stopped from the optimum.

# %%
if optimum:
    optimum = pd.concat(optimum, ignore_index=True)
    save_table(optimum, "03_posthoc_optimum",
               caption=(f"Selection MSE of Post-Lin-SLoss's B_k (Adam) and Post-LS's (closed form) "
                        f"on the same data, per data set, version and training seed "
                        f"(scale={sc.name}); ratio = Post-Lin-SLoss / Post-LS."))
    display(optimum)
else:
    print("skipped: the optimum check needs Post-Lin-SLoss and Post-LS in `methods`")

# ## The full compatibility matrix: every consumer C_j on every later version
# Table 3 only scores C_0. A team shipping embeddings has consumers trained on every version: here C_j of each task is trained on the method's own z_j = M_j(G_j) (the version-0 protocol shifted to j) and fed what the method gives it at each k ≥ j: B_{j+1}∘…∘B_k(z_k) for the methods with a B, the first d_j dims of z_k for Non-BC, z_k for Finetune-M0, M_0(G_k) for Fix-M0, the true z_j for Keep-All. The degradation (%) is against the same C_j fed the true z_j = M_j(G_k), so row C_0 is Table 3's per-version numbers and the diagonal is 0. The summary averages the task-mean degradation over the strict upper triangle (k > j; user tasks from k ≥ j + 2) and names the worst cell. The consumers C_j (j ≥ 1) follow the scale's `matrix_config` (`lib/embcompat/config/consumers.py`): at demo scale they are trained at the grid point C_0 chose, with one seed instead of a grid search and 3 seeds (so the rows j ≥ 1 have no seed spread; docs/deviations.md); C_0 keeps its cache keys. **One training seed:** the matrix is computed for the first seed only (its consumers C_j cost about 4 CPU-minutes per data set and seed), so it describes that seed's chains and decides nothing between methods.

# %%
from embcompat.backward import compat_matrix as CM
from embcompat.config.consumers import matrix_config
from embcompat.matrix_plots import plot_bc_matrix
from embcompat.report import slug

mcfg = matrix_config(sc.name)
# one data set per worker process; each rebuilds its experiment from the cache
matrix = CM.datasets_matrix(graphs, sc.name, method_names, seed_list[0], mcfg, device=device,
                            workers=n_workers)
diag = matrix[matrix.consumer_version == matrix.embedding_version]
assert (diag.degradation == 0).all()  # C_j on its own true z_j is its reference
assert (matrix[matrix.method == "Keep-All"].degradation == 0).all()
summary = CM.matrix_summary(matrix)
display(summary)

# %%
seeds_note = (f"C_0: {'/'.join(map(str, sorted(n_seeds)))} consumer seeds; C_j (j >= 1): "
              + (f"seeds {list(mcfg.later_seeds)}" if mcfg.later_seeds else "the same seeds")
              + (", at C_0's grid point" if mcfg.later_grid == "c0" else ", own grid search"))
mcaption = (f"Full BC compatibility matrix (scale={sc.name}, ONE training seed, {seed_list[0]}, "
            f"so no method is ranked from it; {seeds_note}): "
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

# %% [markdown]
# ## The paper's claims, read off the intervals
# Each sentence below is computed from the tables above (so it stays true when the notebook is rerun with other seeds or data). The λ trade-off is notebook 05's. Its committed demo run (BC-Aligner, 5 training seeds, λ 1-32, 2026-12-07) answers "is it monotone?" in two parts. Alignment error and intended degradation move with λ as in the paper, on every seed: from λ = 1 to 32 the alignment error falls by 0.28 [0.21, 0.35] (amazon-2014-hin) and 0.60 [0.38, 0.81] (movielens-latest-small), and the intended degradation deepens by 21.3 [12.7, 29.9] and 66.0 [38.0, 93.9] points. The unintended degradation does not move: −0.2 [−1.8, +1.3] and +0.7 [−5.2, +6.6] points, undecided on both.
#
# **Power.** movielens-latest-small's held-out test halves hold only 31-48 users per version (v0-v4: 34, 48, 42, 31, 37 users and 362-2,261 edges over seeds 42-46; amazon-2014-hin: 934-1,098 users, 5,593-7,841 edges; `02_evaluation_sizes`, `embcompat.backward.intended.evaluation_sizes`). One user there moves a version's Recall@50 by 2-3 points, and the intended-task half-widths in Table 3 are about 20-30 points, wider than the differences between the joint methods that the table is meant to show. Read movielens-latest-small's (1) and (1)+(2) as underpowered; amazon-2014-hin is the data set that can decide.
#
# **λ at demo scale.** Under the previous demo protocol (λ = 16, lr 1e-3, patience-stopped) BC-Aligner lost about a quarter of Non-BC's intended Recall@50 on amazon-2014-hin (−28.4 ± 6.7 %; the paper: about −3 %). Not the step budget: a 10× learning rate lifted Non-BC and BC-Aligner alike (`benchmarks/results/bc_lr_check.md`, 5 seeds, paired −2.4 [−16.0, +11.3] points, undecided). It was λ: at this width and budget 16 weighs the alignment far more than in the paper. The demo now uses λ = 1, chosen on the validation half of notebook 05's sweep, never on the test half. The rule takes the largest λ of the paper's grid whose validation intended degradation stays within 5 % of Non-BC, and the smallest λ when none does. Under the current protocol none does: at λ = 1 the cost is −10.3 % [−14.8, −5.7] on amazon-2014-hin and −21.1 % [−28.9, −13.3] on movielens-latest-small (`benchmarks/results/lambda_choice.md`). So the demo runs at a higher intended cost than the paper's joint methods. The sentences below say what Table 3 shows at that λ.

# %%
lines = []
for ds in table.dataset.unique():
    p = paired[(paired.dataset == ds) & paired.metric.str.endswith("(1)+(2)_%")]
    best = table[table.dataset == ds].set_index("method")["(1)+(2)_%"].drop("Keep-All", errors="ignore")
    lines.append(f"**{ds}.** Highest mean (1)+(2): {best.idxmax()} ({best.max():+.2f} %). "
                 "BC-Aligner minus each method on (1)+(2): "
                 + "; ".join(f"{r.method} {r['mean']:+.2f} [{r.lo:+.2f}, {r.hi:+.2f}] → {r.verdict}"
                             for _, r in p.iterrows()) + ".")
    c = corr[corr.dataset == ds]
    if len(c):
        c = c.iloc[0]
        lines.append(f"Alignment error vs unintended degradation: r = {c['mean']:+.2f} "
                     f"[{c.lo:+.2f}, {c.hi:+.2f}] over {c.n} seeds.")
    if growth is not None and len(growth[growth.dataset == ds]):
        g = growth[growth.dataset == ds].iloc[0]
        lines.append(f"Alignment-error slope per version, Joint-Lin-SLoss {g.slope_a:.3f} vs "
                     f"BC-Aligner {g.slope_b:.3f}: difference {g['mean']:+.3f} "
                     f"[{g.lo:+.3f}, {g.hi:+.3f}] → {g.verdict}.")
display(Markdown("\n\n".join(lines)))
