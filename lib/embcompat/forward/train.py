"""Training loops of the FCT models on uint8 image tensors (no caching here; see ``experiment``).

* :func:`train_classifier` -- a backbone with label-smoothed cross-entropy (old, new, alternate
  old), optionally with Mixup (the "old w/ Mixup" side-info) or with BCT's influence loss through
  the old model's frozen classifier (the BCT baseline).
* :func:`train_simclr` -- a SimCLR model (NT-Xent on two SimCLR-augmented views, drawn for the
  whole batch at once by :func:`~embcompat.forward.simclr_views.simclr_views`).
* :func:`train_autoencoder` -- a conv autoencoder (L2 reconstruction).
* :func:`embed_images` -- features of a trained model, optionally of flipped images too.

Schedule: the official per-epoch cosine with linear warm-up (:func:`lr_at`). Backbone
augmentation: per-sample random crop (4-pixel padding) + horizontal flip (the standard CIFAR
recipe; the official CIFAR-100 recipe resizes to 224 and only flips). One tqdm bar per model.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from embcompat.forward.augment import mixup, mixup_loss, random_crop_flip
from embcompat.forward.simclr_views import simclr_views
from embcompat.config.fct import TrainConfig
from embcompat.forward.data import normalise
from embcompat.losses.vision import bct_loss, label_smoothing_ce, nt_xent

__all__ = ["lr_at", "make_optimizer", "train_classifier", "train_simclr", "train_autoencoder",
           "embed_images"]


def lr_at(epoch: int, cfg_lr: float, epochs: int, warmup: int) -> float:
    """Official ``cosine_lr``: ``lr (e+1)/w`` for ``e < w``, then ``lr (1 + cos(pi (e-w)/(E-w)))/2``.

    The warm-up is shortened to ``epochs - 1`` when a run is shorter than it.
    """
    w = min(warmup, epochs - 1)
    if epoch < w:
        return cfg_lr * (epoch + 1) / w
    return 0.5 * (1 + math.cos(math.pi * (epoch - w) / max(epochs - w, 1))) * cfg_lr


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (momentum) or Adam with the config's weight decay."""
    params = [p for p in params if p.requires_grad]
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def _epochs(model: nn.Module, n: int, cfg: TrainConfig, step: Callable, *, seed: int,
            device: torch.device, desc: str,
            after_epoch: Callable[[int], None] | None = None) -> list[float]:
    """Shared loop: shuffled batches (dropping a last batch of 1), lr per epoch, mean loss.

    ``after_epoch(epoch)`` runs after each epoch (it may put the model in eval mode; training
    mode is restored after it).
    """
    gen = torch.Generator().manual_seed(seed)
    opt = make_optimizer(model.parameters(), cfg)
    history = []
    model.to(device).train()
    for epoch in tqdm(range(cfg.epochs), desc=desc, leave=False):
        for g in opt.param_groups:
            g["lr"] = lr_at(epoch, cfg.lr, cfg.epochs, cfg.warmup_epochs)
        order = torch.randperm(n, generator=gen)
        total, count = 0.0, 0
        for s in range(0, n, cfg.batch_size):
            idx = order[s:s + cfg.batch_size]
            if len(idx) < 2:
                continue
            loss = step(idx, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, count = total + float(loss.detach()) * len(idx), count + len(idx)
        history.append(total / max(count, 1))
        if after_epoch is not None:
            after_epoch(epoch)
            model.train()
    model.eval()
    return history


def train_classifier(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, *,
                     mean_std, seed: int, device: torch.device, mixup_alpha: float | None = None,
                     mixup_mix_labels: bool = True,
                     bct_old_classifier: nn.Module | None = None, bct_lambda: float = 1.0,
                     num_old_classes: int | None = None, desc: str = "classifier") -> list[float]:
    """Train a backbone with label-smoothed CE (+ Mixup, or + BCT influence loss).

    Args:
        model: a :class:`embcompat.models.vision.Backbone` with a classifier.
        x: ``(N, C, H, W)`` uint8 training images. y: ``(N,)`` labels in ``[0, num_classes)``.
        cfg: optimisation.
        mean_std: normalisation ``(mean, std)``.
        seed: seeds data order, augmentation and Mixup.
        device: where to train.
        mixup_alpha: train with Mixup of this alpha.
        mixup_mix_labels: mixed one-hot targets (standard) or only the unpermuted image's label.
        bct_old_classifier: the old model's classifier; BCT's ``lam * CE(w_old . phi_new(x))``
            on the old-class samples is added, with ``w_old`` frozen (never updated).
        bct_lambda: BCT weight. num_old_classes: old classes of the influence term.
        desc: progress-bar label.

    Returns:
        Mean training loss per epoch.
    """
    mean, std = mean_std
    if bct_old_classifier is not None:
        bct_old_classifier = bct_old_classifier.to(device)
        for p in bct_old_classifier.parameters():
            p.requires_grad_(False)

    def step(idx, gen):
        xb = normalise(random_crop_flip(x[idx], generator=gen).to(device), mean, std)
        yb = y[idx].to(device)
        if mixup_alpha is not None:
            xm, ya, yb2, lam = mixup(xb, yb, mixup_alpha, generator=gen)
            _, logits = model(xm)
            return mixup_loss(logits, ya, yb2, lam, smoothing=cfg.label_smoothing,
                              mix_labels=mixup_mix_labels)
        feats, logits = model(xb)
        if bct_old_classifier is not None:
            return bct_loss(logits, feats, yb, bct_old_classifier, bct_lambda, num_old_classes,
                            smoothing=cfg.label_smoothing)
        return label_smoothing_ce(logits, yb, cfg.label_smoothing)

    return _epochs(model, len(y), cfg, step, seed=seed, device=device, desc=desc)


def train_simclr(model: nn.Module, x: torch.Tensor, cfg: TrainConfig, *, norm_stats: str | None,
                 seed: int, device: torch.device, temperature: float = 0.5,
                 monitor: Callable[[nn.Module], dict] | None = None, monitor_every: int = 0,
                 desc: str = "simclr") -> list[dict]:
    """Train a :class:`SimCLRModel` with NT-Xent on two SimCLR views of each image (no labels).

    Args:
        x: ``(N, C, H, W)`` uint8: every image it learns from (no labels are passed).
        norm_stats: normalisation statistics name (as :class:`FCTData`'s), used by the views.
        monitor: called with the model every ``monitor_every`` epochs and after the last one;
            its dict (e.g. a kNN accuracy) joins that epoch's history row. It runs in eval mode
            and draws nothing from the loop's generator, so training is the same with it.
        monitor_every: ``0``: no monitor.

    Returns:
        One row per epoch: ``epoch``, ``loss``, and the monitor's keys where it ran.

    Views come from :func:`~embcompat.forward.simclr_views.simclr_views`, a whole batch at once,
    drawn from the loop's generator (seeded with ``seed``).
    """

    def step(idx, gen):
        xb = x[idx].to(device)
        _, z1 = model(simclr_views(xb, generator=gen, stats=norm_stats))
        _, z2 = model(simclr_views(xb, generator=gen, stats=norm_stats))
        return nt_xent(z1, z2, temperature)

    watched: dict[int, dict] = {}

    def after_epoch(epoch: int) -> None:
        if monitor is not None and monitor_every > 0 and (
                (epoch + 1) % monitor_every == 0 or epoch + 1 == cfg.epochs):
            watched[epoch] = monitor(model)

    losses = _epochs(model, len(x), cfg, step, seed=seed, device=device, desc=desc,
                     after_epoch=after_epoch)
    return [{"epoch": e + 1, "loss": loss, **watched.get(e, {})} for e, loss in enumerate(losses)]


def train_autoencoder(model: nn.Module, x: torch.Tensor, cfg: TrainConfig, *, mean_std,
                      seed: int, device: torch.device, desc: str = "autoencoder") -> list[float]:
    """Train a :class:`ConvAutoencoder` to reconstruct normalised images (MSE), with flips."""
    mean, std = mean_std

    def step(idx, gen):
        xb = normalise(random_crop_flip(x[idx], padding=0, generator=gen).to(device), mean, std)
        return model.reconstruction_loss(xb)

    return _epochs(model, len(x), cfg, step, seed=seed, device=device, desc=desc)


@torch.no_grad()
def embed_images(model: nn.Module, x: torch.Tensor, *, mean_std, device: torch.device,
                 batch_size: int = 512, flips: bool = False) -> torch.Tensor:
    """Features of ``model.embed`` in eval mode.

    Args:
        x: ``(N, C, H, W)`` uint8.
        flips: also embed the horizontally flipped images.

    Returns:
        ``(V, N, d)`` float32 on the CPU, ``V = 2`` with flips (view 1 flipped), else 1.
    """
    model.to(device).eval()
    mean, std = mean_std
    views = [False, True] if flips else [False]
    out = []
    for flip in views:
        chunks = []
        for s in range(0, len(x), batch_size):
            xb = x[s:s + batch_size]
            xb = xb.flip(-1) if flip else xb
            chunks.append(model.embed(normalise(xb.to(device), mean, std)).float().cpu())
        out.append(torch.cat(chunks) if chunks else torch.empty(0))
    return torch.stack(out)
