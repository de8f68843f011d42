"""Your own interactions: ``interactions-csv:/abs/dir``.

The folder holds

* ``interactions.csv`` (required), header ``user,item,rating,timestamp`` (any column order, extra
  columns ignored). ``user`` / ``item`` are arbitrary strings; ``rating`` is a number in
  ``[rating_min, rating_max]`` (default ``[0, 5]``, inclusive); ``timestamp`` is an integer
  (any unit: seconds, days, YYYYMMDD... only its order matters);
* ``item_categories.csv`` (optional): ``item,category``, one row per label (multi-label);
* ``item_brands.csv`` (optional): ``item,brand``, at most one row per item.

Validation is strict: a missing column, an empty field, a non-numeric rating or timestamp, a rating
out of range, a line with the wrong number of fields or a second brand for an item raises
``ValueError`` naming the file and the 1-based line number (the header is line 1). Blank lines are
skipped. Rows of the attribute files for items without interactions are ignored. Brands and
categories are kept when on >= ``min_attr_items`` items (default 5, the paper's rule).
"""
from __future__ import annotations

import csv
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from embcompat.data.graph_cache import cached_graph
from embcompat.data.graphs import InteractionGraph
from embcompat.data.sources import build_graph

PREFIX = "interactions-csv:"
PROCESSING_VERSION = 1


@dataclass(frozen=True)
class InteractionsCSVConfig:
    """Validation and processing options."""

    rating_min: float = 0.0
    rating_max: float = 5.0
    min_attr_items: int = 5


def _check_value(col: str, value: str, cfg: InteractionsCSVConfig) -> str | None:
    """Why ``value`` is invalid in column ``col``, or None."""
    if value.strip() == "":
        return f"empty '{col}'"
    if col == "rating":
        try:
            x = float(value)
        except ValueError:
            return f"rating {value!r} is not a number"
        if not (cfg.rating_min <= x <= cfg.rating_max):      # also rejects nan
            return f"rating {x} outside the valid range [{cfg.rating_min}, {cfg.rating_max}]"
    if col == "timestamp":
        try:
            int(value)
        except ValueError:
            return f"timestamp {value!r} is not an integer"
    return None


def _scan(path: Path, required: list[str], cfg: InteractionsCSVConfig) -> tuple[int, str] | None:
    """Row-by-row check with exact line numbers; the first problem as ``(line, message)``."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return 1, f"empty file; expected a header with columns {required}"
        header = [h.strip() for h in header]
        missing = [c for c in required if c not in header]
        if missing:
            return 1, f"missing column(s) {missing}; the header must contain {required} (got {header})"
        pos = {c: header.index(c) for c in required}
        line = reader.line_num
        for row in reader:
            start, line = line + 1, reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != len(header):
                return start, f"malformed line: {len(row)} fields, the header has {len(header)}"
            for c, i in pos.items():
                why = _check_value(c, row[i], cfg)
                if why:
                    return start, why
    return None


def read_table(path: Path, required: list[str], cfg: InteractionsCSVConfig) -> pd.DataFrame:
    """Read a CSV fast with pandas; on any problem rescan it row by row to name the exact line."""
    numeric = [c for c in required if c in ("rating", "timestamp")]
    problem = None
    try:
        with warnings.catch_warnings():   # a row with extra fields: error, not silent data loss
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(path, dtype={c: str for c in required if c not in numeric},
                             keep_default_na=False, index_col=False)
        df.columns = [c.strip() for c in df.columns]
        if any(c not in df.columns for c in required):
            problem = "missing column"
        elif "rating" in numeric and not (pd.api.types.is_numeric_dtype(df["rating"])
                                          and df["rating"].between(cfg.rating_min, cfg.rating_max).all()):
            problem = "rating"
        elif "timestamp" in numeric and not pd.api.types.is_integer_dtype(df["timestamp"]):
            problem = "timestamp"
        elif any((df[c].str.strip() == "").any() for c in required if c not in numeric):
            problem = "empty field"
    except (pd.errors.ParserError, pd.errors.ParserWarning, pd.errors.EmptyDataError,
            UnicodeDecodeError) as err:
        problem = err
    if problem is not None:
        found = _scan(path, required, cfg)
        if found is None:  # pandas was stricter than the scan (e.g. quoting); report its message
            raise ValueError(f"{path}: could not be parsed ({problem})")
        line, why = found
        raise ValueError(f"{path}, line {line}: {why}")
    return df


def parse(folder: Path, *, config: InteractionsCSVConfig = InteractionsCSVConfig(),
          meta: dict | None = None) -> InteractionGraph:
    """Parse ``folder`` (see the module docstring for the format)."""
    folder = Path(folder)
    df = read_table(folder / "interactions.csv", ["user", "item", "rating", "timestamp"], config)
    kwargs = {}
    cat_path, brand_path = folder / "item_categories.csv", folder / "item_brands.csv"
    if cat_path.is_file():
        c = read_table(cat_path, ["item", "category"], config)
        kwargs.update(category_items=c["item"].to_numpy(object), category_values=c["category"].to_numpy(object))
    if brand_path.is_file():
        b = read_table(brand_path, ["item", "brand"], config)
        dup = b["item"].duplicated(keep="first").to_numpy()
        if dup.any():
            first = int(np.flatnonzero(dup)[0])
            line = (_data_lines(brand_path)[first])
            raise ValueError(f"{brand_path}, line {line}: item {b['item'].iloc[first]!r} has a second brand")
        kwargs.update(brand_items=b["item"].to_numpy(object), brand_values=b["brand"].to_numpy(object))
    return build_graph(f"{PREFIX}{folder}", df["user"].to_numpy(object), df["item"].to_numpy(object),
                       df["rating"].to_numpy(np.float32), df["timestamp"].to_numpy(np.int64),
                       min_attr_items=config.min_attr_items, dedup_categories=True, meta=meta, **kwargs)


def _data_lines(path: Path) -> list[int]:
    """1-based physical line numbers of the non-blank data rows of a CSV file."""
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader, None)
        line = reader.line_num
        for row in reader:
            start, line = line + 1, reader.line_num
            if row and not (len(row) == 1 and not row[0].strip()):
                out.append(start)
    return out


def files_of(folder: Path) -> list[Path]:
    """The files of ``folder`` that the graph is built from."""
    names = ["interactions.csv", "item_categories.csv", "item_brands.csv"]
    return [folder / n for n in names if (folder / n).is_file()]


def load(spec: str, *, use_cache: bool = True,
         config: InteractionsCSVConfig = InteractionsCSVConfig()) -> InteractionGraph:
    """Load ``interactions-csv:/abs/dir`` through the processed-graph cache."""
    if not spec.startswith(PREFIX):
        raise ValueError(f"expected '{PREFIX}/abs/dir', got {spec!r}")
    folder = Path(spec[len(PREFIX):])
    if not folder.is_absolute():
        raise ValueError(f"{spec!r}: the folder must be an absolute path ('{PREFIX}/abs/dir')")
    if not (folder / "interactions.csv").is_file():
        raise FileNotFoundError(f"{folder / 'interactions.csv'} not found; '{PREFIX}DIR' needs DIR/"
                                "interactions.csv with header user,item,rating,timestamp")
    processing = {"version": PROCESSING_VERSION, **asdict(config), "folder": str(folder)}

    def build(digests: dict) -> InteractionGraph:
        return parse(folder, config=config, meta={"source": "interactions_csv", "spec": spec,
                                                  "raw_files": digests, "processing": processing})

    return cached_graph("interactions-csv", files_of(folder), processing, build, use_cache=use_cache)
