"""Read the cached BC version records of one training protocol back as a table (no training).

Every trained version is cached as ``<cache>/bc-version-<key>/`` with ``config.json`` (data set,
method, version ``k`` and the full :class:`~embcompat.config.bc.BCTrainConfig`) and
``version.pt`` (the record: selection and test Recall@K, curve, timings).
:func:`scan_version_records` keeps the records whose config equals a preset in every field but the
ones named in ``ignore`` (by default λ, the seed and the device), so the benchmarks that compare
protocols or choose λ read exactly the runs of one protocol.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import pandas as pd

from embcompat.backward.plateau import late_gain
from embcompat.cache_files import read_torch
from embcompat.config.bc import BCTrainConfig, bc_config

__all__ = ["RECORD_COLUMNS", "scan_version_records", "scan_scale_records", "protocol"]

RECORD_COLUMNS = ("dataset", "method", "lam", "seed", "version", "val_r50", "test_r50", "best_epoch",
                  "epochs_trained", "train_seconds", "late_gain", "key")


def _canon(value) -> str:
    return json.dumps(value, sort_keys=True)


def protocol(config: BCTrainConfig, **overrides) -> dict:
    """``config`` with ``overrides`` as the JSON-able dict stored in ``config.json``."""
    return json.loads(json.dumps(replace(config, **overrides).to_dict()))


def scan_version_records(cache: str | Path, preset: dict, *, methods: Iterable[str] | None = None,
                         ignore: Iterable[str] = ("lam", "seed", "device")) -> pd.DataFrame:
    """One row per cached version trained under ``preset`` (see :func:`protocol`).

    Args:
        cache: the cache folder (``outputs/cache`` or ``$EMBCOMPAT_CACHE``).
        preset: a config dict; a record matches when every field not in ``ignore`` is equal.
        methods: keep only these methods (None: all).
        ignore: config fields that may differ.

    Returns:
        Columns :data:`RECORD_COLUMNS`; Recall@50 (``val_r50``: the selection split, ``test_r50``:
        the held-out test split, NaN without one) and ``late_gain`` in points (x100, NaN for a
        record without a curve of its own).
    """
    ignore = set(ignore)
    # a field added to BCTrainConfig after a record was written is absent from its config.json:
    # the record was trained with that field's default
    defaults = json.loads(json.dumps(BCTrainConfig().to_dict()))
    want = {k: _canon(v) for k, v in preset.items() if k not in ignore}
    keep = None if methods is None else set(methods)
    rows = []
    for f in sorted(Path(cache).glob("bc-version-*/config.json")):
        meta = json.loads(f.read_text())
        cfg = meta.get("config", {})
        if (keep is not None and meta.get("method") not in keep) or any(
                _canon(cfg.get(k, defaults.get(k))) != v for k, v in want.items()):
            continue
        rec = read_torch(f.parent / "version.pt")
        curve = [h["recall@50"] for h in rec.get("history", []) if "recall@50" in h]
        test = rec.get("test_recall") or {}
        rows.append({"dataset": meta["dataset"], "method": meta["method"], "lam": float(cfg["lam"]),
                     "seed": int(cfg["seed"]), "version": int(meta["k"]),
                     "val_r50": 100.0 * float(rec["recall"][50]),
                     "test_r50": 100.0 * float(test[50]) if 50 in test else float("nan"),
                     "best_epoch": rec.get("best_epoch"),
                     "epochs_trained": rec["history"][-1]["epoch"] if rec.get("history") else 0,
                     "train_seconds": float(rec.get("train_seconds") or 0.0),
                     "late_gain": 100.0 * late_gain(curve) if len(curve) >= 2 else float("nan"),
                     "key": f.parent.name})
    return pd.DataFrame(rows, columns=list(RECORD_COLUMNS))


def scan_scale_records(cache: str | Path, scale: str, datasets: Iterable[str], overrides: dict | None = None, *,
                       methods: Iterable[str] | None = None,
                       ignore: Iterable[str] = ("lam", "seed", "device")) -> pd.DataFrame:
    """:func:`scan_version_records` of each data set under its own preset, ``bc_config(scale,
    dataset)`` with ``overrides`` (a scale's preset may differ per data set:
    :data:`~embcompat.config.bc.DATASET_PRESETS`), the rows of that data set only, stacked."""
    frames = []
    for ds in dict.fromkeys(datasets):
        recs = scan_version_records(cache, protocol(bc_config(scale, ds), **(overrides or {})),
                                    methods=methods, ignore=ignore)
        frames.append(recs[recs.dataset == ds])
    if not frames:
        return pd.DataFrame(columns=list(RECORD_COLUMNS))
    return pd.concat(frames, ignore_index=True)
