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
# # 08 · FCT: a sequence of model updates v1 → v2 → v3
#
# Paper Section 4.4 / Table 5. Version i has a backbone φ_i and a side-info model ψ_i trained on a growing prefix of the classes (`sequence_fractions` of the scale; v2 and v3 are notebook 06's old and new models, reused from the cache). An update transforms both: φ_{i+1} ← h_{i+1}(φ_i, ψ_i) and ψ_{i+1} ← g_{i+1}(φ_i, ψ_i). We compare (i) two hops h3(h2(φ1, ψ1), g2(φ1, ψ1)) with (ii) the direct h_{1→3}(φ1, ψ1), each with and without side-info.
#
# **Seeds.** One experiment per (data set, training seed), as in notebook 06: every φ_i, ψ_i, h and g retrains per seed. Tables give the mean over seeds ± the 95 % t half-width; two-hop vs direct is read from the paired difference (`08_paired`).
#
# Output: `outputs/tables/08_update_sequences` (per seed), `08_update_sequences_ci`, `08_paired`, `outputs/figures/08_update_sequences`; the full query-version × gallery-version matrix in `outputs/tables/08_compat_matrix.{csv,md}` (per seed), `08_compat_matrix_summary.{csv,md}` (intervals over seeds) and `outputs/figures/08_compat_matrix` (mean over seeds).

# %% tags=["parameters"]
import os

# smoke | demo | paper
scale = os.environ.get("EMBCOMPAT_SCALE", "demo")
# data sets, each run with every seed: cifar10, cifar100, fashion-mnist, imagefolder:/abs/dir;
# None means the scale's list (demo: cifar10 and fashion-mnist)
datasets = None
# training seeds; each retrains every model (alternate old models use seed + 1000);
# None means the scale's list (demo: 0-4)
seeds = None
# auto | cpu | cuda | cuda:N | mps
device = "auto"
# side-info kinds of the sequence (each also run without side-info): none, autoencoder,
# alt_old, mixup_old, simclr; None means the scale default (the paper's simclr)
side_infos = None
# experiments trained side by side in local processes; None: one per CPU core (1 on a GPU)
workers = None

# %%
import matplotlib.pyplot as plt
from IPython.display import display

from embcompat.executors import default_workers
from embcompat.forward.notebook import start_experiments
from embcompat.params import check_int
from embcompat.report import regen_command, save_table, savefig

# validates every parameter; a bad value raises a ValueError naming the allowed ones
cfgs, exps, seed_note = start_experiments(scale, datasets=datasets, seeds=seeds, device=device)
cfg = cfgs[0]
seq_kinds = side_infos  # None: the scale's sequence side-info
n_workers = default_workers(device) if workers is None else check_int(workers, "workers", minimum=1)

# %%
from embcompat.forward import sequence_table
from embcompat.forward.seeded import pretrain, stack

runs = pretrain(cfgs, "sequence", side_infos=seq_kinds, workers=n_workers)
seq = stack([sequence_table(e, seq_kinds) for e in exps])
print(f"{runs.trained.sum()} models trained in {runs.seconds.sum() / 60:.1f} worker-minutes")

# %%
kinds = [s for s in seq.side_info.unique() if s != "n/a"]
for (ds, sd), one in seq.groupby(["dataset", "seed"]):
    assert (one.kind == "reference").sum() == 3
    assert len(one) == 3 + 4 * len(kinds)
    for s in kinds:
        assert sorted(one[one.side_info == s].kind) == ["direct", "one-hop", "one-hop", "two-hop"]
assert (seq.top5 >= seq.top1).all()
assert seq[["top1", "top5", "mAP"]].apply(lambda c: c.between(0, 100)).all().all()
assert seq.groupby("dataset").classes.nunique().eq(1).all()

# %%
from embcompat.forward.seed_stats import ci_wide, paired_sequence, seed_ci

cmd = regen_command("08_update_sequences", cfg.name,
                    dict(datasets=datasets, seeds=seeds, side_infos=side_infos))
where = (f"{', '.join(seq.dataset.unique())}, classes per version "
         f"{', '.join(seq.groupby('dataset', sort=False).classes.first())}, {cfg.backbone}-"
         f"{cfg.feature_dim}, scale={cfg.name}, {seed_note}")
save_table(seq, "08_update_sequences",
           caption=f"Table 5 analogue: sequence of updates, per seed ({where}); query / gallery, "
                   f"%. Regenerate with `{cmd}`.")
seq_ci = seed_ci(seq, ["case", "kind", "side_info"])
save_table(seq_ci, "08_update_sequences_ci",
           caption=f"Table 5 analogue: mean over training seeds and 95 % t interval ({where}); %. "
                   f"Regenerate with `{cmd}`.")
display(ci_wide(seq_ci))
paired = paired_sequence(seq)
save_table(paired, "08_paired",
           caption=f"Sequence of updates, paired by seed: two-hop minus direct, and side-info minus "
                   f"none; mean, 95 % t interval, verdict (undecided when it covers 0) ({where}); "
                   f"points of %. Regenerate with `{cmd}`.")
display(paired)
from embcompat.forward.plots import plot_sequences

fig = plot_sequences(seq_ci)
savefig(fig, "08_update_sequences")
plt.show()

# %% [markdown]
# ## The full compatibility matrix: queries of version q against a gallery stored at g ≤ q
# Beyond Table 5's cases: every query version q against every gallery version g ≤ q, the gallery carried forward to q either one update at a time (`chain`: h_{g+1}, …, h_q with the side-info carried by the g's; for g = 1, q = 3 this is Table 5's two-hop) or in one step (`direct`: h_{g→q}(φ_g, ψ_g), which needs φ_g's features kept). The diagonal is φ_q/φ_q; the summary averages the off-diagonal cells (g < q) per seed, then gives the mean over seeds and its interval. Every transformation is one of the sequence's, reused from the cache.

# %%
from embcompat.forward.compat_matrix import fct_compat_matrix, fct_matrix_summary
from embcompat.matrix_plots import plot_fct_matrix

fmat = stack([fct_compat_matrix(e, seq_kinds) for e in exps])
diag = fmat[fmat.query_version == fmat.gallery_version]
ref = seq[seq.kind == "reference"].assign(query_version=lambda t: t.case.str[3].astype(int))
check = diag.merge(ref[["dataset", "seed", "query_version", "top1"]], on=["dataset", "seed", "query_version"])
assert len(check) == len(diag) and (check.top1_x == check.top1_y).all()
fsum = stack([fct_matrix_summary(g).assign(seed=sd) for (ds, sd), g in fmat.groupby(["dataset", "seed"], sort=False)])
fsum_ci = seed_ci(fsum, ["side_info", "strategy"], metrics=["mean_top1", "mean_mAP", "mean_top1_gap"])
display(ci_wide(fsum_ci))
fcaption = (f"Full FCT compatibility matrix ({where}): queries from version q, gallery stored "
            f"at g <= q and carried to q one update at a time (chain) or directly; %; *_gap: "
            f"the cell minus phi_q/phi_q. Regenerate with `{cmd}`.")
save_table(fmat, "08_compat_matrix", caption=fcaption + " Per seed.")
save_table(fsum_ci, "08_compat_matrix_summary",
           caption=fcaption + " Off-diagonal means per seed, then their mean over seeds and 95 % t interval.")
mean = fmat.groupby(["dataset", "side_info", "strategy", "query_version", "gallery_version"],
                    sort=False)[["top1", "mAP"]].mean().reset_index()
fig = plot_fct_matrix(mean)
savefig(fig, "08_compat_matrix")
plt.show()
