"""Content-addressed cache of processed graphs under ``resolve.cache_root()/processed/``.

The key hashes the raw files' SHA-256, the source's processing version and its options, so a change
in any of them builds a new file. Files are written atomically (temp file + rename), so a
half-written cache is never read, then sealed with a SHA-256 sidecar that is checked on load
(:mod:`embcompat.cache_files`); a corrupt, unsealed or unreadable file is logged and rebuilt.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from embcompat.cache_files import load_cached, seal
from embcompat.data.graphs import InteractionGraph
from embcompat.data.resolve import cache_root, resolve_files
from embcompat.utils import config_hash, file_sha256


def raw_file_digests(files: Sequence[Path]) -> dict[str, str]:
    """``{file name: sha256}`` of the raw files, for ``meta`` and the cache key."""
    return {Path(f).name: file_sha256(f) for f in files}


def processed_path(name: str, digests: dict, processing: dict) -> Path:
    """Where the processed graph of these raw files and this processing lives."""
    key = config_hash(name, digests, processing)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return cache_root() / "processed" / f"{safe}-{key}.safetensors"


def cached_graph(name: str, files: Sequence[Path], processing: dict,
                 build: Callable[[dict], InteractionGraph], *, use_cache: bool = True) -> InteractionGraph:
    """Load the processed graph from the cache, or ``build(digests)`` it and store it.

    Args:
        name: data set name (part of the file name).
        files: the raw files it is built from.
        processing: JSON-able processing version and options (part of the key).
        build: called with ``{file name: sha256}`` to build the graph on a cache miss.
        use_cache: read and write the cache; with False, always build and never write.
    """
    digests = raw_file_digests(files)
    if not use_cache:
        return build(digests)
    path = processed_path(name, digests, processing)
    graph = load_cached(path, read=InteractionGraph.load)  # None: missing or corrupt (warned)
    if graph is None:
        graph = build(digests)
        graph.save(path)
        seal(path)
    return graph


def load_folder_source(name: str, spec, parse: Callable[..., InteractionGraph], processing: dict,
                       *, use_cache: bool = True, **resolve_kw) -> InteractionGraph:
    """Resolve a folder source (mirror -> cache -> download), then parse it through the cache.

    Args:
        name: the registered data set name (also the graph's ``meta['source']``).
        spec: its :class:`~embcompat.data.resolve.SourceSpec`.
        parse: ``parse(folder, meta=...)`` building the graph from the resolved folder.
        processing: the processing parameters (part of the cache key and of ``meta``).
        use_cache: read and write the processed-graph cache.
        **resolve_kw: passed to :func:`~embcompat.data.resolve.resolve_files` (e.g. ``downloader``).
    """
    folder = resolve_files(spec, **resolve_kw)
    files = [folder / f.name for f in spec.files]

    def build(digests: dict) -> InteractionGraph:
        return parse(folder, meta={"source": name, "spec": name, "raw_files": digests,
                                   "processing": processing, "folder": str(folder)})

    return cached_graph(name, files, processing, build, use_cache=use_cache)
