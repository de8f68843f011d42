"""Cache files that verify themselves: save with a SHA-256 sidecar, check it on every load.

Every cache file (``outputs/cache/...``, ``data/processed/...``) is written atomically and then
sealed: its digest goes to ``<file>.sha256`` (``sha256sum`` format, also written atomically, AFTER
the file). A load first checks the digest, then reads the file. A digest mismatch (a same-size
byte flip), a missing sidecar (an entry from before caches were verified, or a write cut short
between the file and its sidecar) or an unreadable file raises :class:`CorruptCacheError`, which
names the file. Cache users call :func:`load_cached`, which logs a warning naming the path and the
reason and returns ``None`` so that the entry is rebuilt; the rebuild overwrites file and sidecar.

Example:
    >>> save_torch({"w": torch.zeros(3)}, path)  # doctest: +SKIP
    >>> blob = load_cached(path)                  # None: missing, or corrupt (warned) -> rebuild
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Callable

import torch

from embcompat.utils import atomic_write, file_sha256, json_save_atomic, torch_save_atomic

__all__ = ["CorruptCacheError", "SIDECAR_SUFFIX", "sidecar_path", "seal", "verify", "save_torch",
           "save_json", "read_torch", "read_json", "load_verified", "warn_corrupt", "load_cached"]

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".sha256"
#: What a usable file may still fail with once read (a payload missing a field, a state dict of
#: another shape): treated like a corrupt file by :func:`load_cached`.
USE_ERRORS = (KeyError, TypeError, ValueError, RuntimeError)


class CorruptCacheError(Exception):
    """A cache file failed verification or could not be read.

    Attributes:
        path: the cache file.
        reason: what is wrong with it.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path, self.reason = Path(path), reason
        super().__init__(f"corrupt cache file {self.path}: {reason}. Delete {self.path} (and "
                         f"{sidecar_path(self.path).name} beside it) to have it rebuilt")


def sidecar_path(path: str | Path) -> Path:
    """``<file>.sha256`` beside ``path``."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def seal(path: str | Path) -> str:
    """Write the SHA-256 of the (already written) file ``path`` to its sidecar; return it."""
    path = Path(path)
    digest = file_sha256(path)
    with atomic_write(sidecar_path(path), "w") as f:
        f.write(f"{digest}  {path.name}\n")
    return digest


def verify(path: str | Path) -> None:
    """Check ``path`` against its sidecar.

    Raises:
        FileNotFoundError: ``path`` does not exist (a cache miss, not a corruption).
        CorruptCacheError: no sidecar, an unreadable sidecar, or a digest mismatch.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no cache file {path}")
    side = sidecar_path(path)
    try:
        text = side.read_text()
    except FileNotFoundError:
        raise CorruptCacheError(path, f"no checksum file {side.name} (an entry written before "
                                      "cache files were verified, or a write cut short)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CorruptCacheError(path, f"unreadable checksum file {side.name} ({err})") from err
    expected = text.split()[0].lower() if text.split() else ""
    if len(expected) != 64:
        raise CorruptCacheError(path, f"malformed checksum file {side.name}")
    actual = file_sha256(path)
    if actual != expected:
        raise CorruptCacheError(path, f"SHA-256 {actual[:12]}... does not match the recorded "
                                      f"{expected[:12]}... (the file changed after it was written)")


def save_torch(obj: Any, path: str | Path) -> None:
    """``torch.save`` atomically, then :func:`seal`."""
    torch_save_atomic(obj, path)
    seal(path)


def save_json(obj: Any, path: str | Path) -> None:
    """Indented JSON atomically (:func:`~embcompat.utils.json_save_atomic`), then :func:`seal`."""
    json_save_atomic(obj, path)
    seal(path)


def read_torch(path: Path) -> Any:
    """``torch.load`` on the CPU with ``weights_only=True`` (tensors and plain containers only)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def read_json(path: Path) -> Any:
    """Parse a JSON file."""
    return json.loads(Path(path).read_text())


def load_verified(path: str | Path, read: Callable[[Path], Any] = read_torch) -> Any:
    """:func:`verify` ``path``, then ``read(path)``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CorruptCacheError: verification failed, or ``read`` could not parse the file.
    """
    path = Path(path)
    verify(path)
    try:
        return read(path)
    except Exception as err:  # noqa: BLE001 - whatever the reader trips on, the file is unusable
        raise CorruptCacheError(path, f"unreadable ({type(err).__name__}: {err})") from err


def warn_corrupt(err: CorruptCacheError, action: str = "rebuilding it") -> None:
    """Log that a corrupt cache entry is ignored (names the path and the reason)."""
    log.warning("ignoring corrupt cache file %s: %s; %s", err.path, err.reason, action)


def load_cached(path: str | Path, read: Callable[[Path], Any] = read_torch,
                use: Callable[[Any], Any] | None = None) -> Any | None:
    """Load a cache entry, or ``None`` when it must be (re)built.

    Args:
        path: the cache file.
        read: parses the verified file (default: :func:`read_torch`).
        use: turns what was read into the result (e.g. a record, or a model with the state
            loaded); its errors in :data:`USE_ERRORS` also count as a corrupt entry.

    Returns:
        The result; ``None`` when ``path`` is missing, or corrupt (then a warning naming the path
        and the reason is logged).
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        value = load_verified(path, read)
        if use is None:
            return value
        try:
            return use(value)
        except USE_ERRORS as err:
            reason = f"unusable content ({type(err).__name__}: {err})"
            raise CorruptCacheError(path, reason) from err
    except CorruptCacheError as err:
        warn_corrupt(err)
        return None
