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
# Output: `outputs/tables/08_update_sequences`, `outputs/figures/08_update_sequences`; the full query-version × gallery-version matrix in `outputs/tables/08_compat_matrix.{csv,md}`, `08_compat_matrix_summary.{csv,md}` and `outputs/figures/08_compat_matrix`.

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
# side-info kinds of the sequence (each also run without side-info): none, autoencoder,
# alt_old, mixup_old, simclr; None means the scale default (the paper's simclr)
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
from embcompat.forward import sequence_table

seq = sequence_table(exp, cfg.side_infos if side_infos is not None else None)
log = pd.DataFrame(exp.log)
print(f"{(~log.from_cache).sum()} models trained, {log.from_cache.sum()} loaded from "
      f"the cache")
display(seq)

# %%
kinds = [s for s in seq.side_info.unique() if s != "n/a"]
assert (seq.kind == "reference").sum() == 3
assert len(seq) == 3 + 4 * len(kinds)
for s in kinds:
    assert sorted(seq[seq.side_info == s].kind) == ["direct", "one-hop", "one-hop", "two-hop"]
assert (seq.top5 >= seq.top1).all()
assert seq[["top1", "top5", "mAP"]].apply(lambda c: c.between(0, 100)).all().all()
assert seq.classes.nunique() == 1

# %%
cmd = regen_command("08_update_sequences", cfg.name,
                    dict(dataset=dataset, seed=seed, side_infos=side_infos), defaults={"seed": 0})
where = (f"{d.name}, classes per version {seq.classes.iloc[0]}, {cfg.backbone}-"
         f"{cfg.feature_dim}, scale={cfg.name}, {seeds}")
save_table(seq, "08_update_sequences",
           caption=f"Table 5 analogue: sequence of updates ({where}); query / gallery, %. "
                   f"Regenerate with `{cmd}`.")
from embcompat.forward.plots import plot_sequences

fig = plot_sequences(seq)
savefig(fig, "08_update_sequences")
plt.show()

# %% [markdown]
# ## The full compatibility matrix: queries of version q against a gallery stored at g ≤ q
# Beyond Table 5's cases: every query version q against every gallery version g ≤ q, the gallery carried forward to q either one update at a time (`chain`: h_{g+1}, …, h_q with the side-info carried by the g's; for g = 1, q = 3 this is Table 5's two-hop) or in one step (`direct`: h_{g→q}(φ_g, ψ_g), which needs φ_g's features kept). The diagonal is φ_q/φ_q; the summary averages the off-diagonal cells (g < q) and names the worst. Every transformation is one of the sequence's, reused from the cache.

# %%
from embcompat.forward.compat_matrix import fct_compat_matrix, fct_matrix_summary
from embcompat.matrix_plots import plot_fct_matrix

fmat = fct_compat_matrix(exp, cfg.side_infos if side_infos is not None else None)
ref = seq[seq.kind == "reference"].set_index("case").top1
diag = fmat[fmat.query_version == fmat.gallery_version]
assert all(diag.top1 == ref.loc[[f"phi{q}/phi{q}" for q in diag.query_version]].to_numpy())
fsum = fct_matrix_summary(fmat)
display(fsum)
fcaption = (f"Full FCT compatibility matrix ({where}): queries from version q, gallery stored "
            f"at g <= q and carried to q one update at a time (chain) or directly; %; *_gap: "
            f"the cell minus phi_q/phi_q. Regenerate with `{cmd}`.")
save_table(fmat, "08_compat_matrix", caption=fcaption)
save_table(fsum, "08_compat_matrix_summary", caption=fcaption)
fig = plot_fct_matrix(fmat)
savefig(fig, "08_compat_matrix")
plt.show()
