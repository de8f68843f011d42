"""Each notebook's hand-edited source is ``notebooks/NN_slug.py`` (jupytext percent format); the
committed ``.ipynb`` must be exactly what ``notebooks/sync.py`` (``make notebooks``) makes of it."""
import importlib.util
import shutil

import jupytext
import pytest

from embcompat.utils import project_root

NOTEBOOKS = project_root() / "notebooks"
_spec = importlib.util.spec_from_file_location("notebook_sync", NOTEBOOKS / "sync.py")
sync = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sync)
SOURCES = sync.sources()


def test_every_notebook_has_exactly_one_source():
    notebooks = {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    sources = {p.stem for p in SOURCES}
    assert notebooks, "no notebooks found"
    assert notebooks == sources, (
        f"notebooks without a .py source: {sorted(notebooks - sources)}; "
        f"sources without a notebook (run `make notebooks`): {sorted(sources - notebooks)}")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_committed_ipynb_is_regenerated_from_its_source(source, tmp_path):
    assert sync.main(["--out", str(tmp_path), source.stem]) == 0
    committed = (NOTEBOOKS / f"{source.stem}.ipynb").read_bytes()
    assert (tmp_path / f"{source.stem}.ipynb").read_bytes() == committed, (
        f"notebooks/{source.stem}.ipynb differs from what its source notebooks/{source.name} "
        "gives: edit the .py (not the .ipynb), then run `make notebooks`")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_parameters_cell_is_the_first_code_cell(source):
    code = [c for c in jupytext.read(source).cells if c.cell_type == "code"]
    assert code[0].metadata.get("tags") == ["parameters"], (
        f"{source.name}: the first code cell must start with `# %% tags=[\"parameters\"]`")
    assert all("parameters" not in c.metadata.get("tags", []) for c in code[1:])


def test_regeneration_is_byte_stable_and_writes_nothing_when_current(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert sync.main(["--out", str(a)]) == 0
    assert sync.main(["--out", str(b)]) == 0
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(f"{p.stem}.ipynb" for p in SOURCES)
    assert all((a / n).read_bytes() == (b / n).read_bytes() for n in names)
    capsys.readouterr()
    assert sync.main(["--out", str(a)]) == 0
    assert "wrote" not in capsys.readouterr().out
    assert sync.main(["--check", "--out", str(a)]) == 0


def test_an_edit_on_one_side_only_is_caught(tmp_path, capsys):
    source = SOURCES[0]
    target = tmp_path / f"{source.stem}.ipynb"
    shutil.copy(NOTEBOOKS / target.name, target)
    assert sync.main(["--check", "--out", str(tmp_path), source.stem]) == 0
    # an .ipynb edited by hand (here: one extra character in a cell) no longer matches its source
    target.write_text(target.read_text().replace('"source": [\n', '"source": [\n    "#",\n', 1))
    assert sync.main(["--check", "--out", str(tmp_path), source.stem]) == 1
    assert target.name in capsys.readouterr().err
    # a .py edited without regenerating gives a different notebook from the committed one
    edited = tmp_path / source.name
    edited.write_text(source.read_text() + "\n# %%\nprint('new cell')\n")
    assert sync.render(edited) != (NOTEBOOKS / target.name).read_text()
