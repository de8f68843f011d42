"""The five unintended tasks U_0 of Hu et al. (KDD 2022, Sec. 5.1.6 and Appendix A.2).

Every task is binary and scored with ROC-AUC. Sets are built from the official per-version split
(:func:`embcompat.data.version_splits`, bc-emb ``split_dynrecdataset``): for version ``k`` let
``train_k`` be its training edges (all edges with ``r <= t_k`` plus the new users' non-last window
edges) and ``eval_k`` its evaluation edges in the window ``(t_k, t_{k+1}]``. Version-``k``
embeddings have one row per user / item present at ``t_{k+1}`` (the official M_k embeds every node
of its graph, new users included), and every id below indexes into them.

Where the paper's text and the official code (``embevolve/unintended_tasks/train_model.py``,
``eval_model.py``, ``recsys/utils.py``, ``analyze_all_results.ipynb``) differ we follow the code,
which produced the published numbers, and say so:

1. ``edge-rating``: label ``rating >= 4`` of a (user, item) edge, input ``[z_user, z_item]``.
   Train: the edges of ``train_0`` (paper: "edges in E_0"; the code also includes the new users'
   non-last window edges). Validation: ``eval_0`` (paper: "E_1 \\ E_0"; the code keeps only the
   evaluation edges, so no training edge is re-used). Version ``k``: ``eval_k`` with version-``k``
   embeddings. Reported (test): ``k >= 1``.
2. ``user-activity``: label 1 if the user has an edge in ``eval_k``. Population (``official``): every
   user present at ``t_{k+1}`` (``0 .. split.num_users - 1``), as the code does; the paper says "users
   in V_k", i.e. present at ``t_k`` (``user_population="existing"``). Note that under the official
   population a new user of the window is labelled 1 exactly when it has more than one window edge
   (its last edge is an evaluation edge). Train: version 0; validation: version 1 (with version-1
   embeddings of M_0); reported: ``k >= 2``.
3. ``user-positive-activity``: as 2, label 1 if the user has an ``eval_k`` edge rated ``>= 4`` (the
   code binarises the maximum window rating, 0 for users without window edges).
4. ``item-rating-avg``: label ``avg >= median``, where ``median`` is the median over the training
   items (``np.median``; "above the median" is ``>=`` in the code). Train: items with ``>= 10``
   edges in ``train_0`` (paper: "more than 10"), average over ``train_0``. Version ``k``: items with
   ``>= 10`` edges in ``train_k + eval_k`` (= all edges with ``r <= t_{k+1}``; the paper says the
   count is taken until ``t_k``), average over the same edges, version-``k`` embeddings.
   Validation: version 0 (version-0 embeddings, ratings until ``t_1``); reported: ``k >= 1``.
5. ``item-rating-std``: as 4, label ``std >= 1`` with the official ``torch_scatter.scatter_std``
   formula ``sqrt(SS / (n - 1 + 1e-6))`` (unbiased, with its epsilon), computed in float32.

Averages and the median are computed in float32, in the official edge order, so that ties at the
threshold fall as in the official code. This module builds the labelled sets; the consumer inputs
gathered from a version's embeddings are in :mod:`embcompat.backward.task_features`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np
import torch

from embcompat.data.graphs import InteractionGraph
from embcompat.data.splits import DEFAULT_TIMES, VersionSplit, version_splits

TASK_NAMES = ("edge-rating", "user-activity", "user-positive-activity", "item-rating-avg",
              "item-rating-std")
#: our task name -> the official ``--prediction_task`` name.
OFFICIAL_NAMES = {"edge-rating": "binary-edge-rating", "user-activity": "user-activity",
                  "user-positive-activity": "user-positive-activity",
                  "item-rating-avg": "binary-item-rating-avg",
                  "item-rating-std": "binary-item-rating-std"}
TASK_KINDS = {"edge-rating": "edge", "user-activity": "user", "user-positive-activity": "user",
              "item-rating-avg": "item", "item-rating-std": "item"}
USER_POPULATIONS = ("official", "existing")
_STD_EPS = 1e-6  # torch_scatter.scatter_std's epsilon


@dataclass(frozen=True)
class TaskConfig:
    """Thresholds of the unintended tasks (defaults: the official code).

    Attributes:
        positive_rating: a rating ``>=`` this is positive (edge and user-positive tasks).
        item_min_reviews: item tasks keep items with at least this many edges.
        std_threshold: item-rating-std label is ``std >= std_threshold``.
        user_population: ``official`` (users present at ``t_{k+1}``) or ``existing`` (at ``t_k``).
    """

    positive_rating: float = 4.0
    item_min_reviews: int = 10
    std_threshold: float = 1.0
    user_population: str = "official"

    def __post_init__(self) -> None:
        if self.user_population not in USER_POPULATIONS:
            raise ValueError(f"user_population must be one of {USER_POPULATIONS}, "
                             f"got {self.user_population!r}")


@dataclass
class TaskSplit:
    """One labelled set of a task, fed with the embeddings of one version.

    Attributes:
        version: whose embeddings to feed (``k``: rows = nodes present at ``t_{k+1}``).
        ids: ``(n,)`` node ids (user / item tasks) or ``(n, 2)`` (user, item) pairs (edge task).
        labels: ``(n,)`` float32 in {0, 1}.
        edge_idx: ``(n,)`` graph edge indices (edge task only), for leakage checks.
    """

    version: int
    ids: torch.Tensor
    labels: torch.Tensor
    edge_idx: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.labels.numel())

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter((self.ids, self.labels))

    def positive_rate(self) -> float:
        """Share of positive labels (nan when empty)."""
        return float(self.labels.mean()) if len(self) else float("nan")


@dataclass
class TaskData:
    """A binary unintended task: training, validation and the per-version evaluation sets.

    Attributes:
        name: one of :data:`TASK_NAMES`.
        kind: ``user``, ``item`` or ``edge``.
        train: what C_0 is fit on (version-0 embeddings).
        val: what selects the epoch and the grid point.
        versions: ``k -> set`` for every version, as the official ``eval_model.py`` computes them.
        first_test_version: first reported version (2 for the user tasks, else 1).
        threshold: the label threshold (the median for item-rating-avg).
        config: the :class:`TaskConfig` used.
    """

    name: str
    kind: str
    train: TaskSplit
    val: TaskSplit
    versions: dict[int, TaskSplit]
    first_test_version: int
    threshold: float
    config: TaskConfig = field(default_factory=TaskConfig)

    @property
    def test(self) -> dict[int, TaskSplit]:
        """The reported sets ``k -> set`` for ``k >= first_test_version`` (the paper's averages)."""
        return {k: s for k, s in self.versions.items() if k >= self.first_test_version}

    def summary(self) -> list[dict]:
        """One row per set (train, val, test k): size and positive rate, for tables."""
        rows = [("train", self.train), ("val", self.val)] + [(f"test_{k}", s) for k, s in self.test.items()]
        return [{"task": self.name, "set": n, "version": s.version, "n": len(s),
                 "positive_rate": s.positive_rate()} for n, s in rows]


def _edge_set(g: InteractionGraph, idx: torch.Tensor, k: int, thr: float) -> TaskSplit:
    idx = idx.to(torch.long)
    ids = torch.stack([g.user[idx], g.item[idx]], dim=1)
    return TaskSplit(k, ids, (g.rating[idx] >= thr).to(torch.float32), edge_idx=idx.clone())


def _user_set(g: InteractionGraph, s: VersionSplit, thr: float | None, population: str) -> TaskSplit:
    n = s.num_users if population == "official" else s.num_users_train
    ev = s.eval_idx.to(torch.long)
    users, keep = g.user[ev], torch.ones(ev.numel(), dtype=torch.bool)
    if thr is not None:
        keep = g.rating[ev] >= thr
    keep &= users < n
    labels = torch.zeros(n, dtype=torch.float32)
    labels[users[keep]] = 1.0
    return TaskSplit(s.k, torch.arange(n), labels)


def item_rating_stats(g: InteractionGraph, idx: torch.Tensor, min_reviews: int):
    """Per-item count, mean and (official) std of the ratings of edges ``idx``, in float32.

    Args:
        g: the graph.
        idx: ``(m,)`` edge indices, in the order the official code concatenates them.
        min_reviews: keep items with at least this many of these edges.

    Returns:
        ``(items, mean, std)``: ``(n,)`` sorted item ids and their float32 statistics, with
        ``std = sqrt(sum((r - mean)^2) / (max(count - 1, 1) + 1e-6))`` (``torch_scatter``).
    """
    idx = idx.to(torch.long)
    it, r = g.item[idx], g.rating[idx].to(torch.float32)
    n = int(it.max()) + 1 if it.numel() else 0
    count = torch.zeros(n, dtype=torch.float32).index_add_(0, it, torch.ones_like(r))
    mean = torch.zeros(n, dtype=torch.float32).index_add_(0, it, r) / count.clamp(min=1)
    ss = torch.zeros(n, dtype=torch.float32).index_add_(0, it, (r - mean[it]) ** 2)
    std = (ss / ((count - 1).clamp(min=1) + _STD_EPS)).sqrt()
    items = torch.nonzero(count >= min_reviews, as_tuple=True)[0]
    return items, mean[items], std[items]


def _item_set(g, idx, k, cfg: TaskConfig, stat: str, thr: float) -> TaskSplit:
    items, mean, std = item_rating_stats(g, idx, cfg.item_min_reviews)
    value = mean if stat == "avg" else std
    return TaskSplit(k, items, (value >= torch.tensor(thr, dtype=torch.float32)).to(torch.float32))


def build_task(name: str, graph: InteractionGraph, splits: Sequence[VersionSplit],
               config: TaskConfig | None = None) -> TaskData:
    """Build one task from a graph and its official version splits (see the module docstring).

    Args:
        name: one of :data:`TASK_NAMES`.
        graph: the time-sorted graph.
        splits: ``version_splits(graph, times)``; at least 2 versions (user tasks validate on 1).
        config: thresholds; default :class:`TaskConfig`.

    Returns:
        The :class:`TaskData`.

    Raises:
        ValueError: unknown name, too few versions, or no item with enough reviews.
    """
    cfg = config or TaskConfig()
    if name not in TASK_NAMES:
        raise ValueError(f"unknown task {name!r}; allowed: {', '.join(TASK_NAMES)}")
    if len(splits) < 2:
        raise ValueError(f"task {name!r} needs at least 2 versions (3 slice times), got {len(splits)}")
    kind = TASK_KINDS[name]
    if kind == "edge":
        thr = cfg.positive_rating
        versions = {s.k: _edge_set(graph, s.eval_idx, s.k, thr) for s in splits}
        train = _edge_set(graph, splits[0].train_idx, 0, thr)
        return TaskData(name, kind, train, versions[0], versions, 1, thr, cfg)
    if kind == "user":
        thr = cfg.positive_rating if name == "user-positive-activity" else None
        versions = {s.k: _user_set(graph, s, thr, cfg.user_population) for s in splits}
        return TaskData(name, kind, versions[0], versions[1], versions, 2,
                        float(thr) if thr is not None else 1.0, cfg)
    stat = "avg" if name == "item-rating-avg" else "std"
    items, mean, _ = item_rating_stats(graph, splits[0].train_idx, cfg.item_min_reviews)
    if items.numel() == 0:
        raise ValueError(f"{graph.name}: no item has >= {cfg.item_min_reviews} reviews at version 0; "
                         f"lower TaskConfig.item_min_reviews or use a larger graph")
    thr = float(np.median(mean.numpy())) if stat == "avg" else float(cfg.std_threshold)
    train = _item_set(graph, splits[0].train_idx, 0, cfg, stat, thr)
    versions = {s.k: _item_set(graph, torch.cat([s.train_idx, s.eval_idx]), s.k, cfg, stat, thr)
                for s in splits}
    return TaskData(name, kind, train, versions[0], versions, 1, thr, cfg)


def rebase_task(task: TaskData, graph: InteractionGraph, splits: Sequence[VersionSplit],
                j: int) -> TaskData:
    """The task as a consumer ``C_j`` trained on version ``j`` sees it (the compatibility matrix).

    The version-0 protocol shifted to ``j``: edge and item tasks train on ``train_j``'s edges
    (items: their statistics over ``train_j``) and validate on version ``j``'s set; user tasks
    train on version ``j`` and validate on ``j + 1``; reported versions start at ``j + 1``
    (``j + 2`` for the user tasks). Thresholds (the item median) and every version-``k`` set stay
    those of ``task``, so all consumers are scored on the same labelled sets. ``j = 0`` returns
    ``task`` itself.

    Raises:
        ValueError: ``j`` outside ``0 .. len(splits) - 2`` (the user tasks validate on ``j + 1``).
    """
    n = len(splits)
    if isinstance(j, bool) or not isinstance(j, (int, np.integer)) or not 0 <= j <= n - 2:
        raise ValueError(f"consumer version j must be an int in [0, {n - 2}] (a version with a "
                         f"later one to validate on), got {j!r}")
    j = int(j)
    if j == 0:
        return task
    if task.kind == "edge":
        train = _edge_set(graph, splits[j].train_idx, j, task.threshold)
        val, first = task.versions[j], j + 1
    elif task.kind == "user":
        train, val, first = task.versions[j], task.versions[j + 1], j + 2
    else:
        stat = "avg" if task.name == "item-rating-avg" else "std"
        train = _item_set(graph, splits[j].train_idx, j, task.config, stat, task.threshold)
        val, first = task.versions[j], j + 1
    return TaskData(task.name, task.kind, train, val, task.versions, first, task.threshold,
                    task.config)


def build_tasks(graph: InteractionGraph, times=DEFAULT_TIMES, *,
                splits: Sequence[VersionSplit] | None = None, config: TaskConfig | None = None,
                names: Sequence[str] = TASK_NAMES) -> dict[str, TaskData]:
    """Build the unintended tasks of a graph (official protocol; see the module docstring).

    Args:
        graph: the time-sorted graph.
        times: slice times ``t_0 < ... < t_K`` (ignored when ``splits`` is given).
        splits: precomputed ``version_splits(graph, times)``; their ``eval_idx`` is used whole
            (a held-out val/test split of the intended task does not change the tasks).
        config: thresholds; default :class:`TaskConfig`.
        names: which tasks.

    Returns:
        ``name -> TaskData`` in the order of ``names``.
    """
    splits = list(splits) if splits is not None else version_splits(graph, times)
    return {n: build_task(n, graph, splits, config) for n in names}
