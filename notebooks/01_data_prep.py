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
# # 01 · Data preparation: the evolving graphs and the image data sets
#
# This notebook describes every data set the workbook uses, before any model sees it.
#
# * **Evolving user-item graphs** (Backward Compatible Embeddings, Hu et al. 2022). Edges are sorted by time
#   and cut at edge fractions t = 0.5, 0.6, …, 1.0, giving versions k = 0..4. Version k trains on the edges up
#   to t_k and is evaluated on (t_k, t_{k+1}], with the official split rules for new users.
# * **Image data sets** (Forward Compatible Training, Ramanujan et al. 2022), each with an old/new class split:
#   the old model sees the first half of the classes.
#
# Outputs: `outputs/tables/01_dataset_stats.{csv,md}`, `outputs/tables/01_image_stats.{csv,md}` and
# `outputs/figures/01_*.{png,pdf}`. The notebook fails loudly if the train and evaluation edges of any
# version overlap.

# %% tags=["parameters"]
import os

# smoke | demo | paper
scale = os.environ.get("EMBCOMPAT_SCALE", "demo")
# graph data sets: registered names or interactions-csv:/abs/dir; None means the scale default
datasets = None
# image data sets: registered names or imagefolder:/abs/dir; None means the scale default
image_datasets = None
seed = 0

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from embcompat.config import get_scale
from embcompat.data import load_graph
from embcompat.data.catalog import load_many
from embcompat.data.splits import assert_no_leakage, version_splits
from embcompat.data.images import load_images, sample_grid
from embcompat.data.summary import image_stats_table, stats_table
from embcompat.data.plots import (plot_degree_distributions, plot_image_grid,
                                  plot_interactions_over_time, plot_rating_histograms)
from embcompat.params import as_list
from embcompat.report import regen_command, save_table, savefig, set_style, slug
from embcompat.utils import set_seed

cfg = get_scale(scale).data
set_seed(seed)
set_style()
# lists may arrive as strings ("[a, b]") from papermill -p
graph_names = as_list(datasets, "datasets", item_type=str) if datasets is not None else list(cfg.graph_datasets)
image_names = (as_list(image_datasets, "image_datasets", item_type=str, allow_empty=True)
               if image_datasets is not None else list(cfg.image_datasets))
print(f"scale={scale}; graph data sets: {graph_names}; image data sets: {image_names}")

# %% [markdown]
# ## Evolving graphs
# Data sets named explicitly must exist; those from the scale's default list are skipped when their files are absent.

# %%
graphs, skipped = load_many(graph_names, load_graph, strict=datasets is not None)
for name, why in skipped:
    print(f"skipped {name}: {why}")
assert graphs, "no graph data set could be loaded"

graphs_and_splits = []
for g in graphs:
    splits = version_splits(g, heldout_test=cfg.heldout_test, seed=seed)
    assert_no_leakage(g, splits)  # raises on any overlap of train and evaluation edges
    graphs_and_splits.append((g, splits))
print("no leakage between train and evaluation edges in", len(graphs), "data sets")

# %%
cmd = regen_command("01_data_prep", scale,
                    dict(datasets=datasets, image_datasets=image_datasets, seed=seed),
                    defaults={"seed": 0})
stats = stats_table(graphs_and_splits)
save_table(stats, "01_dataset_stats",
           caption=f"Table 2 analogue: data sets and their versions (scale={scale}). "
                   f"Regenerate with `{cmd}`.")
display(stats)

# %%
fig = plot_interactions_over_time(graphs_and_splits)
savefig(fig, "01_interactions_over_time")
plt.show()

# %%
fig = plot_degree_distributions(graphs)
savefig(fig, "01_degree_distributions")
plt.show()
fig = plot_rating_histograms(graphs)
savefig(fig, "01_rating_histograms")
plt.show()

# %% [markdown]
# ## Image data sets
# The old model trains on the first half of the classes, the new model on all of them.

# %%
image_sets, skipped_images = load_many(image_names, load_images, strict=image_datasets is not None)
for name, why in skipped_images:
    print(f"skipped {name}: {why}")

image_stats = image_stats_table(image_sets)
if len(image_stats):
    save_table(image_stats, "01_image_stats",
               caption=f"Image data sets (scale={scale}). Regenerate with `{cmd}`.")
display(image_stats)

# %%
for ds in image_sets:
    grid = sample_grid(ds, per_class=cfg.images_per_class, seed=seed)
    fig = plot_image_grid(grid, f"{ds.name}: {cfg.images_per_class} random training images per class",
                          ds.classes)
    savefig(fig, f"01_samples_{slug(ds.name)}")
    plt.show()
