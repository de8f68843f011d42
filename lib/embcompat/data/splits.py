"""The official per-version train/evaluation splits of an evolving graph, and their leakage check.

Time slices follow the official code of Hu et al. (snap-stanford/bc-emb, ``recsys/dataset.py`` and
``recsys/utils.py::split_dynrecdataset``):

* the time of edge ``e`` (0-based, in sorted order) is its *fraction* ``r_e = linspace(0, 1, E)[e]``
  (float64), not calendar time;
* the graph at time ``t`` holds the edges with ``r_e <= t`` (inclusive);
* version ``k`` is trained at ``t_k = times[k]`` and evaluated on the window ``t_k < r_e <= t_{k+1}``
  (exclusive left, inclusive right).

See :func:`version_splits` for the split rule inside a window and :func:`assert_no_leakage` for
what is checked. The graphs themselves are :class:`embcompat.data.graphs.InteractionGraph`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from embcompat.config.bc import DEFAULT_TIMES

if TYPE_CHECKING:  # graphs.py re-exports this module, so no runtime import back
    from embcompat.data.graphs import InteractionGraph


@dataclass
class VersionSplit:
    """The edges of version ``k``: train on the graph at ``t_k``, evaluate on ``(t_k, t_{k+1}]``.

    Attributes:
        k: version index ``0..K-1``.
        t_train: ``t_k``.
        t_eval: ``t_{k+1}``.
        train_idx: ``(n_train,)`` sorted edge indices M_k trains on.
        eval_idx: ``(n_eval,)`` sorted edge indices of the official evaluation window (the official
            code uses them both for early stopping and for the reported numbers).
        val_idx: with ``heldout_test=True``, the part of ``eval_idx`` for model selection, else None.
        test_idx: with ``heldout_test=True``, the part of ``eval_idx`` for reporting, else None.
        num_users: users present at ``t_{k+1}`` (ids ``0..num_users-1``).
        num_items: items present at ``t_{k+1}``; every one of them is ranked in Recall@K.
        num_users_train: users present at ``t_k`` ("existing users").
        num_items_train: items present at ``t_k``.
    """

    k: int
    t_train: float
    t_eval: float
    train_idx: torch.Tensor
    eval_idx: torch.Tensor
    val_idx: torch.Tensor | None
    test_idx: torch.Tensor | None
    num_users: int
    num_items: int
    num_users_train: int = 0
    num_items_train: int = 0

    def sizes(self) -> dict:
        """Edge and node counts of this version, for tables."""
        out = {"k": self.k, "t_train": self.t_train, "t_eval": self.t_eval,
               "train": int(self.train_idx.numel()), "eval": int(self.eval_idx.numel()),
               "users": self.num_users, "items": self.num_items}
        if self.val_idx is not None:
            out.update(val=int(self.val_idx.numel()), test=int(self.test_idx.numel()))
        return out


def _check_times(times) -> tuple[float, ...]:
    t = tuple(float(x) for x in times)
    if len(t) < 2 or any(b <= a for a, b in zip(t, t[1:])) or t[0] < 0 or t[-1] > 1:
        raise ValueError(f"times must be >= 2 strictly increasing fractions in [0, 1], got {times}")
    return t


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A fixed, platform-independent 64-bit hash (SplitMix64 finaliser), ``(n,) uint64``."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def heldout_user_order(users: np.ndarray, seed: int) -> np.ndarray:
    """Sort ``users`` by a seeded hash of their id: the order used to pick held-out test users."""
    with np.errstate(over="ignore"):
        key = _splitmix64(users.astype(np.uint64) ^ _splitmix64(np.array([seed], dtype=np.int64))[0])
    return users[np.lexsort((users, key))]


def version_splits(graph: InteractionGraph, times=DEFAULT_TIMES, *, heldout_test: bool = False,
                   test_fraction: float = 0.5, seed: int = 0) -> list[VersionSplit]:
    """The official per-version train/evaluation edges (bc-emb ``split_dynrecdataset``).

    With ``r = linspace(0, 1, E)`` and ``n_k`` = number of users with an edge at ``r <= t_k``
    ("existing users"), version ``k`` (``k = 0..len(times) - 2``) has:

    * every edge with ``r <= t_k`` in train;
    * every window edge (``t_k < r <= t_{k+1}``) of an existing user (id ``< n_k``) in eval;
    * for a new user with more than one window edge: the last one (in sorted order) in eval, the
      others in train;
    * for a new user with exactly one window edge: that edge in train (the user is not evaluated).

    ``num_users`` / ``num_items`` count the nodes present at ``t_{k+1}``: the official code trains
    and ranks over all of them.

    Held-out test (our addition, ``heldout_test=True``): the eval *users* of a version are ordered by a
    seeded SplitMix64 hash of their id (:func:`heldout_user_order`); the first
    ``round(test_fraction * n)`` (clipped to ``[1, n - 1]`` when ``n >= 2``) go to test, the rest to
    val. A user's whole evaluation ground truth is thus either in val or in test, so Recall@K on test
    needs no extra masking, and the choice is deterministic and independent of edge order.

    Args:
        graph: the time-sorted graph.
        times: strictly increasing fractions ``t_0 < ... < t_K`` in ``[0, 1]``.
        heldout_test: also split ``eval_idx`` into ``val_idx`` and ``test_idx``.
        test_fraction: share of eval users in test, in ``(0, 1)``.
        seed: seed of the held-out hash.

    Returns:
        ``len(times) - 1`` splits, one per version.
    """
    times = _check_times(times)
    if heldout_test and not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    user = graph.user.cpu().numpy()
    item = graph.item.cpu().numpy()
    r = graph.edge_fraction()
    out = []
    for k, (t0, t1) in enumerate(zip(times, times[1:])):
        upto0 = r <= t0
        upto1 = r <= t1
        n_u0 = int(user[upto0].max()) + 1 if upto0.any() else 0
        n_i0 = int(item[upto0].max()) + 1 if upto0.any() else 0
        n_u1 = int(user[upto1].max()) + 1 if upto1.any() else 0
        n_i1 = int(item[upto1].max()) + 1 if upto1.any() else 0
        window = np.flatnonzero((r > t0) & upto1)
        wu = user[window]
        count = np.bincount(wu, minlength=n_u1)
        last = np.full(n_u1, -1, dtype=np.int64)
        np.maximum.at(last, wu, np.arange(len(window)))
        is_last = last[wu] == np.arange(len(window))
        to_eval = (wu < n_u0) | (is_last & (count[wu] > 1))
        eval_idx = window[to_eval]
        train_idx = np.concatenate([np.flatnonzero(upto0), window[~to_eval]])
        val_idx = test_idx = None
        if heldout_test:
            eu = np.unique(user[eval_idx])
            n_test = int(round(test_fraction * len(eu)))
            if len(eu) >= 2:
                n_test = min(max(n_test, 1), len(eu) - 1)
            test_users = heldout_user_order(eu, seed)[:n_test]
            in_test = np.isin(user[eval_idx], test_users)
            val_idx, test_idx = torch.from_numpy(eval_idx[~in_test]), torch.from_numpy(eval_idx[in_test])
        out.append(VersionSplit(k=k, t_train=t0, t_eval=t1, train_idx=torch.from_numpy(train_idx),
                                eval_idx=torch.from_numpy(eval_idx), val_idx=val_idx, test_idx=test_idx,
                                num_users=n_u1, num_items=n_i1, num_users_train=n_u0,
                                num_items_train=n_i0))
    return out


def _overlap(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Elements of ``b`` that are also in ``a`` (both index arrays into ``range(n)``), O(n)."""
    mark = np.zeros(n, dtype=bool)
    mark[a] = True
    return b[mark[b]]


def assert_no_leakage(graph: InteractionGraph, splits: list[VersionSplit]) -> None:
    """Fail loudly if any version's evaluation edges leak into its training edges.

    Checks per version: indices in range and unique; train and eval (and val/test) disjoint; val and
    test partition eval; no train edge after ``t_{k+1}``; every eval edge inside ``(t_k, t_{k+1}]``;
    the eval users and items are present at ``t_{k+1}``.

    Raises:
        AssertionError: naming the version, the two sets and an example edge.
    """
    r = graph.edge_fraction()
    E = graph.num_edges
    user = graph.user.cpu().numpy()
    item = graph.item.cpu().numpy()

    def ex(e) -> str:
        return f"edge {int(e)} (user {int(user[e])}, item {int(item[e])}, fraction {r[e]:.6f})"

    for s in splits:
        sets = {"train": s.train_idx, "eval": s.eval_idx, "val": s.val_idx, "test": s.test_idx}
        sets = {n: v.cpu().numpy() for n, v in sets.items() if v is not None}
        for n, v in sets.items():
            if v.size and (v.min() < 0 or v.max() >= E):
                raise AssertionError(f"version {s.k}: {n}_idx has indices outside [0, {E})")
            if v.size and np.bincount(v, minlength=E).max() > 1:
                raise AssertionError(f"version {s.k}: {n}_idx has repeated edges")
        for other in ("eval", "val", "test"):
            if other in sets:
                both = _overlap(sets["train"], sets[other], E)
                if both.size:
                    raise AssertionError(f"version {s.k}: {both.size} edge(s) are in both train_idx and "
                                         f"{other}_idx, e.g. {ex(both[0])}")
        if ("val" in sets) != ("test" in sets):
            raise AssertionError(f"version {s.k}: val_idx and test_idx must both be set or both None")
        if "val" in sets:
            both = _overlap(sets["val"], sets["test"], E)
            if both.size:
                raise AssertionError(f"version {s.k}: {both.size} edge(s) are in both val_idx and "
                                     f"test_idx, e.g. {ex(both[0])}")
            if sets["val"].size + sets["test"].size != sets["eval"].size or \
                    _overlap(sets["eval"], np.concatenate([sets["val"], sets["test"]]), E).size \
                    != sets["eval"].size:
                raise AssertionError(f"version {s.k}: val_idx and test_idx do not partition eval_idx")
        tr, ev = sets["train"], sets["eval"]
        late = tr[r[tr] > s.t_eval]
        if late.size:
            raise AssertionError(f"version {s.k}: train_idx holds {late.size} edge(s) after t_eval="
                                 f"{s.t_eval}, e.g. {ex(late[0])}")
        outside = ev[(r[ev] <= s.t_train) | (r[ev] > s.t_eval)]
        if outside.size:
            raise AssertionError(f"version {s.k}: eval_idx holds {outside.size} edge(s) outside "
                                 f"({s.t_train}, {s.t_eval}], e.g. {ex(outside[0])}")
        if ev.size and (user[ev].max() >= s.num_users or item[ev].max() >= s.num_items):
            raise AssertionError(f"version {s.k}: eval edges reference nodes beyond num_users="
                                 f"{s.num_users} / num_items={s.num_items}")
