"""The consumers' cache: C_0 saved and loaded as sealed files, keyed by the content it trained on."""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import torch

from embcompat.backward.consumers import Embeddings, TrainedConsumers, train_consumers
from embcompat.backward.tasks import TaskData
from embcompat.cache_files import (USE_ERRORS, CorruptCacheError, load_verified, read_json,
                                   save_json, save_torch, warn_corrupt)
from embcompat.config.consumers import ConsumerConfig
from embcompat.models.consumer import ConsumerMLP, ConsumerSpec
from embcompat.utils import cache_dir, config_hash, resolve_device

__all__ = ["save_consumers", "load_consumers", "consumers_cache_key", "train_consumers_cached"]


def save_consumers(trained: TrainedConsumers, directory: str | Path) -> None:
    """Write ``models.pt`` (CPU state dicts) then ``consumers.json`` (the rest), each atomically
    and each followed by its SHA-256 sidecar (:mod:`embcompat.cache_files`)."""
    d = Path(directory)
    save_torch([{k: v.cpu() for k, v in m.state_dict().items()} for m in trained.models],
                      d / "models.pt")
    meta = {"task": trained.task, "spec": dataclasses.asdict(trained.spec),
            "feature_dim": trained.feature_dim, "seeds": trained.seeds, "val_aucs": trained.val_aucs,
            "best_epochs": trained.best_epochs, "grid": trained.grid,
            "config": dataclasses.asdict(trained.config)}
    save_json(meta, d / "consumers.json")


def load_consumers(directory: str | Path, device: str | torch.device = "auto") -> TrainedConsumers:
    """Read what :func:`save_consumers` wrote, checking each file against its SHA-256 sidecar.

    Raises:
        FileNotFoundError: a file is missing (an incomplete save).
        CorruptCacheError: a file fails its checksum (or has none) or cannot be used; the message
            names the file to delete.
    """
    d = Path(directory)
    meta = load_verified(d / "consumers.json", read_json)
    states = load_verified(d / "models.pt")
    try:
        spec = ConsumerSpec(**meta["spec"])
        cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"].items()}
        models = []
        for state in states:
            m = ConsumerMLP(spec)
            m.load_state_dict(state)
            models.append(m)
        trained = TrainedConsumers(meta["task"], spec, meta["feature_dim"], meta["seeds"], models,
                                   meta["val_aucs"], meta["best_epochs"], meta["grid"],
                                   ConsumerConfig(**cfg))
    except USE_ERRORS as err:
        raise CorruptCacheError(d / "models.pt", "does not match consumers.json "
                                f"({type(err).__name__}: {err})") from err
    dev = resolve_device(device)
    trained.models = [m.to(dev).eval() for m in models]
    return trained


def _digest(h, *tensors: torch.Tensor | None) -> None:
    for t in tensors:
        if t is None:
            h.update(b"none")
            continue
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")


def consumers_cache_key(task: TaskData, embeddings: Embeddings, config: ConsumerConfig) -> str:
    """Content hash of what C_0 depends on: config, task sets and the embeddings it trains on."""
    h = hashlib.sha256()
    for s in (task.train, task.val):
        _digest(h, s.ids, s.labels)
    for v in sorted({task.train.version, task.val.version}):
        _digest(h, *embeddings[v])
    return config_hash(config, task.name, h.hexdigest())


def train_consumers_cached(task: TaskData, embeddings: Embeddings, config: ConsumerConfig | None = None,
                           *, device: str | torch.device = "auto", progress: bool = False,
                           use_cache: bool = True) -> TrainedConsumers:
    """:func:`train_consumers`, reusing ``outputs/cache/consumers-<hash>/`` when complete and
    intact (a corrupt entry is logged and retrained)."""
    cfg = config or ConsumerConfig()
    if not use_cache:
        return train_consumers(task, embeddings, cfg, device=device, progress=progress)
    d = cache_dir("consumers", consumers_cache_key(task, embeddings, cfg))
    if (d / "consumers.json").exists() and (d / "models.pt").exists():
        try:
            return load_consumers(d, device)
        except CorruptCacheError as err:
            warn_corrupt(err, "retraining the consumers")
    trained = train_consumers(task, embeddings, cfg, device=device, progress=progress)
    save_consumers(trained, d)
    return trained
