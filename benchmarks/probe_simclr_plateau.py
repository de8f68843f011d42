"""Probe: how many SimCLR epochs until the side-info's kNN accuracy stops rising (demo subsets)?

Trains the demo's SimCLR side-info model (old classes only, the paper's SimCLR-500; and with
``--all`` every training image, SimCLR-1k) of one training seed for ``--epochs`` epochs with the
demo recipe (cosine schedule over those epochs), recording the 20-NN top-1 of its features on the
test images every ``--every`` epochs (:meth:`FCTExperiment.knn_monitor`) and the seconds per
epoch. One process per data set, one torch thread each; private cache.

    .venv/bin/python benchmarks/probe_simclr_plateau.py --epochs 60 --every 5 \
        --out benchmarks/results/fct_simclr_plateau.md
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(job: tuple) -> dict:
    dataset, epochs, every, all_images = job
    os.environ["EMBCOMPAT_CACHE"] = tempfile.mkdtemp(prefix="simclr-probe-")
    import torch

    torch.set_num_threads(1)
    from embcompat.config.fct import fct_config
    from embcompat.forward.experiment import FCTExperiment

    cfg = fct_config("demo", dataset=dataset, device="cpu")
    cfg = replace(cfg, simclr_train=replace(cfg.simclr_train, epochs=epochs),
                  simclr_monitor_every=every)
    exp = FCTExperiment(cfg)
    t0 = time.perf_counter()
    m = exp.named("simclr_all" if all_images else "simclr")
    secs = time.perf_counter() - t0
    n_img = int(exp.data.train_rows(exp.data.num_classes if all_images else exp.k_old).sum())
    return {"dataset": dataset, "images": n_img, "seconds": secs,
            "curve": [(h["epoch"], h["knn_top1"]) for h in m.history if "knn_top1" in h]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="cifar10,fashion-mnist")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--every", type=int, default=5)
    p.add_argument("--all", action="store_true", help="SimCLR-1k (every training image)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fct_simclr_plateau.md"))
    a = p.parse_args()
    jobs = [(d, a.epochs, a.every, a.all) for d in a.datasets.split(",")]
    with ProcessPoolExecutor(len(jobs)) as pool:
        res = list(pool.map(run, jobs))
    lines = [f"# SimCLR side-info: kNN top-1 vs epochs (demo subsets, seed 0, "
             f"{'every training image' if a.all else 'old classes only'})", "",
             "Command: `.venv/bin/python benchmarks/probe_simclr_plateau.py " + " ".join(sys.argv[1:]) + "`",
             "", f"{a.epochs} epochs, cosine schedule over them; 20-NN top-1 (%) of the features "
             "on the test images, memory bank every training image with its label; one torch "
             "thread per data set, the two data sets side by side on our 2-core machine.", ""]
    for r in res:
        lines += [f"## {r['dataset']} ({r['images']} images, {r['seconds']:.0f} s in all, "
                  f"{r['seconds'] / a.epochs:.2f} s/epoch with the monitor)", "",
                  "| epoch | " + " | ".join(str(e) for e, _ in r["curve"]) + " |",
                  "|---" * (len(r["curve"]) + 1) + "|",
                  "| kNN top-1 % | " + " | ".join(f"{v:.1f}" for _, v in r["curve"]) + " |", ""]
    Path(a.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
