"""Raw sources of evolving user-item graphs, and the one builder they all share.

Every source parses its raw files into flat arrays (raw user / item keys, ratings, timestamps, item
brand and category pairs) and hands them to :func:`build_graph`, which applies the rules of the
official bc-emb preprocessing (``dataset_preprocessing/amazon/process.py``) once, for every source:

* edges sorted by time with a **stable** sort (the official code's ``np.argsort`` is unstable);
* users and items numbered by first appearance in that order;
* an attribute value (brand, category) is kept if it occurs on at least ``min_attr_items`` kept items
  (the paper's threshold is 5); ids are given by decreasing count, ties broken by first occurrence in
  item-id order (what ``Counter.most_common`` does in the official code).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from embcompat.data.graphs import InteractionGraph

__all__ = ["build_graph", "frequency_vocab"]


def frequency_vocab(values: np.ndarray, min_count: int) -> tuple[np.ndarray, list]:
    """Ids for values occurring ``>= min_count`` times; ``-1`` for the others.

    Args:
        values: ``(n,)`` hashable values, in the order that breaks count ties (first occurrence).
        min_count: the frequency threshold.

    Returns:
        ``ids``: ``(n,)`` int64 new ids (``-1`` = dropped), ordered by decreasing count then first
        occurrence; and ``names``: the kept values, ``names[id]``.
    """
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), sort=False)
    counts = np.bincount(codes, minlength=len(uniques)) if len(codes) else np.zeros(0, np.int64)
    order = np.argsort(-counts, kind="stable")          # ties keep first-occurrence order
    order = order[counts[order] >= min_count]
    remap = np.full(len(uniques), -1, dtype=np.int64)
    remap[order] = np.arange(len(order))
    return remap[codes] if len(codes) else np.zeros(0, np.int64), [uniques[i] for i in order]


def build_graph(name: str, user_keys, item_keys, rating, time, *,
                brand_items=None, brand_values=None, category_items=None, category_values=None,
                min_attr_items: int = 5, dedup_categories: bool = False,
                meta: dict | None = None) -> InteractionGraph:
    """Turn raw edge arrays and item attributes into an :class:`InteractionGraph`.

    Args:
        name: data set name.
        user_keys: ``(E,)`` raw user keys (any hashable), in raw file order.
        item_keys: ``(E,)`` raw item keys.
        rating: ``(E,)`` ratings.
        time: ``(E,)`` integer timestamps.
        brand_items: ``(B,)`` raw item keys with a brand (at most one row per item; the caller
            resolves duplicates). Items not among the edges are ignored.
        brand_values: ``(B,)`` their brands.
        category_items: ``(C,)`` raw item keys, one row per (item, category) label, in the item's
            list order.
        category_values: ``(C,)`` their categories.
        min_attr_items: keep a brand / category only if it occurs on at least this many kept items.
            Counts are over (item, value) rows, as in the official code.
        dedup_categories: drop repeated (item, category) rows first (the official code does not).
        meta: provenance, stored in ``graph.meta`` with the builder's notes added.

    Returns:
        The graph with ``meta['brand_names']`` / ``meta['category_names']`` listing the kept values.
    """
    user_keys, item_keys = np.asarray(user_keys), np.asarray(item_keys)
    time = np.asarray(time, dtype=np.int64)
    rating = np.asarray(rating, dtype=np.float32)
    order = np.argsort(time, kind="stable")
    ucode, _ = pd.factorize(pd.Series(user_keys[order], dtype=object), sort=False)
    icode, item_index = pd.factorize(pd.Series(item_keys[order], dtype=object), sort=False)
    num_items = len(item_index)
    item_index = pd.Index(item_index)

    item_brand = np.full(num_items, -1, dtype=np.int64)
    brand_names: list = []
    if brand_items is not None and len(brand_items):
        pos = item_index.get_indexer(pd.Series(np.asarray(brand_items), dtype=object))
        vals = np.asarray(brand_values, dtype=object)[pos >= 0]
        pos = pos[pos >= 0]
        if np.unique(pos).size != pos.size:
            raise ValueError(f"{name}: an item has more than one brand row")
        per_item = np.full(num_items, None, dtype=object)
        per_item[pos] = vals
        has = np.flatnonzero(pd.notna(per_item))
        ids, brand_names = frequency_vocab(per_item[has], min_attr_items)   # item-id order
        item_brand[has] = ids

    ptr = np.zeros(num_items + 1, dtype=np.int64)
    cats = np.zeros(0, dtype=np.int64)
    cat_names: list = []
    if category_items is not None and len(category_items):
        pos = item_index.get_indexer(pd.Series(np.asarray(category_items), dtype=object))
        vals = np.asarray(category_values, dtype=object)[pos >= 0]
        pos = pos[pos >= 0]
        if dedup_categories:
            keep = ~pd.DataFrame({"p": pos, "v": vals}).duplicated().to_numpy()
            pos, vals = pos[keep], vals[keep]
        by_item = np.argsort(pos, kind="stable")      # item-id order, list order within an item
        pos, vals = pos[by_item], vals[by_item]
        ids, cat_names = frequency_vocab(vals, min_attr_items)
        pos, cats = pos[ids >= 0], ids[ids >= 0]
        ptr[1:] = np.cumsum(np.bincount(pos, minlength=num_items))

    meta = dict(meta or {})
    meta.setdefault("notes", [])
    meta["notes"] = list(meta["notes"]) + [
        "edges sorted by time with a stable sort; users/items numbered by first appearance",
        f"brands/categories kept if on >= {min_attr_items} kept items (counted over item rows)",
    ]
    meta["brand_names"] = [str(b) for b in brand_names]
    meta["category_names"] = [str(c) for c in cat_names]
    return InteractionGraph(
        name=name, user=torch.from_numpy(ucode.astype(np.int64)),
        item=torch.from_numpy(icode.astype(np.int64)), rating=torch.from_numpy(rating[order]),
        time=torch.from_numpy(time[order]), num_users=int(ucode.max()) + 1 if len(ucode) else 0,
        num_items=num_items, item_brand=torch.from_numpy(item_brand), num_brands=len(brand_names),
        item_category_ptr=torch.from_numpy(ptr), item_category=torch.from_numpy(cats),
        num_categories=len(cat_names), meta=meta)
