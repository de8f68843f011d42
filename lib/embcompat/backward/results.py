"""What :func:`embcompat.backward.train.train_versions` returns: one record per version.

Node sets (following the official ``generate_embeddings.py`` checkpoints, whose
``best_embedding_list[k]`` the unintended-task code indexes): every embedding table of version ``k``
has one row per user and per item present at ``t_{k+1}`` (``split.num_users`` x
``split.num_items``, ids ``0..n-1``), computed by the eval-mode model on ``G_k`` (version ``k``'s
training edges; new users of the window are embedded inductively). ``z~_0`` of a version is what
the consumers ``C_0`` get (see :mod:`embcompat.backward.methods`); the alignment error (metric 3)
compares it with the true ``z_0 = M_0(G_k)`` (Fix-M0's ``z~_0``) on all those users and items
together, as the official ``analyze_all_results.ipynb`` does (it stacks users and items and keeps
the first ``d_0`` columns).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import torch
from torch import Tensor

from embcompat.config.bc import BCTrainConfig
from embcompat.backward.methods import Method
from embcompat.metrics.alignment import alignment_error
from embcompat.models.mlp_backward import as_backward
from embcompat.versions import VersionStore, chain_from

__all__ = ["VersionRecord", "VersionsResult"]

_SAVED = ("k", "key", "model_key", "dim", "layers", "num_users", "num_items", "state", "B",
          "B_kind", "z_user", "z_item", "zhat0_user", "zhat0_item", "history", "recall",
          "test_recall", "best_epoch", "epoch_seconds", "eval_seconds", "train_seconds", "extra")


@dataclass
class VersionRecord:
    """Everything kept about version ``k`` of one method.

    Attributes:
        k: the version.
        key: its cache key (``outputs/cache/bc-version-<key>/``).
        model_key: the key of the record that holds ``M_k``'s weights (its own for trained models;
            Non-BC's for the post-hoc methods; ``M_0``'s for Fix-M0).
        dim, layers: ``M_k``'s architecture.
        num_users, num_items: rows of the embedding tables (nodes present at ``t_{k+1}``).
        state: ``M_k``'s state dict (None where ``model_key`` points elsewhere).
        B: ``B_k`` as a ``(d_{k-1}, d_k)`` matrix (``[I | 0]`` for NoTrans), an MLP's state dict
            ``{W_lin, W_1, b_1, W_2}`` (BC-Aligner-MLP), or None.
        B_kind: ``"linear"``, ``"notrans"``, ``"mlp"`` or None.
        z_user, z_item: ``(U, d_k)`` / ``(I, d_k)`` embeddings ``z_k`` of ``M_k`` on ``G_k``.
        zhat0_user, zhat0_item: ``(U, d_0)`` / ``(I, d_0)`` backward-compatible ``z~_0``.
        history: per-epoch rows (epoch, train_loss, and at evaluations recall@K, alignment MSEs).
        recall: Recall@K on the selection split (official: the evaluation window).
        test_recall: Recall@K on the held-out test split, or None (official protocol).
        best_epoch: the selected epoch.
        epoch_seconds: wall seconds per training epoch.
        eval_seconds: wall seconds spent in Recall evaluations.
        train_seconds: total wall seconds of the version (training + evaluation + fitting ``B``).
        extra: method-specific logs (post-hoc: ``eval_mse``, ``train_loss``, ``best_mse``).
        from_cache: whether this record was loaded (not saved).
    """

    k: int
    key: str
    model_key: str
    dim: int
    layers: int
    num_users: int
    num_items: int
    state: dict | None
    B: Tensor | dict | None
    B_kind: str | None
    z_user: Tensor
    z_item: Tensor
    zhat0_user: Tensor
    zhat0_item: Tensor
    history: list[dict] = field(default_factory=list)
    recall: dict = field(default_factory=dict)
    test_recall: dict | None = None
    best_epoch: int = 0
    epoch_seconds: list[float] = field(default_factory=list)
    eval_seconds: float = 0.0
    train_seconds: float = 0.0
    extra: dict = field(default_factory=dict)
    from_cache: bool = False

    @property
    def reported_recall(self) -> dict:
        """Test recall under the held-out protocol, else the (official) window recall."""
        return self.test_recall if self.test_recall is not None else self.recall

    @property
    def sec_per_epoch(self) -> float:
        """Mean wall seconds per training epoch (nan when nothing was trained)."""
        s = self.epoch_seconds
        return sum(s) / len(s) if s else float("nan")

    def to_payload(self) -> dict:
        """A ``torch.save``-able dict (tensors, lists, numbers, strings)."""
        return {n: getattr(self, n) for n in _SAVED}

    @classmethod
    def from_payload(cls, payload: dict) -> "VersionRecord":
        """Inverse of :meth:`to_payload`; marks the record as loaded from the cache."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in payload.items() if k in known}, from_cache=True)


@dataclass
class VersionsResult:
    """All versions of one method on one data set.

    Attributes:
        method: the :class:`Method`.
        dataset: the graph's name.
        config: the training config.
        versions: one :class:`VersionRecord` per version ``0..K``.
    """

    method: Method
    dataset: str
    config: BCTrainConfig
    versions: list[VersionRecord]

    def __len__(self) -> int:
        return len(self.versions)

    def __getitem__(self, k: int) -> VersionRecord:
        return self.versions[k]

    def recalls(self, K: int = 50) -> list[float]:
        """Reported Recall@K per version (test split with held-out test, else the window)."""
        return [v.reported_recall[K] for v in self.versions]

    def selection_recalls(self, K: int = 50) -> list[float]:
        """Recall@K per version on the selection split."""
        return [v.recall[K] for v in self.versions]

    @property
    def Bs(self) -> list:
        """``[B_1, ..., B_K]``: matrices, :class:`~embcompat.models.mlp_backward.MLPBackward`
        modules for MLP steps (rebuilt from the records), None for methods without a ``B``."""
        return [None if v.B is None else as_backward(v.B, v.B_kind) for v in self.versions[1:]]

    def version_store(self) -> VersionStore:
        """The keep-latest store of this method, what a production team ships: ``B_1..B_K`` and
        the latest embeddings ``z_K`` (users, then items, stacked), so that
        ``store.transform(to_version=j)`` gives every node's ver-``j`` compatible embedding
        (BC-Aligner-MLP: its MLP steps are stored and applied in turn).

        Raises:
            ValueError: a method without a backward chain (Non-BC, Fix-M0, Finetune-M0, Keep-All).
        """
        Bs = self.Bs
        if len(self.versions) < 2 or any(B is None for B in Bs):
            raise ValueError(f"{self.method.name} has no backward transformations B_k; only the "
                             "methods with a B (post-hoc, joint, BC-Aligner) give a VersionStore")
        store = chain_from(Bs, self.versions[0].dim)
        last = self.versions[-1]
        store.set_embeddings(torch.cat([last.z_user, last.z_item]))
        return store

    def consumer_embeddings(self) -> dict[int, tuple[Tensor, Tensor]]:
        """``{k: (z~_0 users (U_k, d_0), z~_0 items (I_k, d_0))}``: what the consumers ``C_0`` get.

        Rows are the users/items present at ``t_{k+1}`` (official ``best_embedding_list``).
        """
        return {v.k: (v.zhat0_user, v.zhat0_item) for v in self.versions}

    def latest_embeddings(self) -> dict[int, tuple[Tensor, Tensor]]:
        """``{k: (z_k users, z_k items)}`` of ``M_k`` itself."""
        return {v.k: (v.z_user, v.z_item) for v in self.versions}

    def alignment_errors(self, true_z0: "VersionsResult") -> list[float]:
        """Metric (3) per version: mean L2 between ``z~_0`` and the true ``z_0`` over all nodes.

        Args:
            true_z0: the Fix-M0 (or Keep-All) result of the same data set and config, whose
                ``z~_0`` is ``M_0(G_k)``.

        Returns:
            one float per version (0 at version 0 for every method). The official table averages
            these over all versions, version 0 included.
        """
        out = []
        for mine, ref in zip(self.versions, true_z0.versions):
            a = torch.cat([mine.zhat0_user, mine.zhat0_item])
            b = torch.cat([ref.zhat0_user, ref.zhat0_item])
            out.append(alignment_error(a, b))
        return out

    def summary(self) -> list[dict]:
        """Tidy rows (one per version): recall@K, selected and last trained epoch (below the cap:
        stopped by patience; the model's own, or the one it reuses), timings, cache status."""
        rows = []
        for v in self.versions:
            row = {"method": self.method.name, "dataset": self.dataset, "version": v.k,
                   "dim": v.dim, "layers": v.layers, "best_epoch": v.best_epoch,
                   "epochs_trained": v.history[-1]["epoch"] if v.history else float("nan"),
                   "sec_per_epoch": v.sec_per_epoch, "train_seconds": v.train_seconds,
                   "from_cache": v.from_cache}
            row.update({f"recall@{k}": r for k, r in v.reported_recall.items()})
            rows.append(row)
        return rows
