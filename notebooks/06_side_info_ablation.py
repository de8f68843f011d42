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
# # 06 · FCT: compatibility cases and the side-information ablation
#
# Forward Compatible Training (Ramanujan et al., CVPR 2022). The **old** model trains on the first half of the classes, the **new** model on all of them, independently. FCT stores side-information ψ(x) with every old gallery embedding and learns a transformation h(φ_old, ψ) → φ_new (MSE on the new training set, Adam, BatchNorm frozen for the second half). The BCT baseline instead trains the new model through the old model's frozen classifier.
#
# Retrieval: the held-out test images are query and gallery (self-match excluded), L2 distance, CMC top-1/top-5 and mAP in percent; cases are written *query / gallery*.
#
# Outputs: `outputs/tables/06_retrieval` (every row), `06_table1` (Table 1 analogue), `06_table6` (Table 6 analogue) and `outputs/figures/06_side_info_ablation`. Every model is cached by config hash, so notebooks 07 and 08 reuse them.

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
from IPython.display import Markdown, display

from embcompat.forward.notebook import start_experiment
from embcompat.report import regen_command, save_table, savefig

# validates every parameter; a bad value raises a ValueError naming the allowed ones
cfg, exp, seeds = start_experiment(scale, dataset=dataset, seed=seed, device=device,
                                   side_infos=side_infos)
d = exp.data

# %% [markdown]
# ## Train (or load) every model and evaluate all cases
# Old, new, BCT, the side-info models (on the old data only) and one h per side-info. One progress bar per model.

# %%
from embcompat.forward import compatibility_table

table = compatibility_table(exp)
log = pd.DataFrame(exp.log)
print(f"{(~log.from_cache).sum()} models trained, {log.from_cache.sum()} loaded from "
      f"the cache, {log.seconds.sum():.0f} s")
display(table)

# %%
n_si = len(cfg.side_infos)
assert len(table) == 5 + 3 * n_si, len(table)
assert not table.duplicated(["method", "case", "side_info"]).any()
assert table[["top1", "top5", "mAP"]].apply(lambda c: c.between(0, 100)).all().all()
assert (table.top5 >= table.top1).all()


def row(method, case, side_info="n/a"):
    return table[(table.method == method) & (table.case == case)
                 & (table.side_info == side_info)].iloc[0]


# independently trained models are not compatible: new/old is far below new/new
assert row("Independent", "new/old").top1 < row("Independent", "new/new").top1
assert row("Independent", "new/old").mAP < row("Independent", "new/new").mAP
# FCT does not touch the new model
fct_new = table[(table.method == "FCT") & (table.case == "new/new")]
assert (fct_new.top1 == row("Independent", "new/new").top1).all()
f_old = exp.features(exp.named("old"))
assert f_old.test.shape == (len(d.test_y), cfg.feature_dim)
assert f_old.train.shape == (2, len(d.train_y), cfg.feature_dim)

# %% [markdown]
# ## Tables
# Table 1 uses the SimCLR side-info when it was run (the paper's choice), else the last side-info of the list.

# %%
from embcompat.forward import headline_side_info, table1, table6

cmd = regen_command("06_side_info_ablation", cfg.name,
                    dict(dataset=dataset, seed=seed, side_infos=side_infos), defaults={"seed": 0})
where = f"{d.name}, {cfg.backbone}-{cfg.feature_dim}, scale={cfg.name}, {seeds}"
save_table(table, "06_retrieval",
           caption=f"FCT retrieval, every case ({where}); top1/top5/mAP in %. "
                   f"Regenerate with `{cmd}`.")
headline = headline_side_info(cfg.side_infos)
t1 = table1(table, headline)
save_table(t1, "06_table1",
           caption=f"Table 1 analogue: Independent / BCT / FCT (side-info {headline}) "
                   f"({where}); %. Regenerate with `{cmd}`.")
t6 = table6(table)
save_table(t6, "06_table6",
           caption=f"Table 6 analogue: new / h(old, side-info) per side-info ({where}); %. "
                   f"Regenerate with `{cmd}`.")
display(Markdown("**Table 1 analogue**"), t1, Markdown("**Table 6 analogue**"), t6)

# %%
from embcompat.forward.plots import plot_compatibility

fig = plot_compatibility(table)
savefig(fig, "06_side_info_ablation")
plt.show()
