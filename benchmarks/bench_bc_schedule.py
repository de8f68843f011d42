"""Benchmark: the official per-minibatch schedule vs large-batch schedules, amazon-2014-hin v0.

The official bc-emb loop recomputes the whole graph for every 2,048-triple minibatch. The
``large-batch`` schedule (:mod:`embcompat.config.bc`) merges ``batch_factor`` minibatches into
one step (one propagation for all of them) and scales the learning rate. This script trains ``M_0``
(Non-BC version 0, the same code path as ``train_versions``) with each schedule for the same number
of epochs, evaluates Recall@K every ``eval_every`` epochs on the official evaluation window, and
reports seconds per epoch, the Recall@50 curve, the best Recall@50 (the official selection) and the
final one. A schedule counts as validated when its best Recall@50 is within 1 point (0.01) of the
official schedule's.

Each variant runs in a fresh subprocess (2 torch threads). Usage::

    .venv/bin/python benchmarks/bench_bc_schedule.py --dim 32 --layers 2 --epochs 60 \
        --eval-every 5 --variants official,large-batch:4:sqrt,large-batch:8:sqrt \
        --tag demo-arch --out benchmarks/results/bc_schedule.md
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    from embcompat.config.bc import BCTrainConfig
    from embcompat.backward.epoch import fit_version
    from embcompat.backward.intended import VersionEvaluator
    from embcompat.data import load_graph, version_splits
    from embcompat.models.gnn import PinSAGE, VersionGraph
    from embcompat.backward.sampling import BPRSampler

    parts = args.variant.split(":")
    kw = {"schedule": parts[0]}
    if parts[0] == "large-batch":
        kw.update(batch_factor=int(parts[1]), lr_scaling=parts[2])
    cfg = BCTrainConfig(dims=(args.dim,) * 5, layers=(args.layers,) * 5, epochs=args.epochs,
                        eval_every=args.eval_every, select_start=0, **kw)
    g = load_graph(args.dataset)
    s = version_splits(g)[0]
    u, i = g.user[s.train_idx], g.item[s.train_idx]
    vg = VersionGraph.build(u, i, s.num_users, s.num_items, g.item_brand, g.item_category_ptr,
                            g.item_category)
    ev = VersionEvaluator(g, s, ks=cfg.ks)
    model = PinSAGE(g.num_brands, g.num_categories, args.dim, args.layers, seed=cfg.seed)
    sampler = BPRSampler(u, i, s.num_items, batch_size=cfg.step_batch_size())
    t0 = time.perf_counter()
    fit = fit_version(model, vg, sampler, ev, epochs=cfg.epochs, lr=cfg.step_lr(), reg=cfg.reg,
                      eval_every=cfg.eval_every, generator=torch.Generator().manual_seed(cfg.seed + 1))
    curve = [(h["epoch"], h["recall@50"]) for h in fit.history if "recall@50" in h]
    print(json.dumps({"variant": args.variant, "steps_per_epoch": len(sampler),
                      "batch": cfg.step_batch_size(), "lr": cfg.step_lr(),
                      "sec_per_epoch": sum(fit.epoch_seconds) / len(fit.epoch_seconds),
                      "median_sec_per_epoch": sorted(fit.epoch_seconds)[len(fit.epoch_seconds) // 2],
                      "total_s": time.perf_counter() - t0, "best_epoch": fit.best_epoch,
                      "best_r50": fit.recall[50], "final_r50": curve[-1][1], "curve": curve}))


def run_variant(args, variant: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--variant", variant] + [
        f"--{k.replace('_', '-')}={v}" for k, v in
        dict(dataset=args.dataset, dim=args.dim, layers=args.layers, epochs=args.epochs,
             eval_every=args.eval_every, threads=args.threads).items()]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=os.environ.copy())
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def render(args, rows: list[dict], load: tuple) -> str:
    ref = next(r for r in rows if r["variant"] == "official")
    lines = [f"## {args.tag}: {args.dataset} v0, {args.dim}-d x {args.layers} layers, "
             f"{args.epochs} epochs, eval every {args.eval_every}", "",
             f"Command: `.venv/bin/python benchmarks/bench_bc_schedule.py --dim {args.dim} "
             f"--layers {args.layers} --epochs {args.epochs} --eval-every {args.eval_every} "
             f"--threads {args.threads} --variants {args.variants} --tag {args.tag}`", "",
             f"Machine: {platform.machine()}, {args.threads} torch threads, shared with another job "
             f"(1-min load average {load[0]:.1f} before / {load[1]:.1f} after): wall times are noisy.",
             "",
             "| schedule | batch | lr | steps/epoch | s/epoch (mean) | s/epoch (median) | best R@50 "
             "(epoch) | final R@50 | best - official (points) | within 1 point |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        diff = 100 * (r["best_r50"] - ref["best_r50"])
        lines.append(f"| {r['variant']} | {r['batch']} | {r['lr']:.2e} | {r['steps_per_epoch']} | "
                     f"{r['sec_per_epoch']:.2f} | {r['median_sec_per_epoch']:.2f} | "
                     f"{100 * r['best_r50']:.2f} ({r['best_epoch']}) | {100 * r['final_r50']:.2f} | "
                     f"{diff:+.2f} | {'yes' if abs(diff) <= 1 else 'no'} |")
    lines += ["", "Recall@50 (x100) by epoch:", "",
              "| epoch | " + " | ".join(r["variant"] for r in rows) + " |",
              "|---|" + "---|" * len(rows)]
    for j, (ep, _) in enumerate(ref["curve"]):
        lines.append(f"| {ep} | " + " | ".join(f"{100 * r['curve'][j][1]:.2f}" for r in rows) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", action="store_true")
    p.add_argument("--variant", default="official")
    p.add_argument("--variants", default="official,large-batch:4:sqrt,large-batch:8:sqrt")
    p.add_argument("--dataset", default="amazon-2014-hin")
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--eval-every", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tag", default="run")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bc_schedule.md"))
    args = p.parse_args()
    if args.worker:
        return worker(args)
    before = os.getloadavg()
    rows = []
    for v in args.variants.split(","):
        rows.append(run_variant(args, v))
        print(json.dumps({k: x for k, x in rows[-1].items() if k != "curve"}), flush=True)
    text = render(args, rows, (before[0], os.getloadavg()[0]))
    out = Path(args.out)
    head = "# BC training schedule: official per-minibatch vs large-batch\n\n"
    old = out.read_text() if out.exists() else head
    out.write_text((old if old.startswith("#") else head) + "\n" + text)
    print(text)


if __name__ == "__main__":
    main()
