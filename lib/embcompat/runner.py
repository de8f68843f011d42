"""Execute the workbook's notebooks in order with papermill.

Usage::

    python -m embcompat.runner [--scale smoke|demo|paper] [--only 01 03 ...] [--list]

Executed copies go to ``outputs/executed/`` (or ``$EMBCOMPAT_OUTPUTS/executed``). On a failure the
runner stops and names the notebook and the failing cell.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from embcompat.config import SCALE_ENV, SCALES
from embcompat.report import output_dir
from embcompat.utils import project_root

KERNEL_NAME = "embcompat"


def discover(notebook_dir: Path | None = None) -> list[Path]:
    """The numbered notebooks ``NN_*.ipynb``, sorted by number."""
    notebook_dir = notebook_dir or project_root() / "notebooks"
    return sorted(p for p in notebook_dir.glob("[0-9][0-9]_*.ipynb"))


def select(notebooks: list[Path], only: list[str] | None) -> list[Path]:
    """Keep the notebooks whose two-digit prefix is in ``only`` (all when ``only`` is empty).

    Raises:
        ValueError: an ``only`` entry matches no notebook; the message lists the available ones.
    """
    if not only:
        return notebooks
    wanted = {o.zfill(2) for o in only}
    known = {p.name[:2] for p in notebooks}
    missing = sorted(wanted - known)
    if missing:
        raise ValueError(f"No notebook numbered {', '.join(missing)}; available: "
                         + ", ".join(p.name for p in notebooks))
    return [p for p in notebooks if p.name[:2] in wanted]


def kernel_name() -> str:
    """The venv's registered kernel if present (``make setup`` registers it), else ``python3``."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL_NAME if KERNEL_NAME in KernelSpecManager().find_kernel_specs() else "python3"


def run(scale: str = "demo", only: list[str] | None = None, *, parameters: dict | None = None,
        notebook_dir: Path | None = None, progress: bool = True) -> list[Path]:
    """Execute the selected notebooks in order; return the executed copies' paths.

    Raises:
        RuntimeError: a notebook failed; names the notebook, the cell and the error.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    if scale not in SCALES:
        raise ValueError(f"Unknown scale {scale!r}; allowed: {', '.join(SCALES)}")
    os.environ[SCALE_ENV] = scale
    notebooks = select(discover(notebook_dir), only)
    out_dir = output_dir("executed")
    kernel = kernel_name()
    done = []
    for i, nb in enumerate(notebooks, 1):
        target = out_dir / nb.name
        print(f"[{i}/{len(notebooks)}] {nb.name} (scale={scale}, kernel={kernel})", flush=True)
        start = time.perf_counter()
        try:
            pm.execute_notebook(str(nb), str(target), parameters={"scale": scale, **(parameters or {})},
                                kernel_name=kernel, cwd=str(nb.parent), progress_bar=progress,
                                log_output=False)
        except PapermillExecutionError as err:
            raise RuntimeError(
                f"{nb.name} failed in cell {err.cell_index} (execution count {err.exec_count}): "
                f"{err.ename}: {err.evalue}\nThe partly executed notebook is {target}") from None
        print(f"    done in {time.perf_counter() - start:.1f} s -> {target}", flush=True)
        done.append(target)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m embcompat.runner", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default=os.environ.get(SCALE_ENV, "demo"), choices=SCALES)
    parser.add_argument("--only", nargs="*", default=None, metavar="NN",
                        help="two-digit notebook numbers to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the notebooks and exit")
    parser.add_argument("--no-progress", action="store_true", help="no per-cell progress bar")
    args = parser.parse_args(argv)
    if args.list:
        for p in discover():
            print(p.name)
        return 0
    try:
        run(args.scale, args.only, progress=not args.no_progress)
    except (RuntimeError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
