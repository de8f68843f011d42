"""embcompat.forward: Forward Compatible Training (Ramanujan et al., CVPR 2022).

The pipeline of notebooks 06-08, as a library:

* :mod:`~embcompat.forward.config` -- :class:`FCTScale` and the named ``FCT_SCALES``
  (smoke / demo / paper) with every knob;
* :mod:`~embcompat.forward.data` -- the train/test image subsets and old/new class prefixes;
* :mod:`~embcompat.forward.train` -- training loops: classifier (plain, Mixup, BCT), SimCLR,
  autoencoder; feature extraction;
* :mod:`~embcompat.forward.experiment` -- :class:`FCTExperiment`: every model trained once and
  cached by config hash (atomic writes; a killed run reuses all finished models), features;
* :mod:`~embcompat.forward.transformation` -- training ``h(old, side) -> new`` (and ``g``) with
  MSE, Adam, BatchNorm frozen for the second half;
* :mod:`~embcompat.forward.evaluate` -- retrieval cases of Tables 1 and 6, CKA;
* :mod:`~embcompat.forward.tables` -- the rows of Tables 1 and 6 (with CKA) cut from those;
* :mod:`~embcompat.forward.sequences` -- the v1 -> v2 -> v3 update sequence of Table 5.

Example::

    exp = FCTExperiment(get_fct_scale("smoke"))
    table = compatibility_table(exp)          # tidy rows: method, case, side_info, top1, top5, mAP
"""
from embcompat.forward.config import (FCT_SCALES, SIDE_INFO_LABELS, SIDE_INFOS, FCTScale,
                                      TrainConfig, TransformTrainConfig, get_fct_scale,
                                      validate_side_infos)
from embcompat.forward.data import FCTData, load_fct_data
from embcompat.forward.evaluate import (cka_all_models, cka_side_info_table, compatibility_table,
                                        retrieval_row)
from embcompat.forward.experiment import FCTExperiment, Features, Trained, load_or_train
from embcompat.forward.sequences import sequence_table
from embcompat.forward.tables import cka_table, headline_side_info, table1, table6
from embcompat.forward.transformation import (apply_transformation, train_transformation,
                                              transformation_mse)

__all__ = [
    "FCT_SCALES", "SIDE_INFOS", "SIDE_INFO_LABELS", "FCTScale", "TrainConfig",
    "TransformTrainConfig", "get_fct_scale", "validate_side_infos", "FCTData", "load_fct_data",
    "FCTExperiment", "Features", "Trained", "load_or_train", "train_transformation",
    "apply_transformation", "transformation_mse", "retrieval_row", "compatibility_table",
    "cka_side_info_table", "cka_all_models", "sequence_table",
    "headline_side_info", "table1", "table6", "cka_table",
]
