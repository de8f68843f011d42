"""``train_versions``: train (or load) every version of one BC method, with a per-version cache.

For each version ``k`` the version graph ``G_k`` (training edges of ``k``, every user and item
present at ``t_{k+1}``, as the official code) is built once, and ``M_k`` / ``B_k`` are obtained as
the method says (:mod:`embcompat.backward.methods`):

* version 0 is ``M_0`` for every method: trained once, cached under one key;
* joint methods align ``M_k`` to the method's own previous best ``M_{k-1}`` re-run (eval mode,
  detached) on ``G_k``; multi-step passes the residual through the frozen earlier ``B``'s;
* post-hoc methods load Non-BC's ``M_k`` from the same cache entries (no retraining) and fit
  ``B_k`` with :func:`embcompat.backward.posthoc.posthoc_fit_backward` on ``z_k = M_k(G_k)`` and
  ``M_{k-1}(G_k)`` with the version's official BPR triples (Post-LS / Post-Procrustes, not in the
  paper: in closed form on the same data, :mod:`embcompat.backward.closed_form`);
* Fix-M0 applies ``M_0`` to ``G_k``; Finetune-M0 continues ``M_{k-1}`` (M_0's architecture) for
  ``finetune_epochs`` with a fresh Adam; Keep-All is derived from Non-BC and Fix-M0.

Caching: each version is written to ``cache_dir("bc-version", key)`` (``version.pt`` atomically,
after ``config.json``, the full config), each with a SHA-256 sidecar checked on load: a corrupt
entry is logged and retrained (:mod:`embcompat.cache_files`). The key hashes the data (graph +
splits), the fields that train that version, the method's own fields and the key of the version it
builds on, so ``M_0`` and Non-BC's models are shared between methods, an irrelevant change (device,
progress, lambda for Non-BC) keeps every key, and a killed run resumes at the first version not on
disk.

Seeds: version ``k`` initialises ``M_k`` from ``seed + 1000 k`` (so a joint ``M_k`` starts from the
same weights as Non-BC's), samples with ``seed + 1000 k + 1`` and draws ``B_k`` with ``+ 2``.
"""
from __future__ import annotations

import time
from typing import Callable, Sequence

import torch

from embcompat.config.bc import BCTrainConfig
from embcompat.backward.epoch import Alignment, FitResult, embed, fit_version
from embcompat.backward.methods import METHODS, Method, get_method
from embcompat.backward.results import VersionRecord, VersionsResult
from embcompat.data.graphs import InteractionGraph
from embcompat.data.splits import VersionSplit
from embcompat.models.gnn import PinSAGE
from embcompat.models.mlp_backward import MLPBackward, as_backward
from embcompat.models.transforms import LinearBackward, NoTransBackward, compose
from embcompat.backward.posthoc import posthoc_fit_backward
from embcompat.backward.closed_form import fit_closed_form
from embcompat.backward.sampling import BPRSampler
from embcompat.backward.version_context import TrainContext, data_fingerprint, write_version
from embcompat.utils import config_hash

__all__ = ["train_versions", "data_fingerprint", "version_keys", "write_version", "Callback"]

Callback = Callable[[int, VersionRecord], None]


def _key_parts(m: Method, ctx: TrainContext, k: int, prev: str | None, base: list[str] | None):
    cfg = ctx.config
    if k == 0 or m.kind == "independent":
        return ["independent", ctx.fp, cfg.train_fields(k)]
    if m.kind == "joint":
        return ["joint", ctx.fp, prev, cfg.train_fields(k), m.key_fields(cfg)]
    if m.kind == "finetune":
        return ["finetune", ctx.fp, prev, cfg.train_fields(k, arch_of=0, epochs=cfg.finetune_epochs),
                m.key_fields(cfg)]
    if m.kind == "fixed":
        return ["fixed", ctx.fp, prev, k]
    if m.kind == "posthoc":
        return ["posthoc", ctx.fp, prev, base[k], base[k - 1], m.key_fields(cfg), k, cfg.seed]
    raise ValueError(f"method {m.name!r} has no versions of its own")


def version_keys(method: str | Method, graph: InteractionGraph, splits: Sequence[VersionSplit],
                 config: BCTrainConfig) -> list[str]:
    """The cache key of every version of ``method`` (without training or loading anything)."""
    m = get_method(method)
    ctx = TrainContext(graph, splits, config, cache=False, progress=False)
    return _keys(m, ctx)


def _keys(m: Method, ctx: TrainContext) -> list[str]:
    base = _keys(METHODS["Non-BC"], ctx) if m.kind == "posthoc" else None
    keys: list[str] = []
    for k in range(ctx.config.num_versions):
        keys.append(config_hash(*_key_parts(m, ctx, k, keys[-1] if keys else None, base)))
    return keys


def _record(ctx: TrainContext, k: int, key: str, model_key: str, z_user, z_item, zhat0, *, fit=None,
            state=None, B=None, B_kind=None, dim=None, layers=None, **kw) -> VersionRecord:
    s = ctx.splits[k]
    if fit is not None:
        kw.update(history=fit.history, recall=fit.recall, test_recall=fit.test_recall,
                  best_epoch=fit.best_epoch, epoch_seconds=fit.epoch_seconds,
                  eval_seconds=fit.eval_seconds)
    return VersionRecord(k=k, key=key, model_key=model_key, dim=dim or int(z_user.shape[1]),
                         layers=layers or ctx.config.layers[k], num_users=s.num_users,
                         num_items=s.num_items, state=state, B=B, B_kind=B_kind,
                         z_user=z_user.cpu(), z_item=z_item.cpu(), zhat0_user=zhat0[0].cpu(),
                         zhat0_item=zhat0[1].cpu(), **kw)


def _fit(ctx: TrainContext, model: PinSAGE, k: int, epochs: int, desc: str, *,
         select_after: int = 0, alignment: Alignment | None = None) -> FitResult:
    cfg = ctx.config
    s = ctx.splits[k]
    edges = ctx.train_edges(k).to(ctx.device)
    sampler = BPRSampler(edges[0], edges[1], s.num_items, batch_size=cfg.step_batch_size())
    gen = torch.Generator().manual_seed(cfg.seed + 1000 * k + 1)
    ctx.trained += 1
    with ctx.bar(desc, epochs) as bar:
        return fit_version(model, ctx.vgraph(k), sampler, ctx.evaluator(k), epochs=epochs,
                           lr=cfg.step_lr(), reg=cfg.reg, eval_every=cfg.eval_every,
                           select_after=select_after, alignment=alignment,
                           lr_trans=cfg.step_lr(cfg.lr_trans), patience=cfg.patience,
                           lr_schedule=cfg.lr_schedule, generator=gen, bar=bar)


def _make(m: Method, ctx: TrainContext, k: int, key: str, recs: list[VersionRecord],
          base: VersionsResult | None) -> VersionRecord:
    """Compute version ``k`` of method ``m`` (``recs`` = its versions ``0..k-1``)."""
    cfg, t0 = ctx.config, time.perf_counter()
    d0 = cfg.dims[0]
    desc = f"{m.name if k else 'M_0'} v{k}"
    if k == 0 or m.kind == "independent":
        model = ctx.model(k)
        fit = _fit(ctx, model, k, cfg.epochs, desc)
        zhat0 = (fit.z_user[:, :d0], fit.z_item[:, :d0])
        rec = _record(ctx, k, key, key, fit.z_user, fit.z_item, zhat0, fit=fit, state=fit.state)
    elif m.kind == "fixed":
        m0 = recs[0]
        zu, zi = embed(ctx.model(0, state=m0.state), ctx.vgraph(k))
        ev = ctx.evaluator(k)
        rec = _record(ctx, k, key, m0.model_key, zu, zi, (zu, zi), dim=d0, layers=cfg.layers[0],
                      recall=ev(zu, zi), best_epoch=m0.best_epoch,
                      test_recall=ev(zu, zi, "test") if ev.heldout_test else None)
    elif m.kind == "finetune":
        model = ctx.model(k, arch_of=0, state=recs[k - 1].state)
        fit = _fit(ctx, model, k, cfg.finetune_epochs, desc)
        rec = _record(ctx, k, key, key, fit.z_user, fit.z_item, (fit.z_user, fit.z_item), fit=fit,
                      state=fit.state, layers=cfg.layers[0])
    elif m.kind == "joint":
        prev = ctx.model(k - 1, state=recs[k - 1].state)
        tu, ti = embed(prev, ctx.vgraph(k))
        if m.transform == "notrans":
            B = NoTransBackward(cfg.dims[k], cfg.dims[k - 1])
        else:
            gen = torch.Generator().manual_seed(cfg.seed + 1000 * k + 2)
            B = (MLPBackward(cfg.dims[k], cfg.dims[k - 1], cfg.mlp_hidden, generator=gen)
                 if m.transform == "mlp" else
                 LinearBackward(cfg.dims[k], cfg.dims[k - 1], generator=gen)).to(ctx.device)
        earlier = ([as_backward(r.B, r.B_kind).to(ctx.device) for r in recs[1:]]
                   if m.multi_step else [])
        align = Alignment(tu, ti, B, earlier, cfg.lam)
        fit = _fit(ctx, ctx.model(k), k, cfg.epochs, desc, select_after=cfg.select_start,
                   alignment=align)
        W = fit.B if fit.B is not None else B.matrix()
        W = W.cpu() if isinstance(W, torch.Tensor) else W  # MLP: a CPU state dict already
        Bs = [as_backward(r.B, r.B_kind) for r in recs[1:]] + [as_backward(W, m.transform)]
        zhat0 = (compose(Bs, fit.z_user), compose(Bs, fit.z_item))
        rec = _record(ctx, k, key, key, fit.z_user, fit.z_item, zhat0, fit=fit, state=fit.state,
                      B=W, B_kind=m.transform)
    elif m.solver is not None:  # closed-form post-hoc B_k (Post-LS, Post-Procrustes)
        new, z_old = base[k], embed(ctx.model(k - 1, state=base[k - 1].state), ctx.vgraph(k))
        W, extra = fit_closed_form(m.solver, (new.z_user, new.z_item), z_old,
                                   ridge=cfg.posthoc_ridge)
        Bs = [r.B for r in recs[1:]] + [W]
        rec = _record(ctx, k, key, new.key, new.z_user, new.z_item,
                      (compose(Bs, new.z_user), compose(Bs, new.z_item)), B=W, B_kind="linear",
                      dim=new.dim, layers=new.layers, history=new.history, recall=new.recall,
                      test_recall=new.test_recall, best_epoch=new.best_epoch, extra=extra)
    elif m.kind == "posthoc":
        new, old = base[k], base[k - 1]
        zu_old, zi_old = embed(ctx.model(k - 1, state=old.state), ctx.vgraph(k))
        earlier = [r.B for r in recs[1:]] if m.multi_step else None
        with ctx.bar(desc, cfg.posthoc_epochs) as bar:
            res = posthoc_fit_backward(
                (new.z_user.to(ctx.device), new.z_item.to(ctx.device)), (zu_old, zi_old),
                epochs=cfg.posthoc_epochs, lr=cfg.lr_trans, select_after=cfg.posthoc_select_after,
                batch_size=cfg.batch_size, seed=cfg.seed + 1000 * k + 3,
                earlier_Bs=[b.to(ctx.device) for b in earlier] if earlier else None,
                edges=ctx.train_edges(k), eval_every=cfg.posthoc_eval_every)
            bar.update(cfg.posthoc_epochs)
        W = res.B.weight.detach().cpu()
        Bs = [r.B for r in recs[1:]] + [W]
        zhat0 = (compose(Bs, new.z_user), compose(Bs, new.z_item))
        rec = _record(ctx, k, key, new.key, new.z_user, new.z_item, zhat0, B=W, B_kind="linear",
                      dim=new.dim, layers=new.layers, history=new.history, recall=new.recall,
                      test_recall=new.test_recall, best_epoch=new.best_epoch,
                      extra={"eval_mse": res.eval_mse, "train_loss": res.train_loss,
                             "best_epoch": res.best_epoch, "best_mse": res.best_mse})
    else:  # pragma: no cover
        raise ValueError(m.name)
    rec.train_seconds = time.perf_counter() - t0
    return rec


def _run(m: Method, ctx: TrainContext, callback: Callback | None) -> VersionsResult:
    if m.kind == "derived":
        return _keep_all(ctx)
    base = _run(METHODS["Non-BC"], ctx, None) if m.kind == "posthoc" else None
    base_keys = [v.key for v in base.versions] if base is not None else None
    recs: list[VersionRecord] = []
    for k in range(ctx.config.num_versions):
        parts = _key_parts(m, ctx, k, recs[-1].key if recs else None, base_keys)
        key = config_hash(*parts)
        rec = ctx.load(key)
        if rec is None:
            rec = _make(m, ctx, k, key, recs, base)
            ctx.save(rec, m, parts)
        recs.append(rec)
        if callback is not None:
            callback(k, rec)
    return VersionsResult(m, ctx.graph.name, ctx.config, recs)


def _keep_all(ctx: TrainContext) -> VersionsResult:
    """Keep-All: intended-task numbers and ``z_k`` of Non-BC, ``z~_0`` = the true ``z_0`` (Fix-M0)."""
    nonbc = _run(METHODS["Non-BC"], ctx, None)
    fix = _run(METHODS["Fix-M0"], ctx, None)
    recs = []
    for a, b in zip(nonbc.versions, fix.versions):
        r = VersionRecord(**{**a.__dict__, "zhat0_user": b.zhat0_user, "zhat0_item": b.zhat0_item,
                             "extra": {"z0_key": b.key}})
        recs.append(r)
    return VersionsResult(METHODS["Keep-All"], ctx.graph.name, ctx.config, recs)


def train_versions(method: str | Method, graph: InteractionGraph, splits: Sequence[VersionSplit],
                   config: BCTrainConfig, *, cache: bool = True, progress: bool = True,
                   callback: Callback | None = None) -> VersionsResult:
    """Train or load every version of one BC method on one data set.

    Args:
        method: a Table 3 name or official slug (see :data:`embcompat.backward.methods.METHODS`).
        graph: the data set.
        splits: its per-version splits (``version_splits(graph, config.times,
            heldout_test=config.heldout_test)``).
        config: the training config (a :data:`~embcompat.config.bc.BC_SCALES` preset).
        cache: read and write ``outputs/cache/bc-version-<key>/`` (False: train everything).
        progress: show one tqdm bar per version (epochs as steps).
        callback: called as ``callback(k, record)`` after each version is ready (e.g. to log, or
            to stop a run by raising).

    Returns:
        :class:`~embcompat.backward.results.VersionsResult` with one record per version.
    """
    m = get_method(method)
    return _run(m, TrainContext(graph, splits, config, cache, progress), callback)
