"""Shared helpers: hashing, atomic writes, device resolution, report outputs."""
import shlex

import pandas as pd
import pytest
import torch

from embcompat import report
from embcompat.utils import atomic_write, config_hash, resolve_device, set_seed


def test_config_hash_is_stable_and_sensitive():
    a = config_hash({"b": 1, "a": [1, 2]}, "x")
    assert a == config_hash({"a": [1, 2], "b": 1}, "x")
    assert a != config_hash({"a": [1, 2], "b": 2}, "x")


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "f.bin"
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write(b"half")
            raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    with atomic_write(target) as f:
        f.write(b"whole")
    assert target.read_bytes() == b"whole"


def test_resolve_device_and_seed():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    set_seed(3)
    a = torch.rand(3)
    set_seed(3)
    assert torch.equal(a, torch.rand(3))


def test_save_table_writes_csv_and_markdown(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBCOMPAT_OUTPUTS", str(tmp_path))
    df = pd.DataFrame({"dataset": ["x"], "users": [3]})
    paths = report.save_table(df, "99_t", caption="Caption here")
    assert pd.read_csv(paths["csv"]).equals(df)
    md = paths["md"].read_text()
    assert md.startswith("Caption here") and "| dataset" in md


def test_regen_command_runner_when_default_else_papermill_naming_the_changes():
    assert (report.regen_command("03_compatibility_tables", "demo",
                                 {"datasets": None, "seed": 42}, defaults={"seed": 42})
            == "python -m embcompat.runner --scale demo --only 03")
    assert report.regen_command("07_cka.ipynb", "smoke") == (
        "python -m embcompat.runner --scale smoke --only 07")
    cmd = report.regen_command("06_side_info_ablation", "smoke",
                               {"dataset": None, "seed": 1, "side_infos": ["none", "simclr"]},
                               defaults={"seed": 0})
    assert cmd == ("papermill notebooks/06_side_info_ablation.ipynb out.ipynb -p scale smoke "
                   "-y '{\"seed\": 1, \"side_infos\": [\"none\", \"simclr\"]}'")
    # a value with a quote stays one shell word
    quoted = report.regen_command("01_data_prep", "demo", {"datasets": ["interactions-csv:/a'b"]})
    assert shlex.split(quoted)[-1] == '{"datasets": ["interactions-csv:/a\'b"]}'


def test_regen_command_rejects_bad_names_and_stray_defaults():
    with pytest.raises(ValueError, match="NN_slug"):
        report.regen_command("cka", "demo")
    with pytest.raises(ValueError, match="defaults names seeds"):
        report.regen_command("05_lambda_sweep", "demo", {"seed": 1}, defaults={"seeds": 42})
