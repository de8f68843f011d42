"""The keep-latest store: latest embeddings plus the chain of backward matrices B_1..B_K.

This is the piece a production team lifts (BC paper, Section 3.2, "Inference setting"): only the
latest model's embeddings ``z_K`` are stored, and any consumer pinned to version ``j`` gets
``z~_j = W_{K->j} z_K`` with ``W_{K->j} = B_{j+1} B_{j+2} ... B_K`` (paper Eq. 6). Because the
map is a function of ``z_K`` alone it applies to *any* input, including nodes never seen when the
``B``'s were fitted (the paper's inductive capability).

Every linear ``B`` is stored as its matrix ``(d_{k-1}, d_k)``; a NoTrans step is ``[I | 0]``.
:meth:`VersionStore.precompose` caches one matrix per target version so that a transform is a
single ``(n, d_K) x (d_K, d_j)`` matmul instead of ``K - j`` of them.

Nonlinear steps (:class:`~embcompat.models.mlp_backward.MLPBackward`, BC-Aligner-MLP; not in the
paper) have no matrix, so precomposition is exact only between them: each maximal run of linear
steps is precomposed into one matrix and the MLP steps are applied in turn, which gives the same
map as applying ``B_K, ..., B_{j+1}`` one by one (``sequential=True``).

Files are one ``.safetensors`` file (``B_1..B_K``, optionally ``embeddings``) with the metadata in its
JSON header; loading never executes code (:mod:`embcompat.version_files`).
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor

from embcompat import version_files as files
from embcompat.models.mlp_backward import MLPBackward
from embcompat.models.transforms import LinearBackward, NoTransBackward, backward_matrix, backward_dims
from embcompat.utils import resolve_device
from embcompat.version_files import FORMAT

BackwardLike = Tensor | LinearBackward | NoTransBackward | MLPBackward

__all__ = ["VersionStore", "chain_from", "FORMAT"]


class VersionStore:
    """Latest embeddings + backward chain, with transforms to any earlier version.

    Args:
        d0: embedding dimension of version 0.
        device: where the matrices (and MLP steps) live (``"auto"``, ``"cpu"``, ``"cuda"``...).
        dtype: storage dtype of the matrices and MLP parameters (default float32).

    Attributes:
        dims: ``[d_0, ..., d_K]``.
        kinds: ``["linear" | "notrans" | "mlp"]`` for ``B_1..B_K``.
        embeddings: the latest ``(n, d_K)`` embeddings, or ``None``.
    """

    def __init__(self, d0: int, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> None:
        if not isinstance(d0, int) or isinstance(d0, bool) or d0 < 1:
            raise ValueError(f"d0 must be a positive int, got {d0!r}")
        self.device = resolve_device(device)
        self.dtype = dtype
        self.dims: list[int] = [d0]
        self.kinds: list[str] = []
        self._Bs: list[Tensor | MLPBackward] = []
        self.embeddings: Tensor | None = None
        self._composed: dict[int, Tensor] | None = None
        self._runs: dict[int, dict[int, Tensor]] = {}

    # ------------------------------------------------------------------ building
    @property
    def K(self) -> int:
        """The latest version index."""
        return len(self._Bs)

    @property
    def matrices(self) -> list[Tensor]:
        """``[B_1, ..., B_K]`` as ``(d_{k-1}, d_k)`` matrices (the stored tensors; do not modify).

        Raises:
            ValueError: the chain has an MLP step (no matrix; use :attr:`steps`).
        """
        if "mlp" in self.kinds:
            raise ValueError(f"B_{self.kinds.index('mlp') + 1} is an MLP step (no matrix); use VersionStore.steps")
        return list(self._Bs)

    @property
    def steps(self) -> list[Tensor | MLPBackward]:
        """``[B_1, ..., B_K]``: matrices, and :class:`MLPBackward` modules for MLP steps."""
        return list(self._Bs)

    @property
    def num_floats(self) -> int:
        """Numbers the store holds: every ``B``'s tensors plus the stored embeddings."""
        n = sum(p.numel() for B in self._Bs for p in (B.parameters() if isinstance(B, MLPBackward) else [B]))
        return n + (0 if self.embeddings is None else self.embeddings.numel())

    def add_version(self, B_k: BackwardLike | torch.nn.Linear, embeddings: Tensor | None = None) -> int:
        """Append ``B_{K+1}``; the store's latest version becomes ``K+1``.

        Args:
            B_k: a ``(d_K, d_{K+1})`` matrix, or a :class:`LinearBackward` / :class:`NoTransBackward`
                / bias-free ``nn.Linear`` / :class:`MLPBackward` (kept as a frozen copy) mapping
                ``d_{K+1} -> d_K``.
            embeddings: optional latest ``(n, d_{K+1})`` embeddings. Embeddings of the previous
                version are dropped either way (keep-latest).

        Returns:
            the new latest version index ``K``.
        """
        d_new, d_old = backward_dims(B_k)
        if isinstance(B_k, MLPBackward):
            kind, shape = "mlp", f"an MLP {d_new} -> {d_old}"
            W = copy.deepcopy(B_k).requires_grad_(False).to(device=self.device, dtype=self.dtype)
        else:
            kind = "notrans" if isinstance(B_k, NoTransBackward) else "linear"
            W = backward_matrix(B_k).detach()
            shape = f"shape {tuple(W.shape)}"
        if d_old != self.dims[-1]:
            raise ValueError(
                f"B_{self.K + 1} must map into the current latest dim d_{self.K} = {self.dims[-1]}, i.e. be a "
                f"({self.dims[-1]}, d_new) matrix; got {shape}"
            )
        self._Bs.append(W if kind == "mlp" else W.to(device=self.device, dtype=self.dtype).clone())
        self.kinds.append(kind)
        self.dims.append(d_new)
        self._composed, self._runs = None, {}
        self.embeddings = None
        if embeddings is not None:
            self.set_embeddings(embeddings)
        return self.K

    def set_embeddings(self, z: Tensor) -> None:
        """Store the latest ``(n, d_K)`` embeddings (kept on their own device and dtype)."""
        self._check_latest(z)
        self.embeddings = z.detach()

    # ------------------------------------------------------------------ transforms
    def _check_latest(self, z: Tensor) -> None:
        if not isinstance(z, Tensor) or z.dim() != 2 or z.shape[1] != self.dims[-1]:
            shape = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise ValueError(
                f"expected latest-version embeddings of shape (n, d_K) with d_K = {self.dims[-1]} "
                f"(version K = {self.K}), got {shape}"
            )

    def _check_version(self, j: int) -> int:
        if isinstance(j, bool) or not isinstance(j, int) or not 0 <= j <= self.K:
            raise ValueError(f"to_version must be an int in [0, {self.K}] (0 .. K), got {j!r}")
        return j

    def precompose(self) -> dict[int, Tensor]:
        """Cache ``W_{K->j} = B_{j+1} ... B_K`` (shape ``(d_j, d_K)``) for every ``j < K``.

        The products are accumulated in float64 and stored in the store's dtype. With MLP steps
        in the chain, each maximal run of linear steps ``B_{i+1} .. B_t`` gets its own products
        (used by :meth:`transform`), and only the targets reached from ``K`` by linear steps alone
        have a ``W_{K->j}``.

        Returns:
            ``{j: W_{K->j}}`` (every ``j < K`` when the chain is linear).
        """
        runs: dict[int, dict[int, Tensor]] = {}
        acc, top = None, None
        for j in range(self.K - 1, -1, -1):
            if self.kinds[j] == "mlp":  # B_{j+1} ends the run above it
                acc = top = None
                continue
            if acc is None:
                top = j + 1
                runs[top] = {}
            B = self._Bs[j].to(torch.float64)  # B_{j+1}
            acc = B if acc is None else B @ acc
            runs[top][j] = acc.to(self.dtype)
        self._runs = runs
        self._composed = runs.get(self.K, {})
        return self._composed

    def composed_matrix(self, to_version: int) -> Tensor:
        """``W_{K->j}`` of shape ``(d_j, d_K)`` (identity for ``j = K``); precomposes if needed.

        Raises:
            ValueError: an MLP step lies between ``K`` and ``j`` (there is no such matrix).
        """
        j = self._check_version(to_version)
        if j == self.K:
            return torch.eye(self.dims[-1], device=self.device, dtype=self.dtype)
        if self._composed is None:
            self.precompose()
        if j not in self._composed:
            raise ValueError(f"no single matrix maps version {self.K} to {j}: B_"
                             f"{max(k + 1 for k in range(j, self.K) if self.kinds[k] == 'mlp')} "
                             "is an MLP step; use transform()")
        return self._composed[j]

    def transform(
        self,
        z: Tensor | None = None,
        to_version: int = 0,
        *,
        sequential: bool = False,
        out: Tensor | None = None,
    ) -> Tensor:
        """Turn latest-version embeddings into ver-``j`` compatible ones.

        Works for embeddings of any inputs (inductive): nothing about the fitted nodes is used.
        MLP steps are applied in turn; the linear runs between them are precomposed matrices
        (the same map as ``sequential=True``).

        Args:
            z: ``(n, d_K)`` latest-version embeddings; ``None`` uses the stored ones.
            to_version: target version ``j`` in ``[0, K]``.
            sequential: apply ``B_K``, then ``B_{K-1}``, ..., ``B_{j+1}`` one by one instead of the
                precomposed matrices (NoTrans steps are column slices).
            out: optional preallocated ``(n, d_j)`` output (filled by copy when an MLP step or
                ``sequential`` is involved).

        Returns:
            ``(n, d_j)`` tensor on ``z``'s device, in ``z``'s dtype (``z`` itself when ``j = K``).
            The precomposed matrices are cached in the store's dtype and cast to ``z``'s.
        """
        if z is None:
            if self.embeddings is None:
                raise ValueError("no embeddings stored: pass z=(n, d_K) or call set_embeddings() first")
            z = self.embeddings
        self._check_latest(z)
        j = self._check_version(to_version)
        if j == self.K:
            return z if out is None else out.copy_(z)
        if sequential:
            h = z
            for k in range(self.K, j, -1):
                if self.kinds[k - 1] == "notrans":
                    h = h[:, : self.dims[k - 1]]
                elif self.kinds[k - 1] == "mlp":
                    h = self._Bs[k - 1](h)
                else:
                    h = h @ self._Bs[k - 1].to(device=h.device, dtype=h.dtype).T
            return h if out is None else out.copy_(h)
        if "mlp" not in self.kinds[j:]:
            W = self.composed_matrix(j).to(device=z.device, dtype=z.dtype)
            return torch.matmul(z, W.T, out=out)
        if self._composed is None:
            self.precompose()
        h, k = z, self.K
        while k > j:
            if self.kinds[k - 1] == "mlp":
                h, k = self._Bs[k - 1](h), k - 1
                continue
            low = k - 1  # the run B_{low+1} .. B_k: down to j or to just above the next MLP
            while low > j and self.kinds[low - 1] != "mlp":
                low -= 1
            h, k = h @ self._runs[k][low].to(device=h.device, dtype=h.dtype).T, low
        return h if out is None else out.copy_(h)

    # ------------------------------------------------------------------ persistence
    def to(self, device: str | torch.device) -> "VersionStore":
        """Move the matrices, MLP steps (and stored embeddings) to ``device``; returns ``self``."""
        self.device = resolve_device(device)
        self._Bs = [W.to(self.device) for W in self._Bs]
        self._runs = {t: {j: W.to(self.device) for j, W in r.items()} for t, r in self._runs.items()}
        self._composed = None if self._composed is None else self._runs.get(self.K, {})
        if self.embeddings is not None:
            self.embeddings = self.embeddings.to(self.device)
        return self

    def header(self) -> dict:
        """The JSON-able metadata written into the file header (with ``hidden`` for MLP steps)."""
        out = {
            "format": FORMAT,
            "K": self.K,
            "dims": list(self.dims),
            "kinds": list(self.kinds),
            "dtype": str(self.dtype).removeprefix("torch."),
            "has_embeddings": self.embeddings is not None,
            "num_embeddings": None if self.embeddings is None else int(self.embeddings.shape[0]),
        }
        if "mlp" in self.kinds:
            out.update(format=files.FORMAT_MLP,
                       hidden=[B.hidden if isinstance(B, MLPBackward) else None for B in self._Bs])
        return out

    def save(self, path: str | os.PathLike) -> Path:
        """Write the store to one ``.safetensors`` file atomically (temp file, then rename).

        Args:
            path: destination file.

        Returns:
            the path written.
        """
        return files.write_file(files.store_tensors(self._Bs, self.embeddings), self.header(), path)

    @staticmethod
    def read_header(path: str | os.PathLike) -> dict:
        """Read only the metadata of a saved store (no tensors are loaded)."""
        return files.read_header(path)

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | torch.device = "cpu") -> "VersionStore":
        """Load a store written by :meth:`save` (safetensors: data only, no code is executed)."""
        header, steps, emb = files.read_steps(path)
        store = cls(header["dims"][0], device=device, dtype=files.dtype_of(header))
        store._Bs = [B.to(store.device) for B in steps]
        store.dims, store.kinds = list(header["dims"]), list(header["kinds"])
        if emb is not None:
            store.set_embeddings(emb.to(store.device))
        return store

    def __repr__(self) -> str:
        emb = "none" if self.embeddings is None else f"{tuple(self.embeddings.shape)}"
        return f"VersionStore(K={self.K}, dims={self.dims}, kinds={self.kinds}, embeddings={emb})"


def chain_from(Bs: Sequence[BackwardLike], d0: int | None = None, **kw) -> VersionStore:
    """Build a store from ``[B_1, ..., B_K]`` (oldest first); ``d0`` defaults to ``B_1``'s output dim."""
    if not Bs:
        raise ValueError("chain_from needs at least one backward transformation")
    store = VersionStore(d0 if d0 is not None else backward_dims(Bs[0])[1], **kw)
    for B in Bs:
        store.add_version(B)
    return store
