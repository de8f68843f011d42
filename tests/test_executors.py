"""The executors (embcompat.executors): the local pool and Ray train the same λ sweep bit for bit,
the local default needs no Ray, and the runner's --executor / --address arguments are checked.

The Ray tests skip without Ray (``pip install -e .[ray]``); they share one private Ray session
(2 CPUs, no dashboard) for the module, because Ray takes seconds to start.
"""
import json
import math
import shutil
import sys
import tempfile

import pytest
import torch

from embcompat import runner
from embcompat.backward import sweep as S
from embcompat.executors import (RAY_INSTALL_HINT, LocalExecutor, _check_reachable,
                                 get_executor)

# the smoke grid: synthetic graph, smoke config, 2 λ x 1 joint method, one seed
GRID = (["synthetic"], "smoke", ["BC-Aligner"], [1, 4], [3], "cpu")
JOINT = "BC-Aligner"


def _runs(executor=None):
    return list(S.iter_runs(*GRID, executor=executor, progress=False))


def _snapshot(runs):
    """Every version of every run: (λ, method, k) -> its key, embeddings, B and recalls."""
    out = {}
    for r in runs:
        for m, res in r.experiment.results.items():
            for v in res.versions:
                out[(r.lam, m, v.k)] = {"key": v.key, "z_user": v.z_user, "z_item": v.z_item,
                                        "zhat0_user": v.zhat0_user, "zhat0_item": v.zhat0_item,
                                        "B": v.B, "recall": v.recall,
                                        "test_recall": v.test_recall}
    return out


def _assert_bitwise(a, b):
    assert a.keys() == b.keys()
    for where, x in a.items():
        y = b[where]
        assert x["key"] == y["key"], where
        for name in ("z_user", "z_item", "zhat0_user", "zhat0_item", "B"):
            if x[name] is None:
                assert y[name] is None, (where, name)
            else:
                assert torch.equal(x[name], y[name]), (where, name)
        assert x["recall"] == y["recall"] and x["test_recall"] == y["test_recall"], where


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The grid trained in this process (workers=1, the old path), and a copy of its cache
    without the joint chains (M_0, references and C_0 stay: the other back-ends only train the
    chains)."""
    mp = pytest.MonkeyPatch()
    serial = tmp_path_factory.mktemp("serial")
    mp.setenv("EMBCOMPAT_CACHE", str(serial))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs = _runs()
    finally:
        torch.set_num_threads(before)
        mp.undo()
    base = tmp_path_factory.mktemp("base") / "cache"
    shutil.copytree(serial, base)
    dropped = 0
    for cfg in base.glob("bc-version-*/config.json"):
        meta = json.loads(cfg.read_text())
        if meta["method"] == JOINT and meta["k"] > 0:
            shutil.rmtree(cfg.parent)
            dropped += 1
    snap = _snapshot(runs)
    assert dropped == len(_chain_versions(snap)) == 2 * 4  # 2 λ x versions 1..4 (smoke)
    return snap, base


def _fresh_cache(base, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    shutil.copytree(base, cache)
    monkeypatch.setenv("EMBCOMPAT_CACHE", str(cache))
    return cache


def _chain_versions(snap):
    return [w for w in snap if w[1] == JOINT and w[2] > 0]


def _check_workers_trained(runs):
    p = S.provenance(runs)
    joint = p[(p.method == JOINT) & (p.version > 0)]
    assert len(joint) == 2 * 4 and joint.from_cache.all()  # written by the driver, then loaded


def test_local_two_workers_equal_in_process_without_ray(reference, tmp_path, monkeypatch):
    """The local default imports and runs with `import ray` failing, bit for bit as in-process."""
    snap, base = reference
    monkeypatch.setitem(sys.modules, "ray", None)
    cache = _fresh_cache(base, tmp_path, monkeypatch)
    with get_executor("local", workers=2) as ex:
        ex.threads = 1  # as the in-process reference (the default shares out the cores)
        runs = _runs(ex)
    _check_workers_trained(runs)
    _assert_bitwise(_snapshot(runs), snap)
    assert len(list(cache.glob("bc-version-*/version.pt"))) == len(
        {v["key"] for v in snap.values()})
    with pytest.raises(ImportError, match=r"needs Ray.*pip install -e \.\[ray\]"):
        get_executor("ray")


def test_in_process_executor_is_the_old_path(reference, tmp_path, monkeypatch):
    """workers=1 trains the chains while assembling the points, as before executors existed."""
    snap, base = reference
    _fresh_cache(base, tmp_path, monkeypatch)
    runs = _runs(get_executor("local"))
    p = S.provenance(runs)
    assert not p[(p.method == JOINT) & (p.version > 0)].from_cache.any()
    _assert_bitwise(_snapshot(runs), snap)


def test_executor_arguments():
    with pytest.raises(ValueError, match="executor must be one of local, ray"):
        get_executor("dask")
    with pytest.raises(ValueError, match="address.*executor='ray'"):
        get_executor("local", address="auto")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="workers must be >= 1"):
            LocalExecutor(bad)
    with pytest.raises(ValueError, match="pass workers=2 to the executor"):
        next(S.iter_runs(*GRID, workers=2, executor=get_executor("local")))
    ex = get_executor("local")
    assert ex.in_process and sorted(r for _, r in ex.map(math.sqrt, [4.0, 1.0],
                                                         progress=False)) == [1.0, 2.0]
    with pytest.raises(RuntimeError, match="task -1.0 failed: math domain error"):
        list(ex.map(math.sqrt, [-1.0], progress=False))
    with pytest.raises(ValueError, match="None, 'auto' or 'HOST:PORT'"):
        _check_reachable("nohostport")
    with pytest.raises(ConnectionError, match="cannot reach a Ray head at 127.0.0.1:1"):
        _check_reachable("127.0.0.1:1")  # nothing listens on port 1


def test_runner_executor_arguments(monkeypatch, capsys):
    with pytest.raises(SystemExit):
        runner.main(["--address", "auto", "--only", "05"])
    assert "--address needs --executor ray" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        runner.main(["--executor", "dask"])
    with pytest.raises(ValueError, match="set the executor with --executor ray"):
        runner.collect_params([["executor", "ray"]])
    with pytest.raises(ValueError, match="--address HOST:PORT"):
        runner.collect_params([["ray_address", "auto"]])
    assert runner.executor_params("ray", "h:6379") == {"executor": "ray", "ray_address": "h:6379"}
    assert runner.executor_params(None, None) == {}
    monkeypatch.setitem(sys.modules, "ray", None)
    assert runner.main(["--executor", "ray", "--only", "05", "--scale", "smoke"]) == 1
    assert RAY_INSTALL_HINT in capsys.readouterr().err


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray", reason=f"Ray is not installed ({RAY_INSTALL_HINT})")
    if ray.is_initialized():
        ray.shutdown()
    tmp = tempfile.mkdtemp(prefix="ray-")  # short: Ray's socket paths must fit in 107 bytes
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             _temp_dir=tmp)
    yield ray
    ray.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)


def test_ray_equals_local_bit_for_bit(ray_session, reference, tmp_path, monkeypatch):
    snap, base = reference
    _fresh_cache(base, tmp_path, monkeypatch)
    with get_executor("ray") as ex:
        assert not ex.in_process and not ex._owned  # joined the module's session
        runs = _runs(ex)
    assert ray_session.is_initialized()  # an executor never ends a session it did not start
    _check_workers_trained(runs)
    _assert_bitwise(_snapshot(runs), snap)


def test_ray_task_errors_name_the_task(ray_session):
    ex = get_executor("ray", workers=1)
    assert sorted(r for _, r in ex.map(math.sqrt, [9.0, 4.0], progress=False)) == [2.0, 3.0]
    with pytest.raises(RuntimeError, match="task -1.0 failed on Ray"):
        list(ex.map(math.sqrt, [-1.0], progress=False))


def test_train_chains_writes_the_cache_and_skips_complete_chains(reference, tmp_path,
                                                                 monkeypatch):
    """train_chains (in-process here) writes the workers' records under the usual keys; a chain
    whose every version is cached is not sent again."""
    from dataclasses import replace

    from embcompat.backward.experiment import resolve_datasets
    from embcompat.backward.parallel import ChainJob, train_chains
    from embcompat.backward.train import version_keys
    from embcompat.config import bc_config
    from embcompat.data import version_splits

    snap, base = reference
    cache = _fresh_cache(base, tmp_path, monkeypatch)
    (graph,), _ = resolve_datasets(GRID[0])
    cfg = bc_config("smoke", graph.name, seed=3, device="cpu")
    splits = version_splits(graph, cfg.times, heldout_test=cfg.heldout_test, seed=3)
    jobs = [ChainJob(graph, splits, JOINT, replace(cfg, lam=float(lam))) for lam in GRID[3]]
    first = train_chains(jobs, 1, progress=False)
    assert len(first) == 2 and all(s > 0 for s in first.values())
    for job in jobs:
        keys = version_keys(JOINT, graph, splits, job.config)
        assert keys == [snap[(job.config.lam, JOINT, k)]["key"] for k in range(len(keys))]
        assert all((cache / f"bc-version-{k}" / "version.pt").is_file() for k in keys)
    assert set(train_chains(jobs, 1, progress=False).values()) == {0.0}  # nothing resent
