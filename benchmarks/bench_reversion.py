"""Benchmark: re-versioning a stored Parquet embedding table (embcompat.reversion), and where the time goes.

A synthetic table of N x 512 float32 rows (int64 id + ``FixedSizeList<float32>[512]``, snappy, one
row group per 65,536 rows, as ``pyarrow`` writes by default) is generated chunk by chunk into a
temporary folder on disk (never held in memory; removed afterwards) and converted to version 0 of
a K = 4 store 512 -> 448 -> 384 -> 320 -> 256 (the chain of ``bench_transform.py``). Each stage runs
in a fresh subprocess, whose peak resident set (``VmHWM``) is that stage's alone:

* ``convert``: :func:`embcompat.reversion.reversion_parquet` end to end (read, check, matmul, write);
* ``read``: the same ``iter_batches`` loop decoding the vector column to ``(rows, 512)`` arrays only;
* ``check``: the NaN/inf check of the conversion on one in-memory chunk, repeated;
* ``gemm``: ``store.transform`` on one in-memory ``(batch_rows, 512)`` chunk, repeated: the rows/s
  the conversion would reach if it were pure matmul (the roofline);
* ``write``: one ready ``(batch_rows, 256)`` output chunk written N / batch_rows times with the
  conversion's writer options.

Usage (from the repo root)::

    .venv/bin/python benchmarks/bench_reversion.py                 # 1M rows (2 GB), writes results/reversion.md
    .venv/bin/python benchmarks/bench_reversion.py --rows 10000000 # the 10M-row case (20 GB input + 10 GB output)
    .venv/bin/python benchmarks/bench_reversion.py --rows 200000 --no-write   # quick look
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHAIN = [256, 320, 384, 448, 512]  # d_0 .. d_4
GEN_CHUNK = 65_536


def _status_kib(key: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def make_table(path: Path, rows: int, seed: int) -> float:
    """Write ``rows`` random 512-d rows in chunks; returns seconds."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    t0, rng, d = time.perf_counter(), np.random.default_rng(seed), CHAIN[-1]
    schema = pa.schema([("id", pa.int64()), ("embedding", pa.list_(pa.float32(), d))])
    with pq.ParquetWriter(path, schema) as w:
        for start in range(0, rows, GEN_CHUNK):
            n = min(GEN_CHUNK, rows - start)
            z = rng.standard_normal((n, d), dtype=np.float32)
            vec = pa.FixedSizeListArray.from_arrays(pa.array(z.reshape(-1)), d)
            w.write_table(pa.table({"id": np.arange(start, start + n), "embedding": vec}, schema=schema))
    return time.perf_counter() - t0


def make_store(path: Path, seed: int) -> None:
    import torch

    from embcompat.models.transforms import LinearBackward
    from embcompat.versions import VersionStore

    g = torch.Generator().manual_seed(seed)
    store = VersionStore(CHAIN[0])
    for k in range(1, len(CHAIN)):
        store.add_version(LinearBackward(CHAIN[k], CHAIN[k - 1], generator=g))
    store.save(path)


def _repeat(fn, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def stage(name: str, a: dict) -> dict:
    """One measurement, run inside a child process."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from embcompat.reversion import reversion_parquet, writer_options
    from embcompat.utils import resolve_device
    from embcompat.versions import VersionStore

    torch.set_num_threads(a["threads"])
    base_kib, out = _status_kib("VmRSS"), {"stage": name}
    rows, b = a["rows"], a["batch_rows"]
    if name == "convert":
        import embcompat.reversion as rv

        spent = {"transform_batch": 0.0, "write_batch": 0.0}

        def timed(key, fn):
            def wrapper(*args, **kw):
                t = time.perf_counter()
                try:
                    return fn(*args, **kw)
                finally:
                    spent[key] += time.perf_counter() - t
            return wrapper

        # Time the conversion's own phases in place: the rest of the loop is reading (and the fsync).
        rv.transform_batch = timed("transform_batch", rv.transform_batch)
        pq.ParquetWriter.write_batch = timed("write_batch", pq.ParquetWriter.write_batch)
        t0 = time.perf_counter()
        reversion_parquet(a["store"], a["src"], a["dst"], to_version=0, batch_rows=b, device=a["device"],
                          progress=False)
        out["seconds"] = time.perf_counter() - t0
        out["phases"] = dict(spent, rest=out["seconds"] - sum(spent.values()))
    elif name == "read":
        t0, n = time.perf_counter(), 0
        pf = pq.ParquetFile(a["src"], buffer_size=1 << 22, pre_buffer=False)
        for batch in pf.iter_batches(batch_size=b):
            col = batch.column("embedding")
            n += col.flatten().to_numpy().reshape(len(col), -1).shape[0]
        out["seconds"], out["rows_seen"] = time.perf_counter() - t0, n
    elif name in ("gemm", "check"):
        z = torch.randn(b, CHAIN[-1], generator=torch.Generator().manual_seed(0))
        store = VersionStore.load(a["store"], device=a["device"])
        dev = resolve_device(a["device"])
        zd, znp = z.to(dev), z.numpy()
        if name == "gemm":
            store.transform(zd, 0)  # warm-up, precomposes W_(4->0)
            sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
            times = _repeat(lambda: (store.transform(zd, 0), sync()), a["rounds"])
        else:
            times = _repeat(lambda: np.isfinite(znp).all(), a["rounds"])
        out["chunk_seconds"] = times
        out["seconds"] = min(times) * rows / b  # best chunk, scaled to the whole table
    elif name == "write":
        rng = np.random.default_rng(0)
        vec = pa.FixedSizeListArray.from_arrays(pa.array(rng.standard_normal(b * CHAIN[0], dtype=np.float32)),
                                                type=pa.list_(pa.float32(), CHAIN[0]))
        batch = pa.record_batch({"id": np.arange(b), "embedding": vec})
        t0, done = time.perf_counter(), 0
        with pq.ParquetWriter(a["dst"], batch.schema, **writer_options(["id", "embedding"], "embedding")) as w:
            while done < rows:
                n = min(b, rows - done)
                w.write_batch(batch if n == b else batch.slice(0, n))
                done += n
        with open(a["dst"], "rb") as f:
            os.fsync(f.fileno())  # as the conversion does before its rename
        out["seconds"] = time.perf_counter() - t0
    out["rows_per_s"] = rows / out["seconds"]
    out["peak_rss_mib"] = _status_kib("VmHWM") / 1024
    out["base_rss_mib"] = base_kib / 1024
    return out


def run_stage(name: str, a: dict) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "lib"), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, __file__, "--_stage", name, "--_args", json.dumps(a)],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"stage {name} failed:\n{r.stderr[-3000:]}")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"  {name:8s} {res['rows_per_s']:>12,.0f} rows/s  peak RSS {res['peak_rss_mib']:,.0f} MiB", flush=True)
    return res


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="table rows (10_000_000 for the 20 GB case)")
    ap.add_argument("--batch-rows", type=int, default=None, help="rows per chunk (default: the library's)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=20, help="repeats of the in-memory gemm/check chunk")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    ap.add_argument("--dir", default=None, help="parent of the temporary folder (default: the system's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-write", action="store_true", help="print only, do not write the results file")
    ap.add_argument("--_stage", help=argparse.SUPPRESS)
    ap.add_argument("--_args", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._stage:
        print(json.dumps(stage(args._stage, json.loads(args._args))))
        return {}
    sys.path.insert(0, str(ROOT / "lib"))
    from embcompat.reversion import DEFAULT_BATCH_ROWS

    batch_rows = args.batch_rows or DEFAULT_BATCH_ROWS
    load_start = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="embcompat-bench-reversion-", dir=args.dir))
    try:
        src, dst, store = tmp / "in.parquet", tmp / "out.parquet", tmp / "store.safetensors"
        make_store(store, args.seed)
        print(f"generating {args.rows:,} x {CHAIN[-1]} rows in {tmp} ...", flush=True)
        t_gen = make_table(src, args.rows, args.seed)
        os.sync()  # flush the input's dirty pages now, not during the conversion
        a = dict(rows=args.rows, batch_rows=batch_rows, threads=args.threads, device=args.device,
                 rounds=args.rounds, src=str(src), dst=str(dst), store=str(store))
        res = {"gen_seconds": t_gen, "in_bytes": src.stat().st_size}
        res["convert"] = run_stage("convert", a)
        res["out_bytes"] = dst.stat().st_size
        dst.unlink()
        os.sync()
        for name in ("read", "check", "gemm", "write"):
            res[name] = run_stage(name, a)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.update(rows=args.rows, batch_rows=batch_rows, threads=args.threads, device=args.device,
               load=(load_start, os.getloadavg()[0]), rounds=args.rounds)
    text = report(res)
    print(text)
    if not args.no_write:
        path = ROOT / "benchmarks" / "results" / "reversion.md"
        path.write_text(text)
        print(f"wrote {path}")
    return res


def _cpu() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _shared(r) -> bool:
    """Whether other work held the cores (1-min load average above 1.5 at either end)."""
    return max(r["load"]) > 1.5


def _scope_note(r) -> str:
    big = ("This file is the 10M-row (20 GB) case." if r["rows"] >= 10_000_000 else
           "The 10M-row (20 GB) case is `.venv/bin/python benchmarks/bench_reversion.py --rows "
           "10000000` (needs ~31 GB free under `--dir`); it was not run for this file.")
    if _shared(r):
        return big + ("\n\n**The machine was shared while measuring** (load above), so absolute "
                      "rows/s are lower than on an idle machine; the ratios between stages are the point.")
    return big + " Nothing else held the cores while measuring (load above)."


def _cache_note(r) -> str:
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if r["in_bytes"] < ram / 2:
        return "The input was just written, so it is read mostly from the page cache."
    return (f"The input is larger than half of this machine's {ram / 2**30:.0f} GiB of RAM, so the "
            "read passes also pay for the disk.")


def _noise_note(r) -> str:
    if not _shared(r):
        return ""
    return (" On a shared machine whole runs of this script differed by up to 2x in a stage's "
            "rows/s, so compare stages within this file, and prefer the in-place phase split above.")


def report(r: dict) -> str:
    import pyarrow
    import torch

    rps = {k: r[k]["rows_per_s"] for k in ("convert", "read", "check", "gemm", "write")}
    serial = 1 / sum(1 / rps[k] for k in ("read", "check", "gemm", "write"))  # stages one after another
    gib = lambda x: f"{x / 2**30:.2f} GiB"  # noqa: E731
    rows = [
        ("convert (`reversion_parquet`, end to end)", "convert"),
        ("read only (`iter_batches` -> (rows, 512) arrays)", "read"),
        ("NaN/inf check only (in memory)", "check"),
        ("matmul only: roofline (`store.transform`, in memory)", "gemm"),
        ("write only (`ParquetWriter`, 256-d output)", "write"),
    ]
    table = "\n".join(
        f"| {label} | {rps[k]:,.0f} | {r['rows'] / rps[k]:.2f} | {rps['convert'] / rps[k]:.2f} | "
        f"{r[k]['peak_rss_mib']:,.0f} MiB ({r[k]['peak_rss_mib'] - r[k]['base_rss_mib']:,.0f}) |"
        for label, k in rows)
    g, ph = r["gemm"]["chunk_seconds"], r["convert"]["phases"]
    tot = sum(ph.values())
    return f"""# Re-versioning a stored Parquet embedding table

Command: `.venv/bin/python benchmarks/bench_reversion.py` (run with `--rows {r['rows']} --threads {r['threads']}
--device {r['device']}`; batch_rows {r['batch_rows']:,}), torch {torch.__version__}, pyarrow {pyarrow.__version__},
Python {sys.version.split()[0]}, CPU: {_cpu()} ({os.cpu_count()} cores; 1-min load average {r['load'][0]:.1f} at the
start, {r['load'][1]:.1f} at the end). {_scope_note(r)}

Work: {r['rows']:,} rows of int64 id + 512-d float32 (input file {gib(r['in_bytes'])}, snappy) -> version 0 of
the K = 4 store {' -> '.join(map(str, CHAIN[::-1]))} (output {gib(r['out_bytes'])}). Generating the input took
{r['gen_seconds']:.1f} s. {_cache_note(r)}

| stage | rows/s | s for the table | convert / stage (rows/s) | peak RSS of its process (above imports) |
|---|---|---|---|---|
{table}

- **Where the conversion's time goes** (its own phases, timed in place in the same run):
  `transform_batch` (NaN/inf check + matmul + Arrow wrapping) {ph['transform_batch']:.1f} s
  ({ph['transform_batch'] / tot:.0%}), `ParquetWriter.write_batch` {ph['write_batch']:.1f} s
  ({ph['write_batch'] / tot:.0%}), the rest (Parquet reading and decoding of the next chunk, open/close,
  fsync) {ph['rest']:.1f} s ({ph['rest'] / tot:.0%}). Parquet I/O, not the matmul, bounds the conversion.
- If the four stages ran one after another with nothing else, the conversion would reach
  {serial:,.0f} rows/s; it measured {rps['convert']:,.0f} rows/s ({rps['convert'] / serial:.2f} of that).
- Share of the serial time: read {serial / rps['read']:.0%}, check {serial / rps['check']:.0%}, matmul
  {serial / rps['gemm']:.0%}, write {serial / rps['write']:.0%}.
- matmul roofline: {r['batch_rows']:,} x 512 -> 256 chunks, best of {r['rounds']} in-memory repeats
  (per chunk, s: min {min(g):.4f}, median {sorted(g)[len(g) // 2]:.4f}, max {max(g):.4f}), scaled to the table;
  the NaN/inf check is measured the same way.
- Peak RSS is `VmHWM` of the process running the stage (Python + torch + pyarrow included); the
  parenthesised figure is above the resident set right after the imports. It does not grow with the
  table: the conversion holds one chunk in and out plus Parquet's read buffers, which grow with the
  input's row groups (here 65,536 rows; one 262,144-row group measured ~0.9 GiB above the imports).
- convert, read and write are one pass each over the table, the in-memory stages the best of
  {r['rounds']}.{_noise_note(r)}
"""


if __name__ == "__main__":
    main()
