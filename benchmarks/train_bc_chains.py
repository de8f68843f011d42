"""Train BC chains under a variant of a scale's preset into the cache, for the cache readers.

Each (data set, seed) gets ``bc_config(scale, dataset, seed=seed, **overrides)`` (each data set's
own preset, :data:`embcompat.config.bc.DATASET_PRESETS`, with the JSON ``--overrides`` on top), and
each named method's chain is trained through :func:`embcompat.backward.parallel.train_chains`
(``--workers`` local processes; chains already complete in the cache are skipped); named Non-BC
chains train first, since the other methods build on them. Nothing is reported here:
``benchmarks/compare_bc_protocols.py`` pairs the result with the preset by seed.

    .venv/bin/python benchmarks/train_bc_chains.py --overrides '{"epochs": 80}' \\
        --datasets amazon-2014-hin --seeds 42,43,44 --methods Non-BC
"""
from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    from embcompat.backward.parallel import ChainJob, train_chains
    from embcompat.config.bc import bc_config
    from embcompat.data import load_graph, version_splits
    from embcompat.executors import get_executor

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--overrides", default="{}", help="JSON of BCTrainConfig fields")
    p.add_argument("--datasets", default="amazon-2014-hin")
    p.add_argument("--seeds", default="42,43,44")
    p.add_argument("--methods", default="Non-BC")
    p.add_argument("--scale", default="demo")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    over = json.loads(args.overrides)
    methods = args.methods.split(",")
    waves = [[], []]
    for ds in args.datasets.split(","):
        g = load_graph(ds)
        for s in (int(x) for x in args.seeds.split(",")):
            cfg = bc_config(args.scale, g.name, seed=s, device="cpu", **over)
            splits = version_splits(g, cfg.times, heldout_test=cfg.heldout_test, seed=s)
            for m in methods:
                waves[m != "Non-BC"].append(ChainJob(g, splits, m, cfg))
    t0 = time.perf_counter()
    with get_executor("local", workers=args.workers) as ex:
        for wave in waves:
            for label, sec in train_chains(wave, executor=ex).items():
                print(f"{label}: {sec:.0f} s", flush=True)
    print(f"wall {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
