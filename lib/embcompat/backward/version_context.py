"""The per-call state of :func:`~embcompat.backward.train.train_versions`: the data, the config,
the version graphs and evaluators built once, and the ``bc-version`` cache entries (read, write).

Separate from :mod:`embcompat.backward.train` so that the executors' workers
(:mod:`embcompat.backward.parallel`) can build the same context and hand the entries back to the
driver, which writes them with :func:`write_version`.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import torch
from tqdm.auto import tqdm

from embcompat.backward.intended import VersionEvaluator
from embcompat.backward.methods import Method
from embcompat.backward.results import VersionRecord
from embcompat.cache_files import load_cached, save_json, save_torch
from embcompat.config.bc import BCTrainConfig
from embcompat.data.graphs import InteractionGraph
from embcompat.data.splits import VersionSplit
from embcompat.models.gnn import PinSAGE, VersionGraph
from embcompat.utils import cache_dir, resolve_device

__all__ = ["TrainContext", "data_fingerprint", "write_version"]


def data_fingerprint(graph: InteractionGraph, splits: Sequence[VersionSplit]) -> str:
    """SHA-256 (16 hex) of what training reads: edges, item side info and every split."""
    h = hashlib.sha256(graph.name.encode())
    for t in (graph.user, graph.item, graph.item_brand, graph.item_category_ptr,
              graph.item_category):
        h.update(t.cpu().numpy().tobytes())
    for s in splits:
        h.update(f"{s.k}|{s.t_train}|{s.t_eval}|{s.num_users}|{s.num_items}".encode())
        for idx in (s.train_idx, s.eval_idx, s.val_idx, s.test_idx):
            h.update(b"-" if idx is None else idx.cpu().numpy().tobytes())
    return h.hexdigest()[:16]


class TrainContext:
    """Per-call state: the data, the config, built version graphs / evaluators, the cache."""

    def __init__(self, graph, splits, config: BCTrainConfig, cache: bool, progress: bool):
        if len(splits) != config.num_versions:
            raise ValueError(f"got {len(splits)} splits but the config has {config.num_versions} "
                             "versions (dims/layers/times)")
        self.graph, self.splits, self.config = graph, list(splits), config
        self.cache, self.progress = cache, progress
        self.device = resolve_device(config.device)
        self.fp = data_fingerprint(graph, splits)
        self._g: dict[int, VersionGraph] = {}
        self._ev: dict[int, VersionEvaluator] = {}
        self.trained = 0  # GNN versions trained in this call (for tests and logs)

    def vgraph(self, k: int) -> VersionGraph:
        if k not in self._g:
            s, g = self.splits[k], self.graph
            self._g[k] = VersionGraph.build(g.user[s.train_idx], g.item[s.train_idx], s.num_users,
                                            s.num_items, g.item_brand, g.item_category_ptr,
                                            g.item_category, device=self.device)
        return self._g[k]

    def evaluator(self, k: int) -> VersionEvaluator:
        if k not in self._ev:
            self._ev[k] = VersionEvaluator(self.graph, self.splits[k],
                                           heldout_test=self.config.heldout_test,
                                           ks=self.config.ks, device=self.device)
        return self._ev[k]

    def train_edges(self, k: int) -> torch.Tensor:
        s = self.splits[k]
        return torch.stack([self.graph.user[s.train_idx], self.graph.item[s.train_idx]])

    def model(self, k: int, arch_of: int | None = None, state: dict | None = None) -> PinSAGE:
        a = k if arch_of is None else arch_of
        m = PinSAGE(self.graph.num_brands, self.graph.num_categories, self.config.dims[a],
                    self.config.layers[a], seed=self.config.seed + 1000 * k).to(self.device)
        if state is not None:
            m.load_state_dict(state)
        return m

    def bar(self, desc: str, total: int):
        return tqdm(total=total, desc=desc, unit="epoch", disable=not self.progress, leave=True)

    # ---------------------------------------------------------------- cache
    def load(self, key: str) -> VersionRecord | None:
        if not self.cache:
            return None
        path = cache_dir("bc-version", key) / "version.pt"
        return load_cached(path, use=VersionRecord.from_payload)

    def save(self, rec: VersionRecord, method: Method, key_parts) -> None:
        if self.cache:
            write_version(rec.key, self.entry(rec, method, key_parts), rec.to_payload())

    def entry(self, rec: VersionRecord, method: Method, key_parts) -> dict:
        """The ``config.json`` of ``rec``'s cache entry."""
        return {"method": method.name, "k": rec.k, "dataset": self.graph.name,
                "data_fingerprint": self.fp, "key_parts": key_parts,
                "config": self.config.to_dict()}


def write_version(key: str, meta: dict, payload: dict) -> None:
    """Write one ``bc-version`` cache entry: ``config.json``, then ``version.pt`` (atomically)."""
    d = cache_dir("bc-version", key)
    save_json(meta, d / "config.json")
    save_torch(payload, d / "version.pt")
