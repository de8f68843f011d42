"""One row per image data set in notebook 01's ``01_image_stats`` table."""
import torch

from embcompat.data.images import ImageDataset
from embcompat.data.summary import IMAGE_STATS_COLUMNS, image_stats_table


def _toy(name, n_train, n_test, classes, c=3, h=4, w=5):
    return ImageDataset(name, torch.zeros(n_train, c, h, w, dtype=torch.uint8),
                        torch.arange(n_train) % classes, torch.zeros(n_test, c, h, w, dtype=torch.uint8),
                        torch.arange(n_test) % classes, [f"c{i}" for i in range(classes)])


def test_image_stats_rows():
    t = image_stats_table([_toy("rgb", 12, 6, 4), _toy("gray", 10, 5, 5, c=1, h=7, w=7)])
    assert list(t.columns) == list(IMAGE_STATS_COLUMNS)
    assert t.to_dict("records") == [
        {"dataset": "rgb", "classes": 4, "train": 12, "test": 6, "channels": 3, "size": "4x5",
         "old_classes": 2, "new_classes": 2},
        {"dataset": "gray", "classes": 5, "train": 10, "test": 5, "channels": 1, "size": "7x7",
         "old_classes": 2, "new_classes": 3}]  # round(0.5 * 5) = 2 old classes


def test_image_stats_of_no_data_set_has_the_columns():
    t = image_stats_table([])
    assert t.empty and list(t.columns) == list(IMAGE_STATS_COLUMNS)
