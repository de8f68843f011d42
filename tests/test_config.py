"""embcompat.config: the one getter per paper, and devices checked against this machine."""
from __future__ import annotations

import pytest
import torch

from embcompat.config import bc_config, check_device, fct_config, get_scale

_COUNT = torch.cuda.device_count() if torch.cuda.is_available() else 0
MISSING = f"cuda:{_COUNT}"  # one past the last GPU: cuda:0 on a CPU-only machine


def test_a_device_this_machine_lacks_fails_at_the_getter():
    for getter in (lambda d: bc_config("smoke", device=d), lambda d: fct_config("smoke", device=d)):
        with pytest.raises(ValueError, match=rf"device '{MISSING}' is not available.*'auto'"):
            getter(MISSING)
    with pytest.raises(ValueError, match="is not available"):
        check_device("cuda:7" if _COUNT <= 7 else MISSING, available=True)


def test_device_syntax_is_checked_without_asking_the_machine():
    assert check_device("cuda:3") == "cuda:3"          # a config may name a GPU it runs on later
    for bad in ("gpu", "cuda:x", "", None):
        with pytest.raises(ValueError, match="allowed: auto, cpu, cuda, cuda:N, mps"):
            check_device(bad)
    assert check_device("cpu", available=True) == "cpu"
    assert check_device("auto", available=True) == "auto"


def test_bc_config_is_the_scale_preset_with_seed_and_overrides():
    cfg = bc_config("demo", "amazon-2014-hin", seed=7, epochs=40)
    assert cfg.seed == 7 and cfg.epochs == 40
    assert cfg.dims == get_scale("demo").bc.dims
    assert bc_config("paper", "amazon2018-grocery").layers == (1, 1, 2, 2, 2)
    assert bc_config("paper", "amazon2018-video-games").layers == (2, 2, 3, 3, 3)
    # per-data-set presets: movielens-latest-small's own base lr at demo only; overrides still win
    ml, az = bc_config("demo", "movielens-latest-small"), bc_config("demo", "amazon-2014-hin")
    assert (ml.lr, ml.lr_trans) == (1e-3, 1e-3) and (az.lr, az.lr_trans) == (3e-3, 3e-3)
    assert ml.train_fields(1) != az.train_fields(1)  # so their cache keys differ
    assert bc_config("paper", "movielens-latest-small").lr == bc_config("paper").lr
    assert bc_config("demo", "movielens-latest-small", lr=5e-3).lr == 5e-3
    with pytest.raises(ValueError, match="unknown BCTrainConfig field.*'epoch'.*allowed: batch_factor"):
        bc_config("smoke", epoch=3)
    with pytest.raises(ValueError, match="seed must be an int"):
        bc_config("smoke", seed="7")


def test_every_section_of_a_scale_is_a_plain_dataclass_field():
    import dataclasses

    s = get_scale("smoke")
    assert [f.name for f in dataclasses.fields(s)] == ["name", "data", "bc", "consumers", "sweep",
                                                        "fct"]
    assert s.fct == fct_config("smoke")


def test_fct_side_infos_given_as_a_papermill_string_are_stored_parsed():
    cfg = fct_config("smoke", side_infos='["autoencoder", "simclr"]')
    assert cfg.side_infos == ("autoencoder", "simclr")
