"""BPR loss with the official bc-emb L2 term on the batch embeddings.

The official ``PinSAGE.bpr_loss`` + ``train_pinsage`` (bc-emb) compute, for a minibatch of B
(user, positive item, negative item) triples with embeddings ``u, p, n`` (each (B, d)):

    bpr = mean_b softplus(<u_b, n_b> - <u_b, p_b>)
    reg = 0.5 * (||u||_F^2 + ||p||_F^2 + ||n||_F^2) / B
    loss = bpr + weight_decay * reg,   weight_decay = 1e-2

The regulariser is on the *output* embeddings of the batch (rows repeated as often as they occur
in the batch), summed over squared entries, halved, divided by the batch size. It is a loss term,
not optimizer weight decay (the paper's "weight decay 0.01").
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

#: The official coefficient of the L2 term (``--weight_decay`` default of bc-emb).
REG_WEIGHT = 1e-2


def bpr_terms(user_emb: Tensor, pos_emb: Tensor, neg_emb: Tensor) -> tuple[Tensor, Tensor]:
    """The two terms of the official objective, unweighted.

    Args:
        user_emb: (B, d) embeddings of the batch users.
        pos_emb: (B, d) embeddings of their positive items.
        neg_emb: (B, d) embeddings of their negative items.

    Returns:
        bpr: () mean of ``softplus(s_neg - s_pos)``.
        reg: () ``0.5 * (|u|^2 + |p|^2 + |n|^2) / B`` (squared Frobenius norms).
    """
    if not (user_emb.shape == pos_emb.shape == neg_emb.shape) or user_emb.dim() != 2:
        raise ValueError(f"expected three (B, d) tensors, got {tuple(user_emb.shape)}, "
                         f"{tuple(pos_emb.shape)}, {tuple(neg_emb.shape)}")
    pos = (user_emb * pos_emb).sum(-1)
    neg = (user_emb * neg_emb).sum(-1)
    bpr = F.softplus(neg - pos).mean()
    reg = 0.5 * (user_emb.square().sum() + pos_emb.square().sum()
                 + neg_emb.square().sum()) / user_emb.shape[0]
    return bpr, reg


def bpr_loss(user_emb: Tensor, pos_emb: Tensor, neg_emb: Tensor,
             reg_weight: float = REG_WEIGHT) -> Tensor:
    """``bpr + reg_weight * reg`` (see :func:`bpr_terms`). Returns a scalar ()."""
    bpr, reg = bpr_terms(user_emb, pos_emb, neg_emb)
    return bpr + reg_weight * reg
