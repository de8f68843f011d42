"""The full FCT compatibility matrix of the update sequence ``v1 -> v2 -> ... -> vN``.

For every query version ``q`` and every gallery version ``g <= q``: the gallery was stored at
``g`` (features ``phi_g`` and side-info ``psi_g`` of the test images) and is carried forward to
``q``; the queries use ``phi_q``. Transformations follow :mod:`embcompat.forward.sequences`
(the same cached models, trained by the same calls):

* ``g == q``: no transform, ``phi_q / phi_q`` (the sequence table's reference rows);
* strategy ``chain``: one update at a time, ``phi_{i+1} <- h_{i+1}(phi_i, psi_i)`` and
  ``psi_{i+1} <- g_{i+1}(phi_i, psi_i)`` for ``i = g .. q-1`` (for ``g = 1, q = 3`` this is the
  sequence table's ``two-hop``; for ``q = g + 1`` its ``one-hop``);
* strategy ``direct``: ``h_{g->q}(phi_g, psi_g)`` (needs ``phi_g``'s features kept; for
  ``q = g + 1`` it is the same model as ``h_{g+1}``).

Each side-info kind is run as given and, with ``with_and_without``, with ``psi = 0`` (``none``).
Retrieval as everywhere in FCT (:func:`~embcompat.forward.evaluate.retrieval_row`): top-1, top-5,
mAP in %; ``top1_gap`` / ``mAP_gap`` are the cell minus the row's diagonal ``phi_q / phi_q``.
Summary (:func:`fct_matrix_summary`): the mean over the off-diagonal cells (``g < q``, the
strict triangle) and the worst cell, per side-info and strategy.
"""
from __future__ import annotations

import pandas as pd
import torch

from embcompat.config.fct import validate_side_infos
from embcompat.forward.evaluate import METRIC_COLUMNS, retrieval_row
from embcompat.forward.experiment import FCTExperiment
from embcompat.forward.sequences import side_model
from embcompat.forward.transformation import apply_transformation

__all__ = ["STRATEGIES", "FCT_MATRIX_COLUMNS", "FCT_SUMMARY_COLUMNS", "sequence_classes",
           "fct_compat_matrix", "fct_matrix_summary"]

STRATEGIES = ("chain", "direct")
FCT_MATRIX_COLUMNS = ["side_info", "strategy", "query_version", "gallery_version", "case",
                      *METRIC_COLUMNS, "top1_gap", "mAP_gap", "classes", "seed", "dataset",
                      "scale"]
FCT_SUMMARY_COLUMNS = ["side_info", "strategy", "n_cells", "mean_top1", "mean_mAP",
                       "mean_top1_gap", "worst_top1", "worst_cell", "dataset", "scale"]


def sequence_classes(exp: FCTExperiment) -> list[int]:
    """Class counts of the sequence's versions (``scale.sequence_fractions``).

    Raises:
        ValueError: two versions get the same number of classes.
    """
    ks = [exp.data.prefix(f) for f in exp.scale.sequence_fractions]
    if len(set(ks)) != len(ks) or ks != sorted(ks):
        raise ValueError(f"sequence_fractions {exp.scale.sequence_fractions} give class counts "
                         f"{ks} on {exp.data.num_classes} classes; they must increase strictly")
    return ks


class _Sequence:
    """The versions' backbones, side-info models and test features for one side-info kind."""

    def __init__(self, exp: FCTExperiment, kind: str, ks: list[int]):
        self.exp, self.ks = exp, ks
        self.phi = [exp.model("classifier", k) for k in ks]
        self.f = [exp.features(p).test for p in self.phi]
        self.psi = [side_model(exp, kind, k) for k in ks[:-1]]  # the last version's is unused
        self.s = [exp.features(m).test if m is not None else torch.zeros_like(f)
                  for m, f in zip(self.psi, self.f)]

    def _apply(self, trained, feat, side):
        return apply_transformation(trained.model, feat, side, device=self.exp.device)

    def carry(self, g: int, q: int, strategy: str) -> torch.Tensor:
        """Gallery features stored at ``g`` (0-based) carried to ``q``."""
        exp, ks = self.exp, self.ks
        if g == q:
            return self.f[q]
        if strategy == "direct":
            h = exp.transformation(self.phi[g], self.psi[g], self.phi[q], ks[q])
            return self._apply(h, self.f[g], self.s[g])
        feat, side = self.f[g], self.s[g]
        for i in range(g + 1, q + 1):  # update v_i -> v_{i+1} (1-based), 0-based i-1 -> i
            h = exp.transformation(self.phi[i - 1], self.psi[i - 1], self.phi[i], ks[i])
            new = self._apply(h, feat, side)
            if i < q:  # the side-info is needed for the next hop
                if self.psi[i - 1] is not None:
                    gi = exp.transformation(self.phi[i - 1], self.psi[i - 1], self.psi[i], ks[i],
                                            what="g")
                    side = self._apply(gi, feat, side)
                else:
                    side = torch.zeros_like(self.s[i])
            feat = new
        return feat


def _case(g: int, q: int, strategy: str, psi: bool) -> str:
    if g == q:
        return f"phi{q}/phi{q}"
    p = f"psi{g}" if psi else "0"
    return f"phi{q}/" + (f"h{g}->{q}(phi{g},{p})" if strategy == "direct" else f"chain{g}->{q}")


def fct_compat_matrix(exp: FCTExperiment, side_infos=None, with_and_without: bool = True,
                      strategies=STRATEGIES) -> pd.DataFrame:
    """The ``q x g`` retrieval matrix (``g <= q``) of the update sequence (module docstring).

    Args:
        exp: the experiment (``scale.sequence_fractions`` give the versions' classes).
        side_infos: side-info kinds (default ``[scale.sequence_side_info]``).
        with_and_without: also run every transform with ``psi = 0`` (kind ``none``).
        strategies: a subset of :data:`STRATEGIES`.

    Returns:
        :data:`FCT_MATRIX_COLUMNS`; versions are 1-based as in the paper; the diagonal rows
        appear once per strategy (the same numbers).

    Raises:
        ValueError: an unknown side-info kind or strategy.
    """
    kinds = list(validate_side_infos(side_infos or [exp.scale.sequence_side_info]))
    if with_and_without and "none" not in kinds:
        kinds.append("none")
    strategies = list(strategies)
    bad = [s for s in strategies if s not in STRATEGIES]
    if bad or not strategies:
        raise ValueError(f"unknown strategies {bad or strategies}; allowed: {', '.join(STRATEGIES)}")
    ks = sequence_classes(exp)
    y = exp.data.test_y
    ids = {"classes": "/".join(map(str, ks)), "seed": exp.scale.seed, "dataset": exp.data.name,
           "scale": exp.scale.name}
    rows = []
    for kind in kinds:
        seq = _Sequence(exp, kind, ks)
        for strategy in strategies:
            for q in range(len(ks)):
                for g in range(q + 1):
                    gallery = seq.carry(g, q, strategy)
                    rows.append(retrieval_row(
                        seq.f[q], gallery, y, side_info=kind, strategy=strategy,
                        query_version=q + 1, gallery_version=g + 1,
                        case=_case(g + 1, q + 1, strategy, kind != "none"), **ids))
    df = pd.DataFrame(rows)
    diag = df[df.query_version == df.gallery_version].set_index(
        ["side_info", "strategy", "query_version"])
    key = pd.MultiIndex.from_frame(df[["side_info", "strategy", "query_version"]])
    for m in ("top1", "mAP"):
        df[f"{m}_gap"] = df[m].to_numpy() - diag[m].reindex(key).to_numpy()
    return df[FCT_MATRIX_COLUMNS]


def fct_matrix_summary(matrix: pd.DataFrame) -> pd.DataFrame:
    """Per (side_info, strategy): mean top-1 / mAP / top-1 gap over the off-diagonal cells
    (``g < q``) and the worst (lowest top-1) cell (:data:`FCT_SUMMARY_COLUMNS`).

    Raises:
        ValueError: ``matrix`` lacks a column of :data:`FCT_MATRIX_COLUMNS`.
    """
    missing = [c for c in FCT_MATRIX_COLUMNS if c not in matrix.columns]
    if missing:
        raise ValueError(f"not an FCT compatibility matrix: missing columns {missing}")
    off = matrix[matrix.gallery_version < matrix.query_version]
    out = []
    for (si, st), g in off.groupby(["side_info", "strategy"], sort=False):
        w = g.loc[g.top1.idxmin()]
        out.append(dict(zip(FCT_SUMMARY_COLUMNS, (
            si, st, len(g), float(g.top1.mean()), float(g.mAP.mean()), float(g.top1_gap.mean()),
            float(w.top1), f"q=v{w.query_version}, g=v{w.gallery_version}", w.dataset, w.scale))))
    return pd.DataFrame(out, columns=FCT_SUMMARY_COLUMNS)
