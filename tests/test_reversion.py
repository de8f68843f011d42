"""Re-versioning a stored Parquet embedding table: streamed result == in-memory transform, clear errors,
and never a half-written (or clobbered) output."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from embcompat.arrow_vectors import read_reversion_metadata
from embcompat.models.transforms import LinearBackward, NoTransBackward
from embcompat.reversion import main, reversion_parquet
from embcompat.versions import VersionStore

DIMS = [3, 5, 5, 8]  # d_0 .. d_3; B_2 is a NoTrans step
N, CHUNK = 25, 7  # four chunks, the last one partial (4 rows)


def _store() -> VersionStore:
    g = torch.Generator().manual_seed(0)
    store = VersionStore(DIMS[0])
    store.add_version(LinearBackward(DIMS[1], DIMS[0], generator=g))
    store.add_version(NoTransBackward(DIMS[2], DIMS[1]))
    store.add_version(LinearBackward(DIMS[3], DIMS[2], generator=g))
    return store


def _z(n=N, d=DIMS[-1], seed=1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def _write(path: Path, z, *, encoding="fixed", ids=None, extra=True, vectors=None) -> Path:
    ids = [f"n{i}" for i in range(len(z))] if ids is None else ids
    if vectors is None:
        if encoding == "fixed":
            vectors = pa.FixedSizeListArray.from_arrays(pa.array(np.ravel(z)), z.shape[1])
        else:
            vectors = pa.array([list(map(float, r)) for r in z], type=pa.list_(pa.float32()))
    cols = {"id": ids, "embedding": vectors}
    if extra:
        cols["t"] = np.arange(len(ids), dtype=np.int64) * 10
    pq.write_table(pa.table(cols), path, row_group_size=10)  # row groups and chunks do not line up
    return path


def _vectors(path: Path) -> np.ndarray:
    col = pq.read_table(path).column("embedding").combine_chunks()
    return col.flatten().to_numpy().reshape(len(col), -1)


@pytest.mark.parametrize("encoding", ["fixed", "list"])
@pytest.mark.parametrize("j", [0, 1, 2])
def test_streamed_equals_in_memory_transform(tmp_path, encoding, j):
    store, z = _store(), _z()
    src = _write(tmp_path / "in.parquet", z, encoding=encoding)
    meta = reversion_parquet(store, src, tmp_path / "out.parquet", to_version=j, batch_rows=CHUNK,
                             device="cpu", progress=False)
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.column_names == ["id", "embedding", "t"]
    assert out.schema.field("embedding").type == pa.list_(pa.float32(), DIMS[j])
    assert out.column("id").to_pylist() == [f"n{i}" for i in range(N)]
    assert out.column("t").to_pylist() == [10 * i for i in range(N)]
    ref = store.transform(torch.from_numpy(z), j).numpy()
    np.testing.assert_allclose(_vectors(tmp_path / "out.parquet"), ref, rtol=1e-5, atol=1e-6)
    assert meta == read_reversion_metadata(pq.ParquetFile(tmp_path / "out.parquet").schema_arrow)
    assert (meta["source_version"], meta["target_version"], meta["store_dims"]) == (3, j, DIMS)
    assert (meta["source_dim"], meta["target_dim"], meta["num_rows"]) == (8, DIMS[j], N)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "out.parquet"]


def test_to_latest_is_the_identity_and_store_may_be_a_path(tmp_path):
    store, z = _store(), _z()
    path = store.save(tmp_path / "store.safetensors")
    src = _write(tmp_path / "in.parquet", z)
    reversion_parquet(path, src, tmp_path / "out.parquet", to_version=store.K, batch_rows=CHUNK, progress=False)
    np.testing.assert_array_equal(_vectors(tmp_path / "out.parquet"), z)


def test_other_float_widths_are_cast(tmp_path):
    store, z = _store(), _z()
    vec = pa.FixedSizeListArray.from_arrays(pa.array(np.ravel(z).astype(np.float64)), DIMS[-1])
    src = _write(tmp_path / "in.parquet", z, vectors=vec)
    reversion_parquet(store, src, tmp_path / "out.parquet", to_version=0, batch_rows=CHUNK, progress=False)
    np.testing.assert_allclose(_vectors(tmp_path / "out.parquet"),
                               store.transform(torch.from_numpy(z), 0).numpy(), rtol=1e-5, atol=1e-6)


def _bad_row(z, i, value):
    z = z.copy()
    z[i, 2] = value
    return z


def _ragged(z, i):
    rows = [list(map(float, r)) for r in z]
    rows[i] = rows[i][:-1]
    return pa.array(rows, type=pa.list_(pa.float32()))


# (name, writer of the bad input, to_version, error type, parts the message must contain)
BAD = {
    "missing vector column": (lambda p, z: pq.write_table(pa.table({"id": ["a"], "vec": [[1.0]]}), p), 0,
                              ValueError, ["'embedding'", "['id', 'vec']"]),
    "missing id column": (lambda p, z: pq.write_table(pa.table({"key": ["a"], "embedding": [[1.0]]}), p), 0,
                          ValueError, ["no id column 'id'", "['key', 'embedding']"]),
    "wrong dims in a later chunk": (lambda p, z: _write(p, z, vectors=_ragged(z, 17)), 0,
                                    ValueError, ["row 17", "id 'n17'", "7 values", "expected d_K = 8"]),
    "fixed size list of wrong size": (lambda p, z: _write(p, z[:, :6]), 0,
                                      ValueError, ["row 0", "id 'n0'", "6 values", "expected d_K = 8"]),
    "NaN row": (lambda p, z: _write(p, _bad_row(z, 12, np.nan)), 0, ValueError, ["row 12", "id 'n12'", "NaN"]),
    "inf row in the last chunk": (lambda p, z: _write(p, _bad_row(z, 23, -np.inf), encoding="list"), 0,
                                  ValueError, ["row 23", "id 'n23'", "inf"]),
    "null vector": (lambda p, z: _write(p, z, vectors=pa.array(
        [list(map(float, r)) if i != 9 else None for i, r in enumerate(z)], type=pa.list_(pa.float32(), 8))),
        0, ValueError, ["row 9", "id 'n9'", "null"]),
    "not a vector column": (lambda p, z: _write(p, z, vectors=pa.array([str(i) for i in range(N)])), 0,
                            ValueError, ["'embedding'", "FixedSizeList<float32>[8]"]),
    "to_version too large": (lambda p, z: _write(p, z), 4, ValueError, ["to_version", "[0, 3]", "4"]),
    "to_version negative": (lambda p, z: _write(p, z), -1, ValueError, ["to_version", "[0, 3]"]),
    "to_version not an int": (lambda p, z: _write(p, z), 1.0, ValueError, ["to_version", "1.0"]),
    "unreadable file": (lambda p, z: p.write_bytes(b"PAR1 this is not parquet " * 20), 0,
                        ValueError, ["cannot read", "in.parquet"]),
    "missing file": (lambda p, z: None, 0, FileNotFoundError, ["in.parquet"]),
}


@pytest.mark.parametrize("dst_existed", [False, True], ids=["no-dst", "dst-existed"])
@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_raises_clearly_and_leaves_no_output(tmp_path, case, dst_existed):
    make, to_version, err, parts = BAD[case]
    src, dst = tmp_path / "in.parquet", tmp_path / "out.parquet"
    make(src, _z())
    if dst_existed:
        dst.write_bytes(b"the previous good output")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(err) as info:
        reversion_parquet(_store(), src, dst, to_version=to_version, batch_rows=CHUNK, progress=False)
    for part in parts:
        assert part in str(info.value), (part, str(info.value))
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temp file, no new dst
    if dst_existed:
        assert dst.read_bytes() == b"the previous good output"


def test_an_already_reversioned_table_is_refused(tmp_path):
    store, z = _store(), _z()
    src = _write(tmp_path / "in.parquet", z)
    reversion_parquet(store, src, tmp_path / "v2.parquet", to_version=2, progress=False)  # d_2 = 5
    with pytest.raises(ValueError, match="already re-versioned to version 2"):
        reversion_parquet(store, tmp_path / "v2.parquet", tmp_path / "v0.parquet", to_version=0, progress=False)
    assert not (tmp_path / "v0.parquet").exists()


def test_batch_rows_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="batch_rows"):
        reversion_parquet(_store(), _write(tmp_path / "in.parquet", _z()), tmp_path / "o.parquet",
                          to_version=0, batch_rows=0)


def test_cli_in_process_and_as_module(tmp_path, capsys):
    store, z = _store(), _z()
    s = store.save(tmp_path / "S.safetensors")
    src = _write(tmp_path / "in.parquet", z)
    assert main(["--store", str(s), "--to", "1", "--batch-rows", "7", "--no-progress", str(src),
                 str(tmp_path / "a.parquet")]) == 0
    assert "25 rows" in capsys.readouterr().out
    assert main(["--store", str(s), "--to", "9", str(src), str(tmp_path / "b.parquet")]) == 2
    assert "to_version must be an int in [0, 3]" in capsys.readouterr().err
    lib = str(Path(__file__).resolve().parent.parent / "lib")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([lib, os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-m", "embcompat.reversion", "--store", str(s), "--to", "0", str(src),
                        str(tmp_path / "c.parquet")], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "rows" in r.stderr  # the tqdm bar counts rows
    np.testing.assert_allclose(_vectors(tmp_path / "c.parquet"), store.transform(torch.from_numpy(z), 0).numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_vectors(tmp_path / "a.parquet"), store.transform(torch.from_numpy(z), 1).numpy(),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # starting a local Ray cluster takes most of a minute on a shared 2-core machine
def test_ray_data_path_matches_the_local_path(tmp_path):
    ray = pytest.importorskip("ray")
    from embcompat.reversion_ray import reversion_parquet_ray

    store, z = _store(), _z()
    src = _write(tmp_path / "in.parquet", z)
    ray.init(num_cpus=1, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    try:
        meta = reversion_parquet_ray(store, src, tmp_path / "out", to_version=0, batch_rows=CHUNK, device="cpu",
                                     progress=False)
        with pytest.raises(Exception, match="row 2"):
            reversion_parquet_ray(store, _write(tmp_path / "bad.parquet", _bad_row(z, 2, np.nan)),
                                  tmp_path / "bad_out", to_version=0, progress=False)
    finally:
        ray.shutdown()
    assert not (tmp_path / "bad_out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    out = pq.read_table(sorted((tmp_path / "out").glob("*.parquet")))
    order = np.argsort([int(i[1:]) for i in out.column("id").to_pylist()])
    got = out.column("embedding").combine_chunks().flatten().to_numpy().reshape(N, -1)[order]
    np.testing.assert_allclose(got, store.transform(torch.from_numpy(z), 0).numpy(), rtol=1e-5, atol=1e-6)
    assert meta["num_rows"] == N and meta["target_dim"] == DIMS[0]
    assert read_reversion_metadata(pq.read_schema(tmp_path / "out" / "_common_metadata")) == meta
    parts = [read_reversion_metadata(pq.read_schema(p)) for p in (tmp_path / "out").glob("*.parquet")]
    assert parts and all(m is not None and m["target_version"] == 0 for m in parts)


def test_readme_reversion_example_runs(tmp_path, monkeypatch):
    import re

    from embcompat.utils import project_root

    text = (project_root() / "README.md").read_text()
    m = re.search(r"<!-- reversion-example[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert m, "README lost its re-versioning example block"
    store, z = _store(), _z()
    monkeypatch.chdir(tmp_path)
    store.save("store.safetensors")
    _write(tmp_path / "latest.parquet", z)
    namespace: dict = {}
    exec(compile(m.group(1), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["meta"]["target_version"] == 0
    np.testing.assert_allclose(_vectors(tmp_path / "v0.parquet"), store.transform(torch.from_numpy(z), 0).numpy(),
                               rtol=1e-5, atol=1e-6)
