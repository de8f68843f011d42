"""Configs of the FCT experiments: one :class:`FCTScale` per named scale (``smoke``/``demo``/``paper``)
and :func:`fct_config`, the one getter.

A scale holds every knob of notebooks 06-08: the data set and its subsets, the backbone, the
optimisation of each model (old/new/BCT backbones, side-info models, the transformation h and the
side-info transformation g), seeds and the class splits of the update sequence. Every cached model
is keyed by the hash of exactly the fields it depends on, so notebooks 06, 07 and 08 share models.

``paper`` -- the official apple/ml-fct CIFAR-100 protocol, on one GPU:

* ResNet-18 with a CIFAR stem (3x3, no max-pool) at native 32x32 and a 128-d feature after a
  ReLU (``resnet18_cifar``). The official CIFAR-100 recipe uses a ResNet50-128 on images resized to
  224; ResNet-18 at 32x32 is our documented choice (``resnet50_cifar`` is one config edit away).
* Backbones: SGD, momentum 0.875, weight decay 2^-15, cosine schedule with 5 warm-up epochs,
  label smoothing 0.1, 100 epochs. The official lr 1.024 is for batch 1024 on 8 GPUs; we keep the
  linear-scaling rule on one GPU: batch 512, lr 0.512.
* h: Adam lr 5e-4, weight decay 2^-15, batch 1024, 80 epochs, cosine with 5 warm-up epochs, MSE,
  BatchNorm frozen for the second half, the official 2048-wide mixer.
* Side-info models trained on the old half of CIFAR-100 only: SimCLR (not the official download of
  an ImageNet SimCLR; our recipe: SGD lr 0.06 x batch/256, momentum 0.9, weight decay 5e-4,
  200 epochs, temperature 0.5), a conv autoencoder (Adam 1e-3, 100 epochs), an alternate old
  model (another seed) and an alternate old model trained with Mixup (alpha 1).
* Sequence of updates over 1/4, 1/2 and all classes, as the paper's ImageNet-250/500/1k.

``demo`` -- CIFAR-10 from the mirror and Fashion-MNIST (Debian package), 5 training seeds each, on
2 CPU cores (two experiments side by side, one thread each). To fit 10 experiments into the
90-minute budget of notebooks 06-08 the subsets are 300 train / 100 test images per class (was
800 / 200 with one seed; ``benchmarks/results/fct_budget.md``); SimCLR trains 20 epochs with its
kNN accuracy recorded every 4 (``benchmarks/results/fct_simclr_plateau.md``: 20 epochs come
within about 1.5 points of the 60-epoch level). Notebooks 07 and 08 reuse 06's models; 08 trains only v1, its
SimCLR and the sequence transforms.

``smoke`` -- 20 train / 20 test images per class, 1 backbone epoch: seconds per notebook, for CI.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from embcompat.config.common import SCALES, check_device, check_scale
from embcompat.params import as_list, check_seeds

__all__ = ["SIDE_INFOS", "SIDE_INFO_LABELS", "FCT_SEEDS", "fct_seeds", "TrainConfig", "TransformTrainConfig",
           "FCTScale", "FCT_SCALES", "fct_config", "validate_side_infos"]

#: Side-information kinds of the paper's Table 6: SimCLR on the old classes' images only (the
#: paper's SimCLR-500) and on every training image without labels (SimCLR-1k).
SIDE_INFOS: tuple[str, ...] = ("none", "autoencoder", "alt_old", "mixup_old", "simclr",
                               "simclr_all")
SIDE_INFO_LABELS: dict[str, str] = {
    "none": "None (zero vector)", "autoencoder": "Autoencoder", "alt_old": "alternate old model",
    "mixup_old": "old w/ Mixup", "simclr": "SimCLR (old classes)",
    "simclr_all": "SimCLR (all images, no labels)"}


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation of one network trained on images.

    Attributes:
        epochs: passes over the training subset.
        batch_size: images per step.
        lr: peak learning rate (after warm-up).
        optimizer: ``"sgd"`` (with ``momentum``) or ``"adam"``.
        momentum: SGD momentum.
        weight_decay: L2 weight decay of the optimizer.
        warmup_epochs: linear warm-up epochs of the official per-epoch cosine schedule.
        label_smoothing: cross-entropy label smoothing (classifiers only).
    """

    epochs: int = 100
    batch_size: int = 512
    lr: float = 0.512
    optimizer: str = "sgd"
    momentum: float = 0.875
    weight_decay: float = 2.0 ** -15
    warmup_epochs: int = 5
    label_smoothing: float = 0.1

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError(f"epochs must be >= 1 and batch_size >= 2, got {self.epochs}, "
                             f"{self.batch_size}")


@dataclass(frozen=True)
class TransformTrainConfig:
    """Training of a transformation (h, or g for side-info) on precomputed features.

    Attributes:
        epochs: official 80.
        batch_size: official 1024.
        lr: Adam learning rate, official 5e-4.
        weight_decay: official 2^-15.
        warmup_epochs: official 5 (cosine schedule).
        freeze_bn_from: BatchNorm is frozen for epochs ``>= freeze_bn_from * epochs`` (official
            ``switch_mode_to_eval``: the second half, 0.5).
        mixer_hidden: mixer width (official 2048).
        mixer_layers: hidden mixer layers (official 2).
    """

    epochs: int = 80
    batch_size: int = 1024
    lr: float = 5e-4
    weight_decay: float = 2.0 ** -15
    warmup_epochs: int = 5
    freeze_bn_from: float = 0.5
    mixer_hidden: int = 2048
    mixer_layers: int = 2


@dataclass(frozen=True)
class FCTScale:
    """Everything one scale of the FCT notebooks needs.

    Attributes:
        name: the scale's name.
        dataset: ``cifar10``, ``cifar100``, ``fashion-mnist`` or ``imagefolder:/abs/dir``: the
            data set of one experiment.
        datasets: the data sets notebooks 06-08 run by default, one experiment each.
        train_per_class: train images drawn per class (``None``: all).
        eval_per_class: test images per class for retrieval (query = gallery).
        data_seed: seeds the subset draws (kept apart from ``seed`` so data stay fixed).
        old_fraction: fraction of the classes the old model sees (first half).
        backbone: ``small_resnet``, ``resnet18_cifar`` or ``resnet50_cifar``.
        width: ``small_resnet`` width (ignored by the others).
        feature_dim: embedding size of every backbone and side-info model.
        norm_stats: normalisation statistics (``None``: ImageNet's for RGB, as the official code).
        backbone_train: old/new/alt-old/Mixup/BCT/sequence backbones.
        simclr_train: the SimCLR side-info model.
        autoencoder_train: the autoencoder side-info model.
        autoencoder_width: its first conv width.
        simclr_temperature: NT-Xent temperature.
        simclr_proj_dim: SimCLR projection size (the head is dropped for the side-info).
        simclr_monitor_every: every this many SimCLR epochs (and after the last), the kNN top-1
            accuracy of its features on the test images (memory bank: every training image with
            its label; labels never reach training) goes into the model's history, to show
            whether it has plateaued. ``0``: never.
        mixup_alpha: Beta(alpha, alpha) of the Mixup old model.
        mixup_mix_labels: ``False`` follows the paper's "Mixup applied only on images (for labels
            we use one-hot vectors)": CE against the one-hot label of the unpermuted image;
            ``True`` is standard Mixup (mixed targets).
        bct_lambda: weight of BCT's influence loss.
        transform_train: the transformation h.
        side_transform_train: the side-info transformation g of the sequence experiment.
        seed: the training seed of one experiment; each model trains from its own
            :func:`~embcompat.forward.experiment.model_seed` of it, its kind and class count (the
            alternate old model and the Mixup one, the paper's "alternate model + Mixup", start
            from ``seed + alt_seed_offset``).
        alt_seed_offset: seed offset of the alternate old models.
        side_infos: the side-info kinds notebooks 06/07 evaluate.
        sequence_fractions: class fractions of v1, v2, v3 (v2 = old and v3 = new when
            ``(f1, old_fraction, 1.0)``, so 08 reuses 06's models).
        sequence_side_info: side-info kind of the sequence experiment (the paper's SimCLR).
        device: ``auto``, ``cpu``, ``cuda``...
        num_threads: torch CPU threads (``None``: leave torch's default).
        eval_batch_size: batch size of feature extraction.
    """

    name: str
    dataset: str = "cifar100"
    datasets: tuple[str, ...] = ("cifar100",)
    train_per_class: int | None = None
    eval_per_class: int | None = None
    data_seed: int = 0
    old_fraction: float = 0.5
    backbone: str = "resnet18_cifar"
    width: int = 16
    feature_dim: int = 128
    norm_stats: str | None = None
    backbone_train: TrainConfig = field(default_factory=TrainConfig)
    simclr_train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=200, batch_size=512, lr=0.12, momentum=0.9, weight_decay=5e-4, warmup_epochs=10,
        label_smoothing=0.0))
    autoencoder_train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=100, batch_size=256, lr=1e-3, optimizer="adam", weight_decay=0.0, warmup_epochs=0,
        label_smoothing=0.0))
    autoencoder_width: int = 32
    simclr_temperature: float = 0.5
    simclr_proj_dim: int = 128
    simclr_monitor_every: int = 0
    mixup_alpha: float = 1.0
    mixup_mix_labels: bool = False
    bct_lambda: float = 1.0
    transform_train: TransformTrainConfig = field(default_factory=TransformTrainConfig)
    side_transform_train: TransformTrainConfig = field(default_factory=TransformTrainConfig)
    seed: int = 0
    alt_seed_offset: int = 1000
    side_infos: tuple[str, ...] = SIDE_INFOS
    sequence_fractions: tuple[float, float, float] = (0.25, 0.5, 1.0)
    sequence_side_info: str = "simclr"
    device: str = "auto"
    num_threads: int | None = None
    eval_batch_size: int = 512

    def __post_init__(self) -> None:
        # store the parsed tuple: papermill -p passes '["none", "simclr"]' as one string
        object.__setattr__(self, "side_infos", validate_side_infos(self.side_infos))
        object.__setattr__(self, "datasets", tuple(as_list(self.datasets, "datasets", item_type=str)))
        validate_side_infos([self.sequence_side_info])
        f = self.sequence_fractions
        if len(f) != 3 or not 0 < f[0] < f[1] < f[2] <= 1.0:
            raise ValueError(f"sequence_fractions must be 3 increasing fractions in (0, 1], got {f}")
        check_device(self.device)
        if not 0 < self.old_fraction < 1:
            raise ValueError(f"old_fraction must be in (0, 1), got {self.old_fraction}")

    def with_overrides(self, **overrides) -> "FCTScale":
        """A copy with some fields replaced; ``None`` values are ignored (notebook defaults).

        Raises:
            ValueError: an unknown field, naming the allowed ones.
        """
        names = {f.name for f in fields(self)}
        bad = sorted(set(overrides) - names)
        if bad:
            raise ValueError(f"unknown FCTScale field(s) {bad}; allowed: {', '.join(sorted(names))}")
        clean = {k: (tuple(v) if isinstance(v, list) else v) for k, v in overrides.items()
                 if v is not None}
        return replace(self, **clean)


def validate_side_infos(side_infos) -> tuple[str, ...]:
    """Check a list of side-info kinds.

    Raises:
        ValueError: naming the unknown kinds and the allowed ones.
    """
    side_infos = as_list(side_infos, "side_infos", item_type=str, allow_empty=True)  # "[a, b]" from -p
    bad = [s for s in side_infos if s not in SIDE_INFOS]
    if bad or not side_infos:
        raise ValueError(f"unknown or empty side-info kinds {bad or list(side_infos)}; allowed: "
                         f"{', '.join(SIDE_INFOS)}")
    return tuple(side_infos)


#: Training seeds notebooks 06-08 run by default, per scale (each seed retrains every model).
FCT_SEEDS: dict[str, tuple[int, ...]] = {"smoke": (0,), "demo": (0, 1, 2, 3, 4),
                                         "paper": (0, 1, 2, 3, 4)}


def fct_seeds(scale: str | None = None, seeds=None) -> list[int]:
    """``seeds`` checked (distinct ints), or the scale's :data:`FCT_SEEDS` when None."""
    return check_seeds(seeds, FCT_SEEDS[check_scale(scale)])


_SMOKE_TRAIN = TrainConfig(epochs=1, batch_size=50, lr=0.1, momentum=0.9, weight_decay=5e-4,
                           warmup_epochs=0)
_DEMO_TRAIN = TrainConfig(epochs=15, batch_size=128, lr=0.2, momentum=0.9, weight_decay=5e-4,
                          warmup_epochs=1)

FCT_SCALES: dict[str, FCTScale] = {
    "smoke": FCTScale(
        name="smoke", dataset="cifar10", datasets=("cifar10",), train_per_class=20, eval_per_class=20,
        backbone="small_resnet", width=8, backbone_train=_SMOKE_TRAIN,
        simclr_train=replace(_SMOKE_TRAIN, label_smoothing=0.0),
        autoencoder_train=TrainConfig(epochs=1, batch_size=50, lr=1e-3, optimizer="adam",
                                      weight_decay=0.0, warmup_epochs=0, label_smoothing=0.0),
        autoencoder_width=8,
        transform_train=TransformTrainConfig(epochs=4, batch_size=128, warmup_epochs=0,
                                             mixer_hidden=64),
        side_transform_train=TransformTrainConfig(epochs=4, batch_size=128, warmup_epochs=0,
                                                  mixer_hidden=64),
        sequence_fractions=(0.3, 0.5, 1.0), device="auto", num_threads=2, eval_batch_size=256),
    "demo": FCTScale(
        name="demo", dataset="cifar10", datasets=("cifar10", "fashion-mnist"), train_per_class=300,
        eval_per_class=100, backbone="small_resnet", width=16, backbone_train=_DEMO_TRAIN,
        simclr_train=TrainConfig(epochs=20, batch_size=128, lr=0.1, momentum=0.9,
                                 weight_decay=5e-4, warmup_epochs=1, label_smoothing=0.0),
        simclr_monitor_every=4,
        autoencoder_train=TrainConfig(epochs=8, batch_size=128, lr=1e-3, optimizer="adam",
                                      weight_decay=0.0, warmup_epochs=0, label_smoothing=0.0),
        autoencoder_width=16,
        transform_train=TransformTrainConfig(epochs=30, batch_size=256, warmup_epochs=2,
                                             mixer_hidden=512),
        side_transform_train=TransformTrainConfig(epochs=30, batch_size=256, warmup_epochs=2,
                                                  mixer_hidden=512),
        sequence_fractions=(0.3, 0.5, 1.0), device="auto", num_threads=None, eval_batch_size=256),
    "paper": FCTScale(name="paper", dataset="cifar100", simclr_monitor_every=10, device="auto"),
}
assert set(FCT_SCALES) == set(SCALES)


def fct_config(name: str | None = None, **overrides) -> FCTScale:
    """The named FCT scale, with optional field overrides (``None`` values ignored).

    Args:
        name: ``smoke``, ``demo`` or ``paper`` (default ``$EMBCOMPAT_SCALE``, else ``demo``).
        **overrides: :class:`FCTScale` fields; ``device`` must exist on this machine.

    Raises:
        ValueError: an unknown scale, field or device, or a device this machine lacks.
    """
    cfg = FCT_SCALES[check_scale(name)].with_overrides(**overrides)
    check_device(cfg.device, available=True)
    return cfg
