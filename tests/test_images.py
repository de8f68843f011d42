"""Tests of embcompat.data.images and embcompat.data.image_readers on tiny files written here.

Two tests read the real data (CIFAR-10 from ``$EMBCOMPAT_MIRROR``, Fashion-MNIST from Debian's
package) and skip when it is absent.
"""
from __future__ import annotations

import gzip
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from embcompat.data import image_readers as R
from embcompat.data import images as I
from embcompat.data.resolve import DataNotFoundError, mirror_root


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """An empty mirror and cache, no Debian Fashion-MNIST, no downloads."""
    mirror, data = tmp_path / "mirror", tmp_path / "data"
    mirror.mkdir()
    monkeypatch.setenv("EMBCOMPAT_MIRROR", str(mirror))
    monkeypatch.setenv("EMBCOMPAT_DATA", str(data))
    monkeypatch.delenv("EMBCOMPAT_ALLOW_DOWNLOAD", raising=False)
    monkeypatch.setattr(I, "DEBIAN_FASHION_DIR", tmp_path / "no-debian")
    return mirror, data


def write_idx(path: Path, arr: np.ndarray, code: int = 0x08, compress: bool = False,
              magic: bytes | None = None) -> Path:
    dtype = np.dtype({0x08: ">u1", 0x0C: ">i4"}[code])  # independent of the reader's table
    head = magic if magic is not None else bytes([0, 0, code, arr.ndim])
    raw = head + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(dtype).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def write_png(path: Path, arr: np.ndarray) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return arr


def rgb(seed: int, h: int = 4, w: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ---------------------------------------------------------------- idx


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_roundtrip(tmp_path, compress):
    x = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    got = R.read_idx(write_idx(tmp_path / "x-idx3-ubyte", x, compress=compress))
    assert got.dtype == torch.uint8 and tuple(got.shape) == (2, 3, 4)
    assert np.array_equal(got.numpy(), x)
    y = np.array([-5, 70000, 3], dtype=np.int32)  # big-endian int32 must come back exact
    assert R.read_idx(write_idx(tmp_path / "y", y, code=0x0C)).tolist() == [-5, 70000, 3]


def test_read_idx_errors_name_the_file(tmp_path):
    bad = write_idx(tmp_path / "bad-magic", np.zeros(3, np.uint8), magic=b"\x08\x03\x08\x01")
    with pytest.raises(R.ImageFormatError, match="bad-magic.*magic"):
        R.read_idx(bad)
    code = write_idx(tmp_path / "bad-code", np.zeros(3, np.uint8), magic=b"\x00\x00\x07\x01")
    with pytest.raises(R.ImageFormatError, match="bad-code.*type code 0x07"):
        R.read_idx(code)
    short = tmp_path / "short"
    short.write_bytes(write_idx(tmp_path / "full", np.zeros((2, 2), np.uint8)).read_bytes()[:-1])
    with pytest.raises(R.ImageFormatError, match="short.*need 4 data bytes.*has 3"):
        R.read_idx(short)


def fake_fashion(folder: Path, n_train=12, n_test=5, gz=(True, False, False, True)) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (n_train, 28, 28)), rng.integers(0, 10, n_train),
              rng.integers(0, 256, (n_test, 28, 28)), rng.integers(0, 10, n_test)]
    for name, arr, z in zip(I.FASHION_FILES, arrays, gz):
        write_idx(folder / (name + (".gz" if z else "")), arr, compress=z)


def test_fashion_mnist_from_mirror_idx(isolated):
    mirror, _ = isolated
    fake_fashion(mirror / "fashion-mnist")
    ds = I.load_images("fashion-mnist")
    assert ds.train_x.shape == (12, 1, 28, 28) and ds.test_x.shape == (5, 1, 28, 28)
    assert ds.train_x.dtype == torch.uint8 and ds.train_y.dtype == torch.long
    assert ds.classes[0] == "T-shirt/top" and ds.num_classes == 10 and ds.channels == 1
    assert "fashion-mnist" in I.available_image_datasets()
    assert "cifar100" not in I.available_image_datasets()


def test_fashion_mnist_mismatched_labels_named(isolated):
    mirror, _ = isolated
    fake_fashion(mirror / "fashion-mnist")
    write_idx(mirror / "fashion-mnist" / "train-labels-idx1-ubyte", np.zeros(3, np.uint8))
    with pytest.raises(R.ImageFormatError, match="train-images-idx3-ubyte.*3 labels"):
        I.load_images("fashion-mnist")


# ---------------------------------------------------------------- image folders


def make_tree(root: Path) -> dict[str, np.ndarray]:
    """train/{cat,dog}, test/{cat,dog}; one grayscale and one odd-sized image among RGB ones."""
    imgs = {"train/dog/a.png": rgb(1), "train/cat/b.png": rgb(2), "train/cat/a.png": rgb(3),
            "train/dog/b.png": rgb(4, 8, 10), "test/cat/z.png": rgb(5), "test/dog/y.png": rgb(6)}
    for rel, arr in imgs.items():
        write_png(root / rel, arr)
    gray = np.arange(20, dtype=np.uint8).reshape(4, 5) * 10
    write_png(root / "test/cat/gray.png", gray)
    (root / "train/cat/notes.txt").write_text("not an image")  # skipped: not an image extension
    imgs["test/cat/gray.png"] = np.repeat(gray[..., None], 3, axis=2)
    return imgs


def test_imagefolder_decodes_exactly(isolated, tmp_path):
    imgs = make_tree(tmp_path / "tree")
    ds = I.load_images(f"imagefolder:{tmp_path / 'tree'}")
    assert ds.classes == ["cat", "dog"]
    assert ds.train_x.shape == (4, 3, 4, 5) and ds.test_x.shape == (3, 3, 4, 5)
    assert ds.train_y.tolist() == [0, 0, 1, 1] and ds.test_y.tolist() == [0, 0, 1]
    # order: class, then file name; pixels survive the PNG round trip exactly
    chw = lambda a: torch.from_numpy(a).permute(2, 0, 1)  # noqa: E731
    assert torch.equal(ds.train_x[0], chw(imgs["train/cat/a.png"]))
    assert torch.equal(ds.train_x[2], chw(imgs["train/dog/a.png"]))
    assert torch.equal(ds.test_x[0], chw(imgs["test/cat/gray.png"]))  # grey -> RGB copies
    assert ds.meta["resized"] == 1  # train/dog/b.png, 8x10 -> 4x5
    small = I.load_images(f"imagefolder:{tmp_path / 'tree'}", image_size=(2, 3), use_cache=False)
    assert small.image_size == (2, 3) and small.meta["resized"] == 7


def test_imagefolder_all_gray_is_one_channel(isolated, tmp_path):
    for rel in ("train/a/1.png", "train/b/1.png", "test/a/1.png", "test/b/1.png"):
        write_png(tmp_path / "g" / rel, np.full((3, 3), 7, np.uint8))
    ds = I.load_images(f"imagefolder:{tmp_path / 'g'}")
    assert ds.channels == 1 and ds.train_x.shape == (2, 1, 3, 3) and ds.test_y.tolist() == [0, 1]


def test_imagefolder_errors(isolated, tmp_path):
    make_tree(tmp_path / "t1")
    write_png(tmp_path / "t1/test/bird/x.png", rgb(9))
    with pytest.raises(R.ImageFormatError, match=r"\['bird'\].*train"):
        I.load_images(f"imagefolder:{tmp_path / 't1'}")
    make_tree(tmp_path / "t2")
    (tmp_path / "t2/train/dog/broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(R.ImageFormatError, match="broken.png"):
        I.load_images(f"imagefolder:{tmp_path / 't2'}")
    with pytest.raises(DataNotFoundError, match="nowhere"):
        I.load_images(f"imagefolder:{tmp_path / 'nowhere'}")


def test_imagefolder_cache_is_used_and_bypassable(isolated, tmp_path, monkeypatch):
    make_tree(tmp_path / "tree")
    first = I.load_images(f"imagefolder:{tmp_path / 'tree'}")
    assert list((isolated[1] / "processed").glob("imagefolder-*.pt"))

    def boom(*a, **k):
        raise AssertionError("decoded again")
    monkeypatch.setattr(R, "decode_imagefolder", boom)
    again = I.load_images(f"imagefolder:{tmp_path / 'tree'}")
    assert torch.equal(first.train_x, again.train_x) and first.classes == again.classes
    with pytest.raises(AssertionError, match="decoded again"):
        I.load_images(f"imagefolder:{tmp_path / 'tree'}", use_cache=False)


def test_tarball_reader_matches_folder_reader(tmp_path):
    make_tree(tmp_path / "tree")
    tar_path = tmp_path / "t.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:  # a leading folder must be ignored
        tar.add(tmp_path / "tree", arcname="./cifar")
    a = R.decode_imagefolder(R.list_tar_imagefolder(tar_path))
    b = R.decode_imagefolder(R.list_dir_imagefolder(tmp_path / "tree"))
    assert a["classes"] == b["classes"] == ["cat", "dog"]
    for k in ("train_x", "train_y", "test_x", "test_y"):
        assert torch.equal(a[k], b[k]), k
    (tmp_path / "junk.tar.gz").write_bytes(b"\x1f\x8bjunk")
    with pytest.raises(R.ImageFormatError, match="junk.tar.gz"):
        R.list_tar_imagefolder(tmp_path / "junk.tar.gz")


def test_cifar10_tarball_with_wrong_layout_is_rejected(isolated, tmp_path):
    mirror, _ = isolated
    make_tree(tmp_path / "tree")
    with tarfile.open(mirror / "cifar10-jpg.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "tree", arcname=".")
    with pytest.raises(R.ImageFormatError, match="cifar10-jpg.tar.gz.*10 classes"):
        I.load_images("cifar10")


# ---------------------------------------------------------------- resolution and specs


def test_missing_data_names_every_place(isolated, monkeypatch):
    mirror, data = isolated
    with pytest.raises(DataNotFoundError) as e:
        I.load_images("cifar100")
    msg = str(e.value)
    assert str(mirror) in msg and str(data / "torchvision") in msg
    assert "EMBCOMPAT_ALLOW_DOWNLOAD" in msg
    with pytest.raises(DataNotFoundError, match="cifar10-jpg.tar.gz"):
        I.load_images("cifar10")
    with pytest.raises(DataNotFoundError, match="dataset-fashion-mnist"):
        I.load_images("fashion-mnist")
    calls = []

    def fake(name, root, *, download):
        calls.append((name, Path(root), download))
        if not download:
            raise FileNotFoundError(root)
        x = torch.zeros(4, 3, 2, 2, dtype=torch.uint8)
        return {"train_x": x, "train_y": torch.arange(4), "test_x": x, "test_y": torch.arange(4),
                "classes": list("abcd")}
    monkeypatch.setattr(R, "torchvision_arrays", fake)
    ds = I.load_images("cifar100", allow_download=True)
    assert calls[-1] == ("cifar100", data / "torchvision", True)
    assert [c[2] for c in calls] == [False, False, True]
    assert ds.meta["source"] == "torchvision-download" and ds.num_classes == 4


def test_unknown_spec_lists_allowed():
    with pytest.raises(ValueError, match="cifar10.*fashion-mnist.*cifar100.*imagefolder:"):
        I.load_images("mnist")
    with pytest.raises(ValueError, match="imagefolder"):
        I.load_images("cifar10", image_size=32)
    assert {"cifar10", "fashion-mnist", "cifar100"} <= set(I.IMAGE_DATASETS)


# ---------------------------------------------------------------- ImageDataset


def toy(n_per=6, k=4) -> I.ImageDataset:
    y = torch.arange(k).repeat(n_per)
    x = (torch.arange(len(y)) % 256).to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, 2, 2)
    return I.ImageDataset("toy", x.clone(), y, x[:k].clone(), y[:k].clone(),
                          [f"c{i}" for i in range(k)], {})


def test_old_new_split():
    ds = toy(k=4)
    assert ds.old_new_split() == ([0, 1], [2, 3])
    assert ds.old_new_split(0.25) == ([0], [1, 2, 3])
    with pytest.raises(ValueError, match="old_fraction"):
        ds.old_new_split(0.0)


def test_subset_balanced_and_deterministic():
    ds = toy()
    x, y = ds.subset("train", classes=[1, 3], per_class=2, seed=5)
    assert y.bincount(minlength=4).tolist() == [0, 2, 0, 2]
    idx = x[:, 0, 0, 0].long()  # toy pixels hold the row index
    assert torch.equal(ds.train_y[idx], y) and idx.tolist() == sorted(idx.tolist())
    x2, _ = ds.subset("train", classes=[1, 3], per_class=2, seed=5)
    assert torch.equal(x, x2)
    draws = {tuple(ds.subset("train", per_class=2, seed=s)[0][:, 0, 0, 0].tolist())
             for s in range(6)}
    assert len(draws) > 1  # the seed matters
    assert len(ds.subset("test")[1]) == 4
    with pytest.raises(ValueError, match="per_class=7.*c0.*6"):
        ds.subset("train", per_class=7)
    with pytest.raises(ValueError, match="allowed: train, test"):
        ds.subset("val")


def test_sample_grid_layout():
    ds = toy()
    g = I.sample_grid(ds, per_class=3, seed=1, padding=1)
    assert g.shape == (3, 4 * 3 + 1, 3 * 3 + 1) and g.dtype == torch.uint8
    x, y = ds.subset("train", per_class=3, seed=1)
    row2 = x[y == 2]
    assert torch.equal(g[:, 1 + 2 * 3: 3 + 2 * 3, 1 + 3: 3 + 3], row2[1])  # class 2, 2nd image
    assert (g[:, 0] == 255).all()


# ---------------------------------------------------------------- real data (skip if absent)


def test_real_cifar10_from_mirror(mirror_dir):
    if not (mirror_dir / "cifar10-jpg.tar.gz").is_file():
        pytest.skip(f"{mirror_dir} does not hold cifar10-jpg.tar.gz")
    assert mirror_root() == mirror_dir
    ds = I.load_images("cifar10")  # cold: ~12 s decode; then read from data/processed/
    assert ds.classes == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                          "horse", "ship", "truck"]
    assert ds.train_x.shape == (50000, 3, 32, 32) and ds.test_x.shape == (10000, 3, 32, 32)
    assert ds.train_y.bincount().tolist() == [5000] * 10
    assert ds.test_y.bincount().tolist() == [1000] * 10
    means = ds.train_x.double().mean(dim=(0, 2, 3))
    assert torch.allclose(means, torch.tensor([125.3, 122.9, 113.9], dtype=torch.double),
                          atol=0.1), means


def test_real_fashion_mnist_debian():
    if I._find_idx(I.DEBIAN_FASHION_DIR) is None:
        pytest.skip("apt package dataset-fashion-mnist is not installed")
    ds = I.load_images("fashion-mnist")
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.test_x.shape == (10000, 1, 28, 28)
    assert ds.train_y.bincount().tolist() == [6000] * 10
    assert abs(ds.train_x.double().mean().item() / 255 - 0.2860) < 1e-3
