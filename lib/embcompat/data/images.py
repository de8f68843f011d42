"""The image data-set registry: which names exist, where each is found, and :func:`load_images`.

Names: CIFAR-10, Fashion-MNIST, CIFAR-100 and your own image folders. Every data set comes back
as an :class:`~embcompat.data.image_dataset.ImageDataset` (the container, with its subsets and
``sample_grid``, lives in :mod:`embcompat.data.image_dataset` and is re-exported here); image
folders are checked, decoded and cached by :mod:`embcompat.data.image_folder`.

Where each data set comes from (first hit wins):

* ``cifar10``: ``cifar10-jpg.tar.gz`` in ``$EMBCOMPAT_MIRROR`` or the ``data/`` cache, read
  straight from the tarball and cached decoded under ``data/processed/`` by the tarball's SHA-256;
  then torchvision's files in ``data/torchvision``; then a torchvision download (if allowed).
* ``fashion-mnist``: the four idx files (plain or ``.gz``) in ``$EMBCOMPAT_MIRROR/fashion-mnist``,
  ``data/fashion-mnist`` or Debian's ``/usr/share/datasets/fashion-mnist``; then torchvision.
* ``cifar100``: torchvision's files in the mirror or ``data/torchvision``; then a download.
* ``imagefolder:/abs/dir``: ``train/<class>/*`` and ``test/<class>/*`` images of any PIL format,
  the same class folders under both splits.

Downloads happen only with ``allow_download=True`` or ``$EMBCOMPAT_ALLOW_DOWNLOAD=1``.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from embcompat.data import image_readers as R
from embcompat.data.image_dataset import ImageDataset, Shortfall, sample_grid
from embcompat.data.image_folder import PROCESSED_VERSION, cached_decode, load_imagefolder
from embcompat.data.resolve import (DOWNLOAD_ENV, MIRROR_ENV, DataNotFoundError, RemoteFile,
                                    SourceSpec, cache_root, mirror_root, resolve_files)
from embcompat.utils import file_sha256

__all__ = ["IMAGE_DATASETS", "ImageDataset", "Shortfall", "available_image_datasets",
           "load_images", "sample_grid"]

IMAGE_DATASETS: dict[str, str] = {
    "cifar10": "CIFAR-10: 60,000 32x32 RGB images, 10 classes (5,000 train / 1,000 test each).",
    "fashion-mnist": "Fashion-MNIST: 70,000 28x28 grayscale images, 10 classes (6,000 / 1,000).",
    "cifar100": "CIFAR-100: 60,000 32x32 RGB images, 100 classes (500 / 100); torchvision only.",
    "imagefolder:<dir>": "Your own images: <dir>/train/<class>/* and <dir>/test/<class>/*, the "
                         "same class folders under both.",
}
CIFAR10_TARBALL = SourceSpec(
    folder="", files=(RemoteFile("cifar10-jpg.tar.gz"),),
    how_to_get="the project's mirror file cifar10-jpg.tar.gz (an image-folder tree of JPEGs)")
FASHION_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def _allow(allow_download: bool | None) -> bool:
    return os.environ.get(DOWNLOAD_ENV, "") == "1" if allow_download is None else allow_download


def _mirror_txt(sub: str) -> str:
    m = mirror_root()
    return str(m / sub) if m else f"${MIRROR_ENV}/{sub} (unset)"


def _from_arrays(name: str, arrays: dict, meta: dict) -> ImageDataset:
    return ImageDataset(name, arrays["train_x"], arrays["train_y"], arrays["test_x"],
                        arrays["test_y"], list(arrays["classes"]), meta)


def _torchvision(name: str, allow_download: bool | None, local_hits: list[str]) -> ImageDataset:
    """Try torchvision's files in the mirror, then ``data/torchvision``, then a download."""
    roots = ([mirror_root()] if mirror_root() else []) + [cache_root() / "torchvision"]
    for root in roots:
        try:
            return _from_arrays(name, R.torchvision_arrays(name, root, download=False),
                                {"source": "torchvision", "path": str(root)})
        except FileNotFoundError:
            continue
    target = cache_root() / "torchvision"
    if _allow(allow_download):
        return _from_arrays(name, R.torchvision_arrays(name, target, download=True),
                            {"source": "torchvision-download", "path": str(target)})
    places = local_hits + [f"torchvision's files under the mirror {_mirror_txt('')}",
                           f"torchvision's files under the cache {target}",
                           f"a torchvision download into {target}: pass allow_download=True "
                           f"or set {DOWNLOAD_ENV}=1"]
    raise DataNotFoundError(f"Image data set '{name}' not found. Looked in:\n"
                            + "\n".join(f"  {i}. {p}" for i, p in enumerate(places, 1)))


def _load_cifar10(use_cache: bool, allow_download: bool | None) -> ImageDataset:
    try:
        folder = resolve_files(CIFAR10_TARBALL, allow_download=False)
    except DataNotFoundError:
        hits = [f"the mirror file {_mirror_txt('cifar10-jpg.tar.gz')}",
                f"the cache file {cache_root() / 'cifar10-jpg.tar.gz'}"]
        return _torchvision("cifar10", allow_download, hits)
    tarball = folder / "cifar10-jpg.tar.gz"
    sha = file_sha256(tarball)
    arrays = cached_decode(
        "cifar10", f"{sha[:16]}-v{PROCESSED_VERSION}", use_cache,
        lambda: R.decode_imagefolder(R.list_tar_imagefolder(tarball), source=str(tarball)))
    counts = [(arrays["train_y"] == c).sum().item() for c in range(len(arrays["classes"]))]
    if len(arrays["classes"]) != 10 or set(counts) != {5000} or len(arrays["test_y"]) != 10000:
        raise R.ImageFormatError(f"{tarball}: expected 10 classes x 5,000 train and 10,000 test "
                                 f"images, found classes {arrays['classes']}, train counts "
                                 f"{counts}, {len(arrays['test_y'])} test images")
    return _from_arrays("cifar10", arrays, {"source": "tarball", "path": str(tarball),
                                            "sha256": sha})


def _find_idx(folder: Path) -> list[Path] | None:
    found = []
    for n in FASHION_FILES:
        hit = next((folder / f for f in (n, n + ".gz") if (folder / f).is_file()), None)
        if hit is None:
            return None
        found.append(hit)
    return found


def _fashion_folders() -> list[Path]:
    m = mirror_root()
    return ([m / "fashion-mnist"] if m else []) + [cache_root() / "fashion-mnist",
                                                  DEBIAN_FASHION_DIR]


def _load_fashion(allow_download: bool | None) -> ImageDataset:
    for folder in _fashion_folders():
        files = _find_idx(folder)
        if files is None:
            continue
        tx, ty, sx, sy = (R.read_idx(f) for f in files)
        for x, y, fx in ((tx, ty, files[0]), (sx, sy, files[2])):
            if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
                raise R.ImageFormatError(f"{fx}: images {tuple(x.shape)} do not match "
                                         f"{len(y)} labels")
        return ImageDataset("fashion-mnist", tx.unsqueeze(1).to(torch.uint8), ty.long(),
                            sx.unsqueeze(1).to(torch.uint8), sy.long(), list(FASHION_CLASSES),
                            {"source": "idx", "path": str(folder)})
    hits = [f"the idx files {', '.join(FASHION_FILES)} (plain or .gz) in {f}"
            for f in ([Path(_mirror_txt("fashion-mnist"))] + _fashion_folders()[-2:])]
    hits[-1] += " (apt-get install dataset-fashion-mnist)"
    return _torchvision("fashion-mnist", allow_download, hits)


def _load_imagefolder(root: str, use_cache: bool,
                      image_size: int | tuple[int, int] | None) -> ImageDataset:
    arrays, meta = load_imagefolder(root, use_cache, image_size)
    return _from_arrays(f"imagefolder:{meta['path']}", arrays, meta)


def load_images(spec: str, *, use_cache: bool = True, allow_download: bool | None = None,
                image_size: int | tuple[int, int] | None = None) -> ImageDataset:
    """Load an image data set by name.

    Args:
        spec: ``cifar10``, ``fashion-mnist``, ``cifar100`` or ``imagefolder:/abs/dir``.
        use_cache: read/write decoded tensors under ``data/processed/`` (tarballs, image folders).
        allow_download: allow a torchvision download; ``None`` reads ``$EMBCOMPAT_ALLOW_DOWNLOAD``.
        image_size: ``imagefolder`` only: resize every image to this (int or ``(H, W)``);
            default the first train image's size.

    Raises:
        ValueError: an unknown spec (the message lists the allowed ones).
        DataNotFoundError: the data are nowhere to be found; the message names every place.
        ImageFormatError: a malformed file, named in the message.
    """
    if spec.startswith("imagefolder:"):
        return _load_imagefolder(spec.split(":", 1)[1], use_cache, image_size)
    if image_size is not None:
        raise ValueError("image_size is only used with imagefolder:<dir> specs")
    if spec == "cifar10":
        return _load_cifar10(use_cache, allow_download)
    if spec == "fashion-mnist":
        return _load_fashion(allow_download)
    if spec == "cifar100":
        return _torchvision("cifar100", allow_download, [])
    raise ValueError(f"unknown image data set {spec!r}; allowed: cifar10, fashion-mnist, "
                     "cifar100, or imagefolder:/abs/dir (with train/<class>/ and test/<class>/)")


def available_image_datasets() -> list[str]:
    """Registered names whose files are on this machine now (no download, nothing decoded)."""
    out = []
    m = mirror_root()
    tv_roots = ([m] if m else []) + [cache_root() / "torchvision"]
    tarball = any((r / "cifar10-jpg.tar.gz").is_file() for r in ([m] if m else []) + [cache_root()])
    if tarball or any((r / "cifar-10-batches-py").is_dir() for r in tv_roots):
        out.append("cifar10")
    if any(_find_idx(f) for f in _fashion_folders()) or any(
            (r / "FashionMNIST" / "raw").is_dir() for r in tv_roots):
        out.append("fashion-mnist")
    if any((r / "cifar-100-python").is_dir() for r in tv_roots):
        out.append("cifar100")
    return out
