"""Re-version a stored embedding table: a Parquet file of ver-K embeddings -> the same table at ver j.

A team keeps only the latest embeddings (an id column and a vector column) in Parquet and serves
consumers pinned to older versions through the keep-latest :class:`~embcompat.versions.VersionStore`
(BC paper, Sec. 3.2). :func:`reversion_parquet` streams the file chunk by chunk with pyarrow
(``ParquetFile.iter_batches`` -> ``VersionStore.transform`` -> ``ParquetWriter``), so memory is one
chunk, not the table.

What the output holds:

* every input column, in the input order; all but the vector column are copied unchanged (ids,
  timestamps, ... stay attached to their rows; drop columns before or after if they are not wanted);
* the vector column, same name and position, as ``FixedSizeList<float32>[d_j]``;
* the input's schema metadata plus ``embcompat.reversion`` (JSON: source/target version, the store's
  dims, column names, row count), readable with
  :func:`embcompat.arrow_vectors.read_reversion_metadata`.

The output is written to a hidden temp file beside ``dst`` and renamed over ``dst`` only when every
row converted; on any error the temp file is deleted and an existing ``dst`` is left untouched.

CLI::

    python -m embcompat.reversion --store S.safetensors --to J in.parquet out.parquet

The Ray Data path for tables too big for one machine is :mod:`embcompat.reversion_ray`.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tqdm.auto import tqdm

from embcompat.arrow_vectors import (
    check_schema, numpy_to_vectors, output_schema, read_reversion_metadata, reversion_metadata,
    vectors_to_numpy,
)
from embcompat.utils import resolve_device
from embcompat.versions import VersionStore

__all__ = ["reversion_parquet", "transform_batch", "resolve_store", "check_target", "writer_options",
           "DEFAULT_BATCH_ROWS"]

DEFAULT_BATCH_ROWS = 65_536  # 128 MiB of 512-d float32 in, per chunk; the writer makes one row group per chunk


def resolve_store(store: VersionStore | str | os.PathLike, device: torch.device) -> VersionStore:
    """A :class:`VersionStore`, loading it onto ``device`` if given a path."""
    if isinstance(store, VersionStore):
        return store
    if isinstance(store, (str, os.PathLike)):
        return VersionStore.load(store, device=device)
    raise ValueError(f"store must be a VersionStore or the path of a saved one, got {type(store).__name__}")


def check_target(store: VersionStore, to_version) -> int:
    """``to_version`` as an int in ``[0, K]`` or a ValueError naming the valid range."""
    if isinstance(to_version, bool) or not isinstance(to_version, (int, np.integer)) or not 0 <= to_version <= store.K:
        raise ValueError(f"to_version must be an int in [0, {store.K}] (0 .. K of the store), got {to_version!r}")
    return int(to_version)


def _as_tensor(mat: np.ndarray) -> torch.Tensor:
    # Arrow buffers are read-only; the transform never writes into its input, so share the memory.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(mat)


def _array(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def transform_batch(
    batch: pa.RecordBatch | pa.Table, store: VersionStore, to_version: int, *, id_column: str,
    vector_column: str, device: torch.device, row_offset: int = 0, where: str = "input",
    schema: pa.Schema | None = None,
) -> pa.RecordBatch:
    """One chunk: ver-K vectors -> ver-``to_version`` vectors, other columns carried.

    Args:
        batch: a chunk of the table (a Table's columns are combined into one batch).
        schema: the output schema (from :func:`embcompat.arrow_vectors.output_schema`); built from
            the batch when ``None``.
        row_offset, where: global index of the chunk's first row and the source's name, for errors.
    """
    cols = {name: _array(batch.column(name)) for name in batch.schema.names}
    ids = cols[id_column]
    mat = vectors_to_numpy(cols[vector_column], ids, d=store.dims[-1], column=vector_column,
                           row_offset=row_offset, where=where)
    z = _as_tensor(mat).to(device)
    with torch.no_grad():
        out = store.transform(z, to_version)
    d_j = store.dims[to_version]
    if tuple(out.shape) != (batch.num_rows, d_j):  # guards transforms added to the store later
        raise ValueError(f"store.transform returned shape {tuple(out.shape)}, expected ({batch.num_rows}, {d_j})")
    vectors = numpy_to_vectors(out.detach().to("cpu", torch.float32).numpy())
    if schema is None:
        schema = output_schema(batch.schema, vector_column=vector_column, d_out=d_j, meta={})
    arrays = [vectors if name == vector_column else cols[name] for name in batch.schema.names]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def writer_options(names: list[str], vector_column: str, compression: str | None = "snappy") -> dict:
    """``ParquetWriter`` keyword arguments for the output. Random floats neither dictionary-encode
    nor have useful min/max statistics, so the vector column is spared both."""
    others = [n for n in names if n != vector_column]
    return {"compression": compression, "use_dictionary": others, "write_statistics": others}


def _open(src: Path) -> pq.ParquetFile:
    if not src.exists():
        raise FileNotFoundError(f"no such Parquet file: {src}")
    try:
        return pq.ParquetFile(src, buffer_size=1 << 22, pre_buffer=False)  # read pages as needed
    except (pa.ArrowException, OSError) as e:
        raise ValueError(f"cannot read {src} as a Parquet file: {e}") from e


def reversion_parquet(
    store: VersionStore | str | os.PathLike,
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    to_version: int,
    id_column: str = "id",
    vector_column: str = "embedding",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    device: str | torch.device = "auto",
    progress: bool = True,
    compression: str | None = "snappy",
) -> dict:
    """Stream ``src`` (ver-K embeddings) into ``dst`` (ver-``to_version`` embeddings).

    Args:
        store: the keep-latest :class:`VersionStore`, or the path of a saved one.
        src: input Parquet file; ``vector_column`` is ``FixedSizeList<float>[d_K]`` or a
            ``list<float>`` of constant length ``d_K`` (float32; other float widths are cast).
        dst: output Parquet file (replaced atomically; its folder is created).
        to_version: target version ``j`` in ``[0, K]``; ``K`` copies the vectors unchanged.
        id_column, vector_column: column names.
        batch_rows: rows per chunk. Memory is about one chunk in and out plus the reader's buffers,
            which grow with the input's row groups (measured: ~0.7 GiB above the imports for 64Ki-row
            groups of 512-d, ~0.9 GiB for one 256Ki-row group); write inputs with moderate row groups.
        device: where the transform runs (``"auto"``: CUDA if visible); a store given as a path is
            loaded there, a given store is used as it is (its transform moves the matrix as needed).
        progress: show a tqdm bar counting rows.
        compression: Parquet codec for the output (``None`` for none).

    Returns:
        the ``embcompat.reversion`` metadata written into ``dst``'s schema.

    Raises:
        ValueError: bad ``to_version``, unreadable ``src``, a missing column (the message lists the
            columns present), a vector column of the wrong type, and per row (first bad row's global
            index and id): null vector, wrong length (expected ``d_K``), NaN/inf.
        FileNotFoundError: ``src`` does not exist.
    """
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise ValueError(f"batch_rows must be a positive int, got {batch_rows!r}")
    dev = resolve_device(device)
    store = resolve_store(store, dev)
    j = check_target(store, to_version)
    src, dst = Path(src), Path(dst)
    pf = _open(src)
    try:
        return _stream(pf, store, j, src, dst, id_column=id_column, vector_column=vector_column,
                       batch_rows=batch_rows, device=dev, progress=progress, compression=compression)
    finally:
        pf.close()


def _batches(pf: pq.ParquetFile, batch_rows: int, src: Path):
    it, done = pf.iter_batches(batch_size=batch_rows), 0
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as e:  # a corrupt page or column chunk
            raise ValueError(f"cannot read {src} after row {done}: {e}") from e
        done += batch.num_rows
        yield batch


def _stream(pf: pq.ParquetFile, store: VersionStore, j: int, src: Path, dst: Path, *, id_column: str,
            vector_column: str, batch_rows: int, device: torch.device, progress: bool, compression) -> dict:
    schema = pf.schema_arrow
    check_schema(schema, id_column=id_column, vector_column=vector_column, d=store.dims[-1], where=str(src))
    prior = read_reversion_metadata(schema)
    if prior is not None and prior.get("target_version") != store.K:
        raise ValueError(f"{src} was already re-versioned to version {prior.get('target_version')}; "
                         f"re-version the latest (version K = {store.K}) table instead")
    meta = reversion_metadata(source_version=store.K, target_version=j, dims=store.dims, id_column=id_column,
                              vector_column=vector_column, num_rows=pf.metadata.num_rows)
    out_schema = output_schema(schema, vector_column=vector_column, d_out=store.dims[j], meta=meta)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    os.close(fd)
    writer = None
    try:
        writer = pq.ParquetWriter(tmp, out_schema, **writer_options(schema.names, vector_column, compression))
        done = 0
        with tqdm(total=pf.metadata.num_rows, unit="rows", unit_scale=True, disable=not progress,
                  desc=f"re-version -> v{j}") as bar:
            for batch in _batches(pf, batch_rows, src):
                out = transform_batch(batch, store, j, id_column=id_column, vector_column=vector_column,
                                      device=device, row_offset=done, where=str(src), schema=out_schema)
                writer.write_batch(out)
                done += batch.num_rows
                bar.update(batch.num_rows)
        writer.close()
        writer = None
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, dst)
    except BaseException:
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m embcompat.reversion",
        description="Re-version a Parquet table of latest-version embeddings to an older version.")
    ap.add_argument("--store", required=True, help="saved VersionStore (.safetensors)")
    ap.add_argument("--to", type=int, required=True, dest="to_version", help="target version j in [0, K]")
    ap.add_argument("src", help="input Parquet file (ver-K embeddings)")
    ap.add_argument("dst", help="output Parquet file (written atomically)")
    ap.add_argument("--id-column", default="id")
    ap.add_argument("--vector-column", default="embedding")
    ap.add_argument("--batch-rows", type=int, default=DEFAULT_BATCH_ROWS)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--compression", default="snappy", help="output codec, or 'none'")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    try:
        meta = reversion_parquet(
            args.store, args.src, args.dst, to_version=args.to_version, id_column=args.id_column,
            vector_column=args.vector_column, batch_rows=args.batch_rows, device=args.device,
            progress=not args.no_progress, compression=None if args.compression == "none" else args.compression)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.dst}: {meta['num_rows']} rows, version {meta['source_version']} "
          f"(d={meta['source_dim']}) -> {meta['target_version']} (d={meta['target_dim']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
