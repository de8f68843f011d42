"""Find a data set's raw files: ``$EMBCOMPAT_MIRROR``, then the ``data/`` cache, then a download.

The resolution order is fixed and every failure names all three places and the exact files that
were expected there, so a user knows where to put them.
"""
from __future__ import annotations

import os
import shutil
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from embcompat.utils import atomic_write, file_sha256, project_root

MIRROR_ENV = "EMBCOMPAT_MIRROR"
DOWNLOAD_ENV = "EMBCOMPAT_ALLOW_DOWNLOAD"


class DataNotFoundError(FileNotFoundError):
    """A data set could be found neither in the mirror, nor in the cache, nor downloaded."""


class ChecksumError(ValueError):
    """A downloaded (or mirrored) file does not have the expected SHA-256."""


@dataclass(frozen=True)
class RemoteFile:
    """One raw file of a data set.

    Attributes:
        name: the file name, relative to the data set's folder (``ratings.csv``).
        url: where the original source publishes it, or ``None`` if it can't be downloaded.
        sha256: the expected digest, or ``None`` where the source publishes none.
    """

    name: str
    url: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class SourceSpec:
    """Where a data set's files live: a folder name shared by the mirror and the cache."""

    folder: str
    files: tuple[RemoteFile, ...]
    how_to_get: str = ""
    extra_optional: tuple[str, ...] = field(default_factory=tuple)


def cache_root() -> Path:
    """The git-ignored project data cache, ``<repo>/data`` (override with ``$EMBCOMPAT_DATA``)."""
    return Path(os.environ.get("EMBCOMPAT_DATA", project_root() / "data"))


def mirror_root() -> Path | None:
    """The mirror folder from ``$EMBCOMPAT_MIRROR``, resolved against the repo root if relative."""
    value = os.environ.get(MIRROR_ENV)
    if not value:
        return None
    p = Path(value)
    return p if p.is_absolute() else (project_root() / p).resolve()


def _download(url: str, dest: Path, sha256: str | None) -> None:
    with urllib.request.urlopen(url, timeout=60) as r, atomic_write(dest) as f:  # noqa: S310
        shutil.copyfileobj(r, f)
    verify_checksum(dest, sha256)


def verify_checksum(path: Path, sha256: str | None) -> None:
    """Raise :class:`ChecksumError` (and delete ``path``) if its digest is not ``sha256``."""
    if sha256 is None:
        return
    got = file_sha256(path)
    if got != sha256:
        path.unlink(missing_ok=True)
        raise ChecksumError(f"{path}: SHA-256 {got} does not match the expected {sha256}; "
                            "the file was removed. Download it again or check the source.")


def resolve_files(spec: SourceSpec, *, allow_download: bool | None = None,
                  downloader=_download) -> Path:
    """Return a folder holding every file of ``spec``.

    Order: ``$EMBCOMPAT_MIRROR/<folder>``, then ``data/<folder>`` (the cache), then a download of
    the missing files into the cache with a checksum check. Downloads happen only when
    ``allow_download`` is true (default: ``$EMBCOMPAT_ALLOW_DOWNLOAD=1``), never in tests.

    Raises:
        DataNotFoundError: naming the three places and the expected file names.
        ChecksumError: a download did not match its published digest.
    """
    names = [f.name for f in spec.files]
    mirror = mirror_root()
    candidates = ([mirror / spec.folder] if mirror else []) + [cache_root() / spec.folder]
    for folder in candidates:
        if all((folder / n).is_file() for n in names):
            return folder
    if allow_download is None:
        allow_download = os.environ.get(DOWNLOAD_ENV, "") == "1"
    target = cache_root() / spec.folder
    downloadable = all(f.url for f in spec.files)
    if allow_download and downloadable:
        for f in spec.files:
            dest = target / f.name
            if not dest.is_file():
                downloader(f.url, dest, f.sha256)
        return target
    mirror_txt = f"{mirror / spec.folder}" if mirror else f"${MIRROR_ENV}/{spec.folder} (unset)"
    if downloadable:
        dl = (f"3. download from the original source: set {DOWNLOAD_ENV}=1 "
              f"({', '.join(f.url for f in spec.files)})")
    else:
        dl = "3. download: not available for this data set"
    raise DataNotFoundError(
        f"Data set folder '{spec.folder}' not found. Expected files: {', '.join(names)}. Looked in:\n"
        f"  1. the mirror {mirror_txt}\n  2. the cache {target}\n  {dl}\n"
        + (f"How to get it: {spec.how_to_get}" if spec.how_to_get else ""))
