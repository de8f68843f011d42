"""How the versions of one BC experiment are trained (Table 3): :class:`BCTrainConfig`, its named
scales and :func:`bc_config`, the one getter.

One :class:`BCTrainConfig` describes how every version ``M_k`` (and ``B_k``) is trained. The
official protocol (snap-stanford/bc-emb ``generate_embeddings.py`` and ``embgen_strategy/*``) is the
``paper`` preset; ``demo`` and ``smoke`` are scaled down for 2 CPU cores.

Schedules (:data:`SCHEDULES`):

* ``"official"``: one full-graph forward + backward per minibatch of ``batch_size`` BPR triples
  (the official code's loop), Adam with ``lr``.
* ``"large-batch"``: ``batch_factor`` official minibatches are merged into one step (one full-graph
  propagation serves ``batch_factor * batch_size`` triples), with the learning rate scaled by
  ``lr_scaling`` (``"none"``, ``"sqrt"`` or ``"linear"`` in ``batch_factor``). Sharing one
  propagation across several minibatches *and* one optimizer step is exactly this: Adam is
  invariant to the scale of the loss, so summing or averaging the minibatch losses is the same.
  Whether it reaches the official Recall@50 is measured in ``benchmarks/bench_bc_schedule.py``
  (results in ``benchmarks/results/bc_schedule.md``).

The demo's time budget (21 GNN versions per data set, with the per-epoch costs that set it) is
worked out in ``benchmarks/results/bc_epoch.md``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace

from embcompat.config.common import check_device, check_scale
from embcompat.params import check_seeds

__all__ = ["BCTrainConfig", "BC_SCALES", "TRAIN_SEEDS", "train_seeds", "SCHEDULES", "LR_SCALINGS", "LR_SCHEDULES",
           "PAPER_ARCH",
           "GROCERY_ARCH", "DATASET_PRESETS", "DEFAULT_TIMES", "bc_config"]

#: The official time slices t_0 < ... < t_K (fractions of the time span): versions 0..4.
DEFAULT_TIMES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

SCHEDULES = ("official", "large-batch")
LR_SCALINGS = ("none", "sqrt", "linear")
#: How the learning rate moves over one version's epochs: ``"constant"`` (official) or ``"cosine"``
#: (from the step lr down to 0 over ``epochs``, one step per epoch; :func:`embcompat.backward.epoch.lr_factor`).
LR_SCHEDULES = ("constant", "cosine")
#: Musical Instruments / Video Games (official ``get_pinsage_hyperparam_list``): (dims, layers).
PAPER_ARCH = ((256, 320, 384, 448, 512), (2, 2, 3, 3, 3))
#: Grocery's schedule in the official code.
GROCERY_ARCH = ((256, 320, 384, 384, 384), (1, 1, 2, 2, 2))


@dataclass(frozen=True)
class BCTrainConfig:
    """How the versions of one BC experiment are trained (one config for every method).

    Attributes:
        dims: embedding dimension ``d_k`` per version (official MI/VG: 256, 320, 384, 448, 512).
        layers: SAGEConv layers per version (official MI/VG: 2, 2, 3, 3, 3).
        epochs: training epochs of every ``M_k`` (official 500).
        batch_size: BPR triples per official minibatch (official 2048).
        lr: Adam learning rate of ``M_k`` (official 1e-3).
        lr_trans: Adam learning rate of ``B_k`` (joint and post-hoc; official 1e-3).
        reg: weight of the L2 term on the batch embeddings (official 1e-2).
        lam: weight of the alignment loss, lambda (official default 16).
        mlp_hidden: hidden width of BC-Aligner-MLP's nonlinear ``B_k`` (not in the paper; a key
            field of that method only).
        eval_every: evaluate Recall@K every this many epochs (official 10).
        patience: stop a version's training after this many evaluations in a row inside its
            selection window without a new best Recall@50 on the selection split (``None``, the
            official protocol: run every epoch). ``epochs`` is then the cap. Part of the cache
            keys only when set.
        select_start: joint methods select only epochs ``> select_start`` (official 50).
        finetune_epochs: Finetune-M0's epochs per later version (official 250).
        posthoc_epochs: post-hoc ``B_k`` epochs (official 200).
        posthoc_select_after: post-hoc selection only after this epoch (official 50).
        posthoc_eval_every: post-hoc selection MSE every this many epochs (official 10).
        posthoc_ridge: ridge weight of Post-LS (not in the paper; see
            :mod:`embcompat.backward.closed_form`): ``W`` minimises
            ``sum_r w_r ||W x_r - y_r||^2 + posthoc_ridge ||W||_F^2`` with the selection weights
            ``w_r`` (summing to 1). Default 0: the exact least-squares optimum of Post-Lin-SLoss's
            selection MSE. Only Post-LS's cache keys include it.
        seed: base seed; version ``k`` derives its seeds from ``seed`` and ``k``.
        schedule: ``"official"`` or ``"large-batch"`` (see the module docstring).
        batch_factor: minibatches merged per step under ``"large-batch"``.
        lr_scaling: learning-rate scaling under ``"large-batch"``.
        lr_schedule: ``"constant"`` (official) or ``"cosine"`` (the lr of ``M_k`` and ``B_k``
            decays to 0 over the version's epochs, the cap). Part of the cache keys only when
            not constant.
        heldout_test: select on the validation half of each window and report the test half.
        times: the time slices ``t_0 < ... < t_K`` (official 0.5 ... 1.0).
        ks: the Recall@K cut-offs; selection uses K = 50.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``; not part of any cache key.
    """

    dims: tuple[int, ...] = PAPER_ARCH[0]
    layers: tuple[int, ...] = PAPER_ARCH[1]
    epochs: int = 500
    batch_size: int = 2048
    lr: float = 1e-3
    lr_trans: float = 1e-3
    reg: float = 1e-2
    lam: float = 16.0
    mlp_hidden: int = 256
    eval_every: int = 10
    patience: int | None = None
    select_start: int = 50
    finetune_epochs: int = 250
    posthoc_epochs: int = 200
    posthoc_select_after: int = 50
    posthoc_eval_every: int = 10
    posthoc_ridge: float = 0.0
    seed: int = 42
    schedule: str = "official"
    batch_factor: int = 1
    lr_scaling: str = "none"
    lr_schedule: str = "constant"
    heldout_test: bool = False
    times: tuple[float, ...] = DEFAULT_TIMES
    ks: tuple[int, ...] = (10, 20, 50, 100)
    device: str = field(default="auto", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dims", tuple(int(d) for d in self.dims))
        object.__setattr__(self, "layers", tuple(int(x) for x in self.layers))
        object.__setattr__(self, "times", tuple(float(t) for t in self.times))
        object.__setattr__(self, "ks", tuple(int(k) for k in self.ks))
        object.__setattr__(self, "posthoc_ridge", float(self.posthoc_ridge))
        self.validate()

    @property
    def num_versions(self) -> int:
        """K + 1, the number of versions (``len(times) - 1``)."""
        return len(self.times) - 1

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the bad one and what is allowed."""
        check_device(self.device)
        if len(self.dims) != len(self.layers) or len(self.dims) != self.num_versions:
            raise ValueError(f"dims ({len(self.dims)}), layers ({len(self.layers)}) and the versions "
                             f"given by times ({self.num_versions}) must have the same length")
        if any(d < 1 for d in self.dims) or any(x < 1 for x in self.layers):
            raise ValueError(f"dims and layers must be positive, got {self.dims}, {self.layers}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.lr_scaling not in LR_SCALINGS:
            raise ValueError(f"lr_scaling must be one of {LR_SCALINGS}, got {self.lr_scaling!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if isinstance(self.mlp_hidden, bool) or not isinstance(self.mlp_hidden, int) or self.mlp_hidden < 1:
            raise ValueError(f"mlp_hidden must be a positive int, got {self.mlp_hidden!r}")
        if self.patience is not None and (isinstance(self.patience, bool)
                                          or not isinstance(self.patience, int) or self.patience < 1):
            raise ValueError(f"patience must be None or a positive int, got {self.patience!r}")
        if self.batch_factor < 1 or self.batch_size < 1:
            raise ValueError("batch_size and batch_factor must be >= 1")
        if not 0.0 <= self.posthoc_ridge < math.inf:
            raise ValueError(f"posthoc_ridge must be finite and >= 0, got {self.posthoc_ridge}")
        if 50 not in self.ks:
            raise ValueError(f"ks must contain 50 (the selection metric), got {self.ks}")
        for name, epochs, after, every in (
                ("epochs/eval_every", self.epochs, 0, self.eval_every),
                ("epochs/select_start", self.epochs, self.select_start, self.eval_every),
                ("finetune_epochs", self.finetune_epochs, 0, self.eval_every),
                ("posthoc_epochs", self.posthoc_epochs, self.posthoc_select_after,
                 self.posthoc_eval_every)):
            if every < 1 or not any(e % every == 0 and e > after for e in range(1, epochs + 1)):
                raise ValueError(f"{name}: no epoch in ({after}, {epochs}] is a multiple of the "
                                 f"evaluation period {every}; nothing could be selected")

    # ------------------------------------------------------------------ schedule
    def step_batch_size(self) -> int:
        """Triples per optimizer step (``batch_size``, times ``batch_factor`` for large-batch)."""
        return self.batch_size * (self.batch_factor if self.schedule == "large-batch" else 1)

    def step_lr(self, base: float | None = None) -> float:
        """The learning rate used per step for ``M_k`` (or ``base``), scaled for large-batch."""
        lr = self.lr if base is None else base
        if self.schedule != "large-batch" or self.lr_scaling == "none":
            return lr
        f = self.batch_factor
        return lr * (math.sqrt(f) if self.lr_scaling == "sqrt" else f)

    # ------------------------------------------------------------------ cache keys
    def train_fields(self, k: int, *, arch_of: int | None = None, epochs: int | None = None) -> dict:
        """The fields that determine how one GNN version is trained (for cache keys).

        Args:
            k: the version (its seed and data).
            arch_of: whose architecture the model has (Finetune-M0 keeps version 0's).
            epochs: the epoch count, default :attr:`epochs`.
        """
        a = k if arch_of is None else arch_of
        out = {"k": k, "dim": self.dims[a], "layers": self.layers[a],
               "epochs": self.epochs if epochs is None else epochs, "batch_size": self.batch_size,
               "lr": self.lr, "reg": self.reg, "eval_every": self.eval_every, "seed": self.seed,
               "schedule": self.schedule, "heldout_test": self.heldout_test, "ks": list(self.ks)}
        if self.schedule == "large-batch":
            out.update(batch_factor=self.batch_factor, lr_scaling=self.lr_scaling)
        if self.patience is not None:
            out["patience"] = self.patience
        if self.lr_schedule != "constant":
            out["lr_schedule"] = self.lr_schedule
        return out

    def to_dict(self) -> dict:
        """All fields as a JSON-able dict (saved beside every cached version)."""
        return asdict(self)


#: Named presets. ``paper`` is the official protocol (MI/VG/amazon-2014-hin architecture; use
#: ``bc_config("paper", "amazon2018-grocery")`` for Grocery). Get them through :func:`bc_config`,
#: which applies the per-data-set changes of :data:`DATASET_PRESETS`.
#: ``demo`` keeps the paper's shape (2, 2, 3, 3, 3 layers, dims growing by a quarter of d_0 per
#: version) at an eighth of its width (32..64 dims) so that 5 training seeds of every method on
#: both real data sets fit 2 CPU cores. It has a fixed budget of 40 epochs per version (Finetune-M0:
#: 20; official 500 and 250) with the validated large-batch schedule (4 minibatches per
#: propagation, sqrt-scaled lr; benchmarks/results/bc_schedule.md): about 500-900 Adam steps where
#: the official run takes 25,500. At the official lr (1e-3) the curves were still rising at 60
#: epochs, and at 160 epochs v4 was still creeping up (benchmarks/results/bc_plateau_probe.md); a
#: 10x lr reached a higher Recall@50 at 60 epochs (5 seeds, paired: benchmarks/results/
#: bc_lr_check.md) but jumped 3-4 points between evaluations. So the demo decays its base lr (M_k
#: and B_k) to 0 by a cosine over the budget, which ends every curve on small steps: flat at the
#: end of the budget instead of cut off while climbing (02_plateau measures it). The base lr is
#: chosen per data set on the validation half of the Non-BC chains, among 1e-3, 3e-3 and 1e-2
#: (benchmarks/results/bc_lr_choice.md): 3e-3 (amazon-2014-hin, and any other data set), 1e-3 on
#: movielens-latest-small (:data:`DATASET_PRESETS`).
#: Every version runs all its epochs (no patience) and keeps its best evaluation (every 2 epochs)
#: by Recall@50 on the validation half; joint methods select only after a 10-epoch warm-up
#: (official: 50 of 500 epochs; at epoch 3 the alignment has not converged, docs/deviations.md).
#: Post-hoc B fitting: 50 epochs selected after 12 (official 200 / 50, evaluated every 5).
#: λ = 1, chosen on the validation half (benchmarks/results/lambda_choice.md): the largest λ of
#: the paper's grid whose validation intended degradation stays within 5 % of Non-BC (the paper's
#: 16 costs BC-Aligner about a quarter of Non-BC's Recall@50 at this width and budget).
#: ``smoke`` runs the same code paths at toy size (seconds per data set).
BC_SCALES: dict[str, BCTrainConfig] = {
    "paper": BCTrainConfig(),
    "demo": BCTrainConfig(dims=(32, 40, 48, 56, 64), layers=(2, 2, 3, 3, 3), epochs=40, lr=3e-3,
                          lr_trans=3e-3, lr_schedule="cosine", lam=1.0, eval_every=2, select_start=10,
                          finetune_epochs=20,
                          posthoc_epochs=50, posthoc_select_after=12, posthoc_eval_every=5,
                          schedule="large-batch", batch_factor=4, lr_scaling="sqrt",
                          heldout_test=True),
    "smoke": BCTrainConfig(dims=(8, 12, 16, 16, 16), layers=(1, 1, 2, 2, 2), epochs=3,
                           eval_every=1, patience=1, select_start=0, finetune_epochs=1, posthoc_epochs=2,
                           posthoc_select_after=0, posthoc_eval_every=1, schedule="large-batch",
                           batch_factor=8, lr_scaling="sqrt", heldout_test=True, mlp_hidden=16),
}


#: Per-data-set changes to a scale's preset, ``(scale, data set) -> fields``: Grocery's official
#: architecture at ``paper`` scale, and at ``demo`` the base learning rate movielens-latest-small's
#: validation half chose (1e-3; the preset's 3e-3 was amazon-2014-hin's choice;
#: benchmarks/results/bc_lr_choice.md).
DATASET_PRESETS: dict[tuple[str, str], dict] = {
    ("paper", "amazon2018-grocery"): {"dims": GROCERY_ARCH[0], "layers": GROCERY_ARCH[1]},
    ("demo", "movielens-latest-small"): {"lr": 1e-3, "lr_trans": 1e-3},
}


#: The training seeds of notebooks 02-04 per scale (each retrains every chain, M_0 included, and
#: draws its own validation / test halves); >= 5 wherever a claim is read off the tables.
TRAIN_SEEDS: dict[str, tuple[int, ...]] = {
    "smoke": (42, 43),
    "demo": (42, 43, 44, 45, 46),
    "paper": (42, 43, 44, 45, 46),
}


def train_seeds(scale: str | None = None, seeds=None) -> list[int]:
    """``seeds`` checked (distinct ints), or the scale's :data:`TRAIN_SEEDS` when None."""
    return check_seeds(seeds, TRAIN_SEEDS[check_scale(scale)])


def bc_config(scale: str | None = None, dataset: str | None = None, *, seed: int = 42,
              device: str = "auto", **overrides) -> BCTrainConfig:
    """The scale's BC preset for ``dataset``, with ``seed``, ``device`` and field overrides.

    The data set's entry of :data:`DATASET_PRESETS`, if any, applies before ``overrides``: Grocery
    gets its official architecture at ``paper`` scale (1, 1, 2, 2, 2 layers), movielens-latest-small
    its own base learning rate at ``demo``.

    Args:
        scale: ``smoke``, ``demo`` or ``paper`` (default ``$EMBCOMPAT_SCALE``, else ``demo``).
        dataset: the graph data set's name (only Grocery changes the preset).
        seed: the training seed (:attr:`BCTrainConfig.seed`).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; must exist on this machine.
        **overrides: any other :class:`BCTrainConfig` field.

    Raises:
        ValueError: an unknown scale, field, or device, or a device this machine lacks.
    """
    scale = check_scale(scale)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    cfg = replace(BC_SCALES[scale], seed=seed, device=check_device(device, available=True))
    cfg = replace(cfg, **DATASET_PRESETS.get((scale, dataset), {}))
    names = {f.name for f in fields(cfg)}
    bad = sorted(set(overrides) - names)
    if bad:
        raise ValueError(f"unknown BCTrainConfig field(s) {bad}; allowed: {', '.join(sorted(names))}")
    return replace(cfg, **overrides) if overrides else cfg
