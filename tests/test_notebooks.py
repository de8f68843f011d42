"""papermill smoke runs of the notebooks, asserting on the tables they write.

nbval (``pytest --nbval-lax notebooks``) checks that every notebook runs; these tests inject
non-default parameters and check the numbers the notebooks produce.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import papermill as pm
import pytest

from embcompat.runner import kernel_name
from embcompat.utils import project_root

NOTEBOOKS = project_root() / "notebooks"


def run_notebook(name: str, tmp_path: Path, **parameters) -> Path:
    """Execute ``notebooks/<name>`` at smoke scale into ``tmp_path``; return the outputs folder."""
    out = Path(os.environ["EMBCOMPAT_OUTPUTS"]) / tmp_path.name
    os.environ["EMBCOMPAT_OUTPUTS"], old = str(out), os.environ["EMBCOMPAT_OUTPUTS"]
    try:
        pm.execute_notebook(str(NOTEBOOKS / name), str(tmp_path / name),
                            parameters={"scale": "smoke", **parameters}, kernel_name=kernel_name(),
                            cwd=str(NOTEBOOKS), progress_bar=False)
    finally:
        os.environ["EMBCOMPAT_OUTPUTS"] = old
    return out


@pytest.mark.slow
def test_01_stats_on_the_mirror(tmp_path, mirror_dir):
    out = run_notebook("01_data_prep.ipynb", tmp_path,
                       datasets=["amazon-2014-hin", "movielens-latest-small"], image_datasets=[])
    stats = pd.read_csv(out / "tables" / "01_dataset_stats.csv")
    whole = stats[stats.version == "all"].set_index("dataset")
    assert whole.loc["amazon-2014-hin", ["users", "items", "interactions"]].tolist() == [6170, 2753, 195791]
    assert whole.loc["movielens-latest-small", ["users", "items", "interactions"]].tolist() == [610, 9724, 100836]
    per_version = stats[stats.version != "all"]
    assert sorted(per_version.version.unique()) == ["0", "1", "2", "3", "4"]
    # each version's train edges grow with time
    for _, g in per_version.groupby("dataset"):
        assert g.sort_values("version").train_edges.is_monotonic_increasing
    for fig in ("01_interactions_over_time", "01_degree_distributions", "01_rating_histograms"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 1000


@pytest.mark.slow
def test_01_runs_on_a_users_own_csv(tmp_path):
    import numpy as np

    data = tmp_path / "shop"
    data.mkdir()
    rng = np.random.default_rng(0)
    n = 3000
    df = pd.DataFrame({"user": [f"u{u}" for u in rng.integers(0, 200, n)],
                       "item": [f"i{i}" for i in rng.integers(0, 80, n)],
                       "rating": rng.integers(1, 6, n), "timestamp": np.sort(rng.integers(0, 10**6, n))})
    df.to_csv(data / "interactions.csv", index=False)
    out = run_notebook("01_data_prep.ipynb", tmp_path, datasets=[f"interactions-csv:{data}"],
                       image_datasets=[])
    stats = pd.read_csv(out / "tables" / "01_dataset_stats.csv")
    assert int(stats[stats.version == "all"].interactions.iloc[0]) == n
    assert int(stats[stats.version == "all"].users.iloc[0]) == df.user.nunique()


def test_01_missing_named_dataset_fails_loudly(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="DataNotFoundError|not found"):
        run_notebook("01_data_prep.ipynb", tmp_path,
                     datasets=[f"interactions-csv:{tmp_path / 'nowhere'}"], image_datasets=[])
