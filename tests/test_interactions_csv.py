"""interactions-csv: header problems and empty files fail naming the file and the expected header."""
import re
from pathlib import Path

import pytest

from embcompat.data.sources import interactions_csv

HEADER = "user,item,rating,timestamp"
ROWS = "ann,book,5,20\nbob,pen,3.5,10\n"


def folder(tmp_path: Path, body: str | bytes, **extra: str) -> Path:
    """A data folder with ``interactions.csv`` = ``body`` and ``extra`` files (name without .csv)."""
    d = tmp_path / "d"
    d.mkdir(exist_ok=True)
    path = d / "interactions.csv"
    path.write_bytes(body) if isinstance(body, bytes) else path.write_text(body)
    for name, text in extra.items():
        (d / f"{name}.csv").write_text(text)
    return d


def fails(d: Path, pattern: str) -> str:
    with pytest.raises(ValueError, match=pattern) as err:
        interactions_csv.parse(d)
    return str(err.value)


@pytest.mark.parametrize("body", [f"{HEADER}\n", f"{HEADER}\n\n\n", HEADER])
def test_header_without_rows(tmp_path, body):
    d = folder(tmp_path, body)
    msg = fails(d, "has a header and no data rows")
    assert msg.startswith(str(d / "interactions.csv")) and HEADER in msg
    assert "parsed" not in msg and "delete" not in msg      # the required file: no "delete it"


@pytest.mark.parametrize("name, header", [("item_categories", "item,category"), ("item_brands", "item,brand")])
def test_attribute_file_without_rows(tmp_path, name, header):
    d = folder(tmp_path, f"{HEADER}\n{ROWS}", **{name: f"{header}\n"})
    msg = fails(d, re.escape(f"{d / name}.csv: the file has a header and no data rows"))
    assert f"add rows under the header {header} or delete the file" in msg


@pytest.mark.parametrize("header, column", [
    ("user,item,rating,rating,timestamp", "rating"),
    ("user,item,rating, rating ,timestamp", "rating"),
    ("user,item,rating,timestamp,note,note", "note"),
])
def test_repeated_column_rejected(tmp_path, header, column):
    fields = len(header.split(","))
    d = folder(tmp_path, f"{header}\n" + ",".join(["a", "b", "4"] + ["1"] * (fields - 3)) + "\n")
    msg = fails(d, re.escape(f"interactions.csv, line 1: column '{column}' appears more than once"))
    assert msg.endswith(f"expected the header {HEADER}")


@pytest.mark.parametrize("name, header", [("item_categories", "item,category"), ("item_brands", "item,brand")])
def test_attribute_file_repeated_column(tmp_path, name, header):
    d = folder(tmp_path, f"{HEADER}\n{ROWS}", **{name: f"{header},item\nbook,x,book\n"})
    fails(d, re.escape(f"{name}.csv, line 1: column 'item' appears more than once") + ".*"
          + re.escape(f"expected the header {header}"))


def test_missing_column_names_file_and_header(tmp_path):
    msg = fails(folder(tmp_path, "user,item,rating\nann,book,5\n"),
                re.escape("interactions.csv, line 1: missing column(s) ['timestamp']"))
    assert f"expected the header {HEADER}" in msg and "got user,item,rating" in msg
    msg = fails(folder(tmp_path, "User,item,rating,timestamp\nann,book,5,1\n"), "missing column")
    assert "'User' must be spelled 'user'" in msg
    d = folder(tmp_path, f"{HEADER}\n{ROWS}", item_brands="item,label\nbook,x\n")
    fails(d, re.escape("item_brands.csv, line 1: missing column(s) ['brand']; expected the header "
                       "item,brand"))


def test_empty_file_and_blank_first_line(tmp_path):
    fails(folder(tmp_path, ""), re.escape(f"interactions.csv: empty file; expected the header {HEADER}"))
    fails(folder(tmp_path, f"\n{HEADER}\n{ROWS}"),
          re.escape(f"interactions.csv, line 1: blank; the first line must be the header {HEADER}"))


def test_extra_columns_ignored_and_spaced_names_keep_string_ids(tmp_path):
    g = interactions_csv.parse(folder(tmp_path, "note, user ,item,rating,timestamp\n"
                                                "x,007,book,5,1\ny,7,book,4,2\n"))
    assert g.num_users == 2 and g.rating.tolist() == [5.0, 4.0]   # '007' and '7' stay two users


def test_byte_order_mark_accepted(tmp_path):
    g = interactions_csv.parse(folder(tmp_path, ("\ufeff" + f"{HEADER}\n{ROWS}").encode("utf-8")))
    assert g.num_users == 2 and g.time.tolist() == [10, 20]
    bad = ("\ufeff" + f"{HEADER}\n{ROWS}ann,pen,five,3\n").encode("utf-8")   # the row scan agrees
    fails(folder(tmp_path, bad), r"interactions\.csv, line 4: rating 'five' is not a number")


@pytest.mark.parametrize("body, line", [
    (f"{HEADER}\nann,book,5,1\nj\xf6rg,pen,4,2\n".encode("latin-1"), 3),
    ("us\xe9r,item,rating,timestamp\nann,book,5,1\n".encode("latin-1"), 1),
])
def test_not_utf8_names_the_line(tmp_path, body, line):
    fails(folder(tmp_path, body), rf"interactions\.csv, line {line}: not UTF-8 text; save the file as UTF-8")
