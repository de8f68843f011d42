"""Amazon 2014 reviews as published in HIN-Datasets-for-Recommendation-and-Network-Embedding.

Folder ``amazon-2014-hin/`` (mirror or cache):

* ``user_item.dat``: tab-separated ``user item rating unix_time`` (integer ids of the source);
* ``item_brand.dat``: ``item,brand`` (one brand per item);
* ``item_category.dat``: ``item,category`` (one row per label, multi-label).

Processing mirrors the paper's Amazon 2018 rules: no filtering of edges, stable sort by time,
numbering by first appearance, and brands / categories kept only when they occur on >= 5 kept items
(the HIN files are already filtered by their publisher, so the cut changes little). Repeated
``(item, category)`` rows are dropped; an item with two brand rows is an error.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from embcompat.data.graph_cache import load_folder_source
from embcompat.data.graphs import InteractionGraph
from embcompat.data.resolve import RemoteFile, SourceSpec
from embcompat.data.sources import build_graph

NAME = "amazon-2014-hin"
PROCESSING_VERSION = 1
MIN_ATTR_ITEMS = 5
_BASE = ("https://raw.githubusercontent.com/librahu/"
         "HIN-Datasets-for-Recommendation-and-Network-Embedding/master/Amazon/")
SPEC = SourceSpec(
    folder="amazon-2014-hin",
    files=(
        RemoteFile("user_item.dat", _BASE + "user_item.dat",
                   "d14fcc5b04f0d701d326149bc4f18d471156f189ff1f4d0fefa14511c4cb42c8"),
        RemoteFile("item_brand.dat", _BASE + "item_brand.dat",
                   "65f4eaddff343a365ad474a6841bbaf541af1b2d96081c4adaeeeb8a7a8a313b"),
        RemoteFile("item_category.dat", _BASE + "item_category.dat",
                   "17b9158f777fbb0b8b035a9b675c2f7d2e9f7ad81f34919d3e6db4289c9dc6bf"),
    ),
    how_to_get="the 'Amazon' folder of github.com/librahu/HIN-Datasets-for-Recommendation-and-"
               "Network-Embedding (user_item.dat, item_brand.dat, item_category.dat).",
)


def _read_int_table(path: Path, sep: str, names: list[str]) -> pd.DataFrame:
    """Read an all-integer table; a malformed line raises ValueError naming file and line.

    Fast path: pandas' C parser infers int64 columns. Only if that fails is the file re-read as
    text to find the first bad line.
    """
    kw = dict(sep=sep, header=None, names=names, skip_blank_lines=False, engine="c")
    try:
        df = pd.read_csv(path, **kw)
        if all(pd.api.types.is_integer_dtype(df[c]) for c in names):
            return df
        df = pd.read_csv(path, dtype=str, keep_default_na=False, **kw)
    except pd.errors.ParserError as err:  # too many fields on a line; pandas names the line
        raise ValueError(f"{path}: malformed table ({err})") from err
    bad = np.zeros(len(df), dtype=bool)
    for c in names:
        num = pd.to_numeric(df[c], errors="coerce")
        bad |= (num.isna() | (num != np.floor(num))).to_numpy()
    line = int(np.flatnonzero(bad)[0]) + 1 if bad.any() else "?"
    raise ValueError(f"{path}, line {line}: expected {len(names)} integer fields "
                     f"({', '.join(names)}) separated by {sep!r}")


def parse(folder: Path, *, min_attr_items: int = MIN_ATTR_ITEMS, meta: dict | None = None) -> InteractionGraph:
    """Parse the three files of ``folder`` into an :class:`InteractionGraph`."""
    folder = Path(folder)
    ui = _read_int_table(folder / "user_item.dat", "\t", ["user", "item", "rating", "time"])
    br = _read_int_table(folder / "item_brand.dat", ",", ["item", "brand"])
    ca = _read_int_table(folder / "item_category.dat", ",", ["item", "category"])
    br = br.drop_duplicates()
    meta = dict(meta or {})
    meta.setdefault("notes", []).append("HIN ids kept as raw keys; repeated (item, category) rows dropped")
    return build_graph(NAME, ui["user"].to_numpy(np.int64), ui["item"].to_numpy(np.int64),
                       ui["rating"].to_numpy(np.float32), ui["time"].to_numpy(np.int64),
                       brand_items=br["item"].to_numpy(np.int64), brand_values=br["brand"].to_numpy(np.int64),
                       category_items=ca["item"].to_numpy(np.int64),
                       category_values=ca["category"].to_numpy(np.int64),
                       min_attr_items=min_attr_items, dedup_categories=True, meta=meta)


def load(*, use_cache: bool = True) -> InteractionGraph:
    """Resolve (mirror -> cache -> download) and parse ``amazon-2014-hin``, through the graph cache."""
    processing = {"version": PROCESSING_VERSION, "min_attr_items": MIN_ATTR_ITEMS}
    return load_folder_source(NAME, SPEC, parse, processing, use_cache=use_cache)
