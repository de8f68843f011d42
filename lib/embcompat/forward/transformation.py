"""Training the FCT transformation ``h(phi_old, psi) -> phi_new`` (paper Section 3.3) and the
side-info transformation ``g(phi_old, psi) -> psi_new`` of the sequence experiment (Section 4.4).

Both are :class:`embcompat.models.fct_transform.FCTTransform` MLPs (the paper uses "the same
architectures for h and g") trained with MSE to a target feature, with Adam, the official
per-epoch cosine schedule with warm-up, and BatchNorm frozen from ``freeze_bn_from * epochs`` on
(official ``switch_mode_to_eval``: ``model.eval()`` for epochs ``>= epochs / 2``).

Features are precomputed once (the frozen old, side-info and new models are evaluated in eval
mode anyway). The official CIFAR-100 transformation loader augments with a random horizontal
flip only; each image then has exactly two views, so we precompute both (``V = 2``) and draw one
view per image per epoch, which is the same augmentation at a fraction of the cost.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from embcompat.config.fct import TransformTrainConfig
from embcompat.forward.train import lr_at
from embcompat.models.fct_transform import (FCTTransform, FCTTransformConfig, batchnorm_frozen,
                                            freeze_batchnorm)

__all__ = ["train_transformation", "apply_transformation", "transformation_mse"]


def _views(t: torch.Tensor) -> torch.Tensor:
    return t.unsqueeze(0) if t.dim() == 2 else t


def train_transformation(old: torch.Tensor, side: torch.Tensor, target: torch.Tensor,
                         cfg: TransformTrainConfig, *, seed: int, device: torch.device,
                         desc: str = "h") -> tuple[FCTTransform, list[dict]]:
    """Fit ``h`` so that ``h(old, side) ~ target`` in mean squared error.

    Args:
        old: ``(V, N, d_old)`` or ``(N, d_old)`` old features of the training images (V views).
        side: ``(V, N, d_side)`` side-info of the same images (zeros for "no side-info").
        target: ``(V, N, d_new)`` target features (new model, or the next side-info model).
        cfg: optimisation and mixer width.
        seed: seeds the initialisation, the data order and the view draws.
        device: where to train.
        desc: progress-bar label.

    Returns:
        ``(h in eval mode on the CPU, history)``; ``history[e]`` has ``epoch``, ``lr``, ``loss``
        (mean training MSE) and ``bn_frozen`` (BatchNorm in eval mode during that epoch).
    """
    old, side, target = _views(old), _views(side), _views(target)
    if not (old.shape[:2] == side.shape[:2] == target.shape[:2]):
        raise ValueError(f"old {tuple(old.shape)}, side {tuple(side.shape)} and target "
                         f"{tuple(target.shape)} must share (V, N)")
    v, n = old.shape[:2]
    torch.manual_seed(seed)
    h = FCTTransform(FCTTransformConfig(old_dim=old.shape[2], side_dim=side.shape[2],
                                        new_dim=target.shape[2], mixer_hidden=cfg.mixer_hidden,
                                        mixer_layers=cfg.mixer_layers)).to(device)
    opt = torch.optim.Adam(h.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(seed)
    history = []
    for epoch in tqdm(range(cfg.epochs), desc=desc, leave=False):
        lr = lr_at(epoch, cfg.lr, cfg.epochs, cfg.warmup_epochs)
        for g in opt.param_groups:
            g["lr"] = lr
        h.train()
        if epoch >= cfg.freeze_bn_from * cfg.epochs:
            freeze_batchnorm(h)
        order = torch.randperm(n, generator=gen)
        view = torch.randint(0, v, (n,), generator=gen)
        total = 0.0
        for s in range(0, n, cfg.batch_size):
            idx = order[s:s + cfg.batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples in train mode
                continue
            vi = view[idx]
            ob, sb, tb = (t[vi, idx].to(device) for t in (old, side, target))
            loss = F.mse_loss(h(ob, sb), tb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        history.append({"epoch": epoch, "lr": lr, "loss": total / n,
                        "bn_frozen": batchnorm_frozen(h)})
    return h.eval().cpu(), history


@torch.no_grad()
def apply_transformation(h: FCTTransform, old: torch.Tensor, side: torch.Tensor, *,
                         device: torch.device | str = "cpu", batch_size: int = 4096) -> torch.Tensor:
    """``h(old, side)`` in eval mode, batched.

    Args:
        old: ``(N, d_old)``. side: ``(N, d_side)``.

    Returns:
        ``(N, d_new)`` float32 on the CPU.
    """
    h = h.to(device).eval()
    out = [h(old[s:s + batch_size].to(device), side[s:s + batch_size].to(device)).cpu()
           for s in range(0, len(old), batch_size)]
    h.cpu()
    return torch.cat(out) if out else torch.empty(0, h.config.new_dim)


def transformation_mse(h: FCTTransform, old: torch.Tensor, side: torch.Tensor,
                       target: torch.Tensor) -> float:
    """Mean squared error of ``h(old, side)`` against ``target`` (all ``(N, d)``), eval mode."""
    return float(F.mse_loss(apply_transformation(h, old, side), target))
