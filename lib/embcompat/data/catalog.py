"""Load several data sets by name, skipping (with the reason) those whose files are absent."""
from __future__ import annotations

from typing import Callable, Sequence, TypeVar

from embcompat.data.resolve import DataNotFoundError

T = TypeVar("T")


def load_many(names: Sequence[str], loader: Callable[[str], T], *, strict: bool
              ) -> tuple[list[T], list[tuple[str, str]]]:
    """Load every name with ``loader``.

    Args:
        names: data set specs.
        loader: e.g. ``embcompat.data.load_graph`` or ``embcompat.data.images.load_images``.
        strict: re-raise a missing data set (the user asked for it by name) instead of skipping it
            (a scale's default list names data sets that may not be on this machine).

    Returns:
        The loaded data sets, and ``(name, reason)`` for each skipped one.
    """
    loaded, skipped = [], []
    for name in names:
        try:
            loaded.append(loader(name))
        except DataNotFoundError as err:
            if strict:
                raise
            skipped.append((name, str(err).splitlines()[0]))
    return loaded, skipped
