"""Choose the demo's λ on the validation half from the version records of a λ sweep.

Notebook 05's sweep trains BC-Aligner chains at λ in {1, ..., 32} for several training seeds and
caches every version record; each record holds the validation Recall@50 of its selected
checkpoint (``recall``) beside the test one (``test_recall``, never read here). This script reads
those records and the Non-BC records of the same seeds from a cache folder, keeps the ones trained
with the scale's preset (every field but λ and the seed), and applies
:func:`embcompat.backward.lambda_choice.choose_lambda`. Only seeds that have every λ of the grid
are used, so each λ is averaged over the same seeds. Nothing is trained.

    .venv/bin/python benchmarks/choose_lambda.py --cache outputs/cache \
        --out benchmarks/results/lambda_choice.md
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from embcompat.backward.cached_records import scan_scale_records
from embcompat.backward.lambda_choice import choose_lambda, common_lambda, lambda_summary, validation_degradation
from embcompat.config.sweep import SWEEP_SCALES

def read_records(cache: Path, scale: str, method: str, overrides: dict | None = None,
                 datasets=None) -> pd.DataFrame:
    """One row per (dataset, seed, λ, version) with the method's and Non-BC's validation R@50, each
    data set under its own preset (default data sets: the scale's sweep's)."""
    recs = scan_scale_records(cache, scale, datasets or SWEEP_SCALES[scale].datasets, overrides,
                              methods=(method, "Non-BC"))
    ref = {(d, s, k): v for d, s, k, v in recs[recs.method == "Non-BC"][["dataset", "seed", "version", "val_r50"]]
           .itertuples(index=False)}
    rows = recs[(recs.method == method) & (recs.version > 0)].rename(columns={"val_r50": "recall"})
    if rows.empty:
        raise SystemExit(f"no {method} records of the {scale} preset in {cache}")
    rows = rows.assign(ref_recall=[ref.get((d, s, k), float("nan"))
                                   for d, s, k in zip(rows.dataset, rows.seed, rows.version)])
    if rows.ref_recall.isna().any():
        raise SystemExit("some chains lack their Non-BC reference records:\n"
                         + rows[rows.ref_recall.isna()].to_string())
    keep = []
    for _, part in rows.groupby("dataset"):
        lams = part.groupby("seed").lam.nunique()
        full = set(lams[lams == part.lam.nunique()].index)
        keep.append(part[part.seed.isin(full)])
    return pd.concat(keep, ignore_index=True)[["dataset", "seed", "lam", "version", "recall", "ref_recall"]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path("outputs/cache"))
    ap.add_argument("--scale", default="demo")
    ap.add_argument("--method", default="BC-Aligner")
    ap.add_argument("--tolerance", type=float, default=5.0)
    ap.add_argument("--override", default="{}",
                    help="JSON of preset fields that differ from the scale's (e.g. an earlier protocol)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rows = read_records(args.cache, args.scale, args.method, json.loads(args.override))
    per_seed = validation_degradation(rows)
    choice = choose_lambda(lambda_summary(per_seed), tolerance=args.tolerance)
    lam = common_lambda(choice)
    seeds = {ds: sorted(p.seed.unique().tolist()) for ds, p in rows.groupby("dataset")}
    lines = [f"# λ for the `{args.scale}` preset, chosen on the validation half", "",
             f"Command: `.venv/bin/python benchmarks/choose_lambda.py --cache {args.cache} --scale {args.scale} "
             f"--method {args.method} --tolerance {args.tolerance:g}"
             + (f" --override '{args.override}'`" if json.loads(args.override) else "`"), "",
             f"{args.method}'s validation intended degradation: 100 x (its validation Recall@50 - Non-BC's) / "
             "Non-BC's, per version v1-v4 of the selected checkpoints, averaged over versions, then over training "
             f"seeds (95 % t interval). Seeds: {seeds}. Rule (`embcompat.backward.lambda_choice`): the largest λ "
             f"whose mean is >= -{args.tolerance:g} %, per data set; one λ for all: the smallest of those.", "",
             "| data set | λ | seeds | validation intended degradation (%) | 95 % CI | within band | chosen |",
             "|---|---|---|---|---|---|---|"]
    for r in choice.itertuples():
        lines.append(f"| {r.dataset} | {r.lam:g} | {r.n_seeds} | {r.mean:+.1f} | [{r.lo:+.1f}, {r.hi:+.1f}] | "
                     f"{'yes' if r.within else 'no'} | {'**yes**' if r.chosen else ''} |")
    lines += ["", f"**λ for all data sets: {lam:g}**", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
