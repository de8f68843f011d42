"""Backbones and side-information models (tiny inputs, CPU, fast)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from embcompat.models.side_info import ConvAutoencoder, SimCLRModel, zero_side_info
from embcompat.models.vision import (BACKBONES, ResNet18Cifar, SmallResNet, build_backbone,
                                     num_parameters)



@pytest.mark.parametrize("channels,size", [(3, 32), (1, 28), (3, 16)])
def test_small_resnet_shapes_and_embed(channels, size):
    torch.manual_seed(0)
    m = SmallResNet(width=4, feature_dim=24, num_classes=7, in_channels=channels).eval()
    x = torch.randn(3, channels, size, size)
    f, logits = m(x)
    assert f.shape == (3, 24) and logits.shape == (3, 7)
    assert torch.equal(m.embed(x), f)
    assert (f >= 0).all(), "feature is pooled after a ReLU, as in the official code"
    assert torch.allclose(logits, f @ m.classifier.weight.T)


def test_small_resnet_structure():
    m = SmallResNet(width=8, feature_dim=32, num_classes=5)
    convs = [mod for mod in m.stem.modules() if isinstance(mod, nn.Conv2d)]
    assert convs[0].kernel_size == (3, 3) and convs[0].stride == (1, 1)
    assert [b.conv2.out_channels for b in m.stages] == [8, 16, 32, 32]
    assert m.classifier.bias is None and m.classifier.weight.shape == (5, 32)
    assert not any(isinstance(mod, nn.MaxPool2d) for mod in m.modules())


def test_resnet18_cifar_official_feature_block():
    torch.manual_seed(0)
    m = ResNet18Cifar(feature_dim=16, num_classes=6, in_channels=1).eval()
    last = m.stages[-1][-1]  # layer4[1], the embedding block
    assert last.conv1.in_channels == 512 and last.conv1.out_channels == 16
    assert last.conv2.out_channels == 16
    assert last.downsample[0].in_channels == 512 and last.downsample[0].out_channels == 16
    assert m.stem[0].stride == (1, 1) and m.stem[0].kernel_size == (3, 3)
    assert not any(isinstance(mod, nn.MaxPool2d) for mod in m.modules())
    assert m.classifier.bias is None
    x = torch.randn(2, 1, 8, 8)
    f, logits = m(x)
    assert f.shape == (2, 16) and logits.shape == (2, 6) and (f >= 0).all()
    # the stem keeps the resolution: layer1 sees the full 8x8 map
    assert m.stem(x).shape[-2:] == (8, 8)


def test_resnet50_cifar_builds_and_runs():
    m = build_backbone("resnet50_cifar", feature_dim=8, num_classes=3).eval()
    f, logits = m(torch.randn(2, 3, 8, 8))
    assert f.shape == (2, 8) and logits.shape == (2, 3)


def test_build_backbone_names_allowed_values():
    with pytest.raises(ValueError) as err:
        build_backbone("resnet9000")
    for name in BACKBONES:
        assert name in str(err.value)
    assert isinstance(build_backbone("small_resnet", width=4), SmallResNet)


def test_bad_arguments_speak():
    with pytest.raises(ValueError, match="width"):
        SmallResNet(width=0)
    m = SmallResNet(width=4, in_channels=1)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        m(torch.randn(2, 3, 16, 16))


def test_no_classifier_and_gradients_reach_all_parameters():
    torch.manual_seed(0)
    m = SmallResNet(width=4, feature_dim=8, num_classes=0)
    f, logits = m(torch.randn(4, 3, 16, 16))
    assert logits is None and m.classifier is None
    m2 = SmallResNet(width=4, feature_dim=8, num_classes=3)
    f, logits = m2(torch.randn(4, 3, 16, 16))
    F.cross_entropy(logits, torch.tensor([0, 1, 2, 0])).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m2.parameters())
    assert num_parameters(m2) == sum(p.numel() for p in m2.parameters())


def test_zero_side_info():
    z = zero_side_info(5, 7, dtype=torch.float64)
    assert z.shape == (5, 7) and z.dtype == torch.float64 and not z.any()


@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32)])
def test_autoencoder_shapes(channels, size):
    ae = ConvAutoencoder(channels, size, bottleneck_dim=12, width=4)
    z, recon = ae(torch.randn(2, channels, size, size))
    assert z.shape == (2, 12) and recon.shape == (2, channels, size, size)
    assert torch.equal(ae.eval().embed(torch.ones(2, channels, size, size)), ae.encoder(
        torch.ones(2, channels, size, size)))


def test_autoencoder_rejects_bad_sizes():
    with pytest.raises(ValueError, match="divisible by 4"):
        ConvAutoencoder(3, 30)
    ae = ConvAutoencoder(3, 16, width=4)
    with pytest.raises(ValueError, match="expects"):
        ae.embed(torch.randn(1, 3, 32, 32))


def test_autoencoder_learns_to_reconstruct():
    torch.manual_seed(0)
    ae = ConvAutoencoder(1, 8, bottleneck_dim=16, width=4)
    x = torch.randn(8, 1, 8, 8)
    opt = torch.optim.Adam(ae.parameters(), lr=1e-2)
    first = ae.reconstruction_loss(x).item()
    for _ in range(30):
        opt.zero_grad()
        loss = ae.reconstruction_loss(x)
        loss.backward()
        opt.step()
    assert loss.item() < 0.6 * first


def test_simclr_model_side_info_is_backbone_feature():
    torch.manual_seed(0)
    bb = SmallResNet(width=4, feature_dim=8, num_classes=0)
    model = SimCLRModel(bb, hidden_dim=16, proj_dim=6).eval()
    x = torch.randn(3, 3, 16, 16)
    h, z = model(x)
    assert h.shape == (3, 8) and z.shape == (3, 6)
    assert torch.equal(model.embed(x), bb.embed(x))
    assert torch.allclose(z, model.head(h))
    with pytest.raises(TypeError, match="embed"):
        SimCLRModel(nn.Linear(3, 3))
