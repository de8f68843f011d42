"""What every notebook builder shares: the parameters cell, the kernel, stable cell ids, writing.

The builders run as scripts (``python notebooks/_build/<builder>.py``), so this folder is on
``sys.path`` and they ``from nbtools import ...``.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

NOTEBOOKS = Path(__file__).resolve().parent.parent
KERNELSPEC = {"display_name": "Python (embcompat)", "language": "python", "name": "embcompat"}


def params_cell(text: str):
    """A code cell tagged ``parameters`` (papermill injects its overrides after it)."""
    cell = new_code_cell(text)
    cell.metadata["tags"] = ["parameters"]
    return cell


def notebook(cells, id_prefix: str):
    """The notebook of ``cells`` on the ``embcompat`` kernel, cell ids ``<id_prefix>-NN``: stable,
    so regenerating a notebook gives no diff."""
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):
        cell.id = f"{id_prefix}-{i:02d}"
    return nb


def write(nb, name: str) -> Path:
    """Validate and write ``notebooks/<name>.ipynb``."""
    nbformat.validate(nb)
    path = NOTEBOOKS / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    print("wrote", path)
    return path
