"""Your own interactions: ``interactions-csv:/abs/dir``.

The folder holds

* ``interactions.csv`` (required), header ``user,item,rating,timestamp`` (any column order, extra
  columns ignored). ``user`` / ``item`` are arbitrary strings; ``rating`` is a number in
  ``[rating_min, rating_max]`` (default ``[0, 5]``, inclusive); ``timestamp`` is an integer
  (any unit: seconds, days, YYYYMMDD... only its order matters);
* ``item_categories.csv`` (optional): ``item,category``, one row per label (multi-label);
* ``item_brands.csv`` (optional): ``item,brand``, at most one row per item.

Files are UTF-8 (a leading byte-order mark, as spreadsheets write, is accepted). Validation is
strict: a header that lacks a column or names one twice, a file with no data rows, text that is not
UTF-8, an empty field, a non-numeric rating or timestamp, a rating out of range, a line with the
wrong number of fields or a second brand for an item raises ``ValueError`` naming the file, the
1-based line number (the header is line 1) and, for header problems, the expected header. Blank
lines are skipped. Rows of the attribute files for items without interactions are ignored. Brands and
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


ENCODING = "utf-8-sig"   # UTF-8, with or without a byte-order mark


def _is_blank(row: list[str]) -> bool:
    return not row or (len(row) == 1 and not row[0].strip())


def _not_utf8_line(path: Path) -> int:
    """The 1-based number of the first line of ``path`` that is not valid UTF-8 (0 if none)."""
    for n, raw in enumerate(path.read_bytes().split(b"\n"), 1):
        try:
            raw.decode(ENCODING if n == 1 else "utf-8")
        except UnicodeDecodeError:
            return n
    return 0


def read_header(path: Path, required: list[str], *, optional: bool = False) -> list[str]:
    """The header of ``path`` as written (names unstripped), once it is known to be usable.

    Args:
        path: the CSV file.
        required: the columns the header must hold.
        optional: the file may be left out (the no-rows message then says so).

    Raises:
        ValueError: naming ``path`` and the expected header, for an empty file, a blank first
            line, a missing or repeated column name, or a file with a header and no data rows.
    """
    expected = ",".join(required)
    try:
        with open(path, newline="", encoding=ENCODING) as f:
            reader = csv.reader(f)
            raw = next(reader, None)
            has_rows = any(not _is_blank(row) for row in reader)
    except UnicodeDecodeError:
        raise ValueError(f"{path}, line {_not_utf8_line(path)}: not UTF-8 text; save the file as "
                         "UTF-8") from None
    if raw is None:
        raise ValueError(f"{path}: empty file; expected the header {expected} and data rows")
    if _is_blank(raw):
        raise ValueError(f"{path}, line 1: blank; the first line must be the header {expected}")
    header = [h.strip() for h in raw]
    repeated = sorted({h for h in header if h and header.count(h) > 1})
    if repeated:
        raise ValueError(f"{path}, line 1: column {', '.join(map(repr, repeated))} appears more than "
                         f"once in the header {','.join(header)}; expected the header {expected}")
    missing = [c for c in required if c not in header]
    if missing:
        lower = {h.lower(): h for h in header}
        hint = "".join(f"; {lower[c]!r} must be spelled {c!r} (names are case-sensitive)"
                       for c in missing if c in lower)
        raise ValueError(f"{path}, line 1: missing column(s) {missing}; expected the header "
                         f"{expected} (any order, extra columns ignored), got {','.join(header)}{hint}")
    if not has_rows:
        raise ValueError(f"{path}: the file has a header and no data rows; add rows under the header "
                         f"{expected}" + (" or delete the file" if optional else ""))
    return raw


def _scan(path: Path, required: list[str], cfg: InteractionsCSVConfig) -> tuple[int, str] | None:
    """Row-by-row check with exact line numbers; the first problem as ``(line, message)``.

    The header has passed :func:`read_header`.
    """
    with open(path, newline="", encoding=ENCODING) as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader)]
        pos = {c: header.index(c) for c in required}
        line = reader.line_num
        for row in reader:
            start, line = line + 1, reader.line_num
            if _is_blank(row):
                continue
            if len(row) != len(header):
                return start, f"malformed line: {len(row)} fields, the header has {len(header)}"
            for c, i in pos.items():
                why = _check_value(c, row[i], cfg)
                if why:
                    return start, why
    return None


def read_table(path: Path, required: list[str], cfg: InteractionsCSVConfig, *,
               optional: bool = False) -> pd.DataFrame:
    """Read a CSV fast with pandas; on any problem rescan it row by row to name the exact line.

    Raises:
        ValueError: naming ``path``, the line and the problem (see the module docstring).
    """
    raw_header = read_header(path, required, optional=optional)
    numeric = [c for c in required if c in ("rating", "timestamp")]
    text = {raw: str for raw in raw_header if raw.strip() in required and raw.strip() not in numeric}
    problem = None
    try:
        with warnings.catch_warnings():   # a row with extra fields: error, not silent data loss
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(path, dtype=text, keep_default_na=False, index_col=False,
                             encoding=ENCODING)
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
        if isinstance(err, UnicodeDecodeError):
            raise ValueError(f"{path}, line {_not_utf8_line(path)}: not UTF-8 text; save the file "
                             "as UTF-8") from None
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
        c = read_table(cat_path, ["item", "category"], config, optional=True)
        kwargs.update(category_items=c["item"].to_numpy(object), category_values=c["category"].to_numpy(object))
    if brand_path.is_file():
        b = read_table(brand_path, ["item", "brand"], config, optional=True)
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
    with open(path, newline="", encoding=ENCODING) as f:
        reader = csv.reader(f)
        next(reader, None)
        line = reader.line_num
        for row in reader:
            start, line = line + 1, reader.line_num
            if not _is_blank(row):
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
