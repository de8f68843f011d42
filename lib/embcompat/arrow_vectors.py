"""Arrow vector columns <-> float32 matrices, with the checks a stored embedding table needs.

Shared by the local streaming re-versioner (:mod:`embcompat.reversion`) and its Ray Data path
(:mod:`embcompat.reversion_ray`). Everything here works on one Arrow batch at a time and never loops
over rows in Python: a ``FixedSizeList<float>[d]`` column is one flat child buffer reshaped to
``(rows, d)``; a ``list<float>`` column of constant length is checked through its offsets and then
reshaped the same way.

Errors are :class:`ValueError` naming the column, and for row-level problems the first bad row's
global index (``row_offset`` + position in the batch) and its id.
"""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

__all__ = [
    "META_KEY", "META_FORMAT", "check_schema", "vectors_to_numpy", "numpy_to_vectors",
    "output_schema", "reversion_metadata", "read_reversion_metadata",
]

META_KEY = b"embcompat.reversion"
META_FORMAT = "embcompat.reversion/1"


def _is_float_list(t: pa.DataType) -> bool:
    lists = pa.types.is_fixed_size_list(t) or pa.types.is_list(t) or pa.types.is_large_list(t)
    return lists and pa.types.is_floating(t.value_type)


def check_schema(schema: pa.Schema, *, id_column: str, vector_column: str, d: int, where: str) -> None:
    """Fail early on what the schema alone shows: missing columns, a vector column that is not a
    list of floats, a fixed-size list of the wrong size."""
    present = schema.names
    for role, name in (("id", id_column), ("vector", vector_column)):
        if name not in present:
            raise ValueError(f"{where}: no {role} column {name!r}; the columns present are {present}")
    t = schema.field(vector_column).type
    if not _is_float_list(t):
        raise ValueError(
            f"{where}: vector column {vector_column!r} must be FixedSizeList<float32>[{d}] or a "
            f"list<float> of constant length {d}; it is {t}"
        )


def _id_at(ids: pa.Array, i: int):
    return ids[int(i)].as_py()


def _row_error(where: str, column: str, what: str, i: int, row_offset: int, ids: pa.Array) -> ValueError:
    return ValueError(f"{where}: column {column!r}, row {row_offset + int(i)} (id {_id_at(ids, i)!r}): {what}")


def vectors_to_numpy(
    col: pa.Array, ids: pa.Array, *, d: int, column: str, row_offset: int = 0, where: str = "input",
) -> np.ndarray:
    """A vector column of one batch as a ``(rows, d)`` float32 array (zero-copy where Arrow allows).

    Args:
        col: a ``FixedSizeList<float>`` or ``(Large)List<float>`` array (a chunked one is combined).
        ids: the batch's id column, for error messages.
        d: the expected vector length (``d_K``).
        column: the column's name, for error messages.
        row_offset: global index of the batch's first row, for error messages.
        where: what is being read (a file name), for error messages.

    Raises:
        ValueError: a null vector, a vector of the wrong length, a null or non-finite value; the
            message names the first such row's global index and id.
    """
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    n = len(col)
    if col.null_count:
        first = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
        raise _row_error(where, column, "the vector is null", first, row_offset, ids)
    if pa.types.is_fixed_size_list(col.type):
        if col.type.list_size != d:
            raise _row_error(where, column, f"vector has {col.type.list_size} values, expected d_K = {d}",
                             0, row_offset, ids)
    else:
        lengths = np.diff(col.offsets.to_numpy())
        bad = np.flatnonzero(lengths != d)
        if bad.size:
            i = int(bad[0])
            raise _row_error(where, column, f"vector has {int(lengths[i])} values, expected d_K = {d}",
                             i, row_offset, ids)
    flat = col.flatten()
    if flat.null_count:
        first = int(np.flatnonzero(flat.is_null().to_numpy(zero_copy_only=False))[0]) // d
        raise _row_error(where, column, "the vector holds a null value", first, row_offset, ids)
    if flat.type != pa.float32():
        flat = flat.cast(pa.float32())
    mat = flat.to_numpy(zero_copy_only=True).reshape(n, d)
    if not np.isfinite(mat).all():  # fast path: one pass, rows located only on failure
        first = int(np.flatnonzero(~np.isfinite(mat).all(axis=1))[0])
        raise _row_error(where, column, "the vector holds NaN or inf", first, row_offset, ids)
    return mat


def numpy_to_vectors(mat: np.ndarray) -> pa.FixedSizeListArray:
    """A ``(rows, d)`` array as a ``FixedSizeList<float32>[d]`` Arrow array (float32, no copy if it
    already is contiguous float32)."""
    mat = np.ascontiguousarray(mat, dtype=np.float32)
    d = mat.shape[1]
    return pa.FixedSizeListArray.from_arrays(pa.array(mat.reshape(-1)), type=pa.list_(pa.float32(), d))


def reversion_metadata(*, source_version: int, target_version: int, dims: list[int], id_column: str,
                       vector_column: str, num_rows: int | None) -> dict:
    """The JSON record stored under :data:`META_KEY` in the output's Parquet schema metadata."""
    return {
        "format": META_FORMAT,
        "source_version": int(source_version),
        "target_version": int(target_version),
        "store_dims": [int(x) for x in dims],
        "source_dim": int(dims[source_version]),
        "target_dim": int(dims[target_version]),
        "id_column": id_column,
        "vector_column": vector_column,
        "num_rows": num_rows,
    }


def output_schema(schema: pa.Schema, *, vector_column: str, d_out: int, meta: dict) -> pa.Schema:
    """The input schema with the vector column retyped to ``FixedSizeList<float32>[d_out]`` (same
    name, position and field metadata) and :data:`META_KEY` added to the schema metadata."""
    i = schema.get_field_index(vector_column)
    old = schema.field(i)
    new = pa.field(vector_column, pa.list_(pa.float32(), d_out), nullable=old.nullable, metadata=old.metadata)
    out = schema.set(i, new)
    md = dict(schema.metadata or {})
    md[META_KEY] = json.dumps(meta, sort_keys=True).encode()
    return out.with_metadata(md)


def read_reversion_metadata(schema: pa.Schema) -> dict | None:
    """The :data:`META_KEY` record of a re-versioned table's schema, or ``None`` if it has none."""
    raw = (schema.metadata or {}).get(META_KEY)
    return None if raw is None else json.loads(raw)
