"""Low-level readers behind :mod:`embcompat.data.images`: idx files, image-folder trees, torchvision.

Three jobs, each returning plain tensors:

* :func:`read_idx` parses the idx format of (Fashion-)MNIST, plain or gzipped.
* :func:`list_dir_imagefolder` / :func:`list_tar_imagefolder` collect the images of a
  ``train/<class>/*``, ``test/<class>/*`` tree from a folder or straight from a tarball, and
  :func:`decode_imagefolder` turns them into uint8 tensors of one common size and channel count.
* :func:`torchvision_arrays` wraps torchvision's CIFAR-10/100 and Fashion-MNIST classes, the
  download fallback.

Every malformed input raises :class:`ImageFormatError` naming the offending file.
"""
from __future__ import annotations

import gzip
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

#: idx type codes -> big-endian numpy dtypes (http://yann.lecun.com/exdb/mnist/).
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
#: PIL modes whose images carry a single (grey) channel.
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
SPLITS = ("train", "test")


class ImageFormatError(ValueError):
    """A data file (idx file, image, tarball, folder tree) is malformed; the message names it."""


def read_idx(path: str | Path) -> torch.Tensor:
    """Read one idx file (plain, or gzip-compressed: detected from its first bytes).

    The format: two zero bytes, a type code, the number of dimensions ``n``, then ``n`` big-endian
    uint32 sizes, then the data in row-major order.

    Args:
        path: the idx file (``train-images-idx3-ubyte`` or ``...-idx3-ubyte.gz``).

    Returns:
        A tensor of shape ``dims`` (``(60000, 28, 28)`` uint8 for images, ``(60000,)`` uint8 for
        labels), in native byte order.

    Raises:
        ImageFormatError: bad magic number, unknown type code, or a size that does not match.
    """
    path = Path(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ImageFormatError(f"{path}: broken gzip stream ({e})") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ImageFormatError(f"{path}: bad idx magic number {raw[:4].hex() or '(empty)'}; "
                               "an idx file starts with two zero bytes, a type code and ndim")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        raise ImageFormatError(f"{path}: unknown idx type code 0x{code:02x}; allowed: "
                               + ", ".join(f"0x{c:02x}" for c in IDX_DTYPES))
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ImageFormatError(f"{path}: truncated idx header ({len(raw)} bytes, ndim={ndim})")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_DTYPES[code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ImageFormatError(f"{path}: idx dims {dims} need {expected} data bytes, "
                               f"the file has {len(raw) - header}")
    data = np.frombuffer(raw, dtype, offset=header).reshape(dims)
    return torch.from_numpy(data.astype(dtype.newbyteorder("="), copy=True))


@dataclass(frozen=True)
class ImageEntry:
    """One image of an image-folder tree, not yet decoded.

    Attributes:
        split: ``"train"`` or ``"test"``.
        label: the class folder name.
        where: a readable location for messages (``/dir/train/cat/1.png`` or ``x.tar.gz:train/...``).
        payload: a file path, or the raw bytes for a tarball member.
    """

    split: str
    label: str
    where: str
    payload: Path | bytes


def is_image_name(name: str, extensions: frozenset[str]) -> bool:
    """Whether a file name is an image: not hidden, and an extension in ``extensions``."""
    return not name.startswith(".") and Path(name).suffix.lower() in extensions


def image_extensions() -> frozenset[str]:
    """The file extensions PIL reads (``.png``, ``.jpg``...), lower case with the dot."""
    return frozenset(Image.registered_extensions())


def class_folders(split_dir: Path) -> dict[str, Path]:
    """The class folders of one split folder, by name in sorted order; hidden ones are skipped."""
    return {p.name: p for p in sorted(split_dir.iterdir())
            if p.is_dir() and not p.name.startswith(".")}


def list_dir_imagefolder(root: str | Path) -> list[ImageEntry]:
    """List ``root/train/<class>/*`` and ``root/test/<class>/*`` image files.

    Files whose extension PIL does not register (``.txt``, ``.DS_Store``) are skipped, as in
    torchvision's ``ImageFolder``, and so are hidden folders (``.ipynb_checkpoints``). Entries
    are ordered by split, class name, then file name.

    Raises:
        ImageFormatError: ``root/train`` is missing.
    """
    root = Path(root)
    if not (root / "train").is_dir():
        raise ImageFormatError(f"{root}: an image folder needs train/<class>/ and test/<class>/ "
                               "subfolders; train/ is missing")
    exts = image_extensions()
    out = []
    for split in SPLITS:
        if not (root / split).is_dir():
            continue
        for cls_dir in class_folders(root / split).values():
            for f in sorted(cls_dir.iterdir()):
                if f.is_file() and is_image_name(f.name, exts):
                    out.append(ImageEntry(split, cls_dir.name, str(f), f))
    return out


def list_tar_imagefolder(path: str | Path) -> list[ImageEntry]:
    """Read every ``.../train/<class>/<file>`` and ``.../test/<class>/<file>`` member of a tarball.

    Any leading folders (``./`` or ``cifar10/``) are ignored. The images are kept as bytes in
    memory (about 20 MB for CIFAR-10), in the same order as :func:`list_dir_imagefolder`.

    Raises:
        ImageFormatError: the tarball cannot be read.
    """
    path = Path(path)
    exts = image_extensions()
    out = []
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":  # gunzip in one go: much faster than seeking in a GzipFile
            raw = gzip.decompress(raw)
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as tar:
            for m in tar:
                parts = m.name.split("/")
                if (not m.isfile() or len(parts) < 3 or parts[-3] not in SPLITS
                        or not is_image_name(parts[-1], exts)):
                    continue
                data = tar.extractfile(m).read()
                out.append(ImageEntry(parts[-3], parts[-2], f"{path}:{m.name}", data))
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ImageFormatError(f"{path}: cannot read the tarball ({e})") from e
    out.sort(key=lambda e: (SPLITS.index(e.split), e.label, e.where))
    return out


def _open(entry: ImageEntry) -> Image.Image:
    src = io.BytesIO(entry.payload) if isinstance(entry.payload, bytes) else entry.payload
    try:
        return Image.open(src)
    except Exception as e:  # PIL raises UnidentifiedImageError, OSError, SyntaxError...
        raise ImageFormatError(f"{entry.where}: cannot read image ({e})") from e


def decode_imagefolder(entries: list[ImageEntry], *, image_size: int | tuple[int, int] | None = None,
                       source: str = "image folder") -> dict:
    """Decode listed images into uint8 tensors of one size and channel count.

    The channel count is 1 if every image is grayscale, else 3 (RGB). The size is ``image_size``
    (an int for square images or ``(H, W)``), else the first train image's size; other images are
    resized bilinearly. Classes are the sorted train class folders.

    Args:
        entries: from :func:`list_dir_imagefolder` or :func:`list_tar_imagefolder`.
        image_size: the target size, or ``None`` for the first image's.
        source: named in error messages.

    Returns:
        ``{"train_x": (N, C, H, W) uint8, "train_y": (N,) long, "test_x": (M, C, H, W) uint8,
        "test_y": (M,) long, "classes": list[str], "resized": int}``.

    Raises:
        ImageFormatError: no train images, a test class missing from train, an unreadable image.
    """
    train = [e for e in entries if e.split == "train"]
    if not train:
        raise ImageFormatError(f"{source}: no train images found under train/<class>/")
    classes = sorted({e.label for e in train})
    missing = sorted({e.label for e in entries} - set(classes))
    if missing:
        raise ImageFormatError(f"{source}: test classes {missing} have no train/<class>/ folder; "
                               f"train classes are {classes}")
    if image_size is None:
        with _open(train[0]) as im:
            w, h = im.size
    elif isinstance(image_size, int):
        w = h = image_size
    else:
        h, w = image_size
    index = {c: i for i, c in enumerate(classes)}
    arrays = {s: [] for s in SPLITS}
    labels = {s: [] for s in SPLITS}
    resized, any_color = 0, False
    for e in entries:  # one pass: each image is opened once (header parsing dominates the cost)
        try:
            with _open(e) as im:
                gray = im.mode in GRAY_MODES
                im = im.convert("L" if gray else "RGB")
                if im.size != (w, h):
                    im = im.resize((w, h), Image.BILINEAR)
                    resized += 1
                a = np.asarray(im)
        except ImageFormatError:
            raise
        except Exception as err:
            raise ImageFormatError(f"{e.where}: cannot decode image ({err})") from err
        any_color |= not gray
        arrays[e.split].append(a.reshape(h, w, -1))
        labels[e.split].append(index[e.label])
    channels = 3 if any_color else 1
    stacked = {}
    for s in SPLITS:
        # PIL's L -> RGB conversion copies the grey value into each channel; so does repeat().
        stacked[s] = np.stack([a if a.shape[2] == channels else np.repeat(a, channels, axis=2)
                               for a in arrays[s]]) if arrays[s] else \
            np.empty((0, h, w, channels), np.uint8)
        arrays[s] = None
    out = {"classes": classes, "resized": resized}
    for s in SPLITS:
        out[f"{s}_x"] = torch.from_numpy(stacked[s]).permute(0, 3, 1, 2).contiguous()
        out[f"{s}_y"] = torch.tensor(labels[s], dtype=torch.long)
    return out


def torchvision_arrays(name: str, root: str | Path, *, download: bool) -> dict:
    """Load a data set through torchvision (``download=False`` only reads what is in ``root``).

    Args:
        name: ``"cifar10"``, ``"cifar100"`` or ``"fashion-mnist"``.
        root: torchvision's ``root`` folder.
        download: let torchvision fetch the files into ``root``.

    Returns:
        The same dict as :func:`decode_imagefolder` (without ``resized``).

    Raises:
        FileNotFoundError: the files are not in ``root`` and ``download`` is false (or failed).
    """
    from torchvision import datasets  # local: torchvision import is slow

    cls = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100,
           "fashion-mnist": datasets.FashionMNIST}[name]
    out = {}
    for split in SPLITS:
        try:
            ds = cls(root=str(root), train=split == "train", download=download)
        except RuntimeError as e:  # torchvision: "Dataset not found or corrupted."
            raise FileNotFoundError(f"torchvision {cls.__name__} under {root}: {e}") from e
        x = torch.as_tensor(np.asarray(ds.data))
        x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
        out[f"{split}_x"] = x.to(torch.uint8).contiguous()
        out[f"{split}_y"] = torch.as_tensor(np.asarray(ds.targets), dtype=torch.long)
        out["classes"] = list(ds.classes)
    return out
