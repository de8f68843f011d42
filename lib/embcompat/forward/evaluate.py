"""Retrieval evaluation of the FCT paper's cases (Tables 1 and 6) and the CKA analysis (Table 6).

Protocol: the held-out test images are both query and gallery, the self-match is excluded (also
across models: query ``i``'s own gallery embedding is dropped), L2 distance, CMC top-1/top-5 and
mAP over the whole gallery (:func:`embcompat.metrics.retrieval_metrics`). Metrics are reported in
percent, as in the paper. Case names use the paper's ``query / gallery`` notation.
"""
from __future__ import annotations

import pandas as pd
import torch

from embcompat.config.fct import SIDE_INFO_LABELS, validate_side_infos
from embcompat.forward.experiment import FCTExperiment
from embcompat.forward.transformation import apply_transformation
from embcompat.metrics import cka_matrix, linear_cka, retrieval_metrics

__all__ = ["retrieval_row", "compatibility_table", "cka_side_info_table", "cka_all_models",
           "METRIC_COLUMNS"]

METRIC_COLUMNS = ("top1", "top5", "mAP")


def retrieval_row(query: torch.Tensor, gallery: torch.Tensor, labels: torch.Tensor, **ids) -> dict:
    """One tidy row: ``ids`` plus top1/top5/mAP in percent for ``query`` vs ``gallery``.

    Args:
        query: ``(M, d)`` query features of the test images. gallery: ``(M, d)`` gallery features
            of the same images (row ``i`` = image ``i``). labels: ``(M,)``.
        **ids: identifying columns (method, case, side_info, seed...).
    """
    m = retrieval_metrics(query, gallery, labels, labels, ks=(1, 5), distance="l2",
                          exclude_self=True)
    return {**ids, **{c: 100.0 * m[c] for c in METRIC_COLUMNS}}


def transformed_test(exp: FCTExperiment, side_info: str):
    """``(h, h(phi_old, psi) on the test images)`` for one side-info kind (h trained on all
    training classes, targets the independent new model)."""
    old, new = exp.named("old"), exp.named("new")
    side = None if side_info == "none" else exp.named(side_info)
    h = exp.transformation(old, side, new, exp.data.num_classes)
    return h, apply_transformation(h.model, exp.features(old).test,
                                   exp.side_features(side_info).test, device=exp.device)


def compatibility_table(exp: FCTExperiment, side_infos=None) -> pd.DataFrame:
    """Table 1 (Independent / BCT / FCT) and Table 6 (one FCT block per side-info) rows.

    Rows: Independent old/old, new/old, new/new; BCT new/old, new/new; for each side-info
    ``h/h``, ``new/h`` and ``new/new``. Columns: method, case, side_info, top1, top5, mAP,
    seed, dataset, scale.
    """
    side_infos = validate_side_infos(side_infos or exp.scale.side_infos)
    y = exp.data.test_y
    f = {n: exp.features(exp.named(n)).test for n in ("old", "new", "bct")}
    ids = {"seed": exp.scale.seed, "dataset": exp.data.name, "scale": exp.scale.name}
    na = "n/a"
    rows = [
        retrieval_row(f["old"], f["old"], y, method="Independent", case="old/old", side_info=na, **ids),
        retrieval_row(f["new"], f["old"], y, method="Independent", case="new/old", side_info=na, **ids),
        retrieval_row(f["new"], f["new"], y, method="Independent", case="new/new", side_info=na, **ids),
        retrieval_row(f["bct"], f["old"], y, method="BCT", case="new/old", side_info=na, **ids),
        retrieval_row(f["bct"], f["bct"], y, method="BCT", case="new/new", side_info=na, **ids),
    ]
    for si in side_infos:
        _, hx = transformed_test(exp, si)
        rows += [retrieval_row(hx, hx, y, method="FCT", case="h/h", side_info=si, **ids),
                 retrieval_row(f["new"], hx, y, method="FCT", case="new/h", side_info=si, **ids),
                 retrieval_row(f["new"], f["new"], y, method="FCT", case="new/new", side_info=si,
                               **ids)]
    cols = ["method", "case", "side_info", *METRIC_COLUMNS, "seed", "dataset", "scale"]
    return pd.DataFrame(rows)[cols]


def cka_side_info_table(exp: FCTExperiment, side_infos=None, debiased: bool = False) -> pd.DataFrame:
    """Linear CKA between the old features and each side-info on the gallery (test) images.

    The zero side-info has no variance, where CKA is undefined: its ``cka`` is NaN (the paper
    prints 0.0). Columns: side_info, label, cka, seed, dataset, scale.
    """
    side_infos = validate_side_infos(side_infos or exp.scale.side_infos)
    old = exp.features(exp.named("old")).test
    rows = []
    for si in side_infos:
        cka = float("nan") if si == "none" else linear_cka(old, exp.side_features(si).test,
                                                           debiased=debiased)
        rows.append({"side_info": si, "label": SIDE_INFO_LABELS[si], "cka": cka,
                     "seed": exp.scale.seed, "dataset": exp.data.name, "scale": exp.scale.name})
    return pd.DataFrame(rows)


def cka_all_models(exp: FCTExperiment, side_infos=None, include_h: bool = True) -> pd.DataFrame:
    """Pairwise linear CKA of the test-image features of every model (old, new, BCT, each
    side-info model, and with ``include_h`` each ``h(old, psi)``). A symmetric DataFrame."""
    side_infos = validate_side_infos(side_infos or exp.scale.side_infos)
    feats = {n: exp.features(exp.named(n)).test for n in ("old", "new", "bct")}
    for si in side_infos:
        if si != "none":
            feats[si] = exp.side_features(si).test
    if include_h:
        for si in side_infos:
            feats[f"h({si})"] = transformed_test(exp, si)[1]
    return cka_matrix(feats)
