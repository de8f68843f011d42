"""Losses of the FCT experiments: label-smoothed cross-entropy, NT-Xent (SimCLR) and BCT.

* :func:`label_smoothing_ce` -- the backbones' objective (official ``label_smoothing: 0.1``).
  apple/ml-fct's ``LabelSmoothing`` computes ``(1 - eps) * NLL + eps * mean_c(-log p_c)``, which is
  exactly ``F.cross_entropy(..., label_smoothing=eps)``.
* :func:`nt_xent` -- SimCLR's normalised temperature-scaled cross-entropy over ``2B`` views.
* :func:`bct_influence_loss` / :func:`bct_loss` -- Backward Compatible Training (Shen et al., CVPR
  2020), the paper's baseline, which the official FCT code does not contain:
  ``L = CE(w_new . phi_new(x), y) + lambda * CE(w_old . phi_new(x), y)``, where ``w_old`` is the
  old model's *frozen* classifier. The influence term is computed only on samples of the old
  classes (``y < num_old_classes``), the classes ``w_old`` was trained on. Shen et al. also
  describe extending ``w_old`` for new classes with the mean old-model feature of each new class;
  that variant is not implemented: samples of new classes are excluded from the influence term.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

__all__ = ["label_smoothing_ce", "nt_xent", "bct_influence_loss", "bct_loss"]


def label_smoothing_ce(logits: Tensor, target: Tensor, smoothing: float = 0.1) -> Tensor:
    """Mean cross-entropy with label smoothing.

    Args:
        logits: ``(B, K)``.
        target: ``(B,)`` long class indices in ``[0, K)``.
        smoothing: ``eps`` in ``[0, 1)``; 0.1 is the official backbone setting.

    Returns:
        Scalar ``mean_b[(1 - eps) * (-log p_{b, y_b}) + eps * mean_c(-log p_{b, c})]``.
    """
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    return F.cross_entropy(logits, target, label_smoothing=smoothing)


def nt_xent(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    """NT-Xent loss of SimCLR (Chen et al. 2020, Eq. 1), averaged over all ``2B`` anchors.

    Views ``z1[i]`` and ``z2[i]`` are the positive pair; the other ``2B - 2`` views of the batch are
    the negatives. Similarities are cosine similarities divided by ``temperature``.

    Args:
        z1: ``(B, d)`` projections of the first views.
        z2: ``(B, d)`` projections of the second views.
        temperature: ``tau > 0`` (SimCLR's CIFAR setting is 0.5).

    Returns:
        Scalar loss.
    """
    if z1.dim() != 2 or z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must both be (B, d), got {tuple(z1.shape)} and "
                         f"{tuple(z2.shape)}")
    if z1.shape[0] < 2:
        raise ValueError("nt_xent needs a batch of at least 2 pairs (it has no negatives otherwise)")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)  # (2B, d)
    sim = (z @ z.T) / temperature  # (2B, 2B)
    self_mask = torch.eye(2 * b, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_mask, float("-inf"))
    positives = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)
    return F.cross_entropy(sim, positives)


def _frozen_apply(module: nn.Module, x: Tensor) -> Tensor:
    """Apply ``module`` to ``x`` with detached parameters: gradients reach ``x`` only."""
    params = {k: v.detach() for k, v in module.named_parameters()}
    buffers = dict(module.named_buffers())
    return functional_call(module, {**params, **buffers}, (x,))


def bct_influence_loss(new_features: Tensor, labels: Tensor, old_classifier: nn.Module,
                       num_old_classes: int | None = None, smoothing: float = 0.0) -> Tensor:
    """BCT influence loss: new features through the old model's frozen classifier.

    Args:
        new_features: ``(B, d)`` new-model embeddings (``d`` must equal the old embedding size).
        labels: ``(B,)`` long global class indices. Old classes are ``0 .. num_old_classes-1``
            (the first-half split of :meth:`embcompat.data.images.ImageDataset.old_new_split`);
            samples with ``labels >= num_old_classes`` are excluded.
        old_classifier: the old model's classifier, ``(B, d) -> (B, K_old)``. Its parameters get no
            gradient from this loss, whatever their ``requires_grad``.
        num_old_classes: number of old classes; default ``K_old``. If ``K_old`` is larger (the
            official old model has a 100-way head trained on 50 classes), only the first
            ``num_old_classes`` logits are used.
        smoothing: label smoothing of the cross-entropy (0 in BCT).

    Returns:
        Scalar: mean cross-entropy over the old-class samples of the batch; an exact zero (still
        connected to ``new_features``) when the batch has none.
    """
    if new_features.dim() != 2 or labels.shape != new_features.shape[:1]:
        raise ValueError(f"new_features must be (B, d) and labels (B,), got "
                         f"{tuple(new_features.shape)} and {tuple(labels.shape)}")
    logits = _frozen_apply(old_classifier, new_features)
    k_old = logits.shape[1]
    k = k_old if num_old_classes is None else num_old_classes
    if not 1 <= k <= k_old:
        raise ValueError(f"num_old_classes must be in [1, {k_old}] (the old classifier's "
                         f"outputs), got {num_old_classes}")
    keep = labels < k
    if not bool(keep.any()):
        return new_features.sum() * 0.0
    return label_smoothing_ce(logits[keep, :k], labels[keep], smoothing)


def bct_loss(new_logits: Tensor, new_features: Tensor, labels: Tensor, old_classifier: nn.Module,
             lam: float = 1.0, num_old_classes: int | None = None,
             smoothing: float = 0.0) -> Tensor:
    """Full BCT objective: new model's own cross-entropy plus ``lam`` times the influence loss.

    Args:
        new_logits: ``(B, K_new)`` the new model's logits.
        new_features: ``(B, d)`` the new model's embeddings.
        labels: ``(B,)`` global class indices.
        old_classifier: the old model's classifier (kept frozen).
        lam: weight of the influence term (BCT uses 1).
        num_old_classes: see :func:`bct_influence_loss`.
        smoothing: label smoothing of both cross-entropies.

    Returns:
        Scalar loss.
    """
    return (label_smoothing_ce(new_logits, labels, smoothing)
            + lam * bct_influence_loss(new_features, labels, old_classifier, num_old_classes,
                                       smoothing))
