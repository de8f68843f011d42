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
# # 07 · FCT: CKA between the old model and the side-information
#
# Linear CKA (Kornblith et al. 2019) between the old model's features and each side-information on the gallery (test) images, the paper's measure of how *complementary* a side-info is (Table 6's CKA column), next to the compatibility it buys (new / h(old, ψ)). CKA of the zero vector is undefined (the paper prints 0.0). A heatmap shows CKA across all models' features (mean over seeds).
#
# **Seeds.** One experiment per (data set, training seed), as in notebook 06; CKA and new/h are given as the mean over seeds ± the 95 % t half-width. The paper's reading, "a less similar (lower-CKA) side-info helps more", is tested as the Pearson correlation between CKA and the gain over no side-info across side-info × seed points, with a Fisher-z interval.
#
# Reuses notebook 06's cached models (same config hashes): run 06 first to avoid training here. Outputs: `outputs/tables/07_cka` (per seed), `07_cka_ci`, `07_cka_gain` (the points and the correlation, for top-1 and mAP), `07_cka_matrix`, `outputs/figures/07_cka_heatmap`, `07_cka_vs_compatibility` (top-1) and `07_cka_vs_compatibility_mAP`.

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
# side-info kinds: none, autoencoder, alt_old, mixup_old, simclr, simclr_all; None means all
side_infos = None
# experiments trained side by side in local processes (when 06 has not run); None: one per core
workers = None

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from embcompat.executors import default_workers
from embcompat.forward.notebook import start_experiments
from embcompat.params import check_int
from embcompat.report import regen_command, save_table, savefig

# validates every parameter; a bad value raises a ValueError naming the allowed ones
cfgs, exps, seed_note = start_experiments(scale, datasets=datasets, seeds=seeds, device=device,
                                          side_infos=side_infos)
cfg = cfgs[0]
n_workers = default_workers(device) if workers is None else check_int(workers, "workers", minimum=1)

# %%
from embcompat.forward import cka_all_models, cka_side_info_table, cka_table, compatibility_table
from embcompat.forward.seeded import pretrain, stack

runs = pretrain(cfgs, "compat", workers=n_workers)
compat = stack([compatibility_table(e) for e in exps])
cka = stack([cka_table(cka_side_info_table(e), compat[(compat.dataset == e.data.name)
                                                       & (compat.seed == e.scale.seed)])
             for e in exps])
print(f"{runs.trained.sum()} models trained here (0 when notebook 06 ran first)")
display(cka)

# %%
finite = cka.cka.dropna()
assert len(cka) == len(cfg.side_infos) * len(cfgs)
assert ((finite >= -1e-9) & (finite <= 1 + 1e-9)).all()
assert cka.loc[cka.side_info == "none", "cka"].isna().all()  # undefined for zeros
matrices = {}
for ds in dict.fromkeys(c.dataset for c in cfgs):
    ms = [cka_all_models(e) for e in exps if e.scale.dataset == ds]
    for m in ms:
        assert (m.values.diagonal() == 1).all()
        assert ((m - m.T).abs() < 1e-12).all().all()
    matrices[exps[[e.scale.dataset for e in exps].index(ds)].data.name] = sum(ms) / len(ms)

# %% [markdown]
# ## CKA and compatibility with 95 % intervals; does lower CKA go with a larger gain?

# %%
from embcompat.forward.seed_stats import ci_wide, cka_gain_correlations, cka_gain_points, seed_ci

cmd = regen_command("07_cka", cfg.name, dict(datasets=datasets, seeds=seeds, side_infos=side_infos))
where = f"{', '.join(matrices)}, {cfg.backbone}-{cfg.feature_dim}, scale={cfg.name}, {seed_note}"
save_table(cka, "07_cka",
           caption=f"Table 6 analogue with CKA, per seed: linear CKA(old, side-info) on the test "
                   f"images and new/h(old, side-info) in % ({where}); CKA of the zero vector is "
                   f"undefined (empty). Regenerate with `{cmd}`.")
cka_ci = seed_ci(cka[cka.side_info != "none"], ["side_info"], metrics=["cka", "top1"])
save_table(cka_ci, "07_cka_ci",
           caption=f"CKA(old, side-info) and new/h top-1 (%): mean over training seeds and 95 % t "
                   f"interval ({where}). Regenerate with `{cmd}`.")
display(ci_wide(cka_ci, digits=3))
# top-1 is the paper's metric; mAP (over the whole gallery) is far less noisy at our gallery size
points = stack([cka_gain_points(cka, compat, metric=m).assign(metric=m) for m in ("top1", "mAP")])
corr = cka_gain_correlations(points)
save_table(pd.concat([points.assign(kind="point"), corr.assign(kind="pearson r")],
                     ignore_index=True), "07_cka_gain",
           caption=f"CKA(old, side-info) vs the gain of new/h over no side-info (points of %, "
                   f"top-1 and mAP), one point per side-info and seed, and the Pearson r over them "
                   f"with its 95 % Fisher-z interval (points of one seed share its old model: "
                   f"approximate) ({where}). Regenerate with `{cmd}`.")
display(Markdown("**Pearson r(CKA, gain over none)**"), corr)
for r in corr.itertuples():
    print(f"- {r.metric}, {r.dataset}: r = {r.r:+.2f} [{r.lo:+.2f}, {r.hi:+.2f}] over {r.n} "
          f"points -> {r.verdict}")
tidy = stack([m.rename_axis("model_a").reset_index().melt(
    id_vars="model_a", var_name="model_b", value_name="cka").assign(dataset=ds)
    for ds, m in matrices.items()])
save_table(tidy, "07_cka_matrix",
           caption=f"Linear CKA between all models' test features, mean over seeds ({where}). "
                   f"Regenerate with `{cmd}`.")

# %%
from embcompat.forward.plots import plot_cka_heatmap, plot_cka_vs_gain

fig = plot_cka_heatmap(matrices)
savefig(fig, "07_cka_heatmap")
plt.show()
for m, name in (("top1", "07_cka_vs_compatibility"), ("mAP", "07_cka_vs_compatibility_mAP")):
    fig = plot_cka_vs_gain(points[points.metric == m], metric=m)
    savefig(fig, name)
    plt.show()
