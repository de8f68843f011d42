"""Benchmark: chunked Recall@K (embcompat.metrics.recall) vs a naive per-user Python reference.

Synthetic data of Musical-Instruments size (27,530 users, 10,611 items, 512-d, ~20k evaluation
edges, ~200k training edges). Each measurement is a fresh subprocess; peak memory is its
``ru_maxrss`` (incl. the Python + torch + data baseline, measured by a ``baseline`` worker). The
naive reference (the one of tests/test_recall.py: per user, sort the unmasked items by
(-score, id) in Python) runs on a random subsample of the scored users; its time is extrapolated
linearly in the number of users, and its per-user values are compared with ours on that subsample.

Usage::

    .venv/bin/python benchmarks/bench_recall.py           # writes benchmarks/results/recall.md
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
USERS, ITEMS, DIM, E_EVAL, E_TRAIN = 27_530, 10_611, 512, 20_000, 200_000


def make_data(seed: int = 0):
    """Embeddings with a weak low-rank preference signal; edges drawn with power-law degrees."""
    import torch

    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    u = torch.randn(USERS, DIM, generator=g) / DIM ** 0.5
    i = torch.randn(ITEMS, DIM, generator=g) / DIM ** 0.5
    user_p = rng.pareto(1.5, USERS) + 1
    item_p = rng.pareto(1.2, ITEMS) + 1
    user_p, item_p = user_p / user_p.sum(), item_p / item_p.sum()

    def edges(n):
        return torch.from_numpy(np.stack([rng.choice(USERS, n, p=user_p),
                                          rng.choice(ITEMS, n, p=item_p)]))

    return u, i, edges(E_EVAL), edges(E_TRAIN)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def worker(kind: str, n_sub: int) -> None:
    import torch

    from embcompat.metrics.recall import recall_per_user

    u, i, ev, tr = make_data()
    out: dict = {"kind": kind, "threads": torch.get_num_threads()}
    if kind == "ours":
        t, c = time.perf_counter(), _cpu()
        users, rec = recall_per_user(u, i, ev, tr, num_items_ranked=ITEMS)
        out.update(time=time.perf_counter() - t, cpu=_cpu() - c, n_users=users.numel(),
                   recall={k: float(v.mean()) for k, v in rec.items()})
        sub = np.random.default_rng(1).choice(users.numpy(), n_sub, replace=False)
        keep = np.isin(ev[0].numpy(), sub)
        _, rec_sub = recall_per_user(u, i, ev[:, keep], tr, num_items_ranked=ITEMS)
        out["sub"] = {k: v.tolist() for k, v in rec_sub.items()}
    elif kind == "naive":
        sys.path.insert(0, str(ROOT / "tests"))
        from test_recall import naive_recall

        users = np.unique(ev[0].numpy())
        sub = np.random.default_rng(1).choice(users, n_sub, replace=False)
        keep = np.isin(ev[0].numpy(), sub)
        t, c = time.perf_counter(), _cpu()
        _, rec = naive_recall(u, i, ev[:, keep], tr, ITEMS, (10, 20, 50, 100))
        out.update(time=time.perf_counter() - t, cpu=_cpu() - c, n_users=len(sub),
                   n_users_total=len(users), sub={k: v.tolist() for k, v in rec.items()})
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def run(kind: str, n_sub: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--sub", str(n_sub)]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sub", type=int, default=300, help="users in the naive subsample")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--worker", choices=["ours", "naive", "baseline"], default=None)
    args = ap.parse_args()
    if args.worker == "baseline":
        make_data()
        print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
        return
    if args.worker:
        worker(args.worker, args.sub)
        return
    load = os.getloadavg()
    base, ours, naive = run("baseline", args.sub), run("ours", args.sub), run("naive", args.sub)
    per_user = naive["time"] / naive["n_users"]
    naive_full = per_user * ours["n_users"]
    diffs = {k: float(np.max(np.abs(np.array(ours["sub"][k]) - np.array(naive["sub"][k]))))
             for k in ours["sub"]}
    lines = [
        "# Recall@K benchmark (Musical-Instruments size)",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_recall.py"
        f"{'' if args.sub == 300 else f' --sub {args.sub}'}`",
        "",
        f"Data (synthetic, power-law degrees): {USERS:,} users, {ITEMS:,} items, {DIM}-d float32, "
        f"{E_EVAL:,} eval edges ({ours['n_users']:,} scored users), {E_TRAIN:,} train edges, "
        f"K = 10/20/50/100. Machine: {platform.machine()}, torch threads {ours['threads']}, "
        f"1-min load average {load[0]:.1f} at the start (other jobs may share the cores): wall times "
        f"are noisy, CPU times (user+sys of the process) less so. Each row is a fresh "
        f"subprocess; peak = ru_maxrss incl. the Python+torch+data baseline of "
        f"{base['peak_mb']:.0f} MB.",
        "",
        "| implementation | users scored | wall (s) | CPU (s) | peak RSS (MB) | over baseline (MB) |",
        "|---|---|---|---|---|---|",
        f"| embcompat `recall_per_user` | {ours['n_users']:,} | {ours['time']:.2f} | "
        f"{ours['cpu']:.2f} | {ours['peak_mb']:.0f} | {ours['peak_mb'] - base['peak_mb']:.0f} |",
        f"| naive per-user reference, measured | {naive['n_users']} (random subsample) | "
        f"{naive['time']:.2f} | {naive['cpu']:.2f} | {naive['peak_mb']:.0f} | "
        f"{naive['peak_mb'] - base['peak_mb']:.0f} |",
        f"| naive, extrapolated linearly to all users | {ours['n_users']:,} | {naive_full:.0f} | "
        f"| | |",
        "",
        f"Speed-up (wall, same run, naive extrapolated): **{naive_full / ours['time']:.0f}x**.",
        f"Mean recall (ours, all users): "
        + ", ".join(f"R@{k} = {v:.4f}" for k, v in ours["recall"].items()) + ".",
        f"Max |per-user recall difference| vs the naive reference on the subsample: "
        + ", ".join(f"K={k}: {v:.1e}" for k, v in diffs.items())
        + " (ours ranks float32 scores, the reference float64; a difference could only come "
          "from a near-tie at the K boundary).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        (ROOT / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
        (ROOT / "benchmarks" / "results" / "recall.md").write_text(text)


if __name__ == "__main__":
    main()
