"""Side-information models psi(x) for FCT (paper Section 3.4 and Table 6).

The paper's side-information kinds and how each is built here:

* **None** -- the zero vector, ``psi(x) = 0`` (paper Section 5.1): :func:`zero_side_info`.
  *Deviation of the official code:* apple/ml-fct ``train_transformation.py`` falls back to
  ``side_info_model = old_model`` when no side-info model is given, i.e. it feeds the *old
  embedding again* as side input. We follow the paper. (An FCT transformation built with
  ``side_dim=0`` is exactly equivalent to feeding zeros: see ``fct_transform.py``.)
* **Autoencoder** -- the bottleneck of a convolutional autoencoder trained with an L2
  reconstruction loss: :class:`ConvAutoencoder`. The paper's encoder/decoder are based on
  MobileNetV2 (its appendix); ours is a small plain conv net, a documented simplification.
* **Alternate old model** (``phi_old^alt``) -- no new module: a second backbone from
  :mod:`embcompat.models.vision`, trained exactly like the old model on the old classes, differing
  only in seed (initialisation and data order). Its ``embed`` is the side-info.
* **Old w/ Mixup** -- no new module either: the same backbone trained on the old classes with
  Mixup (:func:`embcompat.forward.augment.mixup`). Its ``embed`` is the side-info.
* **SimCLR** -- a backbone (``num_classes=0``) with a projection head, trained with NT-Xent
  (:func:`embcompat.losses.vision.nt_xent`): :class:`SimCLRModel`. The side-info is the backbone's
  ``feature_dim`` (128) feature, *before* the projection head, as the paper's "SimCLR
  ResNet50-128". The official code downloads a pretrained ImageNet SimCLR; we train one on the
  old training data only (the FCT constraint).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["zero_side_info", "ConvAutoencoder", "ProjectionHead", "SimCLRModel"]


def zero_side_info(n: int, dim: int = 128, *, device: torch.device | str | None = None,
                   dtype: torch.dtype = torch.float32) -> Tensor:
    """The paper's "no side-information": zeros.

    Args:
        n: number of samples.
        dim: side-info size.
        device: where to allocate.
        dtype: float dtype.

    Returns:
        ``(n, dim)`` zeros.
    """
    if n < 0 or dim < 0:
        raise ValueError(f"n and dim must be non-negative, got n={n}, dim={dim}")
    return torch.zeros(n, dim, device=device, dtype=dtype)


def _conv_bn_relu(c_in: int, c_out: int, k: int, stride: int, pad: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, k, stride=stride, padding=pad, bias=False),
            nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def _deconv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class ConvAutoencoder(nn.Module):
    """A small convolutional autoencoder; its bottleneck is the side-info.

    Encoder: ``conv3x3(C -> w) -> conv4x4/2(w -> 2w) -> conv4x4/2(2w -> 4w) -> flatten -> linear
    -> bottleneck``. Decoder mirrors it with transposed convolutions and ends with a linear 3x3
    conv back to ``C`` channels (no output activation: the target is the normalised image).

    Args:
        in_channels: image channels ``C``.
        image_size: ``H = W``; must be divisible by 4 (28 and 32 are).
        bottleneck_dim: side-info size.
        width: ``w``, channels of the first conv.
    """

    def __init__(self, in_channels: int = 3, image_size: int = 32, bottleneck_dim: int = 128,
                 width: int = 32) -> None:
        super().__init__()
        for name, v in (("in_channels", in_channels), ("image_size", image_size),
                        ("bottleneck_dim", bottleneck_dim), ("width", width)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4 (e.g. 28 or 32), got {image_size}")
        self.in_channels, self.image_size, self.bottleneck_dim = in_channels, image_size, bottleneck_dim
        self._grid = (4 * width, image_size // 4, image_size // 4)
        flat = 4 * width * (image_size // 4) ** 2
        self.encoder = nn.Sequential(
            *_conv_bn_relu(in_channels, width, 3, 1, 1),
            *_conv_bn_relu(width, 2 * width, 4, 2, 1),
            *_conv_bn_relu(2 * width, 4 * width, 4, 2, 1),
            nn.Flatten(), nn.Linear(flat, bottleneck_dim))
        self.decoder_fc = nn.Sequential(nn.Linear(bottleneck_dim, flat), nn.ReLU(inplace=True))
        self.decoder = nn.Sequential(
            *_deconv_bn_relu(4 * width, 2 * width),
            *_deconv_bn_relu(2 * width, width),
            nn.Conv2d(width, in_channels, 3, padding=1))

    def embed(self, x: Tensor) -> Tensor:
        """Bottleneck code (the side-info).

        Args:
            x: ``(B, C, H, W)`` float images.

        Returns:
            ``(B, bottleneck_dim)``.
        """
        expected = (self.in_channels, self.image_size, self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"ConvAutoencoder expects (B, {expected[0]}, {expected[1]}, "
                             f"{expected[2]}) images, got {tuple(x.shape)}")
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        """``z: (B, bottleneck_dim)`` -> reconstruction ``(B, C, H, W)``."""
        return self.decoder(self.decoder_fc(z).view(z.shape[0], *self._grid))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Returns ``(code (B, bottleneck_dim), reconstruction (B, C, H, W))``."""
        z = self.embed(x)
        return z, self.decode(z)

    def reconstruction_loss(self, x: Tensor) -> Tensor:
        """Mean squared reconstruction error (the paper's L2 reconstruction loss), a scalar."""
        _, recon = self(x)
        return F.mse_loss(recon, x)


class ProjectionHead(nn.Module):
    """SimCLR projection head ``g``: ``Linear -> [BN] -> ReLU -> Linear``.

    Args:
        in_dim: backbone feature size.
        hidden_dim: hidden width.
        out_dim: projection size (where NT-Xent is applied).
        batch_norm: BatchNorm after the hidden linear layer (SimCLR's implementation uses it).
    """

    def __init__(self, in_dim: int = 128, hidden_dim: int = 512, out_dim: int = 128,
                 batch_norm: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(in_dim, hidden_dim, bias=not batch_norm)]
        if batch_norm:
            layers.append(nn.BatchNorm1d(hidden_dim))
        layers += [nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim)]
        self.net = nn.Sequential(*layers)

    def forward(self, h: Tensor) -> Tensor:
        """``h: (B, in_dim)`` -> ``(B, out_dim)``."""
        return self.net(h)


class SimCLRModel(nn.Module):
    """A backbone plus a projection head, trained with NT-Xent on two augmented views.

    Args:
        backbone: any module with ``embed(x) -> (B, feature_dim)`` and a ``feature_dim`` attribute
            (e.g. ``build_backbone(name, num_classes=0)``).
        hidden_dim: projection head hidden width.
        proj_dim: projection size.
        batch_norm: BatchNorm in the head.
    """

    def __init__(self, backbone: nn.Module, hidden_dim: int = 512, proj_dim: int = 128,
                 batch_norm: bool = True) -> None:
        super().__init__()
        if not hasattr(backbone, "embed") or not hasattr(backbone, "feature_dim"):
            raise TypeError("backbone must have an embed(x) method and a feature_dim attribute, "
                            "e.g. embcompat.models.vision.build_backbone(name, num_classes=0)")
        self.backbone = backbone
        self.feature_dim = backbone.feature_dim
        self.head = ProjectionHead(backbone.feature_dim, hidden_dim, proj_dim, batch_norm)

    def embed(self, x: Tensor) -> Tensor:
        """The side-info: backbone features ``(B, feature_dim)`` (before the head)."""
        return self.backbone.embed(x)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Returns ``(features (B, feature_dim), projections (B, proj_dim))``."""
        h = self.embed(x)
        return h, self.head(h)
