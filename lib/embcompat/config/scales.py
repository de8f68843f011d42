"""The named scales registry: one :class:`Scale` per name, holding every paper's config section.

A scale is a config object, never ``if`` statements in a notebook. Each notebook reads its knobs from
``get_scale(scale)`` (or the paper getters :func:`~embcompat.config.bc.bc_config` and
:func:`~embcompat.config.fct.fct_config`); the parameters cell defaults ``scale`` from
``$EMBCOMPAT_SCALE``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from embcompat.config.bc import BC_SCALES, BCTrainConfig
from embcompat.config.common import SCALES, check_scale
from embcompat.config.consumers import CONSUMER_PRESETS, ConsumerConfig
from embcompat.config.data import DATA_SCALES, DataScale
from embcompat.config.fct import FCT_SCALES, FCTScale
from embcompat.config.sweep import SWEEP_SCALES, SweepScale

__all__ = ["Scale", "get_scale"]


@dataclass(frozen=True)
class Scale:
    """One named scale: a config section per area of the workbook.

    Attributes:
        name: ``smoke``, ``demo`` or ``paper``.
        data: notebook 01 (:class:`DataScale`).
        bc: the GNN versions of notebooks 02-05 (:class:`BCTrainConfig`; use
            :func:`~embcompat.config.bc.bc_config` to get it for one data set, seed and device).
        consumers: the C_0 grid and seeds (:class:`ConsumerConfig`).
        sweep: notebook 05's data sets, λ grid, methods and seeds (:class:`SweepScale`).
        fct: notebooks 06-08 (:class:`FCTScale`; :func:`~embcompat.config.fct.fct_config` applies
            overrides).
    """

    name: str
    data: DataScale
    bc: BCTrainConfig
    consumers: ConsumerConfig
    sweep: SweepScale
    fct: FCTScale


_SCALES: dict[str, Scale] = {
    n: Scale(n, DATA_SCALES[n], BC_SCALES[n], CONSUMER_PRESETS[n], SWEEP_SCALES[n], FCT_SCALES[n])
    for n in SCALES
}


def get_scale(name: str | None = None, **overrides) -> Scale:
    """Look up a named scale (default ``$EMBCOMPAT_SCALE``, else ``demo``), with whole sections
    replaced by ``overrides``.

    Raises:
        ValueError: naming the allowed scales.
    """
    scale = _SCALES[check_scale(name)]
    return replace(scale, **overrides) if overrides else scale
