"""One BC experiment: every method on one data set at a scale, ``C_0`` trained once, everything scored.

The notebooks 02-04 call :func:`run_experiment` with the same parameters, so they hit the same
caches: every version of every method is cached by :func:`~embcompat.backward.train.train_versions`
(``bc-version-<key>``) and every ``C_0`` by
:func:`~embcompat.backward.consumer_cache.train_consumers_cached` (``consumers-<key>``).

The references are always run, whichever methods were asked for: Non-BC (the intended-task
reference) and Fix-M0 (the true ``z_0``), combined into Keep-All (free). ``C_0`` is trained on
Fix-M0's embeddings: version 0 is ``M_0``'s (identical for every method) and the user tasks
validate on ``M_0``'s version-1 embeddings, as in the official code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import pandas as pd
import torch

from embcompat.backward.consumer_cache import train_consumers_cached
from embcompat.backward.consumers import TrainedConsumers
from embcompat.backward.evaluate import PAPER_ORDER, evaluate_methods
from embcompat.backward.methods import METHOD_NAMES, get_method
from embcompat.backward.results import VersionsResult
from embcompat.backward.tasks import TaskData, build_tasks
from embcompat.backward.train import train_versions
from embcompat.config import BCTrainConfig, ConsumerConfig, bc_config, get_scale
from embcompat.data import GRAPH_DATASETS, InteractionGraph, VersionSplit, load_graph, version_splits
from embcompat.data.catalog import load_many
from embcompat.params import as_list

__all__ = ["REAL_DATASETS", "DEFAULT_METHODS", "BCExperiment", "resolve_methods", "resolve_datasets",
           "default_dataset", "run_experiment", "assert_same_m0",
           "recall_table", "save_compatibility_tables"]

#: What ``methods=None`` runs: every Table 3 row but BC-Aligner-MLP, i.e. the paper's nine rows and
#: the closed-form post-hoc rows (seconds each). BC-Aligner-MLP, our one extra joint chain (not in the
#: paper), costs about a fifth of the training time of notebooks 02-04, so it runs only when named.
DEFAULT_METHODS = tuple(m for m in PAPER_ORDER if m != "BC-Aligner-MLP")

#: The real graph data sets, the paper's first (notebook 03's default: those present).
REAL_DATASETS = ("amazon2018-musical-instruments", "amazon2018-video-games", "amazon2018-grocery",
                 "amazon-2014-hin", "movielens-latest-small")


def resolve_methods(methods: Sequence[str] | None) -> list[str]:
    """Canonical method names in Table 3 order (``None``: :data:`DEFAULT_METHODS`).

    Raises:
        ValueError: an unknown name (the message lists the allowed ones), or an empty list.
    """
    if methods is None:
        return list(DEFAULT_METHODS)
    methods = as_list(methods, "methods", item_type=str, allow_empty=True)  # "[a, b]" from -p
    names = {get_method(m).name for m in methods}
    if not names:
        raise ValueError(f"methods is empty; allowed: {', '.join(METHOD_NAMES)}")
    return [m for m in PAPER_ORDER if m in names]


def resolve_datasets(datasets: Sequence[str] | None) -> tuple[list[InteractionGraph], list]:
    """Load the named data sets (each must exist), or with ``None`` every real one present.

    Returns:
        ``(graphs, skipped)`` with ``(name, reason)`` for each absent default data set.

    Raises:
        ValueError: unknown name; DataNotFoundError: a named data set is absent.
    """
    if datasets is not None:
        datasets = as_list(datasets, "datasets", item_type=str)  # "[a, b]" from papermill -p
    names = list(datasets) if datasets is not None else list(REAL_DATASETS)
    graphs, skipped = load_many(names, load_graph, strict=datasets is not None)
    if not graphs:
        raise ValueError(f"none of {names} could be loaded ({skipped}); put the files in "
                         "$EMBCOMPAT_MIRROR or pass datasets=['synthetic']")
    return graphs, skipped


def default_dataset() -> str:
    """The first of :data:`REAL_DATASETS` whose files are present (notebooks 02/04's default)."""
    from embcompat.data import available_graph_datasets

    present = set(available_graph_datasets())
    for name in REAL_DATASETS:
        if name in present:
            return name
    raise ValueError(f"no real data set is present (looked for {', '.join(REAL_DATASETS)}); "
                     f"set $EMBCOMPAT_MIRROR or pass dataset='synthetic' "
                     f"(allowed: {', '.join(GRAPH_DATASETS)})")


@dataclass
class BCExperiment:
    """Every trained piece of one data set.

    Attributes:
        dataset: the graph's name.
        scale: the scale's name.
        graph, splits: the data (``splits`` with the config's ``heldout_test``).
        config: the BC training config; consumer_config: the ``C_0`` protocol.
        methods: the requested methods (Table 3 order).
        results: ``name -> VersionsResult`` for the requested methods and the references
            (Non-BC, Fix-M0, Keep-All).
        tasks: the unintended tasks; consumers: ``C_0`` per task.
    """

    dataset: str
    scale: str
    graph: InteractionGraph
    splits: list[VersionSplit]
    config: BCTrainConfig
    consumer_config: ConsumerConfig
    methods: list[str]
    results: dict[str, VersionsResult]
    tasks: dict[str, TaskData] = field(default_factory=dict)
    consumers: dict[str, TrainedConsumers] = field(default_factory=dict)

    @property
    def keep_all(self) -> VersionsResult:
        """Keep-All (Non-BC's recalls with the true ``z_0``)."""
        return self.results["Keep-All"]

    def requested(self) -> dict[str, VersionsResult]:
        """The results of the requested methods only."""
        return {m: self.results[m] for m in self.methods}

    def evaluate(self) -> pd.DataFrame:
        """The tidy three-metric frame of the requested methods (see :mod:`.evaluate`)."""
        if not self.consumers:
            raise ValueError("consumers were not trained (run_experiment(..., consumers=False))")
        return evaluate_methods(self.requested(), self.tasks, self.consumers, self.keep_all,
                                dataset=self.dataset)


def run_experiment(dataset: str | InteractionGraph, scale: str, methods: Sequence[str] | None = None,
                   *, seed: int = 42, device: str = "auto", consumers: bool = True,
                   progress: bool = True) -> BCExperiment:
    """Train (or load) every method's versions and, optionally, ``C_0`` of every task.

    Args:
        dataset: a registered name (or ``interactions-csv:/abs/dir``) or a loaded graph.
        scale: ``smoke``, ``demo`` or ``paper`` (:func:`embcompat.config.get_scale`).
        methods: Table 3 names or official slugs; ``None``: all, ours included.
        seed: seed of the GNN versions (official 42) and of the held-out test hash.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        consumers: also build the tasks and train (or load) ``C_0``.
        progress: tqdm bars.

    Returns:
        The :class:`BCExperiment`.
    """
    names = resolve_methods(methods)
    sc = get_scale(scale)
    graph = load_graph(dataset) if isinstance(dataset, str) else dataset
    cfg = bc_config(sc.name, graph.name, seed=seed, device=device)
    splits = version_splits(graph, cfg.times, heldout_test=cfg.heldout_test, seed=seed)
    results: dict[str, VersionsResult] = {}
    for m in dict.fromkeys(["Non-BC", "Fix-M0", *names]):
        if m != "Keep-All":  # derived below from the two references, nothing to train
            results[m] = train_versions(m, graph, splits, cfg, progress=progress)
    results["Keep-All"] = train_versions("Keep-All", graph, splits, cfg, progress=False)
    exp = BCExperiment(graph.name, sc.name, graph, splits, cfg, sc.consumers, names, results)
    if consumers:
        exp.tasks = build_tasks(graph, splits=splits)
        z0 = results["Fix-M0"].consumer_embeddings()
        exp.consumers = {n: train_consumers_cached(t, z0, sc.consumers, device=cfg.device,
                                                   progress=progress)
                         for n, t in exp.tasks.items()}
    return exp


def assert_same_m0(results: dict[str, VersionsResult]) -> None:
    """Raise ``AssertionError`` unless every method's version 0 is the same ``M_0``: the same cache
    key and bit-identical version-0 embeddings and ``z~_0``."""
    ref_name, ref = next(iter(results.items()))
    for name, r in results.items():
        a, b = r[0], ref[0]
        assert a.key == b.key, f"{name}: M_0 key {a.key} != {ref_name}'s {b.key}"
        for attr in ("z_user", "z_item", "zhat0_user", "zhat0_item"):
            assert torch.equal(getattr(a, attr), getattr(b, attr)), \
                f"{name}: version-0 {attr} differs from {ref_name}'s"


def recall_table(exp: BCExperiment) -> pd.DataFrame:
    """Tidy intended-task rows (notebook 02): Recall@K per method and version, on the reported
    split (``test`` with the held-out split, else ``window``), plus the selected epoch and timings."""
    split = "test" if exp.config.heldout_test else "window"
    rows = []
    for m in exp.methods:
        for rec in exp.results[m].summary():
            for key, value in rec.items():
                if key.startswith("recall@") or key in ("best_epoch", "epochs_trained",
                                                        "sec_per_epoch", "train_seconds"):
                    rows.append({"dataset": exp.dataset, "method": m, "version": rec["version"],
                                 "metric": key, "value": float(value),
                                 "split": split if key.startswith("recall@") else ""})
    return pd.DataFrame(rows)


def save_compatibility_tables(tidy: pd.DataFrame, name: str, caption: str) -> dict:
    """Write the tidy frame to ``tables/<name>.csv`` and, in ``tables/<name>.md``, the Table 3
    layout (:func:`~embcompat.backward.evaluate.table3`) of each data set under ``caption``.

    Returns:
        The two paths, keyed ``csv`` and ``md``.
    """
    from embcompat.backward.evaluate import table3
    from embcompat.report import markdown_table, save_table
    from embcompat.utils import atomic_write

    paths = save_table(tidy, name, caption=caption)
    t3 = table3(tidy)
    parts = [caption]
    for ds, g in t3.groupby("dataset", sort=False):
        parts += [f"### {ds}", markdown_table(g.drop(columns="dataset"), floatfmt=".3f")]
    with atomic_write(paths["md"], "w") as f:
        f.write("\n\n".join(parts) + "\n")
    return paths
