"""The keep-latest store: latest embeddings plus the chain of backward matrices B_1..B_K.

This is the piece a production team lifts (BC paper, Section 3.2, "Inference setting"): only the
latest model's embeddings ``z_K`` are stored, and any consumer pinned to version ``j`` gets
``z~_j = W_{K->j} z_K`` with ``W_{K->j} = B_{j+1} B_{j+2} ... B_K`` (paper Eq. 6). Because the
map is a function of ``z_K`` alone it applies to *any* input, including nodes never seen when the
``B``'s were fitted (the paper's inductive capability).

Every ``B`` is stored as its linear matrix ``(d_{k-1}, d_k)``; a NoTrans step is ``[I | 0]``.
:meth:`VersionStore.precompose` caches one matrix per target version so that a transform is a
single ``(n, d_K) x (d_K, d_j)`` matmul instead of ``K - j`` of them.

Files are a single ``.safetensors`` file (tensors ``B_1..B_K`` and optionally ``embeddings``) whose
JSON header carries the metadata (format, dims, kinds); loading never executes code.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Sequence

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

from embcompat.models.transforms import LinearBackward, NoTransBackward, backward_matrix, backward_dims
from embcompat.utils import resolve_device

__all__ = ["VersionStore", "chain_from", "FORMAT"]

FORMAT = "embcompat.VersionStore/1"


class VersionStore:
    """Latest embeddings + backward chain, with transforms to any earlier version.

    Args:
        d0: embedding dimension of version 0.
        device: where the matrices live (``"auto"``, ``"cpu"``, ``"cuda"``...).
        dtype: storage dtype of the matrices (default float32).

    Attributes:
        dims: ``[d_0, ..., d_K]``.
        kinds: ``["linear" | "notrans"]`` for ``B_1..B_K``.
        embeddings: the latest ``(n, d_K)`` embeddings, or ``None``.
    """

    def __init__(self, d0: int, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> None:
        if not isinstance(d0, int) or isinstance(d0, bool) or d0 < 1:
            raise ValueError(f"d0 must be a positive int, got {d0!r}")
        self.device = resolve_device(device)
        self.dtype = dtype
        self.dims: list[int] = [d0]
        self.kinds: list[str] = []
        self._Bs: list[Tensor] = []
        self.embeddings: Tensor | None = None
        self._composed: dict[int, Tensor] | None = None

    # ------------------------------------------------------------------ building
    @property
    def K(self) -> int:
        """The latest version index."""
        return len(self._Bs)

    @property
    def matrices(self) -> list[Tensor]:
        """``[B_1, ..., B_K]`` as ``(d_{k-1}, d_k)`` matrices (the stored tensors; do not modify)."""
        return list(self._Bs)

    def add_version(self, B_k: Tensor | LinearBackward | NoTransBackward | torch.nn.Linear, embeddings: Tensor | None = None) -> int:
        """Append ``B_{K+1}``; the store's latest version becomes ``K+1``.

        Args:
            B_k: a ``(d_K, d_{K+1})`` matrix, or a :class:`LinearBackward` / :class:`NoTransBackward`
                / bias-free ``nn.Linear`` mapping ``d_{K+1} -> d_K``.
            embeddings: optional latest ``(n, d_{K+1})`` embeddings. Embeddings of the previous
                version are dropped either way (keep-latest).

        Returns:
            the new latest version index ``K``.
        """
        kind = "notrans" if isinstance(B_k, NoTransBackward) else "linear"
        W = backward_matrix(B_k).detach()
        d_new, d_old = backward_dims(B_k)
        if d_old != self.dims[-1]:
            raise ValueError(
                f"B_{self.K + 1} must map into the current latest dim d_{self.K} = {self.dims[-1]}, i.e. be a "
                f"({self.dims[-1]}, d_new) matrix; got shape {tuple(W.shape)}"
            )
        self._Bs.append(W.to(device=self.device, dtype=self.dtype).clone())
        self.kinds.append(kind)
        self.dims.append(d_new)
        self._composed = None
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

        The products are accumulated in float64 and stored in the store's dtype.

        Returns:
            ``{j: W_{K->j}}``.
        """
        composed: dict[int, Tensor] = {}
        acc = None
        for j in range(self.K - 1, -1, -1):
            B = self._Bs[j].to(torch.float64)  # B_{j+1}
            acc = B if acc is None else B @ acc
            composed[j] = acc.to(self.dtype)
        self._composed = composed
        return composed

    def composed_matrix(self, to_version: int) -> Tensor:
        """``W_{K->j}`` of shape ``(d_j, d_K)`` (identity for ``j = K``); precomposes if needed."""
        j = self._check_version(to_version)
        if j == self.K:
            return torch.eye(self.dims[-1], device=self.device, dtype=self.dtype)
        if self._composed is None:
            self.precompose()
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

        Args:
            z: ``(n, d_K)`` latest-version embeddings; ``None`` uses the stored ones.
            to_version: target version ``j`` in ``[0, K]``.
            sequential: apply ``B_K``, then ``B_{K-1}``, ..., ``B_{j+1}`` one by one instead of the
                precomposed matrix (NoTrans steps are column slices).
            out: optional preallocated ``(n, d_j)`` output (precomposed path only).

        Returns:
            ``(n, d_j)`` tensor on ``z``'s device, in ``z``'s dtype (``z`` itself when ``j = K``).
            The precomposed matrix is cached in the store's dtype and cast to ``z``'s.
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
                else:
                    h = h @ self._Bs[k - 1].to(device=h.device, dtype=h.dtype).T
            return h if out is None else out.copy_(h)
        W = self.composed_matrix(j).to(device=z.device, dtype=z.dtype)
        return torch.matmul(z, W.T, out=out)

    # ------------------------------------------------------------------ persistence
    def to(self, device: str | torch.device) -> "VersionStore":
        """Move the matrices (and stored embeddings) to ``device``; returns ``self``."""
        self.device = resolve_device(device)
        self._Bs = [W.to(self.device) for W in self._Bs]
        if self._composed is not None:
            self._composed = {j: W.to(self.device) for j, W in self._composed.items()}
        if self.embeddings is not None:
            self.embeddings = self.embeddings.to(self.device)
        return self

    def header(self) -> dict:
        """The JSON-able metadata written into the file header."""
        return {
            "format": FORMAT,
            "K": self.K,
            "dims": list(self.dims),
            "kinds": list(self.kinds),
            "dtype": str(self.dtype).removeprefix("torch."),
            "has_embeddings": self.embeddings is not None,
            "num_embeddings": None if self.embeddings is None else int(self.embeddings.shape[0]),
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the store to one ``.safetensors`` file atomically (temp file, then rename).

        Args:
            path: destination file.

        Returns:
            the path written.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {f"B_{k + 1}": W.detach().cpu().contiguous() for k, W in enumerate(self._Bs)}
        if self.embeddings is not None:
            tensors["embeddings"] = self.embeddings.detach().cpu().contiguous()
        meta = {"embcompat": json.dumps(self.header(), sort_keys=True)}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            save_file(tensors, tmp, metadata=meta)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path

    @staticmethod
    def read_header(path: str | os.PathLike) -> dict:
        """Read only the metadata of a saved store (no tensors are loaded)."""
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if "embcompat" not in meta:
            raise ValueError(f"{path} is not an embcompat VersionStore file (no 'embcompat' header)")
        header = json.loads(meta["embcompat"])
        if header.get("format") != FORMAT:
            raise ValueError(f"{path}: unsupported format {header.get('format')!r}; this version reads {FORMAT!r}")
        return header

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | torch.device = "cpu") -> "VersionStore":
        """Load a store written by :meth:`save` (safetensors: data only, no code is executed)."""
        header = cls.read_header(path)
        tensors = load_file(str(path), device="cpu")
        dims, kinds, K = header["dims"], header["kinds"], header["K"]
        if len(dims) != K + 1 or len(kinds) != K:
            raise ValueError(f"{path}: inconsistent header (K={K}, dims={dims}, kinds={kinds})")
        store = cls(dims[0], device=device, dtype=getattr(torch, header["dtype"]))
        for k in range(1, K + 1):
            W = tensors.get(f"B_{k}")
            if W is None or tuple(W.shape) != (dims[k - 1], dims[k]):
                got = None if W is None else tuple(W.shape)
                raise ValueError(f"{path}: B_{k} should be ({dims[k - 1]}, {dims[k]}), found {got}")
            store._Bs.append(W.to(store.device))
        store.dims, store.kinds = list(dims), list(kinds)
        if header["has_embeddings"]:
            store.set_embeddings(tensors["embeddings"].to(store.device))
        return store

    def __repr__(self) -> str:
        emb = "none" if self.embeddings is None else f"{tuple(self.embeddings.shape)}"
        return f"VersionStore(K={self.K}, dims={self.dims}, kinds={self.kinds}, embeddings={emb})"


def chain_from(Bs: Sequence[Tensor | LinearBackward | NoTransBackward], d0: int | None = None, **kw) -> VersionStore:
    """Build a store from ``[B_1, ..., B_K]`` (oldest first); ``d0`` defaults to ``B_1``'s output dim."""
    if not Bs:
        raise ValueError("chain_from needs at least one backward transformation")
    store = VersionStore(d0 if d0 is not None else backward_dims(Bs[0])[1], **kw)
    for B in Bs:
        store.add_version(B)
    return store
