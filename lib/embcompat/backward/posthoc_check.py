"""Does our Post-Lin-SLoss (Adam, :mod:`.posthoc`) reach the least-squares optimum?

Post-LS (:mod:`.closed_form`) minimises the very objective Post-Lin-SLoss is selected on, in
closed form, on the same data: Non-BC's ``z_k = M_k(G_k)`` and ``z_{k-1} = M_{k-1}(G_k)``. So,
per version, the selection MSE of Post-Lin-SLoss's selected ``B_k`` divided by Post-LS's is ``>= 1``
(up to float tolerance) when Post-LS is unregularised (``posthoc_ridge = 0``, the default), and
how far above 1 it is says how far the gradient fit stopped from the optimum.
"""
from __future__ import annotations

import pandas as pd
import torch

from embcompat.backward.closed_form import selection_mse
from embcompat.backward.epoch import embed
from embcompat.models.gnn import PinSAGE, VersionGraph
from embcompat.utils import resolve_device

__all__ = ["posthoc_selection_data", "posthoc_optimum"]


@torch.no_grad()
def posthoc_selection_data(exp, k: int) -> tuple[tuple, tuple]:
    """The data a post-hoc ``B_k`` is fitted and selected on, recomputed from Non-BC's models.

    Args:
        exp: a :class:`~embcompat.backward.experiment.BCExperiment` (or anything with ``graph``,
            ``splits``, ``config`` and ``results["Non-BC"]``).
        k: the version, ``>= 1``.

    Returns:
        ``((z_k users, z_k items), (M_{k-1}(G_k) users, items))``, on the CPU.
    """
    nonbc = exp.results["Non-BC"]
    if not 1 <= k < len(nonbc):
        raise ValueError(f"k must be in 1..{len(nonbc) - 1}, got {k}")
    g, s, cfg = exp.graph, exp.splits[k], exp.config
    device = resolve_device(cfg.device)
    vg = VersionGraph.build(g.user[s.train_idx], g.item[s.train_idx], s.num_users, s.num_items,
                            g.item_brand, g.item_category_ptr, g.item_category, device=device)
    prev = PinSAGE(g.num_brands, g.num_categories, cfg.dims[k - 1], cfg.layers[k - 1]).to(device)
    prev.load_state_dict(nonbc[k - 1].state)
    zu_old, zi_old = embed(prev, vg)
    return (nonbc[k].z_user, nonbc[k].z_item), (zu_old.cpu(), zi_old.cpu())


def posthoc_optimum(exp, gradient: str = "Post-Lin-SLoss", closed: str = "Post-LS") -> pd.DataFrame:
    """Per version ``k >= 1``: the selection MSE of ``gradient``'s and ``closed``'s ``B_k`` on the
    same recomputed data (:func:`posthoc_selection_data`) and their ratio.

    Args:
        exp: as :func:`posthoc_selection_data`, with ``results`` holding both methods.
        gradient, closed: the two methods' names.

    Returns:
        Columns ``dataset, version, d_k, d_k-1, mse_<gradient>, mse_<closed>, ratio``
        (``mse_<gradient> / mse_<closed>``) and ``ridge`` (the config's ``posthoc_ridge``).

    Raises:
        ValueError: a method missing from ``exp.results``.
    """
    missing = [m for m in ("Non-BC", gradient, closed) if m not in exp.results]
    if missing:
        raise ValueError(f"posthoc_optimum needs {missing} in exp.results "
                         f"(have {sorted(exp.results)})")
    rows = []
    for k in range(1, len(exp.results["Non-BC"])):
        new, old = posthoc_selection_data(exp, k)
        a = selection_mse(exp.results[gradient][k].B, new, old)
        b = selection_mse(exp.results[closed][k].B, new, old)
        rows.append({"dataset": exp.graph.name, "version": k, "d_k": int(new[0].shape[1]),
                     "d_k-1": int(old[0].shape[1]), f"mse_{gradient}": a, f"mse_{closed}": b,
                     "ratio": a / b if b > 0 else float("nan"),
                     "ridge": float(exp.config.posthoc_ridge)})
    return pd.DataFrame(rows)
