"""Test-wide settings: smoke scale, and outputs/caches in a temporary folder.

Notebook runs under nbval and papermill inherit these variables, so a test run never overwrites the
committed results in ``outputs/``.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from embcompat.utils import project_root

_TMP = Path(tempfile.mkdtemp(prefix="embcompat-test-"))


def pytest_configure(config):
    os.environ.setdefault("EMBCOMPAT_SCALE", "smoke")
    os.environ.setdefault("EMBCOMPAT_OUTPUTS", str(_TMP / "outputs"))
    os.environ.setdefault("EMBCOMPAT_CACHE", str(_TMP / "cache"))
    os.environ.setdefault("MPLBACKEND", "Agg")
    mirror = os.environ.get("EMBCOMPAT_MIRROR")
    if mirror is None and (project_root().parent / "shared" / "data").is_dir():
        os.environ["EMBCOMPAT_MIRROR"] = str(project_root().parent / "shared" / "data")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Unit tests use tiny tensors: one intra-op thread is faster than two on a shared 2-core
    machine. A test that sets its own thread count gets the previous one back afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def mirror_dir() -> Path:
    """The offline data mirror, or skip the test with the reason."""
    value = os.environ.get("EMBCOMPAT_MIRROR")
    if not value:
        pytest.skip("EMBCOMPAT_MIRROR is not set: no offline mirror of the real data")
    p = Path(value)
    p = p if p.is_absolute() else (project_root() / p).resolve()
    if not p.is_dir():
        pytest.skip(f"mirror folder {p} does not exist")
    return p
