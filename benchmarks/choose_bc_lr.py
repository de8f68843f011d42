"""Choose the demo's base learning rate per data set on the validation half (Keep-All = Non-BC chains).

The lr is a property of how every GNN version is trained, so it is chosen on the model that needs no
compatibility at all: the Non-BC chain (each version trained from scratch; Keep-All's numbers). For
each data set, candidate base lr (``lr`` and ``lr_trans`` together, the rest of the ``demo`` preset
unchanged: cosine decay over the 40-epoch budget, large-batch schedule) and training seed, the chain
is trained (or loaded from the cache, ``$EMBCOMPAT_CACHE`` or ``outputs/cache``), and the script
reports Recall@50 x 100 on the **validation** half averaged over versions 0..4 and the late gain of
the validation curves (``embcompat.backward.plateau``); the test half is not read.

Rule (fixed before the runs): per data set, the lr with the highest mean validation Recall@50; its
paired difference to every other candidate is printed with its 95 % t interval, so a choice the
seeds cannot tell apart from the runner-up is visible as such.

    .venv/bin/python benchmarks/choose_bc_lr.py --lrs 1e-3,3e-3,1e-2 --seeds 42,43,44 \
        --out benchmarks/results/bc_lr_choice.md
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("amazon-2014-hin", "movielens-latest-small")


def train_chain(job: tuple) -> tuple:
    """Train (or load) the Non-BC chain of one (data set, lr, seed); return its wall seconds."""
    import torch

    torch.set_num_threads(1)
    from embcompat.backward.train import train_versions
    from embcompat.config.bc import bc_config
    from embcompat.data import load_graph, version_splits

    dataset, lr, seed, scale = job
    g = load_graph(dataset)
    cfg = bc_config(scale, g.name, seed=seed, device="cpu", lr=lr, lr_trans=lr)
    splits = version_splits(g, cfg.times, heldout_test=cfg.heldout_test, seed=seed)
    t0 = time.perf_counter()
    res = train_versions("Non-BC", g, splits, cfg, progress=False)
    return job, time.perf_counter() - t0, all(v.from_cache for v in res.versions)


def report(args, cache: Path, walls: dict) -> str:

    from embcompat.backward.cached_records import scan_scale_records
    from embcompat.config.bc import bc_config
    from embcompat.stats import mean_ci, paired_difference

    lines = ["# Demo base learning rate, chosen per data set on the validation half (Non-BC chains)", "",
             "Command: `.venv/bin/python benchmarks/choose_bc_lr.py " + " ".join(sys.argv[1:]) + "`", "",
             f"`{args.scale}` preset with `lr` = `lr_trans` = each candidate (everything else as the preset: "
             f"{bc_config(args.scale).lr_schedule} schedule, {bc_config(args.scale).epochs} epochs). Validation "
             "Recall@50 x 100 averaged over versions 0..4 per seed; late gain: last quarter of each validation "
             "curve minus the quarter before, x100, mean over versions. Rule: the highest mean validation "
             "Recall@50 wins. The test half is not read.", ""]
    for ds in args.datasets.split(","):
        per_lr = {}
        for lr in args.lrs:
            recs = scan_scale_records(cache, args.scale, [ds], {"lr": lr, "lr_trans": lr}, methods=["Non-BC"])
            recs = recs[recs.seed.isin(args.seeds)]
            full = recs.groupby("seed").filter(lambda f: f.version.nunique() == 5)
            per_lr[lr] = full.groupby("seed").agg(val=("val_r50", "mean"), late=("late_gain", "mean"),
                                                   seconds=("train_seconds", "sum"))
        lines += [f"## {ds}", "", "| base lr | seeds | val R@50 mean [95 % CI] | late gain | s/chain | per seed |",
                  "|---|---|---|---|---|---|"]
        for lr, t in per_lr.items():
            if t.empty:
                lines.append(f"| {lr:g} | 0 | | | | |")
                continue
            ci = mean_ci(t.val.to_numpy()) if len(t) > 1 else None
            cis = f"{t.val.mean():.2f} [{ci.lo:.2f}, {ci.hi:.2f}]" if ci else f"{t.val.mean():.2f}"
            lines.append(f"| {lr:g} | {len(t)} | {cis} | {t.late.mean():+.2f} | {t.seconds.mean():.0f} | "
                         + ", ".join(f"{s}: {v:.2f}" for s, v in t.val.items()) + " |")
        done = {lr: t for lr, t in per_lr.items() if not t.empty}
        if not done:
            continue
        best = max(done, key=lambda lr: done[lr].val.mean())
        lines += ["", f"**Chosen: {best:g}** (highest mean). Paired by seed, {best:g} minus each other candidate:", "",
                  "| other lr | seeds | difference [95 % CI] | verdict |", "|---|---|---|---|"]
        for lr, t in done.items():
            if lr == best:
                continue
            d = paired_difference(done[best].val.to_dict(), t.val.to_dict(), min_seeds=2)
            verdict = d["verdict"].replace("a better", f"{best:g} better").replace("b better", f"{lr:g} better")
            lines.append(f"| {lr:g} | {d['n']} | {d['mean']:+.2f} [{d['lo']:+.2f}, {d['hi']:+.2f}] | {verdict} |")
        lines.append("")
    trained = {j: w for j, (w, cached) in walls.items() if not cached}
    if trained:
        lines += ["Trained here (the rest loaded from the cache): "
                  + ", ".join(f"{ds} lr {lr:g} seed {s}: {w:.0f} s" for (ds, lr, s, _), w in sorted(trained.items()))
                  + f". Machine: {os.cpu_count()} CPU cores, 1 torch thread per worker, {args.workers} workers.", ""]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--seeds", default="42,43,44")
    p.add_argument("--lrs", default="1e-3,3e-3,1e-2")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--scale", default="demo", help="the BC preset (smoke: a quick check of this script)")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.lrs = [float(x) for x in args.lrs.split(",")]
    from embcompat.utils import project_root

    jobs = [(ds, lr, s, args.scale) for ds in args.datasets.split(",") for lr in args.lrs for s in args.seeds]
    walls = {}
    with ProcessPoolExecutor(args.workers) as pool:
        for job, wall, cached in pool.map(train_chain, jobs):
            walls[job] = (wall, cached)
            print(f"{job[0]} lr {job[1]:g} seed {job[2]}: {wall:.0f} s{' (cache)' if cached else ''}", flush=True)
    text = report(args, Path(os.environ.get("EMBCOMPAT_CACHE", project_root() / "outputs" / "cache")), walls)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
