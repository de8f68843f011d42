"""The file format of :class:`~embcompat.versions.VersionStore`: one ``.safetensors`` file.

Tensors: ``B_k`` (a ``(d_{k-1}, d_k)`` matrix) for a linear or NoTrans step; ``B_k.W_lin``,
``B_k.W_1``, ``B_k.b_1``, ``B_k.W_2`` for an MLP step
(:class:`~embcompat.models.mlp_backward.MLPBackward`); optionally ``embeddings``. The JSON header
(safetensors metadata key ``"embcompat"``) carries format, ``K``, dims, kinds (``"linear"``,
``"notrans"``, ``"mlp"``), dtype and the embeddings' row count; a store with an MLP step is written
as format :data:`FORMAT_MLP` with ``"hidden"`` (the hidden width per step, ``None`` for matrices), so
that a reader that knows only :data:`FORMAT` refuses it by name instead of misreading it. Stores
without an MLP step are written exactly as before (:data:`FORMAT`). Loading reads data only (no
pickle, no code is executed) and checks every shape against the header.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

from embcompat.models.mlp_backward import MLP_TENSORS, MLPBackward

__all__ = ["FORMAT", "FORMAT_MLP", "FORMATS", "store_tensors", "write_file", "read_header",
           "read_steps"]

FORMAT = "embcompat.VersionStore/1"
#: Written when the chain has a nonlinear (MLP) step; adds the ``hidden`` header field.
FORMAT_MLP = "embcompat.VersionStore/2"
FORMATS = (FORMAT, FORMAT_MLP)


def store_tensors(steps, embeddings: Tensor | None) -> dict[str, Tensor]:
    """The file's tensors (CPU, contiguous) for ``steps = [B_1, ..., B_K]``."""
    out: dict[str, Tensor] = {}
    for k, B in enumerate(steps, start=1):
        if isinstance(B, MLPBackward):
            for n, t in B.tensors().items():
                out[f"B_{k}.{n}"] = t.contiguous()
        else:
            out[f"B_{k}"] = B.detach().cpu().contiguous()
    if embeddings is not None:
        out["embeddings"] = embeddings.detach().cpu().contiguous()
    return out


def write_file(tensors: dict[str, Tensor], header: dict, path: str | os.PathLike) -> Path:
    """Write ``tensors`` with ``header`` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"embcompat": json.dumps(header, sort_keys=True)}
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


def read_header(path: str | os.PathLike) -> dict:
    """Only the metadata of a saved store (no tensors are loaded)."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if "embcompat" not in meta:
        raise ValueError(f"{path} is not an embcompat VersionStore file (no 'embcompat' header)")
    header = json.loads(meta["embcompat"])
    if header.get("format") not in FORMATS:
        raise ValueError(f"{path}: unsupported format {header.get('format')!r}; this version reads "
                         f"{' or '.join(map(repr, FORMATS))}")
    return header


def read_steps(path: str | os.PathLike) -> tuple[dict, list, Tensor | None]:
    """``(header, [B_1, ..., B_K], embeddings or None)`` on the CPU, every shape checked.

    Raises:
        ValueError: an inconsistent header, or a missing or misshapen tensor (naming it).
    """
    header = read_header(path)
    tensors = load_file(str(path), device="cpu")
    dims, kinds, K = header["dims"], header["kinds"], header["K"]
    hidden = header.get("hidden", [None] * K)
    if len(dims) != K + 1 or len(kinds) != K or len(hidden) != K:
        raise ValueError(f"{path}: inconsistent header (K={K}, dims={dims}, kinds={kinds})")
    steps: list = []
    for k in range(1, K + 1):
        if kinds[k - 1] == "mlp":
            B = MLPBackward.from_tensors({n: tensors[f"B_{k}.{n}"] for n in MLP_TENSORS
                                          if f"B_{k}.{n}" in tensors}, what=f"{path}: B_{k}")
            if (B.d_old, B.d_new, B.hidden) != (dims[k - 1], dims[k], hidden[k - 1]):
                raise ValueError(f"{path}: B_{k} should map {dims[k]} -> {dims[k - 1]} with hidden "
                                 f"{hidden[k - 1]}, found {B.d_new} -> {B.d_old}, hidden {B.hidden}")
            steps.append(B.requires_grad_(False))
            continue
        W = tensors.get(f"B_{k}")
        if W is None or tuple(W.shape) != (dims[k - 1], dims[k]):
            got = None if W is None else tuple(W.shape)
            raise ValueError(f"{path}: B_{k} should be ({dims[k - 1]}, {dims[k]}), found {got}")
        steps.append(W)
    emb = tensors["embeddings"] if header["has_embeddings"] else None
    return header, steps, emb


def dtype_of(header: dict) -> torch.dtype:
    """The store dtype named in a header (``"float32"`` -> ``torch.float32``)."""
    return getattr(torch, header["dtype"])
