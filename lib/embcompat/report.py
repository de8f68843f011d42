"""Tables and figures, one style: tidy pandas tables to csv + markdown, figures to png + pdf,
and the command that regenerates them, for their captions.

Everything is written under :func:`output_dir` (``outputs/``, or ``$EMBCOMPAT_OUTPUTS`` so that test
runs never overwrite the committed results), atomically.
"""
from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from embcompat.utils import atomic_write, project_root

OUTPUTS_ENV = "EMBCOMPAT_OUTPUTS"


def slug(name: str) -> str:
    """A file-name-safe version of a data set spec (``imagefolder:/a/b`` -> ``imagefolder-a-b``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


def regen_command(notebook: str, scale: str, params: Mapping[str, Any] | None = None,
                  defaults: Mapping[str, Any] | None = None) -> str:
    """The shell command that regenerates a notebook's tables and figures, for their captions.

    With every parameter in ``params`` at its default: the runner,
    ``python -m embcompat.runner --scale <scale> --only <NN>``. Otherwise papermill, naming the
    parameters that differ: ``papermill notebooks/<notebook>.ipynb out.ipynb -p scale <scale>
    -y '{"seed": 1}'``.

    Args:
        notebook: the notebook, ``NN_slug`` (``.ipynb`` optional): ``"03_compatibility_tables"``.
        scale: the scale it ran at.
        params: the parameters that change its results, as it ran with them. ``None`` is every
            notebook's "the scale's default", so a ``None`` value is left out.
        defaults: the defaults of those that are not ``None`` (``{"seed": 42}``); a value equal to
            its default is left out as well.

    Raises:
        ValueError: ``notebook`` is not ``NN_slug``, or ``defaults`` names a parameter that
            ``params`` lacks.
    """
    name = notebook.removesuffix(".ipynb")
    if not re.fullmatch(r"\d\d_[A-Za-z0-9_]+", name):
        raise ValueError(f"regen_command: notebook={notebook!r} is not a notebook name NN_slug "
                         "(e.g. '03_compatibility_tables')")
    params, defaults = dict(params or {}), dict(defaults or {})
    unknown = sorted(set(defaults) - set(params))
    if unknown:
        raise ValueError(f"regen_command: defaults names {', '.join(unknown)}, not in params "
                         f"({', '.join(params) or 'none'})")
    changed = {k: v for k, v in params.items()
               if v is not None and not (k in defaults and v == defaults[k])}
    if not changed:
        return f"python -m embcompat.runner --scale {scale} --only {name[:2]}"
    return (f"papermill notebooks/{name}.ipynb out.ipynb -p scale {scale} "
            f"-y {shlex.quote(json.dumps(changed))}")


def output_dir(sub: str | None = None) -> Path:
    """``outputs/`` (or ``$EMBCOMPAT_OUTPUTS``), optionally a sub-folder, created on demand."""
    base = Path(os.environ.get(OUTPUTS_ENV, project_root() / "outputs"))
    d = base / sub if sub else base
    d.mkdir(parents=True, exist_ok=True)
    return d


def save_table(df: pd.DataFrame, name: str, *, caption: str | None = None,
               floatfmt: str = ".4g") -> dict[str, Path]:
    """Write ``df`` to ``tables/<name>.csv`` and ``tables/<name>.md`` (with an optional caption).

    Returns:
        The two paths, keyed ``csv`` and ``md``.
    """
    d = output_dir("tables")
    csv, md = d / f"{name}.csv", d / f"{name}.md"
    with atomic_write(csv, "w") as f:
        df.to_csv(f, index=False)
    text = markdown_table(df, floatfmt=floatfmt)
    if caption:
        text = f"{caption}\n\n{text}"
    with atomic_write(md, "w") as f:
        f.write(text + "\n")
    return {"csv": csv, "md": md}


def markdown_table(df: pd.DataFrame, *, floatfmt: str = ".4g") -> str:
    """A markdown table where integers print as integers (with thousands separators), floats with
    ``floatfmt``, and missing values as empty cells."""
    def fmt(v):
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return ""
        if isinstance(v, bool):
            return str(v)
        if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) >= 1000):
            return f"{int(v):,}"
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v)

    cells = df.astype(object).map(lambda v: fmt(v.item() if hasattr(v, "item") else v))
    align = ["right" if pd.api.types.is_numeric_dtype(df[c]) else "left" for c in df.columns]
    return cells.to_markdown(index=False, disable_numparse=True, colalign=align)


def savefig(fig, name: str, *, dpi: int = 120) -> dict[str, Path]:
    """Save a matplotlib figure to ``figures/<name>.png`` and ``.pdf``."""
    d = output_dir("figures")
    paths = {}
    for ext in ("png", "pdf"):
        p = d / f"{name}.{ext}"
        with atomic_write(p) as f:
            # no creation date in the PDF, so that an unchanged figure is an unchanged file
            meta = {"CreationDate": None} if ext == "pdf" else None
            fig.savefig(f, format=ext, dpi=dpi, bbox_inches="tight", metadata=meta)
        paths[ext] = p
    return paths


def set_style() -> None:
    """The workbook's one plotting style (seaborn whitegrid, colour-blind palette)."""
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(style="whitegrid", palette="colorblind", context="notebook")
    mpl.rcParams["figure.dpi"] = 80  # inline copies stay light; savefig() sets its own dpi
