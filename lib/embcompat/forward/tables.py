"""The FCT paper's Tables 1 and 6 (with CKA), cut from the tidy rows of
:mod:`~embcompat.forward.evaluate`.

Each function takes the frames notebooks 06 and 07 already hold (``compatibility_table`` and
``cka_side_info_table`` results) and returns the rows one table of the paper shows; nothing is
recomputed.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from embcompat.forward.evaluate import METRIC_COLUMNS

__all__ = ["headline_side_info", "table1", "table6", "cka_table"]

_IDS = ("seed", "dataset", "scale")


def headline_side_info(side_infos: Sequence[str]) -> str:
    """The side-info Table 1 shows: ``simclr`` when it was run (the paper's choice), else the
    last of ``side_infos``."""
    if not side_infos:
        raise ValueError("headline_side_info: side_infos is empty; give at least one side-info")
    return "simclr" if "simclr" in side_infos else side_infos[-1]


def _fct_side_infos(compat: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(compat.loc[compat.method == "FCT", "side_info"]))


def table1(compat: pd.DataFrame, headline: str) -> pd.DataFrame:
    """Table 1 analogue: every Independent and BCT row, and FCT's rows for one side-info.

    Args:
        compat: :func:`~embcompat.forward.compatibility_table` rows (method, case, side_info, ...).
        headline: the FCT side-info to show (see :func:`headline_side_info`).

    Returns:
        The selected rows, all columns of ``compat``, in its order.
    """
    present = _fct_side_infos(compat)
    if headline not in present:
        raise ValueError(f"table1: no FCT rows for side-info {headline!r}; the table has "
                         f"{', '.join(present) or 'none'}")
    keep = (compat.method != "FCT") | (compat.side_info == headline)
    return compat[keep].reset_index(drop=True)


def table6(compat: pd.DataFrame) -> pd.DataFrame:
    """Table 6 analogue: new / h(old, side-info), one row per side-info (and seed or data set).

    Works on per-seed rows (columns side_info, top1, top5, mAP, seed, dataset, scale) and on the
    interval rows of :func:`~embcompat.forward.seed_stats.seed_ci` alike: the FCT new/h rows with
    ``method`` and ``case`` dropped.
    """
    rows = compat[(compat.method == "FCT") & (compat.case == "new/h")]
    if rows.empty:
        raise ValueError("table6: the compatibility table has no FCT new/h rows")
    return rows.drop(columns=["method", "case"]).reset_index(drop=True)


def cka_table(cka: pd.DataFrame, compat: pd.DataFrame) -> pd.DataFrame:
    """Table 6 with its CKA column: CKA(old, side-info) beside new / h(old, side-info).

    Args:
        cka: :func:`~embcompat.forward.cka_side_info_table` rows (side_info, label, cka, ids).
        compat: :func:`~embcompat.forward.compatibility_table` rows of the same experiment.

    Returns:
        One row per side-info of ``cka``, in its order. Columns: side_info, label, cka, top1,
        top5, mAP, seed, dataset, scale.

    Raises:
        ValueError: a side-info of ``cka`` has no FCT new/h row in ``compat``.
    """
    new_h = table6(compat)[["side_info", *METRIC_COLUMNS]]
    missing = sorted(set(cka.side_info) - set(new_h.side_info))
    if missing:
        raise ValueError(f"cka_table: no FCT new/h row for side-info {', '.join(missing)}; build "
                         "both tables from the same experiment and side-infos")
    merged = cka.merge(new_h[["side_info", *METRIC_COLUMNS]], on="side_info", how="left")
    return merged[["side_info", "label", "cka", *METRIC_COLUMNS, *_IDS]]
