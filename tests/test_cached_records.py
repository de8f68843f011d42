"""Reading cached BC version records of one protocol back (tiny caches written here)."""
import json

import pytest
import torch

from embcompat.backward.cached_records import protocol, scan_scale_records, scan_version_records
from embcompat.config.bc import bc_config


def _write(root, name, method, k, cfg, val, test, curve=(0.01, 0.02, 0.03, 0.05), drop=(), dataset="ds"):
    d = root / f"bc-version-{name}"
    d.mkdir()
    cfg = {k_: v for k_, v in cfg.items() if k_ not in drop}
    (d / "config.json").write_text(json.dumps({"config": cfg, "dataset": dataset, "k": k, "method": method}))
    hist = [{"epoch": 2 * i + 2, "recall@50": r} for i, r in enumerate(curve)]
    torch.save({"recall": {50: val}, "test_recall": {50: test}, "history": hist, "best_epoch": 8,
                "train_seconds": 3.5}, d / "version.pt")


def test_scan_keeps_one_protocol_and_reads_the_numbers(tmp_path):
    demo = protocol(bc_config("demo"))
    old = protocol(bc_config("demo"), lr=1e-3, lr_trans=1e-3, lr_schedule="constant", patience=8)
    _write(tmp_path, "a", "Non-BC", 1, {**demo, "seed": 7, "lam": 16.0}, 0.05, 0.04)
    _write(tmp_path, "b", "BC-Aligner", 1, {**demo, "lam": 2.0}, 0.045, 0.03)
    _write(tmp_path, "c", "BC-Aligner", 1, old, 0.02, 0.01, drop=("lr_schedule",))  # written before the field
    got = scan_version_records(tmp_path, demo)
    assert sorted(got.key) == ["bc-version-a", "bc-version-b"]
    a = got.set_index("key").loc["bc-version-a"]
    assert (a.val_r50, a.test_r50, a.seed, a.version, a.epochs_trained) == pytest.approx((5.0, 4.0, 7, 1, 8))
    assert a.late_gain == pytest.approx(100 * (0.05 - 0.03))
    # a record without the new field counts as its default (constant)
    assert list(scan_version_records(tmp_path, old).key) == ["bc-version-c"]
    assert list(scan_version_records(tmp_path, demo, methods=["BC-Aligner"]).key) == ["bc-version-b"]
    # λ is ignored by default, not when asked
    assert list(scan_version_records(tmp_path, {**demo, "lam": 16.0}, ignore=("seed", "device")).key) == [
        "bc-version-a"]


def test_scale_records_read_each_data_set_under_its_own_preset(tmp_path):
    ml, az = "movielens-latest-small", "amazon-2014-hin"
    ml_cfg, az_cfg = protocol(bc_config("demo", ml)), protocol(bc_config("demo", az))
    assert ml_cfg["lr"] != az_cfg["lr"]  # DATASET_PRESETS
    _write(tmp_path, "m", "Non-BC", 1, ml_cfg, 0.05, 0.04, dataset=ml)
    _write(tmp_path, "m_at_az_lr", "Non-BC", 1, az_cfg, 0.05, 0.04, dataset=ml)  # another protocol for ml
    _write(tmp_path, "a", "Non-BC", 1, az_cfg, 0.05, 0.04, dataset=az)
    got = scan_scale_records(tmp_path, "demo", [ml, az])
    assert sorted(zip(got.dataset, got.key)) == [(az, "bc-version-a"), (ml, "bc-version-m")]
    # overrides apply on top of each data set's preset
    got = scan_scale_records(tmp_path, "demo", [ml], {"lr": az_cfg["lr"], "lr_trans": az_cfg["lr_trans"]})
    assert list(got.key) == ["bc-version-m_at_az_lr"]
    assert scan_scale_records(tmp_path, "demo", []).empty
