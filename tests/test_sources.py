"""Each raw source on tiny files written by the test, the registry, the cache, and the real mirror."""
import gzip
import json
import os
import zipfile
from pathlib import Path

import pytest
import torch

from embcompat.data import (GRAPH_DATASETS, assert_no_leakage, available_graph_datasets, load_graph,
                            version_splits)
from embcompat.data.graphs import InteractionGraph
from embcompat.data.resolve import DataNotFoundError
from embcompat.data.sources import amazon2014_hin, amazon2018, build_graph, interactions_csv, movielens
from embcompat.utils import project_root


@pytest.fixture
def env(tmp_path, monkeypatch):
    mirror, cache = tmp_path / "mirror", tmp_path / "cache"
    mirror.mkdir()
    monkeypatch.setenv("EMBCOMPAT_MIRROR", str(mirror))
    monkeypatch.setenv("EMBCOMPAT_DATA", str(cache))
    monkeypatch.delenv("EMBCOMPAT_ALLOW_DOWNLOAD", raising=False)
    return mirror, cache


def csr(g: InteractionGraph) -> list[list[int]]:
    return [g.item_categories(i).tolist() for i in range(g.num_items)]


# ---------------------------------------------------------------- builder
def test_build_graph_stable_order_and_first_appearance():
    # file order: equal times must keep file order (stable), ids by first appearance after sorting
    g = build_graph("b", ["u9", "u7", "u8", "u7"], ["x", "y", "z", "x"], [1, 2, 3, 4], [5, 3, 3, 1])
    assert g.time.tolist() == [1, 3, 3, 5]
    assert g.rating.tolist() == [4, 2, 3, 1]
    assert g.user.tolist() == [0, 0, 1, 2]          # u7, u7, u8, u9
    assert g.item.tolist() == [0, 1, 2, 0]          # x, y, z, x
    assert g.num_brands == 0 and g.item_brand.tolist() == [-1, -1, -1]


# ---------------------------------------------------------------- amazon 2018
def _gz_lines(path: Path, records: list[dict]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


SPAN = '<span class="a-size-medium">Foo</span>'


def write_amazon2018(folder: Path, category: str = "Musical_Instruments") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    reviews = [("U2", "a3", 5.0, "01 2, 2010"), ("U1", "a1", 4.0, "01 1, 2010"),
               ("U3", "nometa", 3.0, "01 1, 2010"), ("U1", "a2", 3.0, "1 5, 2010")]
    reviews += [("U4", f"a{i}", 2.0, "02 10, 2011") for i in range(4, 14)]   # ten same-day reviews
    reviews += [("U5", "a14", 1.0, "12 31, 2009")]
    _gz_lines(folder / f"{category}_5.json.gz",
              [{"reviewerID": u, "asin": a, "overall": r, "reviewTime": t, "unixReviewTime": 0}
               for u, a, r, t in reviews])
    meta = [{"asin": "a1", "brand": "Q", "category": ["Musical Instruments", "Rare"]}]  # overwritten
    for i in range(1, 15):
        brand = "X" if i <= 5 else "Y" if i <= 9 else ""
        cats = ["Musical Instruments"] + (["Guitars"] if i <= 5 else []) + (["Rare"] if 6 <= i <= 9 else [])
        cats += [SPAN] if i <= 6 else []
        meta.append({"asin": f"a{i}", "brand": brand, "category": cats, "title": "t", "also_buy": []})
    meta.append({"asin": "ghost", "brand": "Y", "category": ["Musical Instruments", "Rare"]})  # no reviews
    _gz_lines(folder / f"meta_{category}.json.gz", meta)


def test_amazon2018_processing_literal(tmp_path):
    write_amazon2018(tmp_path)
    g = amazon2018.parse(tmp_path / "Musical_Instruments_5.json.gz", tmp_path / "meta_Musical_Instruments.json.gz")
    # review without metadata dropped; times as YYYYMMDD; stable order of the ten same-day reviews
    assert g.num_edges == 14 and g.num_users == 4 and g.num_items == 14
    assert g.time.tolist() == [20091231, 20100101, 20100102, 20100105] + [20110210] * 10
    assert g.user.tolist() == [0, 1, 2, 1] + [3] * 10           # U5, U1, U2, U1, U4...
    assert g.item.tolist() == list(range(14))                   # a14, a1, a3, a2, a4..a13
    assert g.rating.tolist() == [1.0, 4.0, 5.0, 3.0] + [2.0] * 10
    # brands (item-id order a14,a1,a3,a2,a4..a13): "" on 5 items (a14, a10..a13), X on 5 items
    # (a1..a5, a1 by its LAST meta record), Y on 4 kept items (+1 unreviewed item, not counted)
    assert g.meta["brand_names"] == ["", "X"]
    assert g.item_brand.tolist() == [0, 1, 1, 1, 1, 1, -1, -1, -1, -1, 0, 0, 0, 0]
    # categories: MI on 14 items (id 0), Guitars on 5 (id 1); Rare on 4 kept items -> dropped;
    # the </span> entry (on 6 items) -> dropped
    assert g.meta["category_names"] == ["Musical Instruments", "Guitars"]
    assert csr(g) == [[0]] + [[0, 1]] * 5 + [[0]] * 8
    g2 = amazon2018.parse(tmp_path / "Musical_Instruments_5.json.gz", tmp_path / "meta_Musical_Instruments.json.gz",
                          config=amazon2018.Amazon2018Config(empty_brand_is_brand=False))
    assert g2.meta["brand_names"] == ["X"] and g2.item_brand.tolist() == [-1] + [0] * 5 + [-1] * 8


def test_amazon2018_via_registry_and_cache(env):
    mirror, cache = env
    write_amazon2018(mirror / "amazon2018")
    g = load_graph("amazon2018-musical-instruments")
    assert g.name == "amazon2018-musical-instruments" and g.num_edges == 14
    assert set(g.meta["raw_files"]) == {"Musical_Instruments_5.json.gz", "meta_Musical_Instruments.json.gz"}
    files = list((cache / "processed").glob("*.safetensors"))
    assert len(files) == 1
    h = load_graph("amazon2018-musical-instruments")          # from the cache
    assert torch.equal(g.user, h.user) and h.meta == g.meta
    assert "amazon2018-musical-instruments" in available_graph_datasets()
    with pytest.raises(DataNotFoundError, match="Video_Games_5.json.gz"):
        load_graph("amazon2018-video-games")


def test_amazon2018_bad_line(tmp_path):
    write_amazon2018(tmp_path)
    with gzip.open(tmp_path / "Musical_Instruments_5.json.gz", "at") as f:
        f.write('{"reviewerID": "U9", "asin": "a1", "overall": 5.0}\n')
    with pytest.raises(ValueError, match=r"_5\.json\.gz, line 16: bad review record"):
        amazon2018.parse(tmp_path / "Musical_Instruments_5.json.gz", tmp_path / "meta_Musical_Instruments.json.gz")


# ---------------------------------------------------------------- amazon 2014 HIN
def write_hin(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    # item 50 on 5 edges first, then items 60..65; times with a tie (30, 30)
    rows = [(7, 50, 5, 10), (8, 50, 4, 20), (7, 60, 3, 30), (9, 61, 2, 30), (8, 62, 1, 40),
            (9, 63, 5, 50), (7, 64, 4, 60), (8, 65, 5, 70)]
    (folder / "user_item.dat").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows))
    brands = {50: 1, 60: 1, 61: 1, 62: 1, 63: 1, 64: 2, 65: 2, 99: 2}   # brand 2 on 2 kept items
    (folder / "item_brand.dat").write_text("".join(f"{i},{b}\n" for i, b in brands.items()))
    cats = [(i, 0) for i in (50, 60, 61, 62, 63, 64, 65)] + [(50, 0)]   # a duplicate row
    cats += [(i, 3) for i in (60, 61, 62, 63)] + [(99, 3)]                # 4 kept items only
    (folder / "item_category.dat").write_text("".join(f"{i},{c}\n" for i, c in cats))


def test_amazon2014_hin_tiny(env):
    mirror, _ = env
    write_hin(mirror / "amazon-2014-hin")
    g = amazon2014_hin.parse(mirror / "amazon-2014-hin")
    assert g.user.tolist() == [0, 1, 0, 2, 1, 2, 0, 1]
    assert g.item.tolist() == [0, 0, 1, 2, 3, 4, 5, 6]           # 50, 50, 60..65
    assert g.time.tolist() == [10, 20, 30, 30, 40, 50, 60, 70]
    assert g.item_brand.tolist() == [0, 0, 0, 0, 0, -1, -1] and g.num_brands == 1
    assert csr(g) == [[0]] * 7 and g.num_categories == 1          # duplicate dropped, cat 3 cut
    h = load_graph("amazon-2014-hin")
    assert torch.equal(g.item, h.item) and h.meta["source"] == "amazon-2014-hin"


def test_amazon2014_hin_malformed(tmp_path):
    write_hin(tmp_path)
    with open(tmp_path / "user_item.dat", "a") as f:
        f.write("1\t2\tfive\t9\n")
    with pytest.raises(ValueError, match=r"user_item\.dat, line 9"):
        amazon2014_hin.parse(tmp_path)


# ---------------------------------------------------------------- movielens
def write_movielens(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ratings = [(3, 10, 4.0, 100), (1, 20, 0.5, 50), (1, 10, 5.0, 100), (2, 30, 3.5, 200)]
    ratings += [(2, m, 2.0, 300 + m) for m in (40, 50, 60, 70)]
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n"
                                        + "".join(f"{u},{m},{r},{t}\n" for u, m, r, t in ratings))
    movies = {10: "Drama|Comedy", 20: "Drama", 30: "Drama|Horror", 40: "Drama|Comedy",
              50: "Drama|Comedy|Horror", 60: "(no genres listed)", 70: "Comedy|Horror", 80: "Drama"}
    (folder / "movies.csv").write_text("movieId,title,genres\n"
                                       + "".join(f'{m},"Title, {m} (1999)",{g}\n' for m, g in movies.items()))


def test_movielens_tiny(env):
    mirror, _ = env
    write_movielens(mirror / "ml-latest-small")
    g = load_graph("movielens-latest-small")
    # stable time order: (1,20,t50), (3,10,t100), (1,10,t100), (2,30,t200), (2,40..70)
    assert g.user.tolist() == [0, 1, 0, 2, 2, 2, 2, 2]          # users 1, 3, 1, 2, ...
    assert g.item.tolist() == [0, 1, 1, 2, 3, 4, 5, 6]           # movies 20, 10, 10, 30, 40..70
    assert g.rating.tolist() == [0.5, 4.0, 5.0, 3.5, 2.0, 2.0, 2.0, 2.0]
    assert g.num_brands == 0 and (g.item_brand == -1).all()
    # Drama on 5 rated movies (80 is unrated) kept; Comedy (4) and Horror (3) cut; no-genre dropped
    assert g.meta["category_names"] == ["Drama"]
    assert csr(g) == [[0], [0], [0], [0], [0], [], []]


def test_movielens_zip_download(env, tmp_path):
    _, cache = env
    src = tmp_path / "src"
    write_movielens(src / "ml-latest-small")
    zpath = tmp_path / "ml-latest-small.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for n in ("ratings.csv", "movies.csv"):
            z.write(src / "ml-latest-small" / n, f"ml-latest-small/{n}")
    dest = cache / "ml-latest-small" / "movies.csv"
    movielens.download_from_zip(zpath.as_uri(), dest, None)       # file:// URL: no network
    assert dest.read_bytes() == (src / "ml-latest-small" / "movies.csv").read_bytes()
    assert (cache / "ml-latest-small" / "ml-latest-small.zip").is_file()
    from embcompat.data.resolve import ChecksumError
    with pytest.raises(ChecksumError):
        movielens.download_from_zip(zpath.as_uri(), cache / "ml-latest-small" / "ratings.csv", "0" * 64)


# ---------------------------------------------------------------- interactions.csv
def write_csv(folder: Path, body: str, cats: str | None = None, brands: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "interactions.csv").write_text(body)
    if cats is not None:
        (folder / "item_categories.csv").write_text(cats)
    if brands is not None:
        (folder / "item_brands.csv").write_text(brands)
    return folder


GOOD_CSV = "user,item,rating,timestamp\nann,book,5,20\nbob,pen,3.5,10\nann,pen,4,20\n"


def test_interactions_csv_valid(env, tmp_path):
    d = write_csv(tmp_path / "d", GOOD_CSV, cats="item,category\nbook,paper\npen,office\npen,office\n",
                  brands="item,brand\nbook,acme\nghost,acme\n")
    cfg = interactions_csv.InteractionsCSVConfig(min_attr_items=1)
    g = interactions_csv.parse(d, config=cfg)
    assert g.user.tolist() == [0, 1, 1] and g.item.tolist() == [0, 1, 0]     # bob, ann, ann / pen, book, pen
    assert g.rating.tolist() == [3.5, 5.0, 4.0] and g.time.tolist() == [10, 20, 20]
    assert g.meta["category_names"] == ["office", "paper"] and csr(g) == [[0], [1]]
    assert g.item_brand.tolist() == [-1, 0]
    h = load_graph(f"interactions-csv:{d}")                   # default cut of 5: attributes dropped
    assert h.num_categories == 0 and h.num_brands == 0 and torch.equal(h.user, g.user)


@pytest.mark.parametrize("body, line, what", [
    ("user,item,rating\nann,book,5\n", 1, "missing column"),
    ("user,item,rating,timestamp\nann,book,5,1\nbob,pen,five,2\n", 3, "not a number"),
    ("user,item,rating,timestamp\nann,book,5,1\n\nbob,pen,4,2.5\n", 4, "not an integer"),
    ("user,item,rating,timestamp\nann,book,5,1\nbob,pen,4,x\n", 3, "not an integer"),
    ("user,item,rating,timestamp\nann,book,9,1\n", 2, r"outside the valid range \[0.0, 5.0\]"),
    ("user,item,rating,timestamp\nann,book,5,1\nbob,pen,4,2,7\n", 3, "malformed line"),
    ("user,item,rating,timestamp\nann,book,5,1,7\nbob,pen,4,2\n", 2, "malformed line"),
    ("user,item,rating,timestamp\nann,book,5,1\nbob,pen,4\n", 3, "malformed line"),
    ("user,item,rating,timestamp\nann,,5,1\n", 2, "empty 'item'"),
])
def test_interactions_csv_malformed(tmp_path, body, line, what):
    d = write_csv(tmp_path / "d", body)
    with pytest.raises(ValueError, match=rf"interactions\.csv, line {line}: .*{what}"):
        interactions_csv.parse(d)


def test_interactions_csv_attribute_files_and_spec_errors(tmp_path):
    d = write_csv(tmp_path / "d", GOOD_CSV, brands="item,brand\nbook,acme\n\npen,x\nbook,other\n")
    with pytest.raises(ValueError, match=r"item_brands\.csv, line 5: item 'book' has a second brand"):
        interactions_csv.parse(d)
    d2 = write_csv(tmp_path / "d2", GOOD_CSV, cats="item,label\nbook,x\n")
    with pytest.raises(ValueError, match=r"item_categories\.csv, line 1: missing column"):
        interactions_csv.parse(d2)
    with pytest.raises(ValueError, match="absolute"):
        load_graph("interactions-csv:relative/dir")
    with pytest.raises(FileNotFoundError, match="interactions.csv"):
        load_graph(f"interactions-csv:{tmp_path / 'nothing'}")
    cfg = interactions_csv.InteractionsCSVConfig(rating_min=1, rating_max=10)
    d3 = write_csv(tmp_path / "d3", "user,item,rating,timestamp\na,b,9,1\n")
    assert interactions_csv.parse(d3, config=cfg).rating.tolist() == [9.0]


# ---------------------------------------------------------------- registry
def test_registry_names_and_errors(env):
    assert {"amazon-2014-hin", "movielens-latest-small", "amazon2018-musical-instruments",
            "amazon2018-video-games", "amazon2018-grocery", "synthetic"} <= set(GRAPH_DATASETS)
    with pytest.raises(ValueError, match=r"(?s)unknown graph data set 'nope'.*amazon-2014-hin.*interactions-csv:"):
        load_graph("nope")
    assert available_graph_datasets() == [n for n in GRAPH_DATASETS if n.startswith("synthetic")]
    with pytest.raises(DataNotFoundError, match=r"(?s)user_item\.dat.*mirror.*cache.*download"):
        load_graph("amazon-2014-hin")


def test_damaged_cache_is_rebuilt(env):
    mirror, cache = env
    write_hin(mirror / "amazon-2014-hin")
    g = load_graph("amazon-2014-hin")
    (f,) = (cache / "processed").glob("*.safetensors")
    f.write_bytes(b"half-written garbage")
    h = load_graph("amazon-2014-hin")
    assert torch.equal(g.user, h.user)
    assert InteractionGraph.load(f).num_edges == g.num_edges      # rewritten, readable


# ---------------------------------------------------------------- the real mirror
def _real_mirror() -> Path | None:
    for cand in (os.environ.get("EMBCOMPAT_MIRROR"), project_root() / ".." / "shared" / "data",
                 "/work/shared/data"):
        if cand and (Path(cand) / "amazon-2014-hin" / "user_item.dat").is_file() \
                and (Path(cand) / "ml-latest-small" / "ratings.csv").is_file():
            return Path(cand).resolve()
    return None


REAL = _real_mirror()


@pytest.mark.skipif(REAL is None, reason="real data mirror not found ($EMBCOMPAT_MIRROR, ../shared/data)")
@pytest.mark.parametrize("name, users, items, edges", [
    ("amazon-2014-hin", 6_170, 2_753, 195_791),
    ("movielens-latest-small", 610, 9_724, 100_836),
])
def test_real_mirror_counts_and_no_leakage(monkeypatch, tmp_path, name, users, items, edges):
    monkeypatch.setenv("EMBCOMPAT_MIRROR", str(REAL))
    monkeypatch.setenv("EMBCOMPAT_DATA", str(tmp_path / "cache"))
    g = load_graph(name, use_cache=False)
    st = g.stats()
    assert (st["users"], st["items"], st["interactions"]) == (users, items, edges)
    for heldout in (False, True):
        splits = version_splits(g, heldout_test=heldout)
        assert len(splits) == 5
        assert_no_leakage(g, splits)
    assert splits[-1].num_users == users and splits[-1].num_items == items
