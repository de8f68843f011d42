"""Image-folder trees (``train/<class>/*``, ``test/<class>/*``): layout checks and the decode cache.

:func:`load_imagefolder` backs ``load_images("imagefolder:/abs/dir")``: it checks the layout
(both splits, the same class folders in each, no empty class folder), decodes the images with
:mod:`embcompat.data.image_readers` and memoises the tensors under ``data/processed/`` with
:func:`cached_decode`, which the CIFAR-10 tarball (an image-folder tree too) also uses.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from embcompat.cache_files import load_cached, save_torch
from embcompat.data import image_readers as R
from embcompat.data.resolve import DataNotFoundError, cache_root
from embcompat.utils import config_hash

#: Bump when decoding changes, so stale processed caches are not reused.
PROCESSED_VERSION = 1


def cached_decode(kind: str, key: str, use_cache: bool, build: Callable[[], dict]) -> dict:
    """Return ``build()``, memoised in ``data/processed/<kind>-<key>.pt`` when ``use_cache``.

    The file is written atomically with a SHA-256 sidecar checked on load
    (:mod:`embcompat.cache_files`); a missing, corrupt or unsealed one is warned about and rebuilt.
    """
    path = cache_root() / "processed" / f"{kind}-{key}.pt"
    if use_cache:
        arrays = load_cached(path)  # None: missing, or corrupt (warned) -> decode again
        if arrays is not None:
            return arrays
    arrays = build()
    if use_cache:
        save_torch(arrays, path)
    return arrays


def layout_text(root: Path) -> str:
    """The expected layout, for messages: ``<root>/train/<class>/* and <root>/test/<class>/*``."""
    return (f"{root}/train/<class>/* and {root}/test/<class>/* (the same class folders under "
            "both, each holding at least one image)")


def check_imagefolder_layout(root: Path) -> None:
    """Check an image-folder tree before anything is decoded.

    Hidden folders (``.ipynb_checkpoints``) are ignored, as are files PIL cannot read by their
    extension (``notes.txt``).

    Raises:
        ImageFormatError: ``train/`` or ``test/`` is missing or holds no class folder, a class
            folder is under one split only, or a class folder holds no image. The message names
            the folder and the expected layout.
    """
    layout = layout_text(root)
    missing = [f"{s}/" for s in R.SPLITS if not (root / s).is_dir()]
    if missing:
        raise R.ImageFormatError(f"{root}: no {' or '.join(missing)} folder; an image folder "
                                 f"needs {layout}")
    folders = {s: R.class_folders(root / s) for s in R.SPLITS}
    for s, found in folders.items():
        if not found:
            raise R.ImageFormatError(f"{root}/{s}/ holds no class folder (images directly in "
                                     f"{s}/ are not read); an image folder needs {layout}")
    only = {s: sorted(set(folders[s]) - set(folders[o]))
            for s, o in (("train", "test"), ("test", "train"))}
    if only["train"] or only["test"]:
        parts = [f"only under {s}/: {names}" for s, names in only.items() if names]
        raise R.ImageFormatError(f"{root}: the class folders of train/ and test/ differ "
                                 f"({'; '.join(parts)}); every class needs a folder under both "
                                 f"train/ and test/: {layout}")
    exts = R.image_extensions()
    empty = [f"{s}/{name}/" for s in R.SPLITS for name, p in folders[s].items()
             if not any(f.is_file() and R.is_image_name(f.name, exts) for f in p.iterdir())]
    if empty:
        raise R.ImageFormatError(f"{root}: class folders with no image: {empty} (image files "
                                 f"are those PIL reads, e.g. .png, .jpg); an image folder needs "
                                 f"{layout}")


def load_imagefolder(root: str, use_cache: bool = True,
                     image_size: int | tuple[int, int] | None = None) -> tuple[dict, dict]:
    """Check, decode (or read from the cache) an image-folder tree.

    Args:
        root: the folder holding ``train/`` and ``test/``.
        use_cache: read/write the decoded tensors under ``data/processed/``.
        image_size: resize every image to this (int or ``(H, W)``); default the first train
            image's size.

    Returns:
        ``(arrays, meta)``: the dict of :func:`~embcompat.data.image_readers.decode_imagefolder`
        and ``{"source", "path", "resized"}``.

    Raises:
        DataNotFoundError: ``root`` is not a folder.
        ImageFormatError: a bad layout (see :func:`check_imagefolder_layout`) or image.
    """
    path = Path(root).expanduser().resolve()
    if not path.is_dir():
        raise DataNotFoundError(f"imagefolder: {path} is not a folder; expected "
                                f"{layout_text(path)}")
    check_imagefolder_layout(path)
    entries = R.list_dir_imagefolder(path)
    listing = [(e.where, os.stat(e.payload).st_size, os.stat(e.payload).st_mtime_ns)
               for e in entries]
    key = config_hash(str(path), listing, image_size, PROCESSED_VERSION)
    arrays = cached_decode("imagefolder", key, use_cache, lambda: R.decode_imagefolder(
        entries, image_size=image_size, source=str(path)))
    return arrays, {"source": "imagefolder", "path": str(path), "resized": int(arrays["resized"])}
