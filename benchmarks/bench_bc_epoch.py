"""Benchmark: time per epoch, time per version and peak memory of BC training (amazon-2014-hin).

Two parts, each measurement in a fresh subprocess (2 torch threads, peak memory = its
``ru_maxrss``):

* ``demo``: the whole ``demo`` preset from an empty cache, every method of Table 3 on each data
  set (``train_versions`` exactly as the notebooks call it): seconds per epoch and per version,
  total wall time per method and data set, peak memory.
* ``paper``: the ``paper`` preset (official protocol, 500 epochs) is far too slow for 2 CPU cores,
  so a few epochs of each version are timed (Non-BC ``M_k``; BC-Aligner at v1 and v4 with a
  randomly initialised ``M_{k-1}`` as the alignment target, which costs the same) plus one Recall
  evaluation, and a version is *extrapolated* to ``epochs * s/epoch + (epochs / eval_every) *
  s/eval``.

Usage::

    .venv/bin/python benchmarks/bench_bc_epoch.py demo --datasets amazon-2014-hin,movielens-latest-small
    .venv/bin/python benchmarks/bench_bc_epoch.py paper --epochs-timed 2
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "bc_epoch.md"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_demo(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    os.environ["EMBCOMPAT_CACHE"] = tempfile.mkdtemp(prefix="bc-bench-")
    from embcompat.config.bc import bc_config
    from embcompat.backward.methods import METHOD_NAMES
    from embcompat.backward.train import train_versions
    from embcompat.data import load_graph, version_splits

    cfg = bc_config(args.scale)
    g = load_graph(args.dataset)
    splits = version_splits(g, cfg.times, heldout_test=cfg.heldout_test, seed=cfg.seed)
    rows, t_all = [], time.perf_counter()
    for name in METHOD_NAMES:
        t0 = time.perf_counter()
        r = train_versions(name, g, splits, cfg, progress=False)
        rows.append({"method": name, "wall_s": time.perf_counter() - t0,
                     "versions": [{"k": v.k, "from_cache": v.from_cache, "s_epoch": v.sec_per_epoch,
                                   "version_s": v.train_seconds, "eval_s": v.eval_seconds,
                                   "r50": v.reported_recall[50]} for v in r.versions]})
    return {"dataset": args.dataset, "scale": args.scale, "total_s": time.perf_counter() - t_all,
            "methods": rows, "peak_mb": _peak_mb()}


def worker_paper(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    from embcompat.config.bc import bc_config
    from embcompat.backward.epoch import Alignment, embed, fit_version
    from embcompat.backward.intended import VersionEvaluator
    from embcompat.data import load_graph, version_splits
    from embcompat.models.gnn import PinSAGE, VersionGraph
    from embcompat.models.transforms import LinearBackward
    from embcompat.backward.sampling import BPRSampler

    cfg = bc_config("paper", **({"schedule": "large-batch", "batch_factor": args.factor,
                                     "lr_scaling": "sqrt"} if args.factor > 1 else {}))
    g = load_graph(args.dataset)
    k = args.k
    s = version_splits(g, cfg.times)[k]
    u, i = g.user[s.train_idx], g.item[s.train_idx]
    vg = VersionGraph.build(u, i, s.num_users, s.num_items, g.item_brand, g.item_category_ptr,
                            g.item_category)
    model = PinSAGE(g.num_brands, g.num_categories, cfg.dims[k], cfg.layers[k], seed=k)
    align = None
    if args.method == "BC-Aligner":
        prev = PinSAGE(g.num_brands, g.num_categories, cfg.dims[k - 1], cfg.layers[k - 1], seed=0)
        tu, ti = embed(prev, vg)
        earlier = [torch.randn(cfg.dims[j - 1], cfg.dims[j]) / cfg.dims[j] ** 0.5
                   for j in range(1, k)]
        align = Alignment(tu, ti, LinearBackward(cfg.dims[k], cfg.dims[k - 1]), earlier, cfg.lam)
    sampler = BPRSampler(u, i, s.num_items, batch_size=cfg.step_batch_size())
    n = args.epochs_timed
    fit = fit_version(model, vg, sampler, VersionEvaluator(g, s, ks=cfg.ks), epochs=n,
                      lr=cfg.step_lr(), reg=cfg.reg, eval_every=n, alignment=align,
                      generator=torch.Generator().manual_seed(0))
    s_epoch = min(fit.epoch_seconds[1:] or fit.epoch_seconds)
    version_s = cfg.epochs * s_epoch + (cfg.epochs // cfg.eval_every) * fit.eval_seconds
    return {"k": k, "method": args.method, "dim": cfg.dims[k], "layers": cfg.layers[k],
            "batches": len(sampler), "batch": cfg.step_batch_size(), "s_epoch": s_epoch,
            "epoch_seconds": fit.epoch_seconds, "s_eval": fit.eval_seconds,
            "version_s_extrapolated": version_s, "peak_mb": _peak_mb()}


def run(args, extra: list[str]) -> dict:
    cmd = [sys.executable, __file__, args.part, "--worker", f"--threads={args.threads}"] + extra
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=os.environ.copy())
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def render_demo(args, res: list[dict], load) -> str:
    lines = [f"## `{args.scale}` preset, every method from an empty cache", "",
             f"Command: `.venv/bin/python benchmarks/bench_bc_epoch.py demo --threads {args.threads} "
             f"--datasets {args.datasets}`", "",
             f"Machine: {platform.machine()}, {args.threads} torch threads, shared with another job "
             f"(1-min load average {load[0]:.1f} before / {load[1]:.1f} after).", ""]
    for r in res:
        lines += [f"### {r['dataset']}: total {r['total_s']:.0f} s ({r['total_s'] / 60:.1f} min), "
                  f"peak RSS {r['peak_mb']:.0f} MB", "",
                  "| method | wall (s) | s/epoch v0..v4 | s/version v0..v4 (loaded = cached) | "
                  "reported R@50 v0..v4 (x100) |", "|---|---|---|---|---|"]
        for m in r["methods"]:
            vs = m["versions"]
            lines.append(
                f"| {m['method']} | {m['wall_s']:.1f} | "
                + " / ".join("-" if v["from_cache"] or v["s_epoch"] != v["s_epoch"]
                             else f"{v['s_epoch']:.2f}" for v in vs) + " | "
                + " / ".join("loaded" if v["from_cache"] else f"{v['version_s']:.1f}" for v in vs)
                + " | " + " / ".join(f"{100 * v['r50']:.2f}" for v in vs) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def render_paper(args, res: list[dict], load) -> str:
    lines = ["## `paper` preset (official protocol), timed epochs, extrapolated", "",
             f"Command: `.venv/bin/python benchmarks/bench_bc_epoch.py paper --threads {args.threads} "
             f"--epochs-timed {args.epochs_timed} --jobs {args.jobs}"
             f"{' --factor ' + str(args.factor) if args.factor > 1 else ''}`", "",
             f"Machine: {platform.machine()}, {args.threads} torch threads, shared with another job "
             f"(1-min load average {load[0]:.1f} before / {load[1]:.1f} after). s/epoch is the "
             f"fastest of the timed epochs after the first (the only one if 1 is timed); a version is extrapolated to 500 epochs "
             f"+ 50 evaluations (NOT measured end to end).", "",
             "| version | method | arch | batch | batches/epoch | s/epoch (ours) | official s/epoch "
             "| s/eval | s/version (extrapolated) | peak RSS (MB) |", "|---|---|---|---|---|---|---|---|---|---|"]
    official = {(0, "Non-BC"): 11.0, (1, "Non-BC"): 17.4, (2, "Non-BC"): 34.0,
                (3, "Non-BC"): 55.9, (4, "Non-BC"): 80.0, (1, "BC-Aligner"): 18.5}
    for r in res:
        ref = official.get((r["k"], r["method"]))
        lines.append(f"| v{r['k']} | {r['method']} | {r['dim']}x{r['layers']} | {r['batch']} | "
                     f"{r['batches']} | {r['s_epoch']:.2f} | {ref if ref else '-'} | "
                     f"{r['s_eval']:.2f} | {r['version_s_extrapolated']:.0f} | "
                     f"{r['peak_mb']:.0f} |")
    return "\n".join(lines) + "\n"


def render_cache(cache: str) -> str:
    """Per-version timings read back from a (possibly interrupted) demo run's cache folder."""
    import torch

    rows = []
    for f in Path(cache).glob("bc-version-*/config.json"):
        c = json.loads(f.read_text())
        v = torch.load(f.parent / "version.pt", weights_only=True)
        es = v["epoch_seconds"]
        rows.append((f.stat().st_mtime, c["dataset"], c["method"], c["k"], v["train_seconds"],
                     sum(es) / len(es) if es else None, (v["test_recall"] or v["recall"])[50]))
    rows.sort()
    lines = [f"Read back from the version records in `{cache}` (each version as first computed, in "
             "order; Keep-All computes nothing of its own).", "",
             "| data set | method | version | s/epoch | s/version | reported R@50 (x100) |",
             "|---|---|---|---|---|---|"]
    total: dict = {}
    for _, ds, m, k, sec, spe, r50 in rows:
        total[ds] = total.get(ds, 0.0) + sec
        lines.append(f"| {ds} | {m} | v{k} | {'-' if spe is None else f'{spe:.2f}'} | {sec:.1f} | "
                     f"{100 * r50:.2f} |")
    lines += [""] + [f"Sum of version times, {ds}: {t:.0f} s ({t / 60:.1f} min)."
                     for ds, t in total.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("part", choices=("demo", "paper", "from-cache"))
    p.add_argument("--cache", default="", help="from-cache: the EMBCOMPAT_CACHE of a demo run")
    p.add_argument("--worker", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--scale", default="demo")
    p.add_argument("--datasets", default="amazon-2014-hin,movielens-latest-small")
    p.add_argument("--dataset", default="amazon-2014-hin")
    p.add_argument("--k", type=int, default=0)
    p.add_argument("--method", default="Non-BC")
    p.add_argument("--epochs-timed", type=int, default=2)
    p.add_argument("--factor", type=int, default=1, help="paper: large-batch factor (1: official)")
    p.add_argument("--jobs", default="0:Non-BC,1:Non-BC,2:Non-BC,3:Non-BC,4:Non-BC,1:BC-Aligner,"
                   "4:BC-Aligner", help="paper: version:method pairs to time")
    args = p.parse_args()
    if args.part == "from-cache":
        print(render_cache(args.cache))
        return
    if args.worker:
        fn = worker_demo if args.part == "demo" else worker_paper
        print(json.dumps(fn(args)))
        return
    before = os.getloadavg()[0]
    res = []
    if args.part == "demo":
        for ds in args.datasets.split(","):
            res.append(run(args, [f"--dataset={ds}", f"--scale={args.scale}"]))
            print(json.dumps({k: v for k, v in res[-1].items() if k != "methods"}), flush=True)
    else:
        jobs = [(int(j.split(":")[0]), j.split(":")[1]) for j in args.jobs.split(",")]
        for k, m in jobs:
            res.append(run(args, [f"--dataset={args.dataset}", f"--k={k}", f"--method={m}",
                                  f"--epochs-timed={args.epochs_timed}", f"--factor={args.factor}"]))
            print(json.dumps(res[-1]), flush=True)
    load = (before, os.getloadavg()[0])
    text = (render_demo if args.part == "demo" else render_paper)(args, res, load)
    old = OUT.read_text() if OUT.exists() else "# BC training: time per epoch, per version, memory\n"
    OUT.write_text(old + "\n" + text)
    print(text)


if __name__ == "__main__":
    main()
