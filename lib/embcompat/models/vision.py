"""Image backbones for the FCT experiments: ResNet-style embedding models with a classifier.

Every backbone maps images ``x: (B, C, H, W)`` (float, normalised) to a feature ``(B, feature_dim)``
and logits ``(B, num_classes)``. ``forward`` returns ``(features, logits)`` (the official code
returns ``(logits, feature)``; we put the embedding first because it is what retrieval uses);
``embed`` returns the features only.

How the 128-d feature is made follows apple/ml-fct ``models/resnet.py``:

* there is **no extra linear/1x1 projection** to 128. The *last residual block* of the last stage
  is built with ``feature_dim`` output channels (both of its 3x3 convolutions for a basic block, its
  last 1x1 convolution for a bottleneck), with a 1x1-conv + BatchNorm shortcut, and it ends with a
  ReLU (``last_nonlin=True``);
* the feature is the global average pool of that block's output, so it is non-negative;
* the classifier is a bias-free linear map ``feature_dim -> num_classes`` (a bias-free 1x1 conv in
  the official code).

Deviations from the official code, on purpose:

* CIFAR-sized stem: a 3x3 stride-1 convolution and no max-pool, so 28x28 / 32x32 inputs keep
  their resolution. The official CIFAR-100 recipe instead resizes images to 224x224 and uses the
  ImageNet stem (7x7 stride 2 + max-pool) with a ResNet50-128; ``resnet50_cifar`` is offered for
  the paper scale, ``resnet18_cifar`` and ``small_resnet`` for CPU scales.
* weights are initialised as torchvision does (Kaiming-normal fan-out convolutions, BatchNorm
  weight 1 / bias 0); the official ResNet keeps PyTorch's default initialisation.
* any number of input channels (Fashion-MNIST is 1-channel).

Nothing here downloads weights: torchvision models are built with ``weights=None``.
"""
from __future__ import annotations

from typing import Callable

from torch import Tensor, nn
from torchvision.models import resnet18, resnet50
from torchvision.models.resnet import BasicBlock

__all__ = [
    "Backbone",
    "ResNet18Cifar",
    "ResNet50Cifar",
    "SmallResNet",
    "BACKBONES",
    "build_backbone",
    "num_parameters",
]


def _check_positive(name: str, value: int, allow_zero: bool = False) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and (
        value >= 0 if allow_zero else value >= 1)
    if not ok:
        kind = "a non-negative int" if allow_zero else "a positive int"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return value


def _shortcut(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))


def embedding_basic_block(c_in: int, feature_dim: int, stride: int = 1) -> BasicBlock:
    """The official ``BasicBlock(..., embedding_dim=feature_dim)``: both convs have ``feature_dim``
    channels, a 1x1-conv + BN shortcut when shapes differ, and a final ReLU."""
    down = _shortcut(c_in, feature_dim, stride) if (stride != 1 or c_in != feature_dim) else None
    return BasicBlock(c_in, feature_dim, stride=stride, downsample=down)


class _EmbeddingBottleneck(nn.Module):
    """The official ``Bottleneck(..., embedding_dim=feature_dim)``: 1x1 -> 3x3 -> 1x1 convs with
    inner width ``width`` and ``feature_dim`` output channels, BN after each, 1x1-conv + BN
    shortcut, final ReLU."""

    def __init__(self, c_in: int, width: int, feature_dim: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, feature_dim, 1, bias=False), nn.BatchNorm2d(feature_dim),
        )
        self.downsample = _shortcut(c_in, feature_dim) if c_in != feature_dim else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.body(x) + self.downsample(x))


def _init_weights(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class Backbone(nn.Module):
    """Shared body: ``stem -> stages -> global average pool -> classifier``.

    Args:
        stem: maps ``(B, C, H, W)`` to the first stage's input.
        stages: the residual stages; the last one outputs ``feature_dim`` channels after a ReLU.
        feature_dim: embedding size.
        num_classes: classifier outputs; ``0`` builds no classifier (``logits`` is then ``None``),
            e.g. for a SimCLR side-information encoder.
        in_channels: expected input channels (checked in ``forward``).
    """

    def __init__(self, stem: nn.Module, stages: nn.Sequential, feature_dim: int,
                 num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.feature_dim = _check_positive("feature_dim", feature_dim)
        self.num_classes = _check_positive("num_classes", num_classes, allow_zero=True)
        self.in_channels = _check_positive("in_channels", in_channels)
        self.stem = stem
        self.stages = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = (nn.Linear(feature_dim, num_classes, bias=False)
                           if num_classes > 0 else None)

    def embed(self, x: Tensor) -> Tensor:
        """Features only.

        Args:
            x: ``(B, in_channels, H, W)`` float images.

        Returns:
            ``(B, feature_dim)``, non-negative (pooled after a ReLU).
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{type(self).__name__} expects images of shape "
                             f"(B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        return self.pool(self.stages(self.stem(x))).flatten(1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """Features and logits.

        Args:
            x: ``(B, in_channels, H, W)`` float images.

        Returns:
            ``(features (B, feature_dim), logits (B, num_classes))``; logits are ``None`` when
            ``num_classes == 0``.
        """
        features = self.embed(x)
        logits = self.classifier(features) if self.classifier is not None else None
        return features, logits


def _cifar_stem(in_channels: int, width: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False),
                         nn.BatchNorm2d(width), nn.ReLU(inplace=True))


class ResNet18Cifar(Backbone):
    """torchvision ResNet-18 (``weights=None``) with a CIFAR stem and a ``feature_dim`` last block.

    ``layer4`` is ``[BasicBlock(256 -> 512, stride 2), BasicBlock(512 -> feature_dim)]`` as in the
    official ``ResNet18(embedding_dim=128)``.

    Args:
        feature_dim: embedding size (the paper's ResNet18-128 uses 128).
        num_classes: classifier outputs (0: no classifier).
        in_channels: image channels.
    """

    def __init__(self, feature_dim: int = 128, num_classes: int = 100, in_channels: int = 3) -> None:
        _check_positive("feature_dim", feature_dim)
        _check_positive("in_channels", in_channels)
        tv = resnet18(weights=None)
        tv.layer4[1] = embedding_basic_block(512, feature_dim)
        stages = nn.Sequential(tv.layer1, tv.layer2, tv.layer3, tv.layer4)
        super().__init__(_cifar_stem(in_channels, 64), stages, feature_dim, num_classes,
                         in_channels)
        _init_weights(self.stem)  # torchvision already initialised the rest this way
        _init_weights(tv.layer4[-1])


class ResNet50Cifar(Backbone):
    """torchvision ResNet-50 (``weights=None``) with a CIFAR stem and a ``feature_dim`` last block.

    The last bottleneck of ``layer4`` outputs ``feature_dim`` channels (inner width 512), as in the
    official ``ResNet50(embedding_dim=128)``. Meant for GPU (paper scale).

    Args:
        feature_dim: embedding size.
        num_classes: classifier outputs (0: no classifier).
        in_channels: image channels.
    """

    def __init__(self, feature_dim: int = 128, num_classes: int = 100, in_channels: int = 3) -> None:
        _check_positive("feature_dim", feature_dim)
        _check_positive("in_channels", in_channels)
        tv = resnet50(weights=None)
        tv.layer4[2] = _EmbeddingBottleneck(2048, 512, feature_dim)
        stages = nn.Sequential(tv.layer1, tv.layer2, tv.layer3, tv.layer4)
        super().__init__(_cifar_stem(in_channels, 64), stages, feature_dim, num_classes,
                         in_channels)
        _init_weights(self.stem)  # torchvision already initialised the rest this way
        _init_weights(tv.layer4[-1])


class SmallResNet(Backbone):
    """A small ResNet for CPU scales (``smoke``/``demo``).

    ``stem (3x3, width) -> [BasicBlock(w -> w), BasicBlock(w -> 2w, stride 2),
    BasicBlock(2w -> 4w, stride 2)] -> BasicBlock(4w -> feature_dim)`` (the embedding block, as in
    ResNet-18's ``layer4``) ``-> avg-pool -> linear``. With ``blocks_per_stage`` > 1 the extra
    blocks keep the stage's width.

    Args:
        width: channels of the first stage ``w``.
        feature_dim: embedding size.
        num_classes: classifier outputs (0: no classifier).
        in_channels: image channels (1 for Fashion-MNIST).
        blocks_per_stage: basic blocks in each of the three stages.
    """

    def __init__(self, width: int = 16, feature_dim: int = 128, num_classes: int = 10,
                 in_channels: int = 3, blocks_per_stage: int = 1) -> None:
        _check_positive("width", width)
        _check_positive("feature_dim", feature_dim)
        _check_positive("in_channels", in_channels)
        _check_positive("blocks_per_stage", blocks_per_stage)
        blocks: list[nn.Module] = []
        c_in = width
        for i, c_out in enumerate((width, 2 * width, 4 * width)):
            stride = 1 if i == 0 else 2
            down = _shortcut(c_in, c_out, stride) if (stride != 1 or c_in != c_out) else None
            blocks.append(BasicBlock(c_in, c_out, stride=stride, downsample=down))
            blocks.extend(BasicBlock(c_out, c_out) for _ in range(blocks_per_stage - 1))
            c_in = c_out
        blocks.append(embedding_basic_block(c_in, feature_dim))
        super().__init__(_cifar_stem(in_channels, width), nn.Sequential(*blocks), feature_dim,
                         num_classes, in_channels)
        self.width = width
        _init_weights(self)


BACKBONES: dict[str, Callable[..., Backbone]] = {
    "small_resnet": SmallResNet,
    "resnet18_cifar": ResNet18Cifar,
    "resnet50_cifar": ResNet50Cifar,
}


def build_backbone(name: str, **kwargs) -> Backbone:
    """Build a backbone by name.

    Args:
        name: one of ``small_resnet``, ``resnet18_cifar``, ``resnet50_cifar``.
        **kwargs: passed to the class (``feature_dim``, ``num_classes``, ``in_channels``, and
            ``width`` / ``blocks_per_stage`` for ``small_resnet``).

    Raises:
        ValueError: for an unknown name, naming the allowed ones.
    """
    if name not in BACKBONES:
        raise ValueError(f"Unknown backbone {name!r}; allowed: {', '.join(BACKBONES)}")
    return BACKBONES[name](**kwargs)


def num_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (optionally only those with ``requires_grad``)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
