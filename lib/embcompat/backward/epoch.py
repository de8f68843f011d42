"""Training one version: the epoch loop of ``M_k`` (and ``B_k``) with Recall-based selection.

Follows the official ``train_eval_loop_pinsage`` / ``train_eval_loop_pinsage_penalize`` of
snap-stanford/bc-emb (read, not copied):

* every epoch draws a fresh set of BPR triples (:class:`~embcompat.backward.sampling.BPRSampler`);
* every step recomputes the whole graph with the current weights (model in train mode, so
  BatchNorm uses the statistics of all ``U + I`` nodes) and takes one Adam step on
  ``BPR + reg * L2(batch embeddings) [+ lam * alignment]``; the alignment terms of the batch's users,
  positive and negative items are summed (``torch.nn.MSELoss`` each), multi-step through the frozen
  earlier ``B``'s (computed once per node, weighted by its count in the batch: the same loss);
* every ``eval_every`` epochs the model (eval mode) embeds every node, Recall@K is measured, and the
  best epoch by Recall@50 (strictly better; joint methods only after ``select_after``) is kept:
  its weights, its ``B`` and its embeddings;
* with ``lr_schedule="cosine"`` (not in the official code, which keeps the lr constant): the lr
  of ``M_k`` and ``B_k`` is multiplied by :func:`lr_factor` in each epoch, from 1 down to nearly 0
  at the last one, so a short run ends with small steps instead of at full noise;
* with ``patience`` (not in the official code, which always runs every epoch): training stops once
  ``patience`` evaluations in a row inside the selection window have not beaten the best. The
  selected epoch is the same as without ``patience`` whenever the full run would not have found a
  better one later; a run that stops records ``stopped_epoch``.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from embcompat.backward.intended import VersionEvaluator
from embcompat.losses.alignment import (alignment_metric, chain_targets, group_weights,
                                       weighted_alignment_loss, weighted_chain_alignment_loss)
from embcompat.losses.bpr import bpr_terms
from embcompat.models.gnn import PinSAGE, VersionGraph
from embcompat.models.transforms import is_linear
from embcompat.backward.sampling import BPRSampler

__all__ = ["Alignment", "FitResult", "fit_version", "embed", "lr_factor"]


@dataclass
class Alignment:
    """The alignment term of a joint method at version ``k``.

    Attributes:
        target_user: ``(U, d_{k-1})`` ``M_{k-1}(G_k)`` users, detached.
        target_item: ``(I, d_{k-1})`` ``M_{k-1}(G_k)`` items, detached.
        B: ``B_k`` being trained (:class:`LinearBackward` or :class:`MLPBackward`) or
            :class:`NoTransBackward`.
        earlier: frozen ``[B_1, ..., B_{k-1}]`` (matrices, or MLP modules) for the multi-step
            loss; empty for single.
        lam: weight lambda.
    """

    target_user: Tensor
    target_item: Tensor
    B: nn.Module
    earlier: list[Tensor] = field(default_factory=list)
    lam: float = 16.0

    def __post_init__(self) -> None:
        # Eq. 10 (or Eq. 7 without earlier B's) as one (d_{k-1}, d_{k-1}) matrix; frozen per version
        self.metric = self.targets = None
        if all(is_linear(E) for E in self.earlier):
            self.metric = alignment_metric([*self.earlier, self.B]).to(self.target_user.device)
        else:  # a nonlinear frozen B has no matrix: apply the chain, targets pushed through once
            self.targets = (chain_targets(self.target_user, self.earlier),
                            chain_targets(self.target_item, self.earlier))

    def loss(self, ue: Tensor, ie: Tensor, u: Tensor, p: Tensor, n: Tensor) -> Tensor:
        """Alignment loss of a batch (users, positive items, negative items), unweighted.

        The official sum ``MSE(users) + MSE(pos items) + MSE(neg items)`` over the batch rows
        (multi-step through the frozen earlier B's), computed once per node with the rows' counts
        as weights (:func:`~embcompat.losses.alignment.weighted_alignment_loss`; equal to
        :func:`~embcompat.losses.alignment.multi_step_alignment_loss` on the gathered rows, tested).
        """
        wu = group_weights([u], ue.shape[0])
        wi = group_weights([p, n], ie.shape[0])
        if self.targets is not None:
            tu, ti = self.targets
            return (weighted_chain_alignment_loss(ue, tu, wu, self.B, self.earlier)
                    + weighted_chain_alignment_loss(ie, ti, wi, self.B, self.earlier))
        return (weighted_alignment_loss(ue, self.target_user, wu, self.B, self.metric)
                + weighted_alignment_loss(ie, self.target_item, wi, self.B, self.metric))

    @torch.no_grad()
    def mse(self, ue: Tensor, ie: Tensor) -> tuple[float, float]:
        """Single-step MSE of ``B(z_k)`` vs the target on all users and all items (logged)."""
        return (float(((self.B(ue) - self.target_user) ** 2).mean()),
                float(((self.B(ie) - self.target_item) ** 2).mean()))


@dataclass
class FitResult:
    """The selected epoch of one version.

    Attributes:
        state: ``M_k``'s state dict at the selected epoch (CPU clones).
        B: ``B_k``'s ``(d_{k-1}, d_k)`` weight at that epoch (linear), its CPU state dict (MLP),
            else None.
        z_user: ``(U, d_k)`` eval-mode user embeddings on ``G_k`` at that epoch.
        z_item: ``(I, d_k)`` eval-mode item embeddings.
        history: one dict per evaluation: epoch, ``recall@K``, mean train loss, alignment MSEs.
        recall: Recall@K on the selection split at the selected epoch.
        test_recall: Recall@K on the test split at that epoch (held-out protocol), else None.
        best_epoch: the selected epoch.
        epoch_seconds: wall seconds of each training epoch (without evaluation).
        eval_seconds: total wall seconds spent evaluating.
        stopped_epoch: the last epoch trained (``epochs`` unless ``patience`` stopped it).
    """

    state: dict
    B: Tensor | dict | None
    z_user: Tensor
    z_item: Tensor
    history: list[dict]
    recall: dict
    test_recall: dict | None
    best_epoch: int
    epoch_seconds: list[float]
    eval_seconds: float
    stopped_epoch: int = 0


@torch.no_grad()
def embed(model: PinSAGE, g: VersionGraph) -> tuple[Tensor, Tensor]:
    """Eval-mode embeddings of every node of ``g``: ``(U, d)`` users, ``(I, d)`` items."""
    was = model.training
    model.eval()
    ue, ie = model(g)
    model.train(was)
    return ue.detach(), ie.detach()


def _cpu_state(module: nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def lr_factor(schedule: str, epoch: int, epochs: int) -> float:
    """The multiplier of the base lr in ``epoch`` (1-based) of ``epochs``.

    ``"constant"``: 1. ``"cosine"``: ``(1 + cos(pi * (epoch - 1) / epochs)) / 2``, 1 in the first
    epoch and ``(1 + cos(pi * (epochs - 1) / epochs)) / 2`` (> 0) in the last.
    """
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / epochs))
    raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {schedule!r}")


def fit_version(model: PinSAGE, g: VersionGraph, sampler: BPRSampler, evaluator: VersionEvaluator,
                *, epochs: int, lr: float, reg: float, eval_every: int, select_after: int = 0,
                alignment: Alignment | None = None, lr_trans: float = 1e-3,
                patience: int | None = None, lr_schedule: str = "constant",
                generator: torch.Generator, bar=None) -> FitResult:
    """Train ``model`` (and ``alignment.B``) on one version; keep the best epoch by Recall@50.

    Args:
        model: ``M_k`` (fresh, or ``M_{k-1}`` for fine-tuning), on the graph's device.
        g: the version graph ``G_k`` (built once).
        sampler: the version's BPR sampler; its ``batch_size`` is the step batch size.
        evaluator: Recall@K of the version.
        epochs: training epochs.
        lr: Adam learning rate of the model (already scaled for the schedule).
        reg: weight of the L2 term.
        eval_every: evaluation period in epochs.
        select_after: only epochs ``> select_after`` are eligible (joint methods: 50).
        alignment: the joint alignment term, or None.
        lr_trans: Adam learning rate of ``B_k`` (already scaled).
        patience: stop after this many evaluations in a row (epochs ``> select_after``) without a
            new best Recall@50; ``None`` runs every epoch (official).
        lr_schedule: ``"constant"`` (official) or ``"cosine"`` over ``epochs`` (:func:`lr_factor`),
            applied to both learning rates.
        generator: the sampling generator (CPU).
        bar: an optional tqdm bar, advanced once per epoch.

    Returns:
        :class:`FitResult`.
    """
    groups = [{"params": list(model.parameters()), "lr": lr}]
    trainable_B = alignment is not None and any(p.requires_grad for p in alignment.B.parameters())
    if trainable_B:
        groups.append({"params": list(alignment.B.parameters()), "lr": lr_trans})
    lr_factor(lr_schedule, 1, epochs)  # refuse an unknown schedule before training
    opt = torch.optim.Adam(groups)
    base_lrs = [grp["lr"] for grp in opt.param_groups]
    best, best_r, stale = None, -1.0, 0
    history, epoch_seconds, eval_seconds = [], [], 0.0
    for epoch in range(1, epochs + 1):
        for grp, base in zip(opt.param_groups, base_lrs):
            grp["lr"] = base * lr_factor(lr_schedule, epoch, epochs)
        model.train()
        if alignment is not None:
            alignment.B.train()
        t0, total, steps = time.perf_counter(), 0.0, 0
        for u, p, n in sampler.batches(generator):
            ue, ie = model(g)
            # index_select: its backward (index_add) is cheaper than ue[u]'s (index_put, accumulate)
            bpr, l2 = bpr_terms(ue.index_select(0, u), ie.index_select(0, p), ie.index_select(0, n))
            loss = bpr + reg * l2
            if alignment is not None:
                loss = loss + alignment.lam * alignment.loss(ue, ie, u, p, n)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach())
            steps += 1
        epoch_seconds.append(time.perf_counter() - t0)
        row = {"epoch": epoch, "train_loss": total / max(steps, 1), "lr": opt.param_groups[0]["lr"]}
        if epoch % eval_every == 0:
            t1 = time.perf_counter()
            ue, ie = embed(model, g)
            rec = evaluator(ue, ie)
            row.update({f"recall@{k}": v for k, v in rec.items()})
            if alignment is not None:
                row["align_mse_user"], row["align_mse_item"] = alignment.mse(ue, ie)
            stale += epoch > select_after
            if epoch > select_after and rec[50] > best_r:
                best_r, stale = rec[50], 0
                test = evaluator(ue, ie, "test") if evaluator.heldout_test else None
                B = None
                if trainable_B and is_linear(alignment.B):
                    B = alignment.B.weight.detach().to("cpu", copy=True)
                elif trainable_B:  # MLPBackward: its tensors
                    B = _cpu_state(alignment.B)
                best = dict(state=_cpu_state(model), B=B, z_user=ue.cpu(), z_item=ie.cpu(),
                            recall=rec, test_recall=test, best_epoch=epoch)
            eval_seconds += time.perf_counter() - t1
            if bar is not None:
                bar.set_postfix({"R@50": f"{rec[50]:.4f}", "best": f"{max(best_r, 0):.4f}"})
        history.append(row)
        if bar is not None:
            bar.update(1)
        if patience is not None and stale >= patience:
            if bar is not None:
                bar.update(epochs - epoch)  # the bar ends where the run does
            break
    if best is None:  # pragma: no cover - prevented by BCTrainConfig.validate
        raise RuntimeError(f"no epoch in ({select_after}, {epochs}] was evaluated")
    return FitResult(history=history, epoch_seconds=epoch_seconds, eval_seconds=eval_seconds,
                     stopped_epoch=epoch, **best)


def copy_model(model: PinSAGE) -> PinSAGE:
    """A detached deep copy (used to keep ``M_{k-1}`` while fine-tuning)."""
    return copy.deepcopy(model)
