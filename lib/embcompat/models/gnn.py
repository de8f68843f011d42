"""The embedding model M_k of the BC paper: a PinSAGE-style GraphSAGE on the user-item graph.

Follows the official bc-emb ``recsys/models/pinsage.py`` (read, not copied):

* users are inductive: every user starts from ONE shared learnable vector (``nn.Embedding(1, d)``,
  init N(0, 0.1^2));
* items start from ``EmbeddingBag(brand, mean) + EmbeddingBag(categories, mean)``: two separate
  tables (brand ids and category ids are NOT offset into one table), summed. An item with no brand
  and/or no category gets an empty bag, i.e. a zero contribution;
* ``num_layers`` PyG ``SAGEConv(d, d)`` (mean aggregation, root weight, bias on ``lin_l``) on the
  homogeneous graph ``[users; items]`` with every edge in both directions (duplicates kept);
* after EVERY conv a ``BatchNorm1d`` over all ``U + I`` nodes (the official code normalises the
  last layer too), then ReLU on all but the last layer.

Speed: the graph of a version is turned once into row-normalised CSR mean operators for the two
directions, users <- items (U, I) and items <- users (I, U), each with its transpose for the
backward pass (:class:`VersionGraph`). Each entry is ``1/deg(target)``, so duplicate edges count
as in PyG's scatter-mean, and the two blocks together equal SAGEConv's mean over the homogeneous
graph. The first layer is computed on the embedding *tables* (``mean(x) W^T = mean(x W^T)``; all
users share one input, so every item with an edge aggregates the same vector), which removes the
two ``(U+I) x d x d`` matmuls of layer 1. ``impl="pyg"`` runs plain ``SAGEConv(x, edge_index)``
for reference.
"""
from __future__ import annotations

import warnings
from contextlib import nullcontext
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import SAGEConv

IMPLS = ("fast", "spmm", "pyg")


def _csr(row: Tensor, col: Tensor, val: Tensor, shape: tuple[int, int]) -> Tensor:
    """CSR of ``shape`` from COO triplets (duplicates kept as separate entries)."""
    order = torch.argsort(row * shape[1] + col, stable=True)
    crow = torch.zeros(shape[0] + 1, dtype=torch.long, device=row.device)
    crow[1:] = torch.bincount(row, minlength=shape[0]).cumsum(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "sparse CSR support is in beta"
        return torch.sparse_csr_tensor(crow, col[order], val[order], shape)


class _MeanAgg(torch.autograd.Function):
    """``A @ x`` with a precomputed ``A^T`` for the backward pass (no transpose per step)."""

    @staticmethod
    def forward(ctx, a: Tensor, a_t: Tensor, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.a_t = a_t
        return _spmm(a, x)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        return None, None, _spmm(ctx.a_t, grad.contiguous())


def _spmm(a: Tensor, x: Tensor) -> Tensor:
    # On CPU the native reduce kernel is ~1.2-2x faster than the default (MKL) path.
    return torch.sparse.mm(a, x, "sum") if a.device.type == "cpu" else torch.sparse.mm(a, x)


@dataclass
class VersionGraph:
    """The training graph of one version, preprocessed once for :class:`PinSAGE`.

    Nodes are ``[users 0..U-1; items U..U+I-1]`` (the official layout).

    Attributes:
        num_users: U, users present at the version.
        num_items: I, items present at the version.
        edge_index: (2, 2E) long, both directions, for the reference PyG path.
        ui, ui_t: (U, I) CSR mean operator users <- items, and its (I, U) transpose.
        iu, iu_t: (I, U) CSR mean operator items <- users, and its (U, I) transpose.
        item_has_user: (I, 1) float, 1.0 where the item has a training edge.
        brand_ids, brand_offsets: EmbeddingBag input/offsets (I,) over items with a brand.
        cat_ids, cat_offsets: EmbeddingBag input (nnz,) / offsets (I,) of item categories.
    """

    num_users: int
    num_items: int
    edge_index: Tensor
    ui: Tensor
    ui_t: Tensor
    iu: Tensor
    iu_t: Tensor
    item_has_user: Tensor
    brand_ids: Tensor
    brand_offsets: Tensor
    cat_ids: Tensor
    cat_offsets: Tensor

    @classmethod
    def build(cls, user: Tensor, item: Tensor, num_users: int, num_items: int,
              item_brand: Tensor, item_category_ptr: Tensor, item_category: Tensor,
              device: str | torch.device | None = None) -> "VersionGraph":
        """Build once per version.

        Args:
            user, item: (E,) long training edges (``user[e]`` interacted with ``item[e]``).
            num_users, num_items: nodes present at the version (official: all at t_{k+1}).
            item_brand: (>= I,) long brand id per item, -1 for none.
            item_category_ptr: (>= I + 1,) long CSR pointer of item categories.
            item_category: (nnz,) long category ids.
            device: where to build; defaults to ``user.device``.
        """
        dev = torch.device(device) if device is not None else user.device
        user, item = user.to(dev, torch.long), item.to(dev, torch.long)
        if user.numel() and (int(user.max()) >= num_users or int(item.max()) >= num_items):
            raise ValueError("edges reference users/items outside num_users/num_items")
        du = torch.bincount(user, minlength=num_users)
        di = torch.bincount(item, minlength=num_items)
        wu = 1.0 / du.clamp(min=1).to(torch.float32)[user]  # (E,) weight in users <- items
        wi = 1.0 / di.clamp(min=1).to(torch.float32)[item]  # (E,) weight in items <- users
        ui, ui_t = _csr(user, item, wu, (num_users, num_items)), _csr(item, user, wu,
                                                                      (num_items, num_users))
        iu, iu_t = _csr(item, user, wi, (num_items, num_users)), _csr(user, item, wi,
                                                                      (num_users, num_items))
        edge_index = torch.stack([torch.cat([user, item + num_users]),
                                  torch.cat([item + num_users, user])])
        brand = item_brand[:num_items].to(dev, torch.long)
        has_brand = brand >= 0
        brand_offsets = torch.cumsum(has_brand.long(), 0) - has_brand.long()
        ptr = item_category_ptr[: num_items + 1].to(dev, torch.long)
        cat_ids = item_category.to(dev, torch.long)[: int(ptr[-1])]
        return cls(num_users, num_items, edge_index, ui, ui_t, iu, iu_t,
                   (di > 0).to(torch.float32)[:, None], brand[has_brand], brand_offsets,
                   cat_ids, ptr[:-1].contiguous())

    def to(self, device: str | torch.device) -> "VersionGraph":
        """Copy of the graph on ``device``."""
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        return VersionGraph(**{k: v.to(device) if isinstance(v, Tensor) else v
                               for k, v in kw.items()})


class PinSAGE(nn.Module):
    """Inductive GraphSAGE encoder M_k (official PinSAGE of bc-emb).

    Args:
        num_brands: size of the brand table.
        num_categories: size of the category table.
        emb_dim: d, the width of every layer and of the output.
        num_layers: number of SAGEConv layers (>= 1).
        seed: if given, parameters are initialised from this seed (global RNG left untouched).
    """

    def __init__(self, num_brands: int, num_categories: int, emb_dim: int, num_layers: int,
                 seed: int | None = None) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.emb_dim, self.num_layers = emb_dim, num_layers
        ctx = torch.random.fork_rng(devices=[]) if seed is not None else nullcontext()
        with ctx:
            if seed is not None:
                torch.manual_seed(seed)
            self.user_embedding = nn.Embedding(1, emb_dim)
            nn.init.normal_(self.user_embedding.weight, std=0.1)
            self.brand_embedding = nn.EmbeddingBag(max(num_brands, 1), emb_dim, mode="mean")
            self.category_embedding = nn.EmbeddingBag(max(num_categories, 1), emb_dim,
                                                      mode="mean")
            self.convs = nn.ModuleList(SAGEConv(emb_dim, emb_dim) for _ in range(num_layers))
            self.norms = nn.ModuleList(nn.BatchNorm1d(emb_dim) for _ in range(num_layers))

    def item_features(self, g: VersionGraph) -> Tensor:
        """Layer-0 item inputs. Returns: (I, d)."""
        return (self.category_embedding(g.cat_ids, g.cat_offsets)
                + self.brand_embedding(g.brand_ids, g.brand_offsets))

    def _input(self, g: VersionGraph) -> Tensor:
        x_user = self.user_embedding.weight.expand(g.num_users, -1)
        return torch.cat([x_user, self.item_features(g)])

    def _first_layer_fast(self, g: VersionGraph) -> Tensor:
        """Layer-1 conv output (N, d) computed on the tables, before BatchNorm."""
        conv, d = self.convs[0], self.emb_dim
        w = torch.cat([conv.lin_l.weight, conv.lin_r.weight])  # (2d, d)
        tc = self.category_embedding.weight @ w.t()  # (C, 2d)
        tb = self.brand_embedding.weight @ w.t()  # (B, 2d)
        item = (F.embedding_bag(g.cat_ids, tc, g.cat_offsets, mode="mean")
                + F.embedding_bag(g.brand_ids, tb, g.brand_offsets, mode="mean"))  # (I, 2d)
        usr = self.user_embedding.weight @ w.t()  # (1, 2d)
        user_out = _MeanAgg.apply(g.ui, g.ui_t, item[:, :d].contiguous()) + usr[:, d:]  # (U, d)
        item_out = g.item_has_user * usr[:, :d] + item[:, d:]  # (I, d)
        return torch.cat([user_out, item_out]) + conv.lin_l.bias

    def _conv(self, i: int, x: Tensor, g: VersionGraph, impl: str) -> Tensor:
        conv = self.convs[i]
        if impl == "pyg":
            return conv(x, g.edge_index)
        u = g.num_users
        agg = torch.cat([_MeanAgg.apply(g.ui, g.ui_t, x[u:]),  # users <- items
                         _MeanAgg.apply(g.iu, g.iu_t, x[:u])])  # items <- users
        return torch.addmm(conv.lin_l.bias, agg, conv.lin_l.weight.t()) + conv.lin_r(x)

    def forward(self, g: VersionGraph, impl: str = "fast") -> tuple[Tensor, Tensor]:
        """Embed every user and item of one version (full graph).

        Args:
            g: the version's graph, built once with :meth:`VersionGraph.build`.
            impl: ``"fast"`` (table trick for layer 1 + CSR), ``"spmm"`` (CSR every layer) or
                ``"pyg"`` (plain ``SAGEConv(x, edge_index)``, the reference).

        Returns:
            user_emb: (U, d) and item_emb: (I, d).
        """
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
        if impl == "fast":
            x = self._first_layer_fast(g)
        else:
            x = self._conv(0, self._input(g), g, impl)
        for i in range(self.num_layers):
            if i > 0:
                x = self._conv(i, x, g, impl)
            x = self.norms[i](x)
            if i < self.num_layers - 1:
                x = F.relu(x)
        return tuple(torch.split(x, [g.num_users, g.num_items]))  # type: ignore[return-value]
