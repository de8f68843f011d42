"""The papermill runner: notebook discovery, selection, scale checks and failure reporting."""
import json

import nbformat
import pytest

from embcompat import runner
from embcompat.scales import SCALES, get_scale


def _write_nb(path, sources, tag_first=True):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for i, src in enumerate(sources):
        cell = nbformat.v4.new_code_cell(src)
        if i == 0 and tag_first:
            cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nbformat.write(nb, path)


def test_discover_and_select(tmp_path):
    for name in ("02_b.ipynb", "01_a.ipynb", "notes.ipynb"):
        _write_nb(tmp_path / name, ["scale = 'demo'"])
    (tmp_path / "01_a.py").write_text("# %%\nscale = 'demo'\n")  # a jupytext source, not run
    found = runner.discover(tmp_path)
    assert [p.name for p in found] == ["01_a.ipynb", "02_b.ipynb"]
    assert [p.name for p in runner.select(found, ["2"])] == ["02_b.ipynb"]
    with pytest.raises(ValueError, match="available: 01_a.ipynb, 02_b.ipynb"):
        runner.select(found, ["07"])


def test_unknown_scale_names_allowed():
    with pytest.raises(ValueError, match="smoke, demo, paper"):
        get_scale("huge")
    with pytest.raises(ValueError, match="allowed"):
        runner.run("huge")
    assert set(SCALES) == {"smoke", "demo", "paper"}


def test_run_injects_scale_and_reports_failing_cell(tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setenv("EMBCOMPAT_OUTPUTS", str(out))
    _write_nb(tmp_path / "01_ok.ipynb", ["scale = 'demo'", "open('scale.txt', 'w').write(scale)"])
    _write_nb(tmp_path / "02_bad.ipynb", ["scale = 'demo'", "x = 1", "raise ValueError('boom')"])
    _write_nb(tmp_path / "03_never.ipynb", ["scale = 'demo'", "open('ran3', 'w').write('x')"])
    with pytest.raises(RuntimeError) as err:
        runner.run("smoke", notebook_dir=tmp_path, progress=False)
    msg = str(err.value)
    assert "02_bad.ipynb" in msg and "ValueError: boom" in msg and "cell" in msg
    assert (tmp_path / "scale.txt").read_text() == "smoke"  # papermill injected the scale
    assert not (tmp_path / "ran3").exists()  # stopped at the first failure
    executed = json.loads((out / "executed" / "01_ok.ipynb").read_text())
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in executed["cells"])


def test_main_exit_code(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner, "discover", lambda nb_dir=None: [])
    assert runner.main(["--scale", "smoke", "--only", "09"]) == 1
    assert "No notebook numbered 09" in capsys.readouterr().err
