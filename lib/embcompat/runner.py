"""Execute the workbook's notebooks in order with papermill.

Usage::

    python -m embcompat.runner [--scale smoke|demo|paper] [--only 01 03 ...] [-p NAME VALUE ...]
    python -m embcompat.runner --list      # the notebooks and the parameters each declares
    python -m embcompat.runner --executor ray --address HEAD:6379 --only 05   # chains on Ray

Executed copies go to ``outputs/executed/`` (or ``$EMBCOMPAT_OUTPUTS/executed``). On a failure the
runner stops and names the notebook and the failing cell.

``-p NAME VALUE`` (repeatable) sets a notebook parameter the way ``papermill -p`` does (``True``,
``False``, ``None``, ints and floats are converted, anything else stays a string; list parameters
accept strings such as ``"[1, 4, 16]"``). It goes only to the selected notebooks whose
``parameters`` cell declares NAME; one that no selected notebook declares is an error before
anything runs.

``--executor local|ray`` and ``--address auto|HOST:PORT`` (Ray only) set the parameters
``executor`` and ``ray_address`` of the notebooks that declare them (notebook 05: where its
(method, λ) chains train; see :mod:`embcompat.executors`). Without them each notebook keeps its
default, the local process pool, which needs no Ray.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from embcompat.config import SCALE_ENV, SCALES
from embcompat.executors import EXECUTORS, import_ray
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


def convert_value(value: str):
    """A ``-p`` value as papermill's own ``-p`` converts it.

    ``"True"``/``"False"``/``"None"`` become ``True``/``False``/``None``, then ints, then floats;
    anything else stays the string (list parameters are parsed by the notebooks themselves).
    """
    if value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[value]
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def collect_params(pairs: list[list[str]] | None) -> dict:
    """``[[NAME, VALUE], ...]`` from ``-p`` into ``{NAME: converted VALUE}``.

    Raises:
        ValueError: ``scale`` (set with ``--scale``), or a name given twice.
    """
    params: dict = {}
    for name, value in pairs or []:
        if name == "scale":
            raise ValueError(f"-p scale {value}: set the scale with --scale {value}")
        if name in EXECUTOR_PARAMS.values():
            raise ValueError(f"-p {name} {value}: set the executor with --executor ray "
                             "[--address HOST:PORT]")
        if name in params:
            raise ValueError(f"-p {name} is given twice; give each parameter once")
        params[name] = convert_value(value)
    return params


#: Runner option -> the notebook parameter it sets.
EXECUTOR_PARAMS = {"executor": "executor", "address": "ray_address"}


def executor_params(executor: str | None, address: str | None) -> dict:
    """``--executor`` / ``--address`` as notebook parameters (only those given).

    Raises:
        ValueError: an unknown executor, or an address without ``executor="ray"``.
        ImportError: ``ray`` without Ray installed (says how to install it).
    """
    if executor is not None and executor not in EXECUTORS:
        raise ValueError(f"--executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if address is not None and executor != "ray":
        raise ValueError(f"--address {address} needs --executor ray")
    if executor == "ray":
        import_ray()  # fail before anything runs, not in notebook 05
    given = {"executor": executor, "address": address}
    return {EXECUTOR_PARAMS[k]: v for k, v in given.items() if v is not None}


def declared_parameters(notebooks: list[Path]) -> dict[Path, list[str]]:
    """The names each notebook's ``parameters`` cell declares (empty without such a cell)."""
    import papermill as pm

    return {nb: list(pm.inspect_notebook(str(nb))) for nb in notebooks}


def plan(declared: dict[Path, list[str]], parameters: dict) -> dict[Path, dict]:
    """Per notebook, the ``parameters`` it declares (order of ``declared`` kept).

    Raises:
        ValueError: a parameter no notebook in ``declared`` declares; names them and theirs.
    """
    unknown = [n for n in parameters if not any(n in names for names in declared.values())]
    if unknown:
        listing = "\n".join(f"  {nb.name}: {', '.join(names) or '(no parameters cell)'}"
                             for nb, names in declared.items())
        raise ValueError(f"no selected notebook declares the parameter(s) {', '.join(unknown)}; "
                         f"the selected notebooks declare:\n{listing}")
    return {nb: {k: v for k, v in parameters.items() if k in names} for nb, names in declared.items()}


def kernel_name() -> str:
    """The venv's registered kernel if present (``make setup`` registers it), else ``python3``."""
    from jupyter_client.kernelspec import KernelSpecManager

    return KERNEL_NAME if KERNEL_NAME in KernelSpecManager().find_kernel_specs() else "python3"


def run(scale: str = "demo", only: list[str] | None = None, *, parameters: dict | None = None,
        executor: str | None = None, address: str | None = None,
        notebook_dir: Path | None = None, progress: bool = True) -> list[Path]:
    """Execute the selected notebooks in order; return the executed copies' paths.

    Args:
        scale: injected as every notebook's ``scale``.
        only: two-digit notebook numbers (all when ``None``).
        parameters: further parameters; each goes only to the notebooks that declare it.
        executor, address: see :func:`executor_params` (to the notebooks declaring them).

    Raises:
        ValueError: an unknown scale, notebook number, parameter or executor (before anything
            runs).
        ImportError: ``executor="ray"`` without Ray.
        RuntimeError: a notebook failed; names the notebook, the cell and the error.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    if scale not in SCALES:
        raise ValueError(f"Unknown scale {scale!r}; allowed: {', '.join(SCALES)}")
    os.environ[SCALE_ENV] = scale
    notebooks = select(discover(notebook_dir), only)
    extra = executor_params(executor, address)
    per_notebook = plan(declared_parameters(notebooks), {**(parameters or {}), **extra})
    out_dir = output_dir("executed")
    kernel = kernel_name()
    done = []
    for i, nb in enumerate(notebooks, 1):
        target = out_dir / nb.name
        print(f"[{i}/{len(notebooks)}] {nb.name} (scale={scale}, kernel={kernel})", flush=True)
        start = time.perf_counter()
        try:
            pm.execute_notebook(str(nb), str(target), parameters={**per_notebook[nb], "scale": scale},
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
                        help="two-digit notebook numbers to run (default: all; see --list)")
    parser.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                        help="set a notebook parameter (repeatable), converted as papermill -p "
                             "does; passed only to the selected notebooks that declare NAME, an "
                             "error when none does")
    parser.add_argument("--executor", choices=EXECUTORS, default=None,
                        help="where the notebooks that declare `executor` (05) train in "
                             "parallel: local processes (their default) or Ray")
    parser.add_argument("--address", default=None, metavar="auto|HOST:PORT",
                        help="with --executor ray: the Ray cluster to join (default: a private "
                             "one on this machine)")
    parser.add_argument("--list", action="store_true",
                        help="list the notebooks and the parameters each declares, and exit")
    parser.add_argument("--no-progress", action="store_true", help="no per-cell progress bar")
    args = parser.parse_args(argv)
    if args.list:
        declared = declared_parameters(discover())
        for nb, names in declared.items():
            print(f"{nb.name:34} {', '.join(names)}")
        takers = [nb.name for nb, names in declared.items() if "executor" in names]
        if takers:
            print(f"(--executor / --address set executor / ray_address of {', '.join(takers)})")
        return 0
    if args.only == []:
        parser.error("--only needs notebook numbers such as --only 02 03; see --list")
    if args.address is not None and args.executor != "ray":
        parser.error("--address needs --executor ray")
    try:
        run(args.scale, args.only, parameters=collect_params(args.param),
            executor=args.executor, address=args.address, progress=not args.no_progress)
    except (RuntimeError, ValueError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
