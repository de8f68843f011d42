"""The paper's data: Amazon review data, 2018 release (Ni, Li, McAuley), one category.

Folder ``amazon2018/`` (mirror or cache) holding ``{Category}_5.json.gz`` (5-core reviews) and
``meta_{Category}.json.gz``; both are one JSON object per line (gzip). Processing follows the official
``dataset_preprocessing/amazon/process.py`` of snap-stanford/bc-emb:

* a review becomes ``(reviewerID, asin, overall, time)``; ``time`` is ``reviewTime``
  ("MM DD, YYYY") as the integer ``YYYYMMDD`` (day resolution; ``unixReviewTime`` is ignored);
* reviews whose item has no metadata record are dropped; nothing else: no k-core, no dedup;
* an item with several metadata records takes the **last** one;
* edges are sorted by time with a *stable* sort (the official ``np.argsort`` is not stable, so the
  order of same-day reviews, and with it the user/item numbering, differs from run to run there);
* brand: ``meta['brand']`` of each kept item; a brand used by >= 5 kept items is kept, else -1.
  As in the official code the empty string ``""`` (no brand given) is a brand value like any other
  and is kept when >= 5 items have it (set ``empty_brand_is_brand=False`` to map it to -1);
* categories: ``meta['category']`` without entries containing ``</span>``; a category is kept when
  it occurs >= 5 times over kept items. The first (top-level) entry, e.g. "Musical Instruments", is
  not removed, so almost every item carries it. Counts are over list entries (an entry repeated in
  one item's list counts twice and stays twice, as in the official code). The paper text says
  nothing about ``</span>`` or the top-level entry.
* The official code reads ``meta['brand']`` / ``meta['category']`` with ``[]``; here a missing key
  means ``""`` / no categories instead of a crash.

The upstream URLs are those of the official ``download.sh``; the release publishes no checksums, so
``sha256`` is None and ``meta['checksums']`` says so.
"""
from __future__ import annotations

import gzip
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from embcompat.data.graph_cache import cached_graph
from embcompat.data.graphs import InteractionGraph
from embcompat.data.resolve import RemoteFile, SourceSpec, resolve_files
from embcompat.data.sources import build_graph

PROCESSING_VERSION = 1
CATEGORIES = {
    "amazon2018-musical-instruments": "Musical_Instruments",
    "amazon2018-video-games": "Video_Games",
    "amazon2018-grocery": "Grocery_and_Gourmet_Food",
}
_BASE = "http://deepyeti.ucsd.edu/jianmo/amazon/"


@dataclass(frozen=True)
class Amazon2018Config:
    """Options of the 2018 processing (defaults = the official code)."""

    min_attr_items: int = 5
    empty_brand_is_brand: bool = True


def source_spec(category: str) -> SourceSpec:
    """The two raw files of one category, e.g. ``source_spec("Musical_Instruments")``."""
    return SourceSpec(
        folder="amazon2018",
        files=(RemoteFile(f"{category}_5.json.gz", f"{_BASE}categoryFilesSmall/{category}_5.json.gz"),
               RemoteFile(f"meta_{category}.json.gz", f"{_BASE}metaFiles2/meta_{category}.json.gz")),
        how_to_get="the 2018 Amazon review data (nijianmo.github.io/amazon): the 5-core review file "
                   f"{category}_5.json.gz and the metadata file meta_{category}.json.gz.",
    )


def _json_lines(path: Path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}, line {lineno}: not a JSON object ({err.msg})") from err


def review_time_to_int(s: str) -> int:
    """``"MM DD, YYYY"`` (month/day may lack a leading zero) -> ``YYYYMMDD``, as the official code."""
    mon, day, year = s.replace(",", "").split(" ")[:3]
    return int(f"{year}{mon.zfill(2)}{day[:2].zfill(2)}")


def read_meta(path: Path) -> dict[str, tuple[str, list[str]]]:
    """``{asin: (brand, categories)}``; the last record of an asin wins."""
    out = {}
    for lineno, rec in _json_lines(path):
        if "asin" not in rec:
            raise ValueError(f"{path}, line {lineno}: record has no 'asin'")
        brand = rec.get("brand", "")
        out[rec["asin"]] = ("" if brand is None else str(brand), list(rec.get("category") or []))
    return out


def read_reviews(path: Path) -> tuple[list, list, list, list]:
    """``(reviewerID, asin, overall, YYYYMMDD)`` columns of the review file, in file order."""
    users, items, ratings, times = [], [], [], []
    for lineno, rec in _json_lines(path):
        try:
            t = review_time_to_int(rec["reviewTime"])
            users.append(rec["reviewerID"])
            items.append(rec["asin"])
            ratings.append(float(rec["overall"]))
            times.append(t)
        except (KeyError, ValueError, TypeError) as err:
            raise ValueError(f"{path}, line {lineno}: bad review record ({type(err).__name__}: {err}); "
                             "need reviewerID, asin, overall and reviewTime 'MM DD, YYYY'") from err
    return users, items, ratings, times


def parse(reviews_path: Path, meta_path: Path, *, name: str = "amazon2018",
          config: Amazon2018Config = Amazon2018Config(), meta: dict | None = None) -> InteractionGraph:
    """Parse one category's review and metadata files into an :class:`InteractionGraph`."""
    asin2meta = read_meta(Path(meta_path))
    users, items, ratings, times = read_reviews(Path(reviews_path))
    items_a = np.array(items, dtype=object)
    keep = np.fromiter((a in asin2meta for a in items), dtype=bool, count=len(items))
    kept_items = list(dict.fromkeys(items_a[keep].tolist()))
    brand_values = [asin2meta[a][0] for a in kept_items]
    if not config.empty_brand_is_brand:
        brand_values = [None if b == "" else b for b in brand_values]
    cat_items, cat_values = [], []
    for a in kept_items:
        cats = [c for c in asin2meta[a][1] if "</span>" not in c]
        cat_items.extend([a] * len(cats))
        cat_values.extend(cats)
    meta = dict(meta or {})
    meta.setdefault("notes", []).extend([
        f"dropped {int((~keep).sum())} reviews whose item has no metadata; no k-core, no dedup",
        "time = reviewTime as YYYYMMDD; last metadata record of an asin wins",
        "categories containing '</span>' dropped; empty brand '' "
        + ("counted as a brand (official code)" if config.empty_brand_is_brand else "means no brand"),
    ])
    return build_graph(name, np.array(users, dtype=object)[keep], items_a[keep],
                       np.asarray(ratings, np.float32)[keep], np.asarray(times, np.int64)[keep],
                       brand_items=np.array(kept_items, dtype=object),
                       brand_values=np.array(brand_values, dtype=object),
                       category_items=np.array(cat_items, dtype=object),
                       category_values=np.array(cat_values, dtype=object),
                       min_attr_items=config.min_attr_items, dedup_categories=False, meta=meta)


def load(name: str, *, use_cache: bool = True, config: Amazon2018Config = Amazon2018Config()) -> InteractionGraph:
    """Resolve and parse a registered category (``amazon2018-musical-instruments``...)."""
    if name not in CATEGORIES:
        raise ValueError(f"unknown Amazon 2018 data set {name!r}; allowed: {sorted(CATEGORIES)}")
    category = CATEGORIES[name]
    spec = source_spec(category)
    folder = resolve_files(spec)
    files = [folder / f.name for f in spec.files]
    processing = {"version": PROCESSING_VERSION, **asdict(config)}

    def build(digests: dict) -> InteractionGraph:
        return parse(files[0], files[1], name=name, config=config,
                     meta={"source": "amazon2018", "spec": name, "category": category,
                           "raw_files": digests, "processing": processing, "folder": str(folder),
                           "checksums": "the 2018 release publishes no checksums; sha256 of the "
                                        "files used are in raw_files"})

    return cached_graph(name, files, processing, build, use_cache=use_cache)
