"""README's VersionStore example runs as written."""
from __future__ import annotations

import re

from embcompat.utils import project_root


def _example() -> str:
    text = (project_root() / "README.md").read_text()
    m = re.search(r"<!-- versionstore-example[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert m, "README lost its VersionStore example block"
    return m.group(1)


def test_readme_versionstore_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_example(), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    store, z0 = namespace["store"], namespace["z0"]
    assert (tmp_path / "store.safetensors").exists()
    assert store.K == 2 and store.dims == [64, 96, 128]
    B1, B2 = store.matrices
    assert z0.shape == (1000, 64)
    assert (z0 - store.embeddings @ (B1 @ B2).T).abs().max() < 1e-4
