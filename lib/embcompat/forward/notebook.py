"""The start notebooks 06-08 share: validate their parameters, build and check the experiments."""
from __future__ import annotations

from embcompat.config import FCTScale
from embcompat.forward.seeded import experiment_configs, experiments
from embcompat.report import set_style
from embcompat.utils import set_seed

__all__ = ["start_experiments"]


def start_experiments(scale: str | None, *, datasets=None, seeds=None, device: str = "auto",
                      side_infos=None) -> tuple[list[FCTScale], list, str]:
    """One FCT experiment per (data set, training seed) of a notebook's parameters, checked.

    Args:
        scale, datasets, seeds, device, side_infos: the notebook's parameters (``None``: the
            scale's value; strings as ``papermill -p`` passes them are accepted).

    Returns:
        ``(cfgs, exps, note)``: the configs, the experiments (images loaded once per data set) and
        a note naming the seeds for the captions.

    Raises:
        ValueError: a bad parameter, naming the allowed values.
    """
    cfgs = experiment_configs(scale, datasets, seeds, device=device, side_infos=side_infos)
    set_seed(cfgs[0].seed)
    set_style()
    exps = experiments(cfgs)
    sd = sorted({c.seed for c in cfgs})
    c = cfgs[0]
    note = (f"{len(sd)} training seeds {sd} (alternate old models: seed + {c.alt_seed_offset}), "
            f"data seed {c.data_seed}")
    for ds in dict.fromkeys(c.dataset for c in cfgs):
        exp = next(e for e in exps if e.scale.dataset == ds)
        d = exp.data
        print(f"scale={c.name} dataset={d.name} device={exp.device} backbone={c.backbone}-"
              f"{c.feature_dim}; train {tuple(d.train_x.shape)}, test {tuple(d.test_x.shape)}; "
              f"old classes 0..{exp.k_old - 1} of {d.num_classes}")
        if d.shortfalls:  # own image folders: classes with fewer images than the scale asks for
            print(d.note)
        assert d.train_x.shape[1:] == d.test_x.shape[1:]
        assert sorted(set(d.test_y.tolist())) == list(range(d.num_classes)), \
            "every class is in the gallery"
        assert 0 < exp.k_old < d.num_classes
    print(note)
    return cfgs, exps, note
