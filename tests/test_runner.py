"""The papermill runner: notebook discovery, selection, scale checks and failure reporting."""
import json
from pathlib import Path

import nbformat
import pytest

from embcompat import runner
from embcompat.config import SCALES, get_scale


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


# ---------------------------------------------------------------- arguments (nothing executed)
def test_only_without_numbers_is_an_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        runner.main(["--only"])
    assert exit_.value.code == 2
    assert "--only needs notebook numbers such as --only 02 03; see --list" in capsys.readouterr().err


def test_convert_value_like_papermill():
    from papermill.cli import _resolve_type   # the conversion papermill's own -p applies

    values = ["True", "False", "None", "7", "-3", "0.5", "1e-3", "nan", "true", "movielens",
              "[1, 4, 16]", "a,b", ""]
    for v in values:
        ours, theirs = runner.convert_value(v), _resolve_type(v)
        assert type(ours) is type(theirs) and (ours == theirs or ours != ours), v
    assert runner.convert_value("7") == 7 and runner.convert_value("true") == "true"


def test_collect_params_rejects_scale_and_repeats():
    assert runner.collect_params([["seed", "7"], ["dataset", "x"]]) == {"seed": 7, "dataset": "x"}
    assert runner.collect_params(None) == {}
    with pytest.raises(ValueError, match="--scale paper"):
        runner.collect_params([["scale", "paper"]])
    with pytest.raises(ValueError, match="-p seed is given twice"):
        runner.collect_params([["seed", "1"], ["seed", "2"]])


def _two_notebooks(tmp_path):
    _write_nb(tmp_path / "01_a.ipynb", ["scale = 'demo'\nseed = 0\nlambdas = '[1]'"])
    _write_nb(tmp_path / "02_b.ipynb", ["scale = 'demo'\nseed = 0\ndataset = 'x'"])
    _write_nb(tmp_path / "03_c.ipynb", ["x = 1"], tag_first=False)
    return runner.discover(tmp_path)


def test_declared_parameters_and_plan(tmp_path):
    nbs = _two_notebooks(tmp_path)
    declared = runner.declared_parameters(nbs)
    assert [declared[nb] for nb in nbs] == [["scale", "seed", "lambdas"], ["scale", "seed", "dataset"], []]
    per = runner.plan(declared, {"seed": 3, "dataset": "y"})
    assert [per[nb] for nb in nbs] == [{"seed": 3}, {"seed": 3, "dataset": "y"}, {}]
    with pytest.raises(ValueError) as err:
        runner.plan({nb: declared[nb] for nb in nbs[1:]}, {"lambdas": "[2]", "seed": 1})
    msg = str(err.value)
    assert "parameter(s) lambdas;" in msg and "02_b.ipynb: scale, seed, dataset" in msg
    assert "03_c.ipynb: (no parameters cell)" in msg


def test_main_forwards_params_only_where_declared(tmp_path, monkeypatch):
    import papermill

    nbs = _two_notebooks(tmp_path)
    monkeypatch.setattr(runner, "discover", lambda nb_dir=None: nbs)
    calls = []
    monkeypatch.setattr(papermill, "execute_notebook",
                        lambda src, dst, parameters, **kw: calls.append((src, parameters)))
    argv = ["--scale", "smoke", "--no-progress", "-p", "dataset", "movielens-latest-small",
            "--param", "seed", "7"]
    assert runner.main(argv) == 0
    assert [(Path(s).name, p) for s, p in calls] == [
        ("01_a.ipynb", {"seed": 7, "scale": "smoke"}),
        ("02_b.ipynb", {"seed": 7, "dataset": "movielens-latest-small", "scale": "smoke"}),
        ("03_c.ipynb", {"scale": "smoke"})]


def test_main_unknown_param_fails_before_running(tmp_path, monkeypatch, capsys):
    import papermill

    nbs = _two_notebooks(tmp_path)
    monkeypatch.setattr(runner, "discover", lambda nb_dir=None: nbs)
    calls = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **kw: calls.append(a))
    assert runner.main(["--only", "02", "03", "-p", "lambdas", "[1, 2]"]) == 1
    err = capsys.readouterr().err
    assert "no selected notebook declares the parameter(s) lambdas" in err and "02_b.ipynb" in err
    assert "01_a.ipynb" not in err and calls == []


def test_list_shows_declared_parameters(tmp_path, monkeypatch, capsys):
    nbs = _two_notebooks(tmp_path)
    monkeypatch.setattr(runner, "discover", lambda nb_dir=None: nbs)
    assert runner.main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["01_a.ipynb", "02_b.ipynb", "03_c.ipynb"]
    assert lines[1].endswith("scale, seed, dataset")
