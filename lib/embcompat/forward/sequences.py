"""A sequence of model updates v1 -> v2 -> v3 (paper Section 4.4, Table 5).

Version ``i`` has a backbone ``phi_i`` and a side-info model ``psi_i``, both trained independently
on the first ``f_i`` of the classes (``scale.sequence_fractions``; with ``f_2 = old_fraction`` and
``f_3 = 1`` they *are* notebook 06's old/new/SimCLR models and are reused from the cache). When
updating ``v_i -> v_{i+1}`` both the features and the side-info are transformed:

    phi_{i+1} <- h_{i+1}(phi_i, psi_i),   psi_{i+1} <- g_{i+1}(phi_i, psi_i)

with ``h`` and ``g`` of the same MLP architecture, each trained with MSE on the ``v_{i+1}``
training set. Two scenarios reach v3 from v1's stored gallery:

* (i) two hops: ``h_3(h_2(phi_1, psi_1), g_2(phi_1, psi_1))``;
* (ii) direct: ``h_{1->3}(phi_1, psi_1)`` (needs v1's features kept around).

Each is run with the side-info and without it (``psi = 0``; then ``g`` is not needed and the
two-hop transform is ``h_3(h_2(phi_1, 0), 0)``). Queries always use the newest model ``phi_3``.
"""
from __future__ import annotations

import pandas as pd
import torch

from embcompat.config.fct import validate_side_infos
from embcompat.forward.evaluate import METRIC_COLUMNS, retrieval_row
from embcompat.forward.experiment import FCTExperiment, Trained
from embcompat.forward.transformation import apply_transformation

__all__ = ["side_model", "sequence_table"]


def side_model(exp: FCTExperiment, kind: str, k: int) -> Trained | None:
    """The side-info model of a kind trained on classes ``0..k-1`` (``None`` for ``none``)."""
    validate_side_infos([kind])
    s = exp.scale
    if kind == "none":
        return None
    if kind == "simclr_all":
        raise ValueError("simclr_all learns from every version's images at once, so it has no "
                         "model per version of the sequence; use simclr (trained on each "
                         "version's classes) in notebook 08")
    return {"autoencoder": lambda: exp.model("autoencoder", k),
            "alt_old": lambda: exp.model("classifier", k, s.seed + s.alt_seed_offset),
            "mixup_old": lambda: exp.model("mixup", k, s.seed + s.alt_seed_offset),
            "simclr": lambda: exp.model("simclr", k)}[kind]()


def _test(exp: FCTExperiment, m: Trained | None, like: torch.Tensor) -> torch.Tensor:
    return exp.features(m).test if m is not None else torch.zeros_like(like)


def sequence_table(exp: FCTExperiment, side_infos=None,
                   with_and_without: bool = True) -> pd.DataFrame:
    """Table 5 rows for the sequence ``v1 -> v2 -> v3``.

    Args:
        exp: the experiment (its ``scale.sequence_fractions`` give the versions' classes).
        side_infos: side-info kinds (default ``[scale.sequence_side_info]``, the paper's SimCLR).
        with_and_without: also run every transform with ``psi = 0`` (kind ``none``).

    Returns:
        Columns: case, kind (reference / one-hop / two-hop / direct), side_info, top1, top5, mAP,
        classes (v1/v2/v3 class counts), seed, dataset, scale.
    """
    kinds = list(validate_side_infos(side_infos or [exp.scale.sequence_side_info]))
    if with_and_without and "none" not in kinds:
        kinds.append("none")
    ks = [exp.data.prefix(f) for f in exp.scale.sequence_fractions]
    if len(set(ks)) != 3:
        raise ValueError(f"sequence_fractions {exp.scale.sequence_fractions} give class counts "
                         f"{ks} on {exp.data.num_classes} classes; they must differ")
    phi = [exp.model("classifier", k) for k in ks]
    f = [exp.features(p).test for p in phi]
    y = exp.data.test_y
    ids = {"classes": "/".join(map(str, ks)), "seed": exp.scale.seed, "dataset": exp.data.name,
           "scale": exp.scale.name}
    rows = [retrieval_row(f[i], f[i], y, case=f"phi{i + 1}/phi{i + 1}", kind="reference",
                          side_info="n/a", **ids) for i in range(3)]
    for si in kinds:
        psi = [side_model(exp, si, k) for k in ks[:2]]
        s1, s2 = _test(exp, psi[0], f[0]), _test(exp, psi[1], f[1])
        h2 = exp.transformation(phi[0], psi[0], phi[1], ks[1])
        h3 = exp.transformation(phi[1], psi[1], phi[2], ks[2])
        h13 = exp.transformation(phi[0], psi[0], phi[2], ks[2])
        dev = exp.device
        h2x = apply_transformation(h2.model, f[0], s1, device=dev)
        h3x = apply_transformation(h3.model, f[1], s2, device=dev)
        if psi[0] is not None:
            g2 = exp.transformation(phi[0], psi[0], psi[1], ks[1], what="g")
            g2x = apply_transformation(g2.model, f[0], s1, device=dev)
        else:
            g2x = torch.zeros_like(s2)
        two_hop = apply_transformation(h3.model, h2x, g2x, device=dev)
        direct = apply_transformation(h13.model, f[0], s1, device=dev)
        p = "psi" if psi[0] is not None else "0"
        rows += [
            retrieval_row(f[1], h2x, y, case=f"phi2/h2(phi1,{p}1)".replace("01", "0"),
                          kind="one-hop", side_info=si, **ids),
            retrieval_row(f[2], h3x, y, case=f"phi3/h3(phi2,{p}2)".replace("02", "0"),
                          kind="one-hop", side_info=si, **ids),
            retrieval_row(f[2], two_hop, y, kind="two-hop", side_info=si, **ids,
                          case=("phi3/h3(h2(phi1,psi1),g2(phi1,psi1))" if p == "psi"
                                else "phi3/h3(h2(phi1,0),0)")),
            retrieval_row(f[2], direct, y, case=f"phi3/h1->3(phi1,{p}1)".replace("01", "0"),
                          kind="direct", side_info=si, **ids),
        ]
    cols = ["case", "kind", "side_info", *METRIC_COLUMNS, "classes", "seed", "dataset", "scale"]
    return pd.DataFrame(rows)[cols]
