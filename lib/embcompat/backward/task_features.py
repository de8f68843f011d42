"""Consumer inputs of the unintended tasks: one version's embeddings, gathered for a task's ids.

A consumer model C_0 of a task (:mod:`embcompat.backward.tasks`) reads the user embedding (user
tasks), the item embedding (item tasks) or both, concatenated (the edge task), of the ids of a
:class:`~embcompat.backward.tasks.TaskSplit`, optionally cut to the first ``dim`` columns.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import torch

if TYPE_CHECKING:
    from embcompat.backward.tasks import TaskData, TaskSplit


def task_features(task: TaskData, user_emb: torch.Tensor | None, item_emb: torch.Tensor | None,
                  ids: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Turn embeddings into consumer inputs.

    Args:
        task: the task (its ``kind`` decides the input).
        user_emb: ``(num_users_k, d)`` user embeddings (unused by item tasks).
        item_emb: ``(num_items_k, d)`` item embeddings (unused by user tasks).
        ids: ``(n,)`` node ids or ``(n, 2)`` (user, item) pairs.
        dim: keep only the first ``dim`` columns of each embedding (the official cut of wider
            Non-BC embeddings to d_0); ``None`` keeps all.

    Returns:
        ``(n, d)`` for node tasks, ``(n, 2d)`` for the edge task, on the embeddings' device.

    Raises:
        ValueError: an embedding is missing, narrower than ``dim``, or has too few rows.
    """
    def take(emb, what, rows):
        if emb is None:
            raise ValueError(f"task {task.name!r} needs {what} embeddings")
        if dim is not None:
            if emb.shape[1] < dim:
                raise ValueError(f"{what} embeddings have {emb.shape[1]} dims, fewer than {dim}")
            emb = emb[:, :dim]
        rows = rows.to(emb.device)
        if rows.numel() and int(rows.max()) >= emb.shape[0]:
            raise ValueError(f"task {task.name!r}: {what} id {int(rows.max())} but only {emb.shape[0]} "
                             f"{what} embeddings; version-k embeddings need one row per {what} "
                             "present at t_{k+1}")
        return emb[rows]

    if task.kind == "user":
        return take(user_emb, "user", ids)
    if task.kind == "item":
        return take(item_emb, "item", ids)
    return torch.cat([take(user_emb, "user", ids[:, 0]), take(item_emb, "item", ids[:, 1])], dim=1)


def split_features(task: TaskData, split: TaskSplit,
                   embeddings: Mapping[int, tuple[torch.Tensor, torch.Tensor]],
                   dim: int | None = None) -> torch.Tensor:
    """:func:`task_features` of ``split`` with ``embeddings[split.version]`` (``(user, item)``)."""
    if split.version not in embeddings:
        raise ValueError(f"task {task.name!r} needs the version-{split.version} embeddings; "
                         f"got versions {sorted(embeddings)}")
    user_emb, item_emb = embeddings[split.version]
    return task_features(task, user_emb, item_emb, split.ids, dim)
