"""Small shared helpers: seeding, device resolution, content hashing and atomic writes.

Every random function in embcompat takes a ``seed`` or ``generator``; :func:`set_seed` seeds the
global generators once per run. Every cache write goes through :func:`atomic_write` so that a
half-written file is never read back (:mod:`embcompat.cache_files` adds a SHA-256 sidecar to each
cache file and checks it on load).
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"`` into ``cuda`` when a GPU is visible, else ``cpu``; pass others through."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    return obj


def config_hash(*parts: Any, length: int = 16) -> str:
    """A stable hex digest of dataclasses / dicts / lists / scalars, for cache keys."""
    payload = json.dumps(_jsonable(list(parts)), sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:length]


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[Any]:
    """Open a temp file beside ``path``; rename it over ``path`` only if the block succeeds.

    Example:
        >>> with atomic_write(p) as f:  # doctest: +SKIP
        ...     torch.save(obj, f)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def torch_save_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save`` through :func:`atomic_write`."""
    with atomic_write(path) as f:
        torch.save(obj, f)


def json_save_atomic(obj: Any, path: str | Path) -> None:
    """Write ``obj`` as indented JSON through :func:`atomic_write`."""
    with atomic_write(path, "w") as f:
        json.dump(_jsonable(obj), f, indent=2, sort_keys=True)


def project_root() -> Path:
    """The repository root (the folder holding ``pyproject.toml``), found from this file."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists():
            return parent
    return Path.cwd()


def cache_dir(what: str, key: str) -> Path:
    """``outputs/cache/<what>-<key>/`` (or under ``$EMBCOMPAT_CACHE``), created on demand."""
    base = Path(os.environ.get("EMBCOMPAT_CACHE", project_root() / "outputs" / "cache"))
    d = base / f"{what}-{key}"
    d.mkdir(parents=True, exist_ok=True)
    return d
