"""Notebook 03's consumer work in worker processes: C_0 of every (data set, seed) and the one-seed
compatibility matrices of several data sets give what the in-process path gives. Smoke scale,
synthetic data, two local workers."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from embcompat.backward import compat_matrix as CM
from embcompat.backward import seeded as S
from embcompat.backward.experiment import run_experiment
from embcompat.config.consumers import MatrixConfig
from embcompat.data import load_graph

METHODS = ["Keep-All", "Fix-M0", "Non-BC", "BC-Aligner"]
SEEDS = [3, 4]


def _consumer_entries(cache: Path) -> set[str]:
    return {p.parent.name for p in cache.glob("consumers-*/consumers.json")}


@pytest.fixture
def graph():
    return load_graph("synthetic")


def test_pretrained_consumers_are_the_ones_run_experiment_would_train(graph, tmp_path, monkeypatch):
    # reference: the in-process path, in its own cache
    monkeypatch.setenv("EMBCOMPAT_CACHE", str(tmp_path / "serial"))
    ref = {s: run_experiment(graph, "smoke", METHODS, seed=s, device="cpu", progress=False) for s in SEEDS}
    n_tasks = len(ref[SEEDS[0]].tasks)

    cache = tmp_path / "parallel"
    monkeypatch.setenv("EMBCOMPAT_CACHE", str(cache))
    S.pretrain([graph], "smoke", METHODS, SEEDS, device="cpu", workers=1, progress=False)
    assert not _consumer_entries(cache)
    assert S.pretrain_consumers([graph], "smoke", SEEDS, device="cpu", workers=2, progress=False) \
        == n_tasks * len(SEEDS)
    written = _consumer_entries(cache)
    assert len(written) == n_tasks * len(SEEDS)
    # the same keys as the in-process path, and nothing left to train
    assert written == _consumer_entries(tmp_path / "serial")
    assert S.pretrain_consumers([graph], "smoke", SEEDS, device="cpu", workers=2, progress=False) == 0
    for s in SEEDS:
        exp = run_experiment(graph, "smoke", METHODS, seed=s, device="cpu", progress=False)
        for name, trained in exp.consumers.items():
            assert trained.val_aucs == pytest.approx(ref[s].consumers[name].val_aucs, abs=1e-6)
            assert trained.spec == ref[s].consumers[name].spec
    assert _consumer_entries(cache) == written  # run_experiment loaded them, trained none


def test_datasets_matrix_in_workers_equals_the_in_process_matrices(graph, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBCOMPAT_CACHE", str(tmp_path / "cache"))
    mc = MatrixConfig(later_seeds=(0, 1))
    exp = run_experiment(graph, "smoke", METHODS, seed=SEEDS[0], device="cpu", progress=False)
    one = CM.experiment_matrix(exp, mc, progress=False)
    # the same graph twice stands in for two data sets, one per worker
    both = CM.datasets_matrix([graph, graph], "smoke", METHODS, SEEDS[0], mc, device="cpu", workers=2,
                              progress=False)
    assert len(both) == 2 * len(one)
    for half in (both.iloc[:len(one)], both.iloc[len(one):]):
        pd.testing.assert_frame_equal(half.reset_index(drop=True), one, check_exact=False, atol=1e-6)
