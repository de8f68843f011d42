"""MovieLens latest-small (GroupLens, 2018) as an evolving user-movie graph.

Folder ``ml-latest-small/`` (mirror or cache): ``ratings.csv`` (``userId,movieId,rating,timestamp``)
and ``movies.csv`` (``movieId,title,genres``). Items are the rated movies; categories are the
``|``-separated genres, without ``(no genres listed)``, kept when on >= 5 rated movies (the paper's
Amazon rule; every genre of this release passes it). There is no brand: ``item_brand`` is all -1.

Download: the upstream zip (``ml-latest-small.zip``, no published checksum) is fetched once into the
cache folder and the two files are extracted from it and checked against their SHA-256.
"""
from __future__ import annotations

import shutil
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from embcompat.data.graph_cache import load_folder_source
from embcompat.data.graphs import InteractionGraph
from embcompat.data.resolve import RemoteFile, SourceSpec, verify_checksum
from embcompat.data.sources import build_graph
from embcompat.utils import atomic_write

NAME = "movielens-latest-small"
PROCESSING_VERSION = 1
MIN_ATTR_ITEMS = 5
NO_GENRE = "(no genres listed)"
ZIP_URL = "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip"
SPEC = SourceSpec(
    folder="ml-latest-small",
    files=(
        RemoteFile("ratings.csv", ZIP_URL,
                   "80da8b3393dae325bbba5a31f291a6ba55d8d4f4396de3c456f2c1635b1b70e8"),
        RemoteFile("movies.csv", ZIP_URL,
                   "c47b783f23eb304413307e1bb05335e427737da20ec8d3c0e96335567dd5f3dc"),
    ),
    how_to_get=f"unzip {ZIP_URL} (GroupLens; research use, see its README.txt) so that "
               "ml-latest-small/ratings.csv and movies.csv exist.",
)


def download_from_zip(url: str, dest: Path, sha256: str | None) -> None:
    """``resolve_files`` downloader: fetch the zip once beside ``dest``, extract ``dest.name``.

    The zip is kept as ``<folder>/ml-latest-small.zip``; the member ``ml-latest-small/<name>`` is
    written atomically to ``dest`` and then checked against ``sha256``.
    """
    dest = Path(dest)
    zpath = dest.parent / Path(url).name
    if not zpath.is_file():
        with urllib.request.urlopen(url, timeout=60) as r, atomic_write(zpath) as f:  # noqa: S310
            shutil.copyfileobj(r, f)
    with zipfile.ZipFile(zpath) as z:
        member = next((m for m in z.namelist() if m.endswith("/" + dest.name) or m == dest.name), None)
        if member is None:
            raise FileNotFoundError(f"{zpath} has no member named {dest.name}")
        with z.open(member) as src, atomic_write(dest) as f:
            shutil.copyfileobj(src, f)
    verify_checksum(dest, sha256)


def _read_csv(path: Path, columns: list[str], numeric: list[str]) -> pd.DataFrame:
    """Read a GroupLens CSV; a missing column or non-numeric value names the file and line."""
    try:
        df = pd.read_csv(path)
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise ValueError(f"{path}, line 1: missing column(s) {missing}; expected {columns}")
        if all(pd.api.types.is_numeric_dtype(df[c]) and not df[c].isna().any() for c in numeric):
            return df
        text = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.ParserError as err:
        raise ValueError(f"{path}: malformed CSV ({err})") from err
    for c in numeric:
        bad = pd.to_numeric(text[c], errors="coerce").isna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{path}, line {row + 2}: column '{c}' is not numeric ({text[c].iloc[row]!r})")
    raise ValueError(f"{path}: could not be read as numbers in {numeric}")


def parse(folder: Path, *, min_attr_items: int = MIN_ATTR_ITEMS, meta: dict | None = None) -> InteractionGraph:
    """Parse ``ratings.csv`` and ``movies.csv`` of ``folder``."""
    folder = Path(folder)
    r = _read_csv(folder / "ratings.csv", ["userId", "movieId", "rating", "timestamp"],
                  ["userId", "movieId", "rating", "timestamp"])
    m = _read_csv(folder / "movies.csv", ["movieId", "genres"], ["movieId"])
    g = m.assign(genre=m["genres"].str.split("|")).explode("genre")
    g = g[(g["genre"] != NO_GENRE) & (g["genre"] != "")]
    meta = dict(meta or {})
    meta.setdefault("notes", []).append(f"categories = genres without {NO_GENRE!r}; no brands")
    return build_graph(NAME, r["userId"].to_numpy(np.int64), r["movieId"].to_numpy(np.int64),
                       r["rating"].to_numpy(np.float32), r["timestamp"].to_numpy(np.int64),
                       category_items=g["movieId"].to_numpy(np.int64),
                       category_values=g["genre"].to_numpy(object),
                       min_attr_items=min_attr_items, dedup_categories=True, meta=meta)


def load(*, use_cache: bool = True) -> InteractionGraph:
    """Resolve (mirror -> cache -> download) and parse MovieLens latest-small, through the cache."""
    processing = {"version": PROCESSING_VERSION, "min_attr_items": MIN_ATTR_ITEMS}
    return load_folder_source(NAME, SPEC, parse, processing, use_cache=use_cache,
                              downloader=download_from_zip)
