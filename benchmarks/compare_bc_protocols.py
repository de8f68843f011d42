"""Two BC training protocols side by side, from the cache: Recall@50, plateau and cost, paired by seed.

Reads the cached version records (nothing is trained) of protocol A (the scale's preset of each
data set with ``--a`` overrides) and protocol B (with ``--b`` overrides; default: the preset itself), keeps the
(data set, method, λ, seed) chains present under both, and reports per data set, method and λ:

* Recall@50 x 100 on the validation and on the test half, averaged over the chain's own versions
  (Non-BC: 0-4; joint methods: 1-4), mean over seeds and the paired difference B - A with its
  95 % t interval (``embcompat.stats.paired_difference``);
* the late gain of the validation curves (``embcompat.backward.plateau``), mean over versions and
  seeds: near 0 means flat by the end of the budget;
* training seconds per chain (sum over its versions; machines shared, so rough).

``--degradation`` adds a second table: each joint method's intended degradation against Non-BC of
the same protocol and seed (``100 (R - R_NonBC) / R_NonBC`` per version 1-4, mean over versions,
``embcompat.backward.lambda_choice.validation_degradation``), under A and under B, and B - A paired
by seed: does a longer or otherwise different budget change what compatibility costs?

    .venv/bin/python benchmarks/compare_bc_protocols.py \
        --a '{"lr": 0.001, "lr_trans": 0.001, "lr_schedule": "constant", "patience": 8}' \
        --out benchmarks/results/bc_protocols.md
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from embcompat.backward.cached_records import scan_scale_records
from embcompat.backward.lambda_choice import validation_degradation
from embcompat.stats import mean_ci, paired_difference


def chains(cache: Path, scale: str, datasets, overrides: dict, methods, by_version: bool = False) -> pd.DataFrame:
    recs = scan_scale_records(cache, scale, datasets, overrides, methods=methods)
    own = recs[(recs.method == "Non-BC") | (recs.version > 0)]
    if not by_version:
        own = own.assign(version="all")
    agg = own.groupby(["dataset", "method", "lam", "version", "seed"]).agg(
        val=("val_r50", "mean"), test=("test_r50", "mean"), late=("late_gain", "mean"),
        seconds=("train_seconds", "sum")).reset_index()
    agg.loc[agg.method == "Non-BC", "lam"] = float("nan")
    return agg


def degradations(cache: Path, scale: str, datasets, overrides: dict, methods) -> pd.DataFrame:
    """Per (data set, method, λ, seed): intended degradation (%) against Non-BC, test and validation."""
    recs = scan_scale_records(cache, scale, datasets, overrides, methods=set(methods) | {"Non-BC"})
    ref = recs[recs.method == "Non-BC"].set_index(["dataset", "seed", "version"])
    joint = recs[(recs.method != "Non-BC") & (recs.version > 0)]
    joint = joint[joint.set_index(["dataset", "seed", "version"]).index.isin(ref.index)]
    ref = ref[~ref.index.duplicated()]  # Non-BC ignores λ: a record per λ would be the same chain
    at = list(zip(joint.dataset, joint.seed, joint.version))
    out = None
    for col, name in (("test_r50", "test"), ("val_r50", "val")):
        rows = pd.DataFrame({"dataset": joint.dataset, "seed": joint.seed, "version": joint.version,
                             "lam": joint.method + "|" + joint.lam.astype(str), "recall": joint[col].to_numpy(),
                             "ref_recall": ref.loc[at, col].to_numpy()})
        d = validation_degradation(rows).rename(columns={"val_intended_deg": name}).drop(columns="n_versions")
        out = d if out is None else out.merge(d, on=["dataset", "lam", "seed"])
    split = out.lam.str.split("|", expand=True)
    return out.assign(method=split[0], lam=split[1].astype(float))


def paired_groups(a: pd.DataFrame, b: pd.DataFrame, key: list[str]):
    """For each group of B by ``key`` (NaN matches NaN): the group's values and its A and B rows,
    indexed by the seeds present under both; groups without a shared seed are skipped."""
    for values, pb in b.groupby(key, dropna=False, sort=True):
        mask = pd.Series(True, index=a.index)
        for col, v in zip(key, values):
            mask &= a[col].isna() if pd.isna(v) else a[col] == v
        pa = a[mask]
        seeds = sorted(set(pa.seed) & set(pb.seed))
        if seeds:
            yield values, pa.set_index("seed").loc[seeds], pb.set_index("seed").loc[seeds]


def degradation_lines(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    lines = ["", "## Intended degradation against Non-BC of the same protocol and seed (%)", "",
             "| data set | method | λ | seeds | test A | test B | test B - A | val A | val B | val B - A |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for (ds, m, lam), ia, ib in paired_groups(a, b, ["dataset", "method", "lam"]):
        cells = []
        for col in ("test", "val"):
            d = paired_difference(ib[col].to_dict(), ia[col].to_dict(), min_seeds=2)
            ca, cb = mean_ci(ia[col].to_numpy()), mean_ci(ib[col].to_numpy())
            cells += [f"{ca.mean:+.1f} [{ca.lo:+.1f}, {ca.hi:+.1f}]", f"{cb.mean:+.1f} [{cb.lo:+.1f}, {cb.hi:+.1f}]",
                      f"{d['mean']:+.1f} [{d['lo']:+.1f}, {d['hi']:+.1f}]"]
        lines.append(f"| {ds} | {m} | {lam:g} | {len(ia)} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path("outputs/cache"))
    ap.add_argument("--scale", default="demo")
    ap.add_argument("--a", default="{}", help="JSON overrides of protocol A")
    ap.add_argument("--b", default="{}", help="JSON overrides of protocol B")
    ap.add_argument("--methods", default="Non-BC,BC-Aligner")
    ap.add_argument("--datasets", default="amazon-2014-hin,movielens-latest-small",
                    help="each read under its own preset (embcompat.config.bc.DATASET_PRESETS)")
    ap.add_argument("--by-version", action="store_true", help="one row per version instead of the chain mean")
    ap.add_argument("--degradation", action="store_true",
                    help="add each joint method's intended degradation against Non-BC, A vs B")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    methods = args.methods.split(",")
    datasets = args.datasets.split(",")
    a = chains(args.cache, args.scale, datasets, json.loads(args.a), methods, args.by_version)
    b = chains(args.cache, args.scale, datasets, json.loads(args.b), methods, args.by_version)
    key = ["dataset", "method", "lam", "version"]
    lines = ["# Two BC training protocols, paired by training seed (from the cache)", "",
             "Command: `.venv/bin/python benchmarks/compare_bc_protocols.py " + " ".join(
                 f"'{x}'" if x.startswith("{") else x for x in sys.argv[1:]) + "`", "",
             f"A = `{args.scale}` preset with {args.a}; B = `{args.scale}` preset with {args.b}. Recall@50 x 100, "
             "per version, or (version `all`) the mean over the chain's own versions (Non-BC 0-4, joint 1-4); "
             "late gain: last quarter of the "
             "validation curve minus the quarter before, x100 (near 0: flat at the end); seconds: training per "
             "chain or version (shared machine, rough). Paired: B - A by seed, 95 % t interval.", "",
             "| data set | method | λ | version | seeds | test A | test B | test B - A | val A | val B | val B - A | "
             "late gain A | late gain B | s/chain A | s/chain B |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (ds, m, lam, k), ia, ib in paired_groups(a, b, key):
        cells = []
        for col in ("test", "val"):
            d = paired_difference(ib[col].to_dict(), ia[col].to_dict(), min_seeds=2)
            cells += [f"{ia[col].mean():.2f}", f"{ib[col].mean():.2f}",
                      f"{d['mean']:+.2f} [{d['lo']:+.2f}, {d['hi']:+.2f}]"]
        lam_s = "" if pd.isna(lam) else f"{lam:g}"
        lines.append(f"| {ds} | {m} | {lam_s} | {k} | {len(ia)} | " + " | ".join(cells)
                     + f" | {mean_ci(ia.late.to_numpy()).mean:+.2f} | {mean_ci(ib.late.to_numpy()).mean:+.2f}"
                     + f" | {ia.seconds.mean():.0f} | {ib.seconds.mean():.0f} |")
    if args.degradation:
        lines += degradation_lines(
            degradations(args.cache, args.scale, datasets, json.loads(args.a), methods),
            degradations(args.cache, args.scale, datasets, json.loads(args.b), methods))
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
