"""Data: evolving user-item graphs (this module's registry) and their per-version splits.

Example:
    >>> from embcompat.data import load_graph, version_splits, assert_no_leakage
    >>> g = load_graph("synthetic")
    >>> splits = version_splits(g)            # official protocol: 5 versions at t = .5 ... 1.0
    >>> assert_no_leakage(g, splits)

Registered names (``GRAPH_DATASETS``) plus the path form ``interactions-csv:/abs/dir``. Image data
sets live in ``embcompat.data.images`` and are not imported here.
"""
from __future__ import annotations

from embcompat.data.graphs import InteractionGraph
from embcompat.data.splits import DEFAULT_TIMES, VersionSplit, assert_no_leakage, version_splits
from embcompat.data.resolve import DataNotFoundError, resolve_files

__all__ = ["DEFAULT_TIMES", "GRAPH_DATASETS", "InteractionGraph", "VersionSplit", "assert_no_leakage",
           "available_graph_datasets", "load_graph", "version_splits"]

#: name -> one-line description; ``synthetic-<preset>`` names come from sources.synthetic.PRESETS.
GRAPH_DATASETS: dict[str, str] = {
    "amazon2018-musical-instruments": "Amazon 2018 Musical_Instruments 5-core (the paper's main data)",
    "amazon2018-video-games": "Amazon 2018 Video_Games 5-core (paper)",
    "amazon2018-grocery": "Amazon 2018 Grocery_and_Gourmet_Food 5-core (paper)",
    "amazon-2014-hin": "Amazon 2014 reviews from HIN-Datasets (6,170 users, 2,753 items)",
    "movielens-latest-small": "MovieLens latest-small (610 users, 9,724 movies, genres)",
    "synthetic": "seeded synthetic graph, tiny preset (500 users, 300 items, 10k edges)",
    "synthetic-tiny": "synthetic, 500 users / 300 items / 10k edges",
    "synthetic-small": "synthetic, 3k users / 1.5k items / 60k edges",
    "synthetic-musical-instruments": "synthetic at the paper's Musical Instruments size",
}
CSV_FORM = "interactions-csv:/abs/dir"


def _spec_of(name: str):
    if name == "amazon-2014-hin":
        from embcompat.data.sources import amazon2014_hin
        return amazon2014_hin.SPEC, {}
    if name == "movielens-latest-small":
        from embcompat.data.sources import movielens
        return movielens.SPEC, {"downloader": movielens.download_from_zip}
    from embcompat.data.sources import amazon2018
    return amazon2018.source_spec(amazon2018.CATEGORIES[name]), {}


def load_graph(spec: str, *, use_cache: bool = True) -> InteractionGraph:
    """Load a registered graph data set or ``interactions-csv:/abs/dir``.

    Raw files are found in ``$EMBCOMPAT_MIRROR``, then ``data/``, then downloaded (see
    :mod:`embcompat.data.resolve`); the processed graph is cached by content hash.

    Raises:
        ValueError: unknown name (the message lists the allowed names and forms).
        DataNotFoundError: the raw files are nowhere (the message says where to put them).
    """
    if spec.startswith("interactions-csv:"):
        from embcompat.data.sources import interactions_csv
        return interactions_csv.load(spec, use_cache=use_cache)
    if spec not in GRAPH_DATASETS:
        raise ValueError(f"unknown graph data set {spec!r}; allowed: {', '.join(GRAPH_DATASETS)}, "
                         f"or the form {CSV_FORM!r}")
    if spec.startswith("synthetic"):
        from embcompat.data.sources import synthetic
        return synthetic.load(spec)
    if spec == "amazon-2014-hin":
        from embcompat.data.sources import amazon2014_hin
        return amazon2014_hin.load(use_cache=use_cache)
    if spec == "movielens-latest-small":
        from embcompat.data.sources import movielens
        return movielens.load(use_cache=use_cache)
    from embcompat.data.sources import amazon2018
    return amazon2018.load(spec, use_cache=use_cache)


def available_graph_datasets() -> list[str]:
    """Registered names whose raw files resolve now (mirror or cache; no download), plus synthetic."""
    out = []
    for name in GRAPH_DATASETS:
        if name.startswith("synthetic"):
            out.append(name)
            continue
        spec, kw = _spec_of(name)
        try:
            resolve_files(spec, allow_download=False, **kw)
        except DataNotFoundError:
            continue
        out.append(name)
    return out
