"""Embedding alignment error and relative degradation (the BC paper's Table 3 metrics).

* Metric (3), alignment error: the mean over nodes of ``||z_hat_i - z_i||_2`` between the
  embeddings transformed back to version 0 (``z_hat = B_1(...B_k(z_k))``) and the true ``z_0``.
  Note: the mean of per-node L2 distances, not an RMSE or a squared error.
* Metrics (1)/(2), relative degradation: ``100 * (value - reference) / reference`` in percent,
  against Keep-All; negative means worse than the reference for higher-is-better metrics.
"""
from __future__ import annotations

import math

import torch


def alignment_error(z_hat: torch.Tensor, z: torch.Tensor) -> float:
    """Mean per-node Euclidean distance between two embedding tables.

    Args:
        z_hat: ``(num_nodes, d)`` transformed embeddings (e.g. ``B_1 B_2 z_2``).
        z: ``(num_nodes, d)`` target embeddings (e.g. the true ``z_0``), rows aligned.

    Returns:
        ``mean_i ||z_hat_i - z_i||_2`` as a float (computed in float64).

    Raises:
        ValueError: on mismatched shapes or an empty table.
    """
    z_hat = torch.as_tensor(z_hat)
    z = torch.as_tensor(z).to(z_hat.device)
    if z_hat.shape != z.shape or z.ndim != 2:
        raise ValueError(f"z_hat and z must both be (num_nodes, d) with equal shapes; got "
                         f"{tuple(z_hat.shape)} and {tuple(z.shape)}")
    if z.shape[0] == 0:
        raise ValueError("alignment_error of an empty embedding table is undefined")
    return float(torch.linalg.vector_norm(z_hat.double() - z.double(), dim=1).mean())


def relative_degradation(value: float, reference: float) -> float:
    """Relative change in percent: ``100 * (value - reference) / reference``.

    Args:
        value: the method's metric (e.g. Recall@50 of BC-Aligner).
        reference: the reference metric (e.g. Keep-All's Recall@50); must be non-zero.

    Returns:
        The change in percent (e.g. ``-2.96`` for a 2.96 % drop).

    Raises:
        ValueError: when ``reference`` is zero or either value is not finite.
    """
    value, reference = float(value), float(reference)
    if not (math.isfinite(value) and math.isfinite(reference)):
        raise ValueError(f"value and reference must be finite, got {value} and {reference}")
    if reference == 0.0:
        raise ValueError("relative_degradation needs a non-zero reference")
    return 100.0 * (value - reference) / reference
