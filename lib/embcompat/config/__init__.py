"""embcompat.config: every knob of the workbook, as plain frozen dataclasses.

The bottom of the import graph: no module here imports training code (or torch, except lazily to
check that a named device exists). One getter per paper, and the registry of named scales:

* :func:`bc_config` -- the BC paper's :class:`~embcompat.config.bc.BCTrainConfig` for a scale, data
  set, seed and device (notebooks 02-05);
* :func:`fct_config` -- the FCT paper's :class:`~embcompat.config.fct.FCTScale` (notebooks 06-08);
* :func:`get_scale` -- the whole :class:`~embcompat.config.scales.Scale` (``data``, ``bc``,
  ``consumers``, ``sweep``, ``fct`` sections).

Modules: ``common`` (scale names, device check), ``data``, ``bc``, ``consumers``, ``sweep``,
``fct``, ``scales``.
"""
from embcompat.config.bc import BCTrainConfig, bc_config
from embcompat.config.common import SCALE_ENV, SCALES, check_device, check_scale, default_scale
from embcompat.config.consumers import ConsumerConfig
from embcompat.config.fct import FCTScale, fct_config
from embcompat.config.scales import Scale, get_scale

__all__ = ["SCALES", "SCALE_ENV", "default_scale", "check_scale", "check_device", "BCTrainConfig",
           "bc_config", "ConsumerConfig", "FCTScale", "fct_config", "Scale", "get_scale"]
