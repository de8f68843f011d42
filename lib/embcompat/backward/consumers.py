"""Consumer models C_0: trained once on version-0 embeddings, then fed any later embeddings.

Protocol (official ``embevolve/unintended_tasks/train_model.py``), all knobs in
:class:`~embcompat.config.consumers.ConsumerConfig`:

* inputs: the true ver-0 embeddings z_0 (Fix-M0's: M_0 applied to each version's graph). Training
  uses version 0; validation uses the version named by the task (1 for the user tasks, else 0);
* loss ``BCEWithLogitsLoss``; Adam, lr 1e-3; minibatches of 2,048 shuffled each epoch (not full
  batch); 300 epochs (the official code uses 100 for Grocery's edge task);
* validation ROC-AUC after every epoch; the state with the best so far (strictly better) is kept
  (the official code never stops early; ``patience`` is our optional shortcut, off by default);
* grid over dropout (outer loop) x hidden size (inner loop), each point with seed 0; the first
  best validation AUC wins (``np.argmax`` order); the winner is retrained with seeds 0..9 and all
  seed models are kept. The seed-0 retrain is the grid run itself, so it is reused, not re-run;
* evaluation: each seed model scores a version's set; embeddings wider than d_0 (Non-BC) are cut
  to their first d_0 columns (the official ``eval_model.py`` does this for ``nobc``; we do it for
  any wider input).

Deviations: the ReLU restored in the consumer's second block (see
:mod:`embcompat.models.consumer`); a size-1 last minibatch is skipped when BatchNorm is on (the
official code would crash on it); seeds use a forked RNG and a private shuffling generator instead
of the global seeds, so results do not depend on what ran before.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from embcompat.backward.task_features import split_features, task_features
from embcompat.backward.tasks import TaskData, TaskSplit
from embcompat.config.consumers import ConsumerConfig
from embcompat.models.consumer import ConsumerMLP, ConsumerSpec
from embcompat.utils import resolve_device

Embeddings = Mapping[int, tuple[torch.Tensor, torch.Tensor]]


@dataclass
class TrainedConsumers:
    """The C_0 of one task: the chosen grid point and one model per seed.

    Attributes:
        task: task name.
        spec: the chosen MLP layout (hidden size and dropout of the best grid point).
        feature_dim: d_0, the embedding width C_0 was trained on (wider inputs are cut to it).
        seeds: seed of each model.
        models: one :class:`ConsumerMLP` per seed, in eval mode.
        val_aucs: best validation ROC-AUC of each seed model.
        best_epochs: the epoch each seed model was taken from.
        grid: one row per grid point: hidden_dim, dropout, val_auc, best_epoch.
        config: the :class:`ConsumerConfig`.
    """

    task: str
    spec: ConsumerSpec
    feature_dim: int
    seeds: list[int]
    models: list[ConsumerMLP]
    val_aucs: list[float]
    best_epochs: list[int]
    grid: list[dict] = field(default_factory=list)
    config: ConsumerConfig = field(default_factory=ConsumerConfig)


def roc_auc(labels: torch.Tensor | np.ndarray, scores: torch.Tensor | np.ndarray) -> float:
    """sklearn ROC-AUC, or nan when only one class is present."""
    y = np.asarray(labels.cpu() if torch.is_tensor(labels) else labels)
    s = np.asarray(scores.detach().cpu() if torch.is_tensor(scores) else scores)
    if y.size == 0 or y.min() == y.max():
        return float("nan")
    return float(roc_auc_score(y, s))


@torch.no_grad()
def predict(model: ConsumerMLP, x: torch.Tensor, batch_size: int = 65536) -> torch.Tensor:
    """Logits of ``x: (n, in_dim)`` in eval mode, ``(n,)`` on the CPU."""
    model.eval()
    dev = next(model.parameters()).device
    out = [model(x[i:i + batch_size].to(dev)).float().cpu() for i in range(0, x.shape[0], batch_size)]
    return torch.cat(out) if out else torch.zeros(0)


def fit_consumer(x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor,
                 y_val: torch.Tensor, spec: ConsumerSpec, config: ConsumerConfig, seed: int,
                 device: str | torch.device = "auto") -> tuple[ConsumerMLP, float, int]:
    """Train one consumer, keeping the epoch with the best validation ROC-AUC.

    Args:
        x_train: ``(n, in_dim)`` inputs; y_train: ``(n,)`` 0/1 labels.
        x_val: ``(m, in_dim)``; y_val: ``(m,)`` with both classes present.
        spec: the MLP layout.
        config: epochs, batch size, lr, validation cadence, patience.
        seed: seeds the initialisation, dropout and shuffling (the global RNG state is restored).
        device: ``auto``, ``cpu``, ``cuda``...

    Returns:
        ``(model, best_val_auc, best_epoch)``, the model in eval mode holding the best state.
    """
    dev = resolve_device(device)
    x_tr, y_tr = x_train.to(dev, torch.float32), y_train.to(dev, torch.float32)
    n = x_tr.shape[0]
    cuda = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        model = ConsumerMLP(spec).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=config.lr)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        shuffle = torch.Generator().manual_seed(seed)
        best_auc, best_epoch, best_state, bad = -1.0, 0, None, 0
        for epoch in range(1, config.epochs + 1):
            model.train()
            perm = torch.randperm(n, generator=shuffle).to(dev)
            for i in range(0, n, config.batch_size):
                b = perm[i:i + config.batch_size]
                if b.numel() < 2 and spec.batch_norm:
                    continue  # BatchNorm cannot train on one row
                loss = loss_fn(model(x_tr[b]), y_tr[b])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            if epoch % config.eval_every and epoch != config.epochs:
                continue
            auc = roc_auc(y_val, predict(model, x_val, config.eval_batch_size))
            if auc > best_auc:
                best_auc, best_epoch, bad = auc, epoch, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                bad += 1
                if config.patience is not None and bad >= config.patience:
                    break
    if best_state is None:
        raise ValueError("validation ROC-AUC was never defined: does the validation set hold both classes?")
    model.load_state_dict(best_state)
    return model.eval(), best_auc, best_epoch


def _feature_dim(task: TaskData, embeddings: Embeddings, version: int) -> int:
    user_emb, item_emb = embeddings[version]
    if task.kind == "edge" and user_emb.shape[1] != item_emb.shape[1]:
        raise ValueError(f"edge task: user ({user_emb.shape[1]}) and item ({item_emb.shape[1]}) "
                         "embeddings must have the same width")
    return int((item_emb if task.kind == "item" else user_emb).shape[1])


def _check_both_classes(task: TaskData, what: str, split: TaskSplit) -> None:
    if len(split) == 0 or split.labels.min() == split.labels.max():
        raise ValueError(f"task {task.name!r}: the {what} set ({len(split)} rows, positive rate "
                         f"{split.positive_rate():.3f}) lacks a class; the graph is too small")


def train_consumers(task: TaskData, embeddings: Embeddings, config: ConsumerConfig | None = None, *,
                    device: str | torch.device = "auto", progress: bool = False) -> TrainedConsumers:
    """Tune C_0 on the grid by validation ROC-AUC, then train it with every seed.

    Args:
        task: the task.
        embeddings: ``version -> (user_emb, item_emb)`` of the true ver-0 embeddings z_0; needs
            ``task.train.version`` and ``task.val.version`` (0, and 1 for the user tasks).
        config: the protocol; default :class:`ConsumerConfig` (the paper's).
        device: where to train.
        progress: show a tqdm bar over the runs.

    Returns:
        The :class:`TrainedConsumers`.
    """
    cfg = config or ConsumerConfig()
    _check_both_classes(task, "train", task.train)
    _check_both_classes(task, "validation", task.val)
    x_tr = split_features(task, task.train, embeddings)
    x_va = split_features(task, task.val, embeddings)
    d0 = _feature_dim(task, embeddings, task.train.version)
    make = lambda h, p: ConsumerSpec(x_tr.shape[1], h, p, cfg.num_blocks, cfg.batch_norm,  # noqa: E731
                                     cfg.relu_every_block)
    points = [(h, p) for p in cfg.dropout_grid for h in cfg.hidden_grid]  # official loop order
    extra = [s for s in cfg.seeds if s != cfg.grid_seed]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(points) + len(extra), desc=f"C_0 {task.name}")
    grid, runs = [], []
    for h, p in points:
        run = fit_consumer(x_tr, task.train.labels, x_va, task.val.labels, make(h, p), cfg,
                           cfg.grid_seed, device)
        runs.append(run)
        grid.append({"hidden_dim": h, "dropout": p, "val_auc": run[1], "best_epoch": run[2]})
        bar and bar.update()
    best = int(np.argmax([g["val_auc"] for g in grid]))
    spec = make(*points[best])
    models, aucs, epochs = [], [], []
    for s in cfg.seeds:
        if s == cfg.grid_seed:  # the very same run as the grid point: reuse it
            model, auc, ep = runs[best]
        else:
            model, auc, ep = fit_consumer(x_tr, task.train.labels, x_va, task.val.labels, spec, cfg,
                                          s, device)
            bar and bar.update()
        models.append(model)
        aucs.append(auc)
        epochs.append(ep)
    bar and bar.close()
    return TrainedConsumers(task.name, spec, d0, list(cfg.seeds), models, aucs, epochs, grid, cfg)


def evaluate_consumers(consumers: TrainedConsumers, task: TaskData, user_emb_k: torch.Tensor | None,
                       item_emb_k: torch.Tensor | None, k: int, *,
                       split: TaskSplit | None = None) -> list[float]:
    """ROC-AUC of every seed model of C_0 on version ``k`` of ``task``, fed any embeddings.

    Args:
        consumers: the trained C_0 of this task.
        task: the task.
        user_emb_k: ``(num_users_k, d)`` version-k user embeddings in C_0's space (e.g. a method's
            composed ẑ_0); ``d >= d_0``, wider ones are cut to the first d_0 columns.
        item_emb_k: ``(num_items_k, d)`` version-k item embeddings, likewise.
        k: the version whose set is scored (``task.versions[k]``).
        split: score this set instead (e.g. ``task.val``).

    Returns:
        One ROC-AUC per seed model (nan where the set has a single class).
    """
    if consumers.task != task.name:
        raise ValueError(f"consumers were trained for {consumers.task!r}, not {task.name!r}")
    split = split if split is not None else task.versions[k]
    x = task_features(task, user_emb_k, item_emb_k, split.ids, dim=consumers.feature_dim)
    bs = consumers.config.eval_batch_size
    return [roc_auc(split.labels, predict(m, x, bs)) for m in consumers.models]


def evaluate_versions(consumers: TrainedConsumers, task: TaskData, embeddings: Embeddings,
                      versions: Sequence[int] | None = None) -> dict[int, list[float]]:
    """:func:`evaluate_consumers` for each reported version (default ``task.test``)."""
    ks = list(versions) if versions is not None else list(task.test)
    return {k: evaluate_consumers(consumers, task, *embeddings[k], k) for k in ks}
