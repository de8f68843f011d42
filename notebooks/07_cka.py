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
# Linear CKA (Kornblith et al. 2019) between the old model's features and each side-information on the gallery (test) images, the paper's measure of how *complementary* a side-info is (Table 6's CKA column), next to the compatibility it buys (new / h(old, ψ)). CKA of the zero vector is undefined (the paper prints 0.0). A heatmap shows CKA across all models' features.
#
# Reuses notebook 06's cached models (same config hashes): run 06 first to avoid training here. Outputs: `outputs/tables/07_cka`, `07_cka_matrix`, `outputs/figures/07_cka_heatmap`, `07_cka_vs_compatibility`.

# %% tags=["parameters"]
import os

# smoke | demo | paper
scale = os.environ.get("EMBCOMPAT_SCALE", "demo")
# cifar10 | cifar100 | fashion-mnist | imagefolder:/abs/dir; None means the scale default
dataset = None
# seeds every model (the alternate old models, plain and Mixup, use seed + 1000)
seed = 0
# auto | cpu | cuda | cuda:N | mps
device = "auto"
# side-info kinds: none, autoencoder, alt_old, mixup_old, simclr; None means the scale default
side_infos = None

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from embcompat.forward.notebook import start_experiment
from embcompat.report import regen_command, save_table, savefig

# validates every parameter; a bad value raises a ValueError naming the allowed ones
cfg, exp, seeds = start_experiment(scale, dataset=dataset, seed=seed, device=device,
                                   side_infos=side_infos)
d = exp.data

# %%
from embcompat.forward import cka_all_models, cka_side_info_table, cka_table, compatibility_table

cka = cka_table(cka_side_info_table(exp), compatibility_table(exp))
log = pd.DataFrame(exp.log)
print(f"{log.from_cache.sum()} of {len(log)} models loaded from the cache")
display(cka)

# %%
finite = cka.cka.dropna()
assert len(cka) == len(cfg.side_infos)
assert ((finite >= -1e-9) & (finite <= 1 + 1e-9)).all()
assert cka.loc[cka.side_info == "none", "cka"].isna().all()  # undefined for zeros
matrix = cka_all_models(exp)
assert (matrix.values.diagonal() == 1).all()
assert ((matrix - matrix.T).abs() < 1e-12).all().all()

# %%
cmd = regen_command("07_cka", cfg.name,
                    dict(dataset=dataset, seed=seed, side_infos=side_infos), defaults={"seed": 0})
where = f"{d.name}, {cfg.backbone}-{cfg.feature_dim}, scale={cfg.name}, {seeds}"
save_table(cka, "07_cka",
           caption=f"Table 6 analogue with CKA: linear CKA(old, side-info) on the test images "
                   f"and new/h(old, side-info) in % ({where}); CKA of the zero vector is "
                   f"undefined (empty). Regenerate with `{cmd}`.")
tidy = matrix.rename_axis("model_a").reset_index().melt(
    id_vars="model_a", var_name="model_b", value_name="cka")
save_table(tidy, "07_cka_matrix",
           caption=f"Linear CKA between all models' test features ({where}). "
                   f"Regenerate with `{cmd}`.")

# %%
from embcompat.forward.plots import plot_cka_heatmap, plot_cka_vs_compatibility

fig = plot_cka_heatmap(matrix)
savefig(fig, "07_cka_heatmap")
plt.show()
fig = plot_cka_vs_compatibility(cka)
savefig(fig, "07_cka_vs_compatibility")
plt.show()
