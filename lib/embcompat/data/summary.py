"""Statistics of the data sets: the BC paper's Table 2 plus the size of every version of each
evolving graph, and one row per image data set."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd
import torch

from embcompat.data.graphs import InteractionGraph
from embcompat.data.splits import VersionSplit

if TYPE_CHECKING:
    from embcompat.data.images import ImageDataset

IMAGE_STATS_COLUMNS = ("dataset", "classes", "train", "test", "channels", "size",
                       "old_classes", "new_classes")


def graph_row(graph: InteractionGraph) -> dict:
    """One Table 2 row: users, items, interactions, brands, categories, time and rating ranges."""
    return {
        "dataset": graph.name, "version": "all",
        "users": graph.num_users, "items": graph.num_items,
        "interactions": int(graph.user.numel()),
        "brands": graph.num_brands, "categories": graph.num_categories,
        "rating_min": float(graph.rating.min()), "rating_max": float(graph.rating.max()),
        **_time_range(graph),
    }


def _time_range(graph: InteractionGraph) -> dict:
    lo, hi = int(graph.time.min()), int(graph.time.max())
    if is_calendar_time(graph):
        return {"first": as_date(lo).date().isoformat(), "last": as_date(hi).date().isoformat()}
    return {"first": str(lo), "last": str(hi)}


def version_rows(graph: InteractionGraph, splits: Sequence[VersionSplit]) -> list[dict]:
    """Per version k: nodes present at t_{k+1}, and the train / evaluation (/val/test) edge counts."""
    rows = []
    for s in splits:
        train_users = torch.unique(graph.user[s.train_idx])
        eval_users = torch.unique(graph.user[s.eval_idx])
        rows.append({
            "dataset": graph.name, "version": str(s.k),
            "t_train": s.t_train, "t_eval": s.t_eval,
            "users": s.num_users, "items": s.num_items,
            "train_edges": int(s.train_idx.numel()), "eval_edges": int(s.eval_idx.numel()),
            "val_edges": int(s.val_idx.numel()) if s.val_idx is not None else None,
            "test_edges": int(s.test_idx.numel()) if s.test_idx is not None else None,
            "train_users": int(train_users.numel()), "eval_users": int(eval_users.numel()),
        })
    return rows


def stats_table(graphs_and_splits: Sequence[tuple[InteractionGraph, Sequence[VersionSplit]]]
                ) -> pd.DataFrame:
    """The whole-data-set row followed by one row per version, for every data set."""
    rows: list[dict] = []
    for graph, splits in graphs_and_splits:
        rows.append(graph_row(graph))
        rows.extend(version_rows(graph, splits))
    cols = ["dataset", "version", "users", "items", "interactions", "brands", "categories",
            "train_edges", "eval_edges", "val_edges", "test_edges", "train_users", "eval_users",
            "t_train", "t_eval", "rating_min", "rating_max", "first", "last"]
    df = pd.DataFrame(rows)
    return df[[c for c in cols if c in df.columns]].convert_dtypes()


def image_stats_table(image_sets: Sequence["ImageDataset"]) -> pd.DataFrame:
    """One row per image data set: classes, train/test sizes, channels, ``HxW`` and the sizes of
    the old/new class split the FCT models train on (:meth:`ImageDataset.old_new_split`).

    Columns are :data:`IMAGE_STATS_COLUMNS`, also when ``image_sets`` is empty.
    """
    rows = []
    for ds in image_sets:
        old, new = ds.old_new_split()
        rows.append({"dataset": ds.name, "classes": ds.num_classes, "train": len(ds.train_y),
                     "test": len(ds.test_y), "channels": ds.channels,
                     "size": "x".join(map(str, ds.image_size)),
                     "old_classes": len(old), "new_classes": len(new)})
    return pd.DataFrame(rows, columns=list(IMAGE_STATS_COLUMNS))


def degrees(graph: InteractionGraph) -> tuple[torch.Tensor, torch.Tensor]:
    """User and item degrees (interaction counts): ``(num_users,)``, ``(num_items,)``."""
    return (torch.bincount(graph.user, minlength=graph.num_users),
            torch.bincount(graph.item, minlength=graph.num_items))


def cut_times(graph: InteractionGraph, splits: Sequence[VersionSplit]) -> list[int]:
    """The timestamp at each version cut t_k: the time of the last edge whose fraction is <= t_k."""
    frac = graph.edge_fraction()
    cuts = sorted({s.t_train for s in splits} | {s.t_eval for s in splits})
    return [int(graph.time[max(0, int(np.searchsorted(frac, t, side="right")) - 1)]) for t in cuts]


def as_date(t: int) -> datetime:
    """Timestamps are unix seconds, or YYYYMMDD integers (Amazon 2018's day resolution)."""
    if 19000101 <= t <= 21001231:
        return datetime.strptime(str(t), "%Y%m%d").replace(tzinfo=timezone.utc)
    return datetime.fromtimestamp(t, tz=timezone.utc)


def is_calendar_time(graph: InteractionGraph) -> bool:
    """Whether the graph's timestamps look like dates (YYYYMMDD or unix seconds after 1973)."""
    lo, hi = int(graph.time.min()), int(graph.time.max())
    return (19000101 <= lo and hi <= 21001231) or lo > 10**8
