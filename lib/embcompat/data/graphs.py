"""The evolving user-item graph: one canonical, time-sorted container (:class:`InteractionGraph`).

An :class:`InteractionGraph` holds every interaction (edge) of a data set, sorted by time with a
*stable* sort, with users and items numbered by their first appearance in that order. Because of
that numbering, "the users present at time t" are exactly the ids ``0 .. num_users(t) - 1``.
Graphs are saved as one ``.safetensors`` file. The time slices and per-version train/evaluation
edges are in :mod:`embcompat.data.splits`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from embcompat.utils import atomic_write

_FORMAT = "embcompat.InteractionGraph/1"
_TENSORS = ("user", "item", "rating", "time", "item_brand", "item_category_ptr", "item_category")
_INTS = ("num_users", "num_items", "num_brands", "num_categories")


@dataclass
class InteractionGraph:
    """All interactions of one data set, time-sorted, with item side information.

    Attributes:
        name: the registered data set name (``amazon-2014-hin``).
        user: ``(E,)`` int64 user ids ``0..num_users-1``, numbered by first appearance in time order.
        item: ``(E,)`` int64 item ids ``0..num_items-1``, numbered by first appearance in time order.
        rating: ``(E,)`` float32 ratings.
        time: ``(E,)`` int64 timestamps, ascending (ties keep the raw file order: stable sort).
        num_users: number of users.
        num_items: number of items.
        item_brand: ``(num_items,)`` int64 brand id, or ``-1`` for none.
        num_brands: number of brands.
        item_category_ptr: ``(num_items + 1,)`` int64 CSR row pointer over ``item_category``.
        item_category: ``(nnz,)`` int64 category ids; item ``i`` has
            ``item_category[item_category_ptr[i]:item_category_ptr[i + 1]]`` (multi-label).
        num_categories: number of categories.
        meta: JSON-able provenance: source, spec, raw file names and SHA-256, processing notes.
    """

    name: str
    user: torch.Tensor
    item: torch.Tensor
    rating: torch.Tensor
    time: torch.Tensor
    num_users: int
    num_items: int
    item_brand: torch.Tensor
    num_brands: int
    item_category_ptr: torch.Tensor
    item_category: torch.Tensor
    num_categories: int
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for n in ("user", "item", "time", "item_brand", "item_category_ptr", "item_category"):
            setattr(self, n, torch.as_tensor(getattr(self, n)).to(torch.long))
        self.rating = torch.as_tensor(self.rating).to(torch.float32)
        for n in _INTS:
            setattr(self, n, int(getattr(self, n)))
        self.validate()

    @property
    def num_edges(self) -> int:
        """Number of interactions ``E``."""
        return int(self.user.numel())

    def __len__(self) -> int:
        return self.num_edges

    def validate(self) -> None:
        """Check shapes, id ranges, time order and first-appearance numbering.

        Raises:
            ValueError: naming the first violated invariant.
        """
        E = self.user.numel()
        for n in ("item", "rating", "time"):
            if getattr(self, n).shape != (E,):
                raise ValueError(f"{self.name}: '{n}' has shape {tuple(getattr(self, n).shape)}, "
                                 f"expected ({E},) like 'user'")
        if self.item_brand.shape != (self.num_items,):
            raise ValueError(f"{self.name}: item_brand must have shape ({self.num_items},)")
        if self.item_category_ptr.shape != (self.num_items + 1,):
            raise ValueError(f"{self.name}: item_category_ptr must have shape ({self.num_items + 1},)")
        ptr = self.item_category_ptr
        if int(ptr[0]) != 0 or int(ptr[-1]) != self.item_category.numel() or bool((ptr[1:] < ptr[:-1]).any()):
            raise ValueError(f"{self.name}: item_category_ptr is not a valid CSR pointer")
        if E and bool((self.time[1:] < self.time[:-1]).any()):
            raise ValueError(f"{self.name}: time is not sorted ascending")
        for ids, n, lo in ((self.item_brand, "num_brands", -1), (self.item_category, "num_categories", 0)):
            if ids.numel() and (int(ids.min()) < lo or int(ids.max()) >= getattr(self, n)):
                raise ValueError(f"{self.name}: ids out of range [{lo}, {n})")
        for ids, n in ((self.user, "num_users"), (self.item, "num_items")):
            count = getattr(self, n)
            if E == 0:
                if count:
                    raise ValueError(f"{self.name}: {n}={count} but there are no edges")
                continue
            # first-appearance numbering <=> running max of ids grows by at most 1 and ends at n-1
            running = torch.cummax(ids, 0).values
            if int(ids.min()) < 0 or int(ids[0]) != 0 or int(running[-1]) != count - 1 or \
                    bool((ids > torch.cat([running.new_zeros(1) - 1, running[:-1]]) + 1).any()):
                raise ValueError(f"{self.name}: {n[4:]} ids are not 0..{count - 1} numbered by first "
                                 "appearance in time order")

    def edge_fraction(self) -> np.ndarray:
        """The official edge time ``r = linspace(0, 1, E)`` (float64), shape ``(E,)``."""
        return np.linspace(0, 1, self.num_edges)

    def item_categories(self, i: int) -> torch.Tensor:
        """Category ids of item ``i``, shape ``(n_i,)``."""
        return self.item_category[self.item_category_ptr[i]:self.item_category_ptr[i + 1]]

    def stats(self) -> dict:
        """Counts and ranges: users, items, interactions, brands, categories, time and rating range."""
        has = self.num_edges > 0
        return {
            "name": self.name,
            "users": self.num_users,
            "items": self.num_items,
            "interactions": self.num_edges,
            "brands": self.num_brands,
            "categories": self.num_categories,
            "items_with_brand": int((self.item_brand >= 0).sum()),
            "item_category_pairs": int(self.item_category.numel()),
            "time_min": int(self.time[0]) if has else None,
            "time_max": int(self.time[-1]) if has else None,
            "rating_min": float(self.rating.min()) if has else None,
            "rating_max": float(self.rating.max()) if has else None,
            "rating_mean": float(self.rating.mean()) if has else None,
        }

    def save(self, path: str | Path) -> None:
        """Write one ``.safetensors`` file (tensors + JSON header metadata), atomically."""
        from safetensors.torch import save

        header = {"format": _FORMAT, "name": self.name, "meta": json.dumps(self.meta, sort_keys=True)}
        header.update({n: str(getattr(self, n)) for n in _INTS})
        blob = save({n: getattr(self, n).contiguous().cpu() for n in _TENSORS}, metadata=header)
        with atomic_write(path) as f:
            f.write(blob)

    @classmethod
    def load(cls, path: str | Path) -> "InteractionGraph":
        """Read a file written by :meth:`save` (no code execution: safetensors + JSON)."""
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            if header.get("format") != _FORMAT:
                raise ValueError(f"{path}: not an InteractionGraph file (format {header.get('format')!r})")
            tensors = {n: f.get_tensor(n) for n in _TENSORS}
        return cls(name=header["name"], meta=json.loads(header["meta"]),
                   **{n: int(header[n]) for n in _INTS}, **tensors)
