"""embcompat.forward: Forward Compatible Training (Ramanujan et al., CVPR 2022).

The pipeline of notebooks 06-08, as a library:

* :mod:`~embcompat.forward.data` -- the train/test image subsets and old/new class prefixes;
* :mod:`~embcompat.forward.train` -- training loops: classifier (plain, Mixup, BCT), SimCLR,
  autoencoder; feature extraction;
* :mod:`~embcompat.forward.experiment` -- :class:`FCTExperiment`: every model trained once and
  cached by config hash (atomic writes; a killed run reuses all finished models), features;
* :mod:`~embcompat.forward.transformation` -- training ``h(old, side) -> new`` (and ``g``) with
  MSE, Adam, BatchNorm frozen for the second half;
* :mod:`~embcompat.forward.evaluate` -- retrieval cases of Tables 1 and 6, CKA;
* :mod:`~embcompat.forward.tables` -- the rows of Tables 1 and 6 (with CKA) cut from those;
* :mod:`~embcompat.forward.sequences` -- the v1 -> v2 -> v3 update sequence of Table 5;
* :mod:`~embcompat.forward.seeded` -- one experiment per (data set, training seed), trained side by
  side in local processes;
* :mod:`~embcompat.forward.seed_stats` -- intervals over seeds, paired differences, CKA vs gain;
* :mod:`~embcompat.forward.simclr_views` / :mod:`~embcompat.forward.simclr_report` -- SimCLR's
  batched views and its kNN accuracy over training.

Example::

    exp = FCTExperiment(fct_config("smoke"))  # embcompat.config.fct_config: every knob
    table = compatibility_table(exp)          # tidy rows: method, case, side_info, top1, top5, mAP

The names below are imported lazily (on first use), so importing one submodule does not import
the whole pipeline.
"""
from importlib import import_module

_EXPORTS = {
    "FCTData": "data", "load_fct_data": "data",
    "cka_all_models": "evaluate", "cka_side_info_table": "evaluate",
    "compatibility_table": "evaluate", "retrieval_row": "evaluate",
    "FCTExperiment": "experiment", "Features": "experiment", "Trained": "experiment",
    "load_or_train": "experiment",
    "sequence_table": "sequences",
    "cka_table": "tables", "headline_side_info": "tables", "table1": "tables", "table6": "tables",
    "apply_transformation": "transformation", "train_transformation": "transformation",
    "transformation_mse": "transformation",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'embcompat.forward' has no attribute {name!r}")
    value = getattr(import_module(f"embcompat.forward.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
