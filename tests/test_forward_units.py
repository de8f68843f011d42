"""Unit tests of embcompat.forward on tiny synthetic images (16x16, 4 classes)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from embcompat.config.fct import TrainConfig, TransformTrainConfig, fct_config, validate_side_infos
from embcompat.forward import (FCTData, FCTExperiment, compatibility_table, sequence_table,
                               train_transformation, transformation_mse)
from embcompat.forward.train import embed_images, lr_at
from embcompat.models.fct_transform import FCTTransform


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("EMBCOMPAT_CACHE", str(tmp_path / "cache"))


def _images(n_per_class: int, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class c: a bright channel c % 3 and stripes of period 2 + c // 3, plus noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(k).repeat_interleave(n_per_class)
    x = torch.rand(len(y), 3, 16, 16, generator=g) * 80
    cols = torch.arange(16)
    for i, c in enumerate(y.tolist()):
        x[i, c % 3] += 120
        x[i, :, :, (cols // (2 + c // 3)) % 2 == 0] += 50
    return x.clamp(0, 255).to(torch.uint8), y


@pytest.fixture
def data() -> FCTData:
    tx, ty = _images(12, 4, seed=0)
    sx, sy = _images(6, 4, seed=1)
    return FCTData.from_tensors(tx, ty, sx, sy, name="synthetic-test")


def _scale(**kw):
    tiny = TrainConfig(epochs=1, batch_size=16, lr=0.05, momentum=0.9, weight_decay=0.0,
                       warmup_epochs=0, label_smoothing=0.1)
    base = dict(width=4, feature_dim=8, backbone_train=tiny,
                simclr_train=TrainConfig(epochs=1, batch_size=16, lr=0.05, momentum=0.9,
                                         weight_decay=0.0, warmup_epochs=0, label_smoothing=0.0),
                autoencoder_train=TrainConfig(epochs=1, batch_size=16, lr=1e-3, optimizer="adam",
                                              weight_decay=0.0, warmup_epochs=0,
                                              label_smoothing=0.0),
                autoencoder_width=4,
                transform_train=TransformTrainConfig(epochs=2, batch_size=16, warmup_epochs=0,
                                                     mixer_hidden=16),
                side_transform_train=TransformTrainConfig(epochs=2, batch_size=16,
                                                          warmup_epochs=0, mixer_hidden=16),
                sequence_fractions=(0.25, 0.5, 1.0), device="cpu", num_threads=1)
    base.update(kw)
    return fct_config("smoke", **base)


def test_cache_is_reused_and_a_broken_one_is_retrained(data, tmp_path):
    first = FCTExperiment(_scale(), data).named("old")
    assert not first.from_cache and first.path.is_file()
    assert (first.path.parent / "config.json").is_file()
    again = FCTExperiment(_scale(), data).named("old")
    assert again.from_cache and again.key == first.key
    for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)
    # another seed is another model
    assert FCTExperiment(_scale(seed=3), data).named("old").key != first.key
    # a half-written file (what a killed atomic write leaves) is ignored ...
    first.path.unlink()
    (first.path.parent / ".model.pt.abc123.tmp").write_bytes(b"\x80half")
    redo = FCTExperiment(_scale(), data).named("old")
    assert not redo.from_cache
    # ... and so is a corrupt model.pt: it is retrained, then read back
    first.path.write_bytes(b"not a torch file")
    assert not FCTExperiment(_scale(), data).named("old").from_cache
    assert FCTExperiment(_scale(), data).named("old").from_cache


def test_features_have_two_views_and_the_second_is_flipped(data):
    exp = FCTExperiment(_scale(), data)
    old = exp.named("old")
    f = exp.features(old)
    n, m = len(data.train_y), len(data.test_y)
    assert f.train.shape == (2, n, 8) and f.test.shape == (m, 8)
    flipped = embed_images(old.model, data.train_x.flip(-1), mean_std=data.mean_std,
                           device=torch.device("cpu"))[0]
    assert torch.allclose(f.train[1], flipped, atol=1e-5)
    assert not torch.allclose(f.train[0], f.train[1])


def test_lr_schedule_is_the_official_cosine_with_warmup():
    assert lr_at(0, 1.0, 10, 2) == pytest.approx(0.5)
    assert lr_at(1, 1.0, 10, 2) == pytest.approx(1.0)
    assert lr_at(2, 1.0, 10, 2) == pytest.approx(1.0)
    assert lr_at(6, 1.0, 10, 2) == pytest.approx(0.5)
    assert lr_at(9, 1.0, 10, 2) == pytest.approx(0.5 * (1 + math.cos(math.pi * 7 / 8)))
    assert lr_at(0, 0.3, 1, 5) == pytest.approx(0.3)  # warm-up longer than the run


def _regression(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    old, side = torch.randn(n, 6, generator=g), torch.randn(n, 6, generator=g)
    a, b = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    return old, side, torch.tanh(old @ a) + torch.tanh(side @ b)


def test_h_reduces_mse_and_uses_the_side_info():
    old, side, target = _regression()
    cfg = TransformTrainConfig(epochs=30, batch_size=64, lr=3e-3, warmup_epochs=2, mixer_hidden=32)
    h, hist = train_transformation(old, side, target, cfg, seed=0, device=torch.device("cpu"))
    torch.manual_seed(0)
    untrained = FCTTransform(h.config).eval()
    mse, mse0 = transformation_mse(h, old, side, target), transformation_mse(untrained, old, side,
                                                                          target)
    assert mse < 0.3 * mse0
    assert hist[-1]["loss"] < hist[0]["loss"]
    zeros = torch.zeros_like(side)
    h_none, _ = train_transformation(old, zeros, target, cfg, seed=0, device=torch.device("cpu"))
    # the target depends on the side-info, so h with it must beat h fed zeros
    assert mse < 0.6 * transformation_mse(h_none, old, zeros, target)


def test_batchnorm_is_frozen_for_the_second_half():
    old, side, target = _regression(n=64)
    cfg = TransformTrainConfig(epochs=4, batch_size=16, warmup_epochs=0, mixer_hidden=16)
    _, hist = train_transformation(old, side, target, cfg, seed=0, device=torch.device("cpu"))
    assert [r["bn_frozen"] for r in hist] == [False, False, True, True]
    # frozen BatchNorm does not update its running statistics: frozen from epoch 0, they stay at
    # their initial values; frozen from the second half, they have moved
    h_all, _ = train_transformation(old, side, target,
                                    TransformTrainConfig(epochs=2, batch_size=16, warmup_epochs=0,
                                                         mixer_hidden=16, freeze_bn_from=0.0),
                                    seed=0, device=torch.device("cpu"))
    h_half, _ = train_transformation(old, side, target, cfg, seed=0, device=torch.device("cpu"))
    bn_all, bn_half = h_all.old_branch[1], h_half.old_branch[1]
    assert torch.equal(bn_all.running_mean, torch.zeros_like(bn_all.running_mean))
    assert torch.equal(bn_all.running_var, torch.ones_like(bn_all.running_var))
    assert not torch.equal(bn_half.running_mean, torch.zeros_like(bn_half.running_mean))


def test_bct_leaves_the_old_classifier_unchanged(data):
    exp = FCTExperiment(_scale(), data)
    old = exp.named("old")
    before = {k: v.clone() for k, v in old.model.state_dict().items()}
    bct = exp.named("bct")
    assert not bct.from_cache
    for k, v in old.model.state_dict().items():
        assert torch.equal(v, before[k]), k
    on_disk = torch.load(old.path, weights_only=True)["state_dict"]
    assert torch.equal(on_disk["classifier.weight"], before["classifier.weight"])
    # BCT is a new model over all classes, whose features are readable by the old classifier
    assert bct.model.classifier.out_features == 4 and old.model.classifier.out_features == 2
    # and it is not the independent new model
    new = exp.named("new")
    assert not torch.equal(bct.model.classifier.weight, new.model.classifier.weight)


def test_bct_influence_loss_reaches_the_new_model():
    from embcompat.forward.train import train_classifier
    from embcompat.models.vision import build_backbone

    x, y = _images(8, 4, seed=2)
    mean_std = ((0.5,) * 3, (0.25,) * 3)
    losses = {}
    for lam in (0.0, 5.0):
        torch.manual_seed(0)
        old_head = torch.nn.Linear(8, 2, bias=False)
        torch.manual_seed(1)
        m = build_backbone("small_resnet", width=4, feature_dim=8, num_classes=4)
        cfg = TrainConfig(epochs=1, batch_size=16, lr=0.05, momentum=0.9, weight_decay=0.0,
                          warmup_epochs=0, label_smoothing=0.0)
        losses[lam] = train_classifier(m, x, y, cfg, mean_std=mean_std, seed=0,
                                       device=torch.device("cpu"), bct_old_classifier=old_head,
                                       bct_lambda=lam, num_old_classes=2)[0]
        assert not old_head.weight.requires_grad
    assert losses[5.0] > losses[0.0]  # the influence term is part of the objective


def test_compatibility_table_has_one_row_per_case_and_side_info(data):
    exp = FCTExperiment(_scale(), data)
    t = compatibility_table(exp, ["none", "autoencoder"])
    assert len(t) == 5 + 3 * 2
    assert not t.duplicated(["method", "case", "side_info"]).any()
    for c in ("top1", "top5", "mAP"):
        assert t[c].between(0, 100).all()
    ind = t[(t.method == "Independent") & (t.case == "new/new")].iloc[0]
    fct = t[(t.method == "FCT") & (t.case == "new/new")]
    assert (fct.top1 == ind.top1).all() and (fct.mAP == ind.mAP).all()
    assert (t.top5 >= t.top1).all()


def test_sequence_reuses_old_and_new_models(data):
    exp = FCTExperiment(_scale(), data)
    old_key, new_key = exp.named("old").key, exp.named("new").key
    t = sequence_table(exp, ["autoencoder"])
    keys = {r["key"] for r in exp.log}
    assert old_key in keys and new_key in keys
    assert list(t.kind).count("two-hop") == 2 and list(t.kind).count("direct") == 2
    assert set(t.side_info) == {"n/a", "autoencoder", "none"}
    assert t.loc[t.case == "phi3/phi3", "classes"].iloc[0] == "1/2/4"
    # phi3 of the sequence is the independent new model: same retrieval numbers
    table = compatibility_table(exp, ["none"])
    new_new = table[(table.method == "Independent") & (table.case == "new/new")].top1.iloc[0]
    assert t.loc[t.case == "phi3/phi3", "top1"].iloc[0] == new_new


def test_parameters_are_validated_with_the_allowed_values():
    with pytest.raises(ValueError, match="allowed: smoke, demo, paper"):
        fct_config("huge")
    with pytest.raises(ValueError, match="allowed: none, autoencoder"):
        validate_side_infos(["simclr", "rotation"])
    with pytest.raises(ValueError, match="allowed: auto, cpu"):
        fct_config("smoke", device="gpu")
    with pytest.raises(ValueError, match="unknown FCTScale field"):
        fct_config("smoke", epochs=3)
    # None values keep the scale default (notebook parameters default to None)
    assert fct_config("demo", dataset=None).dataset == "cifar10"
    assert fct_config("paper").dataset == "cifar100"


def test_side_info_none_is_the_zero_vector(data):
    exp = FCTExperiment(_scale(), data)
    z = exp.side_features("none")
    assert z.train.shape == (2, len(data.train_y), 8) and not z.train.any() and not z.test.any()
    assert F.mse_loss(z.test, torch.zeros_like(z.test)) == 0


def test_every_model_of_a_run_has_its_own_seed(data):
    """Old and new (and every other model) draw init, data order and augmentation from their own
    seeds: with one shared seed the independent old and new models came out partly aligned."""
    import json

    from embcompat.forward.experiment import model_seed

    exp = FCTExperiment(_scale(), data)
    used = {}
    for name in ("old", "new", "alt_old"):
        spec = json.loads((exp.named(name).path.parent / "config.json").read_text())
        spec = spec.get("spec", spec)
        used[name] = spec["torch_seed"]
    assert len(set(used.values())) == 3
    assert used["old"] == model_seed(exp.scale.seed, "classifier", exp.k_old)
    assert used["new"] == model_seed(exp.scale.seed, "classifier", data.num_classes)
    assert model_seed(0, "classifier", 5) == model_seed(0, "classifier", 5)  # stable, not hash()
    old, new = exp.named("old").model, exp.named("new").model
    first = next(n for n, p in old.named_parameters() if p.dim() == 4)   # the stem conv
    assert not torch.equal(dict(old.named_parameters())[first], dict(new.named_parameters())[first])
