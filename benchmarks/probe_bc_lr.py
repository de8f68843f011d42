"""Protocol probe: how fast does each demo version reach its validation plateau, per learning rate?

The demo's large-batch schedule takes only ~13 Adam steps per epoch on amazon-2014-hin (the
official loop takes 51), so at the official base lr (1e-3, x sqrt(4)) the later versions are still
rising at the 60-epoch cap (02_training_curves). This trains the Non-BC chain (every version from
scratch, as in the official code) of one training seed at the demo protocol for a fixed number of
epochs, without early stopping, once per base lr, and records the Recall@50 curve on the
*validation* half (the selection split; the test half is never read here) and seconds per epoch.
``B_k``'s learning rate (joint methods) moves with the GNN's, as in the official code (both 1e-3),
unless ``--lr-trans`` fixes it.
Each lr runs in its own subprocess with a private cache, ``workers`` at a time.

    .venv/bin/python benchmarks/probe_bc_lr.py --lrs 1e-3,2.5e-3,5e-3 --epochs 60 \
        --out benchmarks/results/bc_lr.md
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(args) -> None:
    import torch

    torch.set_num_threads(1)
    from embcompat.backward.train import train_versions
    from embcompat.config.bc import bc_config
    from embcompat.data import load_graph, version_splits

    g = load_graph(args.dataset)
    cfg = bc_config("demo", g.name, seed=args.seed, device="cpu", lr=args.lr,
                    lr_trans=args.lr if args.lr_trans is None else args.lr_trans,
                    epochs=args.epochs, patience=None)
    splits = version_splits(g, cfg.times, heldout_test=cfg.heldout_test, seed=args.seed)
    t0 = time.perf_counter()
    res = train_versions(args.method, g, splits, cfg, cache=True, progress=False)
    out = {"lr": args.lr, "lr_trans": cfg.lr_trans, "seconds": time.perf_counter() - t0, "step_lr": cfg.step_lr(),
           "versions": [{"version": k,
                         "curve": [(h["epoch"], h["recall@50"]) for h in r.history
                                   if "recall@50" in h],
                         "train_seconds": r.train_seconds} for k, r in enumerate(res.versions)]}
    print("RESULT " + json.dumps(out))


def run_one(args, lr: float) -> dict:
    env = dict(os.environ, EMBCOMPAT_CACHE=tempfile.mkdtemp(prefix="bc-lr-"),
               OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    cmd = [sys.executable, __file__, "--worker", "--lr", str(lr), "--epochs", str(args.epochs),
           "--dataset", args.dataset, "--seed", str(args.seed), "--method", args.method]
    if args.lr_trans is not None:
        cmd += ["--lr-trans", str(args.lr_trans)]
    if args.cache_dir:
        env["EMBCOMPAT_CACHE"] = f"{args.cache_dir}/lr{lr:g}"
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"lr {lr:g} failed:\n{proc.stderr[-3000:]}")
    return json.loads(next(line for line in proc.stdout.splitlines()
                           if line.startswith("RESULT "))[7:])


def plateau_epoch(curve, tol: float = 0.005) -> int:
    """First evaluated epoch whose Recall@50 is within ``tol`` of the curve's best."""
    best = max(r for _, r in curve)
    return next(e for e, r in curve if r >= best - tol)


def report(args, results: list[dict]) -> str:
    lines = [f"# Demo learning rate vs plateau, {args.method} chain, {args.dataset}, seed {args.seed}",
             "", "Command: `.venv/bin/python benchmarks/probe_bc_lr.py " + " ".join(sys.argv[1:]) + "`",
             "", f"{args.epochs} epochs per version, no early stopping; Recall@50 x 100 on the "
             "validation half (the selection split). `plateau` = first evaluated epoch within 0.5 "
             "points of that version's best; `last-10 mean` = mean of the evaluations in the last "
             "10 epochs (a curve still rising has last-10 mean close to its best only at the end).",
             "", "| base lr | base lr_trans | step lr | version | best (epoch) | plateau epoch | "
             "last-10 mean | s/epoch |",
             "|---|---|---|---|---|---|---|---|"]
    for res in results:
        for v in res["versions"]:
            c = v["curve"]
            if not c:
                continue
            be, br = max(c, key=lambda t: t[1])
            tail = [r for e, r in c if e > args.epochs - 10]
            n = c[-1][0]
            lines.append(f"| {res['lr']:g} | {res['lr_trans']:g} | {res['step_lr']:.3g} | {v['version']} | "
                         f"{100 * br:.2f} ({be}) | "
                         f"{plateau_epoch(c)} | {100 * sum(tail) / len(tail):.2f} | "
                         f"{v['train_seconds'] / n:.2f} |")
    lines += ["", "Curves (Recall@50 x 100 by epoch):", ""]
    for res in results:
        for v in res["versions"]:
            pts = " ".join(f"{100 * r:.1f}" for _, r in v["curve"])
            lines.append(f"- lr {res['lr']:g}, lr_trans {res['lr_trans']:g}, v{v['version']}: {pts}")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", action="store_true")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lrs", default="1e-3,2.5e-3,5e-3")
    p.add_argument("--lr-trans", type=float, default=None, help="B_k's base lr (default: each run's lr)")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--dataset", default="amazon-2014-hin")
    p.add_argument("--method", default="Non-BC")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cache-dir", default=None, help="keep each lr's cache in <dir>/lr<lr> (default: a fresh temp dir)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bc_lr.md"))
    args = p.parse_args()
    if args.worker:
        return worker(args)
    lrs = [float(x) for x in args.lrs.split(",")]
    with ThreadPoolExecutor(args.workers) as pool:
        results = list(pool.map(lambda lr: run_one(args, lr), lrs))
    text = report(args, results)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
