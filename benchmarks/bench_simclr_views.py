"""SimCLR views: torchvision v2 per image (the pipeline the trainer used before) vs
:func:`embcompat.forward.simclr_views.simclr_views` per batch, and what that does to a SimCLR step.

Measured in one run on the same inputs: milliseconds per view (CIFAR-like 3x32x32 and
Fashion-MNIST-like 1x28x28) and milliseconds per image of one demo SimCLR training step (two views,
forward and backward of the demo ``small_resnet``-16, NT-Xent, batch 128), 1 torch thread.

    .venv/bin/python benchmarks/bench_simclr_views.py --out benchmarks/results/fct_simclr_aug.md
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch
from torchvision.transforms import v2

from embcompat.forward.augment import normalization_stats
from embcompat.forward.simclr_views import simclr_views
from embcompat.losses.vision import nt_xent
from embcompat.models.side_info import SimCLRModel
from embcompat.models.vision import build_backbone

ROOT = Path(__file__).resolve().parents[1]


def torchvision_views(size: int, channels: int):
    """The reference: SimCLR's CIFAR recipe in torchvision v2, one image per call."""
    ops = [v2.RandomResizedCrop(size, scale=(0.08, 1.0), antialias=True), v2.RandomHorizontalFlip()]
    if channels == 3:
        ops += [v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
                v2.RandomGrayscale(p=0.2)]
    mean, std = normalization_stats(channels)
    t = v2.Compose(ops + [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))])
    return lambda xb: torch.stack([t(img) for img in xb])


def batched_views(gen):
    return lambda xb: simclr_views(xb, generator=gen)


def best(fn, reps: int = 3) -> float:
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1024)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fct_simclr_aug.md"))
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    rows = []
    for c, s in ((3, 32), (1, 28)):
        x = (torch.rand(a.n, c, s, s) * 255).to(torch.uint8)
        model = SimCLRModel(build_backbone("small_resnet", feature_dim=128, num_classes=0,
                                           in_channels=c, width=16), proj_dim=128)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        for name, views in (("torchvision v2, per image", torchvision_views(s, c)),
                            ("simclr_views, per batch", batched_views(gen))):
            aug = best(lambda: [views(x[i:i + 128]) for i in range(0, a.n, 128)]) / a.n

            def train():
                for i in range(0, a.n, 128):
                    xb = x[i:i + 128]
                    loss = nt_xent(model(views(xb))[1], model(views(xb))[1], 0.5)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()

            step = best(train, reps=2) / a.n
            rows.append((f"{c}x{s}x{s}", name, 1e3 * aug, 1e3 * step))
    lines = ["# SimCLR views: per-image torchvision v2 vs batched `simclr_views`", "",
             f"Command: `.venv/bin/python benchmarks/bench_simclr_views.py {' '.join(sys.argv[1:])}`"
             f" ({platform.machine()}, torch {torch.__version__}, 1 thread, {a.n} images, batch "
             "128, best of 3 for the views and of 2 for the steps).", "",
             "| images | views | ms per view | ms per image of a SimCLR step (2 views, fwd+bwd) |",
             "|---|---|---|---|"]
    lines += [f"| {r[0]} | {r[1]} | {r[2]:.3f} | {r[3]:.2f} |" for r in rows]
    for i in range(0, len(rows), 2):
        lines.append(f"\n{rows[i][0]}: views x{rows[i][2] / rows[i + 1][2]:.1f} faster, "
                     f"SimCLR step x{rows[i][3] / rows[i + 1][3]:.2f} faster.")
    Path(a.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
