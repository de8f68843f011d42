"""Benchmark: the executors' overhead (embcompat.executors) on smoke λ-sweep grids.

Each grid's references, ``M_0`` and consumers are trained once into a base cache; every back-end
then runs the sweep (:func:`embcompat.backward.sweep.iter_runs`) on a fresh copy of it, so only
the (method, λ) chains train: in this process (``local``, 1 worker), in two spawned 1-thread
processes (``local``, 2: a fresh pool per sweep), and on one private 2-CPU Ray cluster for the
whole benchmark (``ray``: ``ray.init`` timed apart, then the sweep twice; Ray keeps its worker
processes, so only the first grid's first sweep starts them). Each back-end's records are
checked equal (``torch.equal``) to the in-process ones. Skips Ray when it is not installed.

Usage::

    .venv/bin/python benchmarks/bench_executors.py     # writes benchmarks/results/executors.md
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch

from embcompat.backward import sweep as S
from embcompat.executors import LocalExecutor, RayExecutor

ROOT = Path(__file__).resolve().parents[1]
GRIDS = {"2 λ x BC-Aligner": (["BC-Aligner"], [1, 4]),
         "6 λ x 3 joint methods": (["Joint-NoTrans", "Joint-Lin-SLoss", "BC-Aligner"],
                                   [1, 2, 4, 8, 16, 32])}


def _args(methods, lams):
    return (["synthetic"], "smoke", methods, lams, [3], "cpu")


def _records(runs):
    return {(r.lam, m, v.k): (v.key, v.z_user, v.z_item, v.zhat0_user, v.B)
            for r in runs for m, res in r.experiment.results.items() for v in res.versions}


def _same(a, b) -> bool:
    if a.keys() != b.keys():
        return False
    for k, x in a.items():
        y = b[k]
        if x[0] != y[0]:
            return False
        for p, q in zip(x[1:], y[1:]):
            if (p is None) != (q is None) or (p is not None and not torch.equal(p, q)):
                return False
    return True


def _timed(args, base: Path, tmp: Path, name: str, executor):
    cache = tmp / name
    shutil.copytree(base, cache)
    os.environ["EMBCOMPAT_CACHE"] = str(cache)
    t0 = time.perf_counter()
    runs = list(S.iter_runs(*args, executor=executor, progress=False))
    return time.perf_counter() - t0, _records(runs)


def bench_grid(label, methods, lams, tmp: Path, ray_ex) -> list[dict]:
    args = _args(methods, lams)
    base = tmp / "base"
    shutil.rmtree(base, ignore_errors=True)
    os.environ["EMBCOMPAT_CACHE"] = str(base)
    torch.set_num_threads(1)
    list(S.iter_runs(*args, progress=False))  # fills the base cache, chains included
    for cfg in base.glob("bc-version-*/config.json"):
        meta = json.loads(cfg.read_text())
        if meta["method"] in methods and meta["k"] > 0:
            shutil.rmtree(cfg.parent)
    rows, ref = [], None
    backends = [("local, 1 worker (in-process)", LocalExecutor(1)),
                ("local, 2 workers", LocalExecutor(2, threads=1))]
    if ray_ex is not None:
        backends += [("ray, first sweep", ray_ex), ("ray, same sweep again", ray_ex)]
    for i, (name, ex) in enumerate(backends):
        secs, recs = _timed(args, base, tmp, f"{len(methods)}x{len(lams)}-{i}", ex)
        ref = recs if ref is None else ref
        rows.append({"grid": label, "chains": len(methods) * len(lams), "backend": name,
                     "seconds": secs, "equal": _same(recs, ref)})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-ex-"))
    ray_ex, init_s = None, None
    try:
        import ray  # noqa: F401

        t0 = time.perf_counter()
        ray_ex = RayExecutor(None, num_cpus=2, _temp_dir=str(tmp / "ray"))
        init_s = time.perf_counter() - t0
    except ImportError:
        print("Ray is not installed (pip install -e .[ray]): local back-ends only")
    rows = []
    try:
        for label, (methods, lams) in GRIDS.items():
            rows += bench_grid(label, methods, lams, tmp, ray_ex)
    finally:
        if ray_ex is not None:
            ray_ex.close()
        shutil.rmtree(tmp, ignore_errors=True)
    lines = ["# Executors: local pool vs Ray on smoke λ-sweep grids", "",
             f"`benchmarks/bench_executors.py`, {time.strftime('%Y-%m-%d')}, "
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (shared: "
             "other jobs were running, so read the numbers as rough). Synthetic graph, smoke "
             "config, seed 3; only the (method, λ) chains train (references, M_0 and consumers "
             "come from a cache). `equal`: every version's key, embeddings and B equal "
             "(torch.equal) to the in-process run. The local pool spawns fresh workers for "
             "every sweep; the Ray session is started once and keeps its workers, so only the "
             "first grid's first Ray sweep pays for starting them.", ""]
    if init_s is not None:
        lines += [f"`ray.init` of a private 2-CPU cluster: {init_s:.1f} s (not in the rows).", ""]
    lines += ["| grid | chains | back-end | seconds | equal |", "|---|---|---|---|---|"]
    lines += [f"| {r['grid']} | {r['chains']} | {r['backend']} | {r['seconds']:.1f} | "
              f"{r['equal']} |" for r in rows]
    out = ROOT / "benchmarks" / "results" / "executors.md"
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
