"""The cluster path of :mod:`embcompat.reversion`: the same per-chunk conversion run by Ray Data.

``ray.data.read_parquet(src).map_batches(fn, batch_format="pyarrow").write_parquet(tmp)``, where
``fn`` is :func:`embcompat.reversion.transform_batch`, so both paths make bit-for-bit the same rows.
Ray is an optional extra (``pip install ray==2.60.0``) and is imported only when this function runs.

Differences from the single-file path, all from how Ray Data works:

* ``src`` may be a file, a folder or a list of them (anything ``read_parquet`` takes); ``dst`` is a
  *folder* of Parquet files, plus a row-less ``_common_metadata`` file carrying the output schema and
  its ``embcompat.reversion`` metadata; each part file's schema carries that metadata too (Ray 2.60
  keeps the batch schema's), with ``num_rows`` null since the parts are written before the count;
* row order across parts follows Ray's scheduling unless ``DataContext.execution_options.preserve_order``
  is set; ids travel with their rows either way;
* a bad row's error names its id and its position inside one Ray batch (Ray does not expose global
  row indices), and arrives wrapped in Ray's task error.

The output is written to a hidden temp folder beside ``dst``, moved into place only when Ray's write
succeeded, and deleted on failure; an existing ``dst`` is replaced only then.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch

from embcompat.arrow_vectors import check_schema, output_schema, reversion_metadata
from embcompat.reversion import DEFAULT_BATCH_ROWS, check_target, resolve_store, transform_batch, writer_options
from embcompat.utils import resolve_device
from embcompat.versions import VersionStore

__all__ = ["reversion_parquet_ray"]


def _replace_dir(tmp: Path, dst: Path) -> None:
    if not dst.exists():
        os.replace(tmp, dst)
        return
    old = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}.old."))
    os.replace(dst, old / dst.name)
    os.replace(tmp, dst)
    shutil.rmtree(old, ignore_errors=True)


def reversion_parquet_ray(
    store: VersionStore | str | os.PathLike,
    src: str | os.PathLike | list,
    dst: str | os.PathLike,
    *,
    to_version: int,
    id_column: str = "id",
    vector_column: str = "embedding",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    device: str | torch.device = "auto",
    progress: bool = True,
    compression: str | None = "snappy",
    **map_batches_kwargs,
) -> dict:
    """Ray Data version of :func:`embcompat.reversion.reversion_parquet` (same arguments).

    ``device`` is resolved on each Ray worker (``"auto"``: CUDA where the worker sees one; pass
    ``num_gpus=1`` through ``map_batches_kwargs`` to have Ray schedule GPU workers). Extra keyword
    arguments go to ``Dataset.map_batches`` (``concurrency``, ``num_cpus``, ...).

    Returns:
        the ``embcompat.reversion`` metadata written into ``dst/_common_metadata``.
    """
    import ray  # optional extra: imported only here

    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise ValueError(f"batch_rows must be a positive int, got {batch_rows!r}")
    store = resolve_store(store, torch.device("cpu"))
    j = check_target(store, to_version)
    dst = Path(dst)
    ctx = ray.data.DataContext.get_current()
    bars, ctx.enable_progress_bars = ctx.enable_progress_bars, progress
    try:
        return _run(ray, store, j, src, dst, id_column=id_column, vector_column=vector_column,
                    batch_rows=batch_rows, device=device, compression=compression, **map_batches_kwargs)
    finally:
        ctx.enable_progress_bars = bars


def _run(ray, store: VersionStore, j: int, src, dst: Path, *, id_column: str, vector_column: str,
         batch_rows: int, device, compression, **map_batches_kwargs) -> dict:
    ds = ray.data.read_parquet(src if isinstance(src, list) else str(src))
    schema = ds.schema(fetch_if_missing=True)
    schema = schema if isinstance(schema, pa.Schema) else getattr(schema, "base_schema", schema)
    if not isinstance(schema, pa.Schema):
        raise ValueError(f"{src}: Ray did not report an Arrow schema (got {type(schema).__name__})")
    check_schema(schema, id_column=id_column, vector_column=vector_column, d=store.dims[-1], where=str(src))
    meta = reversion_metadata(source_version=store.K, target_version=j, dims=store.dims, id_column=id_column,
                              vector_column=vector_column, num_rows=None)
    out_schema = output_schema(schema, vector_column=vector_column, d_out=store.dims[j], meta=meta)
    where = f"{src} (row numbers are within one Ray batch)"

    def convert(table: pa.Table) -> pa.Table:
        batch = transform_batch(table, store, j, id_column=id_column, vector_column=vector_column,
                                device=resolve_device(device), where=where, schema=out_schema)
        return pa.Table.from_batches([batch], schema=out_schema)

    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp"))
    try:
        out = ds.map_batches(convert, batch_format="pyarrow", batch_size=batch_rows, **map_batches_kwargs)
        out.write_parquet(str(tmp), **writer_options(schema.names, vector_column, compression))
        meta["num_rows"] = sum(pq.read_metadata(p).num_rows for p in tmp.glob("*.parquet"))
        final = output_schema(schema, vector_column=vector_column, d_out=store.dims[j], meta=meta)
        pq.write_metadata(final, tmp / "_common_metadata")
        _replace_dir(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta
