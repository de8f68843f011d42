"""Own image folders: layout errors, classes with fewer images than a scale asks for, and the one
image container (:class:`ImageDataset`, which :class:`FCTData` extends). Tiny PNGs written here."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from embcompat.data import image_readers as R
from embcompat.data import images as I
from embcompat.forward import data as FD
from embcompat.forward.data import (MIN_TEST_PER_CLASS, MIN_TRAIN_PER_CLASS, FCTData,
                                    load_fct_data)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Decoded-image caches go to an empty folder; no downloads."""
    monkeypatch.setenv("EMBCOMPAT_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("EMBCOMPAT_ALLOW_DOWNLOAD", raising=False)


def tree(root: Path, counts: dict[str, tuple[int, int]], size: int = 4) -> Path:
    """``root/{train,test}/<class>/<i>.png``: ``counts[class] = (n_train, n_test)``, no folder for
    a count of 0; pixel value ``i`` in image ``i`` of a class, so a drawn image's file is known."""
    for c, (n_train, n_test) in counts.items():
        for split, n in (("train", n_train), ("test", n_test)):
            for i in range(n):
                (root / split / c).mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.full((size, size, 3), i, np.uint8)).save(
                    root / split / c / f"{i:03d}.png")
    return root


def spec(root: Path) -> str:
    return f"imagefolder:{root}"


LAYOUT = r"train/<class>/\* and .*test/<class>/\*"


# ---------------------------------------------------------------- layout errors


def test_missing_test_folder_names_the_folder_and_layout(tmp_path):
    root = tree(tmp_path / "own", {"a": (3, 0), "b": (3, 0)})
    assert not (root / "test").exists()
    with pytest.raises(R.ImageFormatError) as e:
        I.load_images(spec(root))
    msg = str(e.value)
    assert f"{root}: no test/ folder" in msg
    assert re.search(LAYOUT, msg) and str(root / "train") in msg


def test_missing_train_folder_is_named(tmp_path):
    (tmp_path / "own" / "test" / "a").mkdir(parents=True)
    with pytest.raises(R.ImageFormatError, match="own: no train/ folder"):
        I.load_images(spec(tmp_path / "own"))


@pytest.mark.parametrize("only, other", [("train", "test"), ("test", "train")])
def test_a_class_under_one_split_only_is_named(tmp_path, only, other):
    root = tree(tmp_path / "own", {"a": (3, 2), "b": (3, 2)})
    (root / only / "zebra").mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / only / "zebra" / "1.png")
    with pytest.raises(R.ImageFormatError) as e:
        I.load_images(spec(root))
    msg = str(e.value)
    assert f"only under {only}/: ['zebra']" in msg and f"only under {other}/" not in msg
    assert re.search(LAYOUT, msg)


def test_an_empty_class_folder_is_named(tmp_path):
    root = tree(tmp_path / "own", {"a": (3, 2), "b": (0, 2)})
    (root / "train" / "b").mkdir()
    (root / "train" / "b" / "readme.txt").write_text("not an image")
    with pytest.raises(R.ImageFormatError, match=r"class folders with no image: \['train/b/'\]"):
        I.load_images(spec(root))


def test_no_class_folders_at_all(tmp_path):
    root = tmp_path / "own"
    for split in ("train", "test"):
        (root / split).mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / "train" / "loose.png")
    with pytest.raises(R.ImageFormatError, match=r"own/train/ holds no class folder \(images "
                                                 r"directly in train/ are not read\)"):
        I.load_images(spec(root))


def test_hidden_folders_are_ignored(tmp_path):
    root = tree(tmp_path / "own", {"a": (2, 2), "b": (2, 2)})
    (root / "train" / ".ipynb_checkpoints").mkdir()
    ds = I.load_images(spec(root))
    assert ds.classes == ["a", "b"] and ds.class_counts("train") == [2, 2]


# ---------------------------------------------------------------- short and too-small classes


def test_a_short_class_loads_what_it_has_and_is_reported(tmp_path):
    root = tree(tmp_path / "own", {"a": (7, 4), "b": (3, 4), "c": (7, 2)})
    short = r"train class 1 \(b\): 3 of 5.*test class 2 \(c\): 2 of 3"
    with pytest.warns(UserWarning, match=short):
        d = load_fct_data(spec(root), train_per_class=5, eval_per_class=3, data_seed=0)
    assert d.train_y.bincount().tolist() == [5, 3, 5]
    assert d.test_y.bincount().tolist() == [3, 3, 2]
    assert [(s.split, s.index, s.name, s.wanted, s.have) for s in d.shortfalls] == [
        ("train", 1, "b", 5, 3), ("test", 2, "c", 3, 2)]
    assert "train class 1 (b): 3 of 5" in d.note and "test class 2 (c): 2 of 3" in d.note
    # the full classes are drawn exactly as a strict draw of them would be
    ds = I.load_images(spec(root))
    x, _ = ds.subset("train", classes=[0], per_class=5, seed=0)
    assert torch.equal(d.train_x[d.train_y == 0], x)
    # the short class gives every image it has
    assert sorted(d.train_x[d.train_y == 1][:, 0, 0, 0].tolist()) == [0, 1, 2]


def test_enough_images_means_no_shortfall_and_no_warning(tmp_path, recwarn):
    root = tree(tmp_path / "own", {"a": (4, 3), "b": (4, 3)})
    d = load_fct_data(spec(root), train_per_class=4, eval_per_class=None)
    assert d.shortfalls == () and d.note == ""
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_a_too_small_train_class_names_the_minimum(tmp_path):
    assert MIN_TRAIN_PER_CLASS == 2
    root = tree(tmp_path / "own", {"a": (4, 3), "b": (1, 3)})
    with pytest.raises(ValueError, match=r"class 1 \(b\) has 1 train image.*"
                                         r"MIN_TRAIN_PER_CLASS=2.*train/ and test/"):
        load_fct_data(spec(root), train_per_class=800, eval_per_class=200)


def test_a_too_small_test_class_names_the_minimum(tmp_path):
    assert MIN_TEST_PER_CLASS == 2
    root = tree(tmp_path / "own", {"a": (4, 1), "b": (4, 3)})
    with pytest.raises(ValueError, match=r"class 0 \(a\) has 1 test image.*MIN_TEST_PER_CLASS=2"):
        load_fct_data(spec(root), train_per_class=800, eval_per_class=200)


def test_a_per_class_below_the_minimum_is_named(tmp_path):
    root = tree(tmp_path / "own", {"a": (4, 3), "b": (4, 3)})
    with pytest.raises(ValueError, match="train_per_class=1 is below MIN_TRAIN_PER_CLASS=2"):
        load_fct_data(spec(root), train_per_class=1, eval_per_class=None)


def test_check_class_sizes_passes_at_the_minimum(tmp_path):
    root = tree(tmp_path / "own", {"a": (MIN_TRAIN_PER_CLASS, MIN_TEST_PER_CLASS), "b": (5, 5)})
    FD.check_class_sizes(I.load_images(spec(root)), 10, 10)  # does not raise


# ---------------------------------------------------------------- one container


def test_fct_data_is_an_image_dataset_with_one_image_size_type(tmp_path):
    root = tree(tmp_path / "own", {"a": (3, 2), "b": (3, 2)}, size=6)
    ds = I.load_images(spec(root))
    d = load_fct_data(spec(root), None, None)
    t = FCTData.from_tensors(ds.train_x, ds.train_y, ds.test_x, ds.test_y)
    for obj in (ds, d, t):
        assert isinstance(obj, I.ImageDataset)
        assert obj.image_size == (6, 6) and isinstance(obj.image_size, tuple)
    assert d.meta["source"] == "imagefolder" and d.classes == ["a", "b"]
    assert d.subset("train", per_class=1)[1].tolist() == [0, 1]  # the inherited methods work


def test_fct_data_rejects_non_square_images():
    x = torch.zeros(2, 3, 4, 6, dtype=torch.uint8)
    y = torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"square images.*\(4, 6\)"):
        FCTData.from_tensors(x, y, x, y)
    assert I.ImageDataset("wide", x, y, x, y, ["a", "b"]).image_size == (4, 6)


def test_image_dataset_checks_shapes():
    x = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    y = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="train_x must be uint8"):
        I.ImageDataset("bad", x.float(), y, x, y, ["a", "b"])
    with pytest.raises(ValueError, match=r"test images \(1, 4, 4\)"):
        I.ImageDataset("bad", x, y, x[:, :1], y, ["a", "b"])


def test_sample_grid_leaves_a_short_row_white(tmp_path):
    root = tree(tmp_path / "own", {"a": (3, 2), "b": (1, 2)})
    ds = I.load_images(spec(root))
    g = I.sample_grid(ds, per_class=3, seed=0, padding=1)
    assert g.shape == (3, 2 * 5 + 1, 3 * 5 + 1)
    assert (g[:, 6:10, 1:5] == 0).all()  # class b's only image (pixel value 0)
    assert (g[:, 6:10, 6:] == 255).all()  # the rest of its row is blank
