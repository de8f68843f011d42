"""The start notebooks 06-08 share: validate their parameters, seed, build the experiment, check it."""
from __future__ import annotations

from embcompat.config import FCTScale, fct_config
from embcompat.forward.experiment import FCTExperiment
from embcompat.report import set_style
from embcompat.utils import set_seed

__all__ = ["start_experiment"]


def start_experiment(scale: str | None, *, dataset=None, seed=None, device: str = "auto",
                     side_infos=None) -> tuple[FCTScale, FCTExperiment, str]:
    """The FCT experiment of a notebook's parameters, with its data checked and described.

    Args:
        scale, dataset, seed, device, side_infos: the notebook's parameters (``None``: the
            scale's value; strings as ``papermill -p`` passes them are accepted).

    Returns:
        ``(cfg, exp, seeds)``: the resolved config, the experiment, and a note naming its seeds
        for the captions.

    Raises:
        ValueError: a bad parameter, naming the allowed values.
    """
    cfg = fct_config(scale, dataset=dataset, seed=seed, device=device, side_infos=side_infos)
    set_seed(cfg.seed)
    set_style()
    exp = FCTExperiment(cfg)
    d = exp.data
    seeds = (f"seed {cfg.seed} (alternate old models: seed {cfg.seed + cfg.alt_seed_offset}), "
             f"data seed {cfg.data_seed}")
    print(f"scale={cfg.name} dataset={d.name} device={exp.device} backbone={cfg.backbone}-"
          f"{cfg.feature_dim}; train {tuple(d.train_x.shape)}, test {tuple(d.test_x.shape)}; "
          f"old classes 0..{exp.k_old - 1} of {d.num_classes}; {seeds}")
    if d.shortfalls:  # own image folders: classes with fewer images than the scale asks for
        print(d.note)
    assert d.train_x.shape[1:] == d.test_x.shape[1:]
    assert sorted(set(d.test_y.tolist())) == list(range(d.num_classes)), \
        "every class is in the gallery"
    assert 0 < exp.k_old < d.num_classes
    return cfg, exp, seeds
