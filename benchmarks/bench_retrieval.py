"""Benchmark: vectorised CMC/mAP (embcompat.metrics.retrieval) vs a naive per-query reference.

Each measurement runs in a fresh subprocess; peak memory is that process's ``ru_maxrss`` (it
includes the Python + torch baseline, which is measured separately by a ``baseline`` worker that
only builds the data). The naive reference is the one the unit tests use: a float64
``torch.cdist`` matrix, a stable argsort per query and scikit-learn's ``average_precision_score``
per query (the official ml-fct algorithm, minus its float32 distances and unstable sort).

Usage::

    .venv/bin/python benchmarks/bench_retrieval.py            # N = 10,000, writes results/retrieval.md
    .venv/bin/python benchmarks/bench_retrieval.py --n 2000 --naive-n 2000 --no-write
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


def make_data(n: int, d: int = 128, classes: int = 100, seed: int = 0):
    """The recipe of ``fct_eval_N2000.npz``: Gaussian class centres plus unit noise."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, d)).astype(np.float32)
    labels = rng.integers(0, classes, size=n)
    feats = (0.35 * centers[labels] + rng.standard_normal((n, d)).astype(np.float32))
    return feats.astype(np.float32), labels


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def worker(kind: str, n: int, repeats: int) -> None:
    import torch

    from embcompat.metrics.retrieval import retrieval_metrics

    feats, labels = make_data(n)
    f, y = torch.from_numpy(feats), torch.from_numpy(labels)
    times, cpus, result = [], [], None
    if kind == "ours":
        for _ in range(repeats):
            t, c = time.perf_counter(), _cpu()
            result = retrieval_metrics(f, f, y, y, ks=(1, 5))
            times.append(time.perf_counter() - t)
            cpus.append(_cpu() - c)
    elif kind == "naive":
        sys.path.insert(0, str(ROOT / "tests"))
        from test_retrieval import naive_retrieval

        t, c = time.perf_counter(), _cpu()
        result = naive_retrieval(f, f, y, y, ks=(1, 5))[0]
        times.append(time.perf_counter() - t)
        cpus.append(_cpu() - c)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"kind": kind, "n": n, "times": times, "cpus": cpus, "peak_mb": peak_mb,
                      "threads": torch.get_num_threads(), "result": result}))


def run(kind: str, n: int, repeats: int = 1) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--n", str(n), "--repeats", str(repeats)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--naive-n", type=int, default=None, help="naive run size (default --n)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--worker", choices=["ours", "naive", "baseline"], default=None)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.n, args.repeats)
        return
    naive_n = args.naive_n or args.n
    load = os.getloadavg()
    base = run("baseline", args.n)
    ours = run("ours", args.n, args.repeats)
    naive = run("naive", naive_n)
    t_ours = float(np.median(ours["times"]))
    t_naive = naive["times"][0] * (args.n / naive_n) ** 2  # O(n^2): extrapolated iff naive_n < n
    lines = [
        "# Retrieval metrics benchmark (CMC top-1/top-5 + mAP, query = gallery, L2)",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_retrieval.py"
        f"{'' if args.n == 10_000 else f' --n {args.n}'}"
        f"{'' if naive_n == args.n else f' --naive-n {naive_n}'}`",
        "",
        f"Machine: {platform.processor() or platform.machine()}, torch threads "
        f"{ours['threads']}, shared with other jobs (1-min load average {load[0]:.1f} at the "
        f"start: wall times are noisy, CPU times = user+sys of the process less so). Data: N = {args.n}, 128-d,"
        f" 100 classes (the fct_eval_N2000 recipe). Each row is a fresh subprocess; peak = "
        f"ru_maxrss, incl. the Python+torch+data baseline of {base['peak_mb']:.0f} MB.",
        "",
        "| implementation | N | wall (s) | CPU (s) | peak RSS (MB) | over baseline (MB) | top1 "
        "| top5 | mAP |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| embcompat (median of {len(ours['times'])}; all: "
        f"{', '.join(f'{t:.2f}' for t in ours['times'])}) | {args.n} | {t_ours:.2f} | "
        f"{float(np.median(ours['cpus'])):.2f} | "
        f"{ours['peak_mb']:.0f} | {ours['peak_mb'] - base['peak_mb']:.0f} | "
        f"{ours['result']['top1']:.4f} | {ours['result']['top5']:.4f} | "
        f"{ours['result']['mAP']:.10f} |",
        f"| naive per-query reference | {naive_n} | {naive['times'][0]:.2f} | "
        f"{naive['cpus'][0]:.2f} | "
        f"{naive['peak_mb']:.0f} | {naive['peak_mb'] - base['peak_mb']:.0f} | "
        f"{naive['result']['top1']:.4f} | {naive['result']['top5']:.4f} | "
        f"{naive['result']['mAP']:.10f} |",
        "",
        f"Speed-up (same run): **{t_naive / t_ours:.1f}x**"
        + (f" (naive time extrapolated quadratically from N = {naive_n})" if naive_n != args.n
           else " (both measured at the same N)") + ".",
    ]
    if naive_n == args.n:
        same = (ours["result"]["top1"] == naive["result"]["top1"]
                and ours["result"]["top5"] == naive["result"]["top5"])
        lines.append(f"Identical top-1/top-5: {same}; |mAP difference| = "
                     f"{abs(ours['result']['mAP'] - naive['result']['mAP']):.2e}.")
    lines += ["", "Targets (PAPER_FACTS): <= 1 s and <= 1 GB at N = 10,000; the official ml-fct "
              "code took 51 s and 2.7 GB there on our machines.", ""]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        (ROOT / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
        (ROOT / "benchmarks" / "results" / "retrieval.md").write_text(text)


if __name__ == "__main__":
    if "--worker" in sys.argv and "baseline" in sys.argv:
        make_data(int(sys.argv[sys.argv.index("--n") + 1]))
        import torch  # noqa: F401  (the baseline includes the torch import)

        print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    else:
        main()
