"""Regenerate every ``notebooks/NN_slug.ipynb`` from its hand-edited source ``NN_slug.py``.

The ``.py`` files (jupytext percent format) are the source; the ``.ipynb`` files are what papermill,
nbval and readers open. Regeneration is byte-stable: the notebook metadata is only what the
``.py`` header holds (the kernel), and cell ids are ``<NN>-<index>`` instead of jupytext's random
ones, so regenerating an unchanged source rewrites nothing.

Usage (from the repository root; ``make notebooks`` runs the first form)::

    .venv/bin/python notebooks/sync.py                 # rewrite notebooks/*.ipynb that changed
    .venv/bin/python notebooks/sync.py --check         # exit 1 naming any .ipynb out of date
    .venv/bin/python notebooks/sync.py --out DIR 07    # write DIR/07_cka.ipynb instead
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat

NOTEBOOKS = Path(__file__).resolve().parent


def sources(only: list[str] | None = None, folder: Path = NOTEBOOKS) -> list[Path]:
    """The sources ``NN_*.py`` in ``folder``, sorted; ``only`` keeps those whose name starts with
    one of the given prefixes (``"07"``, ``"07_cka"``)."""
    found = sorted(folder.glob("[0-9][0-9]_*.py"))
    if only:
        found = [p for p in found if any(p.stem.startswith(o) for o in only)]
        if not found:
            raise SystemExit(f"no notebook source in {folder} matches {only}")
    return found


def render(source: Path) -> str:
    """The ``.ipynb`` text of ``source``: jupytext's notebook, without jupytext's own metadata,
    with cell ids ``<NN>-<index>``, validated, as ``nbformat.write`` would write it."""
    nb = jupytext.read(source, fmt="py:percent")
    nb.metadata.pop("jupytext", None)
    for i, cell in enumerate(nb.cells):
        cell.id = f"{source.stem[:2]}-{i:02d}"
    nbformat.validate(nb)
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("only", nargs="*", help="notebook prefixes (e.g. 01 07_cka); default: all")
    ap.add_argument("--out", type=Path, default=NOTEBOOKS, help="folder to write the .ipynb to")
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if an .ipynb differs from its .py")
    args = ap.parse_args(argv)
    stale = []
    for source in sources(args.only):
        target = args.out / f"{source.stem}.ipynb"
        text = render(source)
        if target.exists() and target.read_bytes() == text.encode():
            continue
        stale.append(target)
        if not args.check:
            args.out.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode())
            print("wrote", target)
    if args.check and stale:
        print("out of date with their .py source (run `make notebooks`): "
              + ", ".join(str(p) for p in stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
