"""Benchmark: vectorised CMC/mAP (embcompat.metrics.retrieval) vs a naive per-query reference.

Each measurement runs in a fresh subprocess; peak memory is that process's ``ru_maxrss`` (it
includes the Python + torch baseline, which is measured separately by a ``baseline`` worker that
only builds the data). The naive reference is the one the unit tests use: a float64
``torch.cdist`` matrix, a stable argsort per query and scikit-learn's ``average_precision_score``
per query (the official ml-fct algorithm, minus its float32 distances and unstable sort).
Optionally (``--prev REV``, default the commit before the fast CPU path) the implementation as it
was at git revision ``REV`` is timed too, loaded from ``git show`` into a throw-away module.

Every worker calls ``torch.set_num_threads(--threads)`` (default 2, the target's core count).
Wall times are ``time.perf_counter``, CPU times ``time.process_time`` (user + sys of all threads);
the machine may be shared, so the minimum over repeats is the headline and the median is shown.

Usage::

    .venv/bin/python benchmarks/bench_retrieval.py --naive-n 4000   # N = 10,000, writes results/retrieval.md
    .venv/bin/python benchmarks/bench_retrieval.py --n 2000 --naive-n 2000 --prev none --no-write
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


DEFAULT_PREV = "2b50dcf"  # retrieval.py before the fast CPU path (vectorised torch ops + sort)


def _cpu() -> float:
    return time.process_time()


def _load_prev(rev: str):
    """``embcompat.metrics.retrieval`` as it was at git revision ``rev``."""
    import types

    src = subprocess.run(["git", "show", f"{rev}:lib/embcompat/metrics/retrieval.py"], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    if "from embcompat.metrics.retrieval_" in src:
        # from the split into retrieval_{inputs,cpu,torch}.py on, the file alone is not the
        # implementation: its kernels would be imported from this checkout, not from ``rev``
        raise SystemExit(f"--prev {rev}: lib/embcompat/metrics/retrieval.py at {rev} imports its "
                         "kernels from sibling modules, so it cannot be loaded on its own; pass a "
                         f"revision from before the split (e.g. {DEFAULT_PREV}) or --prev none")
    mod = types.ModuleType(f"retrieval_{rev}")
    exec(compile(src, f"retrieval@{rev}", "exec"), mod.__dict__)
    return mod


def worker(kind: str, n: int, repeats: int, threads: int, rev: str | None = None) -> None:
    import torch

    torch.set_num_threads(threads)
    from embcompat.metrics.retrieval import retrieval_metrics

    feats, labels = make_data(n)
    f, y = torch.from_numpy(feats), torch.from_numpy(labels)
    times, cpus, result = [], [], None
    if kind in ("ours", "prev"):
        fn = retrieval_metrics if kind == "ours" else _load_prev(rev).retrieval_metrics
        for _ in range(repeats):
            t, c = time.perf_counter(), _cpu()
            result = fn(f, f, y, y, ks=(1, 5))
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


def run(kind: str, n: int, repeats: int = 1, threads: int = 2, rev: str = "none") -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--n", str(n), "--repeats", str(repeats),
           "--threads", str(threads), "--prev", rev]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _row(name: str, r: dict, n: int, base_mb: float) -> str:
    res = r["result"]
    return (f"| {name} | {n} | {min(r['times']):.2f} | {float(np.median(r['times'])):.2f} | "
            f"{min(r['cpus']):.2f} | {r['peak_mb']:.0f} | {r['peak_mb'] - base_mb:.0f} | "
            f"{res['top1']:.4f} | {res['top5']:.4f} | {res['mAP']:.10f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--naive-n", type=int, default=None, help="naive run size (default --n)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prev", default=DEFAULT_PREV,
                    help="git revision of the previous implementation to time ('none' to skip)")
    ap.add_argument("--prev-repeats", type=int, default=2)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--worker", choices=["ours", "naive", "prev", "baseline"], default=None)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.n, args.repeats, args.threads, args.prev)
        return
    naive_n = args.naive_n or args.n
    load = os.getloadavg()
    base = run("baseline", args.n)
    ours = run("ours", args.n, args.repeats, args.threads)
    prev = None
    if args.prev != "none":
        try:
            prev = run("prev", args.n, args.prev_repeats, args.threads, args.prev)
        except subprocess.CalledProcessError as err:
            print(f"(previous implementation at {args.prev} not timed: {err.stderr.strip()[-300:]})")
    naive = run("naive", naive_n, 1, args.threads)
    load_end = os.getloadavg()
    t_ours = min(ours["times"])
    t_naive = naive["times"][0] * (args.n / naive_n) ** 2  # O(n^2): extrapolated iff naive_n < n
    c_naive = naive["cpus"][0] * (args.n / naive_n) ** 2
    cmd = (f".venv/bin/python benchmarks/bench_retrieval.py"
           f"{'' if args.n == 10_000 else f' --n {args.n}'}"
           f"{'' if naive_n == args.n else f' --naive-n {naive_n}'}"
           f"{'' if args.threads == 2 else f' --threads {args.threads}'}"
           f"{'' if args.prev == DEFAULT_PREV else f' --prev {args.prev}'}")
    lines = [
        "# Retrieval metrics benchmark (CMC top-1/top-5 + mAP, query = gallery, L2)",
        "",
        f"Command: `{cmd}`",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"`torch.set_num_threads({ours['threads']})` (1-min load average "
        f"{load[0]:.1f} at the start, {load_end[0]:.1f} at the end: wall times are noisy, so the "
        f"minimum over repeats is the headline; CPU = `time.process_time`, user+sys of all "
        f"threads, is less noisy). Data: N = {args.n}, 128-d, 100 classes (the fct_eval_N2000 "
        f"recipe). Each row is a fresh subprocess; peak = ru_maxrss, incl. the Python+torch+data "
        f"baseline of {base['peak_mb']:.0f} MB.",
        "",
        "| implementation | N | wall min (s) | wall median (s) | CPU min (s) | peak RSS (MB) "
        "| over baseline (MB) | top1 | top5 | mAP |",
        "|---|---|---|---|---|---|---|---|---|---|",
        _row(f"embcompat ({len(ours['times'])} runs: "
             f"{', '.join(f'{t:.2f}' for t in ours['times'])})", ours, args.n, base["peak_mb"]),
    ]
    if prev is not None:
        lines.append(_row(f"embcompat before, git {args.prev} ({len(prev['times'])} runs)", prev,
                          args.n, base["peak_mb"]))
    lines += [
        _row("naive per-query reference (1 run)", naive, naive_n, base["peak_mb"]),
        "",
        f"Speed-up over the naive reference (same run, wall min): **{t_naive / t_ours:.0f}x**; "
        f"CPU: {c_naive / min(ours['cpus']):.0f}x"
        + (f" (naive times extrapolated quadratically from N = {naive_n}: "
           f"{t_naive:.0f} s wall, {c_naive:.0f} s CPU at N = {args.n})" if naive_n != args.n
           else " (both measured at the same N)") + ".",
    ]
    if prev is not None:
        lines.append(f"Speed-up over the previous implementation (same run): "
                     f"{min(prev['times']) / t_ours:.1f}x wall, "
                     f"{min(prev['cpus']) / min(ours['cpus']):.1f}x CPU; identical results: "
                     f"{prev['result'] == ours['result']}.")
    if naive_n == args.n:
        same = (ours["result"]["top1"] == naive["result"]["top1"]
                and ours["result"]["top5"] == naive["result"]["top5"])
        lines.append(f"Identical top-1/top-5 to the naive reference: {same}; |mAP difference| = "
                     f"{abs(ours['result']['mAP'] - naive['result']['mAP']):.2e}.")
    best = min(range(len(ours["times"])), key=lambda i: ours["times"][i])
    par = ours["cpus"][best] / ours["times"][best]
    lines.append(f"Parallelism obtained in the fastest run: CPU / wall = {par:.2f} (2.0 = two free "
                 f"cores; below that, other jobs held the cores). With {args.threads} free cores "
                 f"the wall time would be about CPU min / {args.threads} = "
                 f"{min(ours['cpus']) / args.threads:.2f} s (an estimate, not a measurement).")
    ok_t, ok_m = t_ours <= 1.0, ours["peak_mb"] <= 1024
    lines += ["", f"Targets (PAPER_FACTS): <= 1 s and <= 1 GB at N = 10,000 on 2 cores; the "
              f"official ml-fct code took 51 s and 2.7 GB there on our machines. This run: "
              f"{t_ours:.2f} s wall min ({'met' if ok_t else 'NOT met'}), "
              f"{ours['peak_mb']:.0f} MB peak RSS ({'met' if ok_m else 'NOT met'})"
              + ("" if args.n == 10_000 else f" (at N = {args.n}, not 10,000)") + ".", ""]
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
