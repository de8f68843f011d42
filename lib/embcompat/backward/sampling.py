"""The official bc-emb training sampler (``RecDatasetNegsamling``), vectorised.

Per epoch the official code draws ``E`` (= number of training edges) edge indices *with
replacement*, edge ``e`` with weight ``1 / deg(user[e])``. Summed over a user's edges the weights
are 1, so this is: **users uniform among users with a training edge, then a positive uniform among
that user's training edges** (duplicated edges count twice). Each triple gets ONE negative item,
uniform over the ``num_items`` items present at the version; a negative that is any training
positive of its user is redrawn until none is left. The epoch's triples are then cut into
minibatches of 2048 (the official DataLoader also shuffles them, which changes nothing in
distribution since the draws are i.i.d.; the last, partial batch is kept).

All random numbers come from an explicit ``torch.Generator`` and are drawn on its device.
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor

Triples = tuple[Tensor, Tensor, Tensor]


class BPRSampler:
    """Draws (user, positive item, negative item) triples from one version's training edges.

    Args:
        user: (E,) long users of the training edges.
        item: (E,) long items of the training edges.
        num_items: items present at the version; negatives are drawn from ``[0, num_items)``.
        batch_size: minibatch size (official 2048).
        max_rounds: safety bound on rejection rounds for the negatives.

    Raises:
        ValueError: if a user is a positive of every item (no negative can exist).
    """

    def __init__(self, user: Tensor, item: Tensor, num_items: int, batch_size: int = 2048,
                 max_rounds: int = 1000) -> None:
        if user.shape != item.shape or user.dim() != 1 or user.numel() == 0:
            raise ValueError("user and item must be non-empty 1-D tensors of equal length")
        if int(item.max()) >= num_items or int(item.min()) < 0:
            raise ValueError(f"items must lie in [0, num_items={num_items})")
        self.device = user.device
        self.num_items, self.batch_size, self.max_rounds = num_items, batch_size, max_rounds
        self.num_edges = user.numel()
        user, item = user.long(), item.long()
        order = torch.argsort(user, stable=True)
        self._item_sorted = item[order]  # (E,) items grouped by user
        deg = torch.bincount(user)
        self._ptr = torch.cumsum(deg, 0) - deg  # (num_users,) start of each user's edges
        self._deg = deg
        self.active_users = torch.nonzero(deg > 0).flatten()  # (A,)
        self._keys = torch.unique(user * num_items + item)  # sorted distinct positive pairs
        distinct = torch.bincount(self._keys // num_items, minlength=deg.numel())
        if bool((distinct >= num_items).any()):
            raise ValueError("a user has interacted with every item: no negative exists")

    def __len__(self) -> int:
        """Minibatches per epoch."""
        return -(-self.num_edges // self.batch_size)

    def is_positive(self, user: Tensor, item: Tensor) -> Tensor:
        """(B,) bool: whether ``(user[b], item[b])`` is a training edge."""
        key = user * self.num_items + item
        pos = torch.searchsorted(self._keys, key).clamp(max=self._keys.numel() - 1)
        return self._keys[pos] == key

    def _rand(self, n: int, gen: torch.Generator) -> Tensor:
        return torch.rand(n, generator=gen, device=gen.device, dtype=torch.float64).to(self.device)

    def _randint(self, high: int, n: int, gen: torch.Generator) -> Tensor:
        return torch.randint(high, (n,), generator=gen, device=gen.device).to(self.device)

    def sample_positives(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Users uniform over active users, positives uniform over the user's edges.

        Returns:
            user: (n,) long, item: (n,) long.
        """
        users = self.active_users[self._randint(self.active_users.numel(), n, generator)]
        deg = self._deg[users]
        off = (self._rand(n, generator) * deg).long().clamp(max=deg - 1)
        return users, self._item_sorted[self._ptr[users] + off]

    def sample_negatives(self, user: Tensor, generator: torch.Generator) -> Tensor:
        """One uniform negative per user, never a training positive of that user.

        Args:
            user: (n,) long.

        Returns:
            (n,) long items in ``[0, num_items)``.
        """
        neg = self._randint(self.num_items, user.numel(), generator)
        rest = torch.nonzero(self.is_positive(user, neg)).flatten()
        for _ in range(self.max_rounds):
            if rest.numel() == 0:
                return neg
            neg[rest] = self._randint(self.num_items, rest.numel(), generator)
            rest = rest[self.is_positive(user[rest], neg[rest])]
        raise RuntimeError(f"negative sampling did not finish in {self.max_rounds} rounds")

    def sample_epoch(self, generator: torch.Generator) -> Triples:
        """One epoch of triples, ``E`` of them: (user, pos, neg), each (E,) long."""
        user, pos = self.sample_positives(self.num_edges, generator)
        return user, pos, self.sample_negatives(user, generator)

    def batches(self, generator: torch.Generator) -> Iterator[Triples]:
        """Sample one epoch and yield its minibatches of ``batch_size`` (last one partial)."""
        user, pos, neg = self.sample_epoch(generator)
        for s in range(0, self.num_edges, self.batch_size):
            yield user[s:s + self.batch_size], pos[s:s + self.batch_size], \
                neg[s:s + self.batch_size]
