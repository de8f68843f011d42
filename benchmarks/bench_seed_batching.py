"""Benchmark: does training S seeds as ONE batched GNN pay on CPU? (issue #10, point 4)

The idea: the S seeds of one method share the graph, so one sparse propagation of the
concatenated ``(N, S*d)`` features serves them all (mean aggregation is linear, so this equals S
separate propagations), BatchNorm over ``S*d`` features is per-seed BatchNorm, and the per-seed
weights become batched matmuls (``torch.bmm`` over stacked ``(S, d, d)`` weights, which is what
``torch.func.stack_module_state`` + ``vmap`` lowers to). Each seed has its own BPR triples; the loss
is the sum of the seeds' losses, so Adam's element-wise update keeps the seeds independent.

This script times one training step (forward + backward + Adam) of such a stacked model at S = 1
and S = 5, and one step of the real single-seed :class:`~embcompat.models.gnn.PinSAGE`, on
amazon-2014-hin's version graphs at the demo widths (1 torch thread, the setting of the chain
workers). The stacked model is a timing model: its layer-0 input is a free ``(N, S*d)`` tensor
instead of the embedding tables, so it is an upper bound on what batching could save. The target
of the issue was "5 seeds <= 2x one seed per epoch".

    .venv/bin/python benchmarks/bench_seed_batching.py [--threads 1]
"""
from __future__ import annotations

import argparse
import time

import torch


def _graph(k: int):
    from embcompat.data import load_graph, version_splits
    from embcompat.models.gnn import VersionGraph

    g = load_graph("amazon-2014-hin")
    s = version_splits(g, heldout_test=True)[k]
    vg = VersionGraph.build(g.user[s.train_idx], g.item[s.train_idx], s.num_users, s.num_items,
                            g.item_brand, g.item_category_ptr, g.item_category)
    return g, s, vg


def _median(ts):
    return sorted(ts)[len(ts) // 2]


def single(k: int, d: int, L: int, bs: int = 8192, reps: int = 6) -> tuple[float, int]:
    """Median seconds per step of the real PinSAGE, and steps per epoch."""
    from embcompat.backward.sampling import BPRSampler
    from embcompat.losses.bpr import bpr_terms
    from embcompat.models.gnn import PinSAGE

    g, s, G = _graph(k)
    m = PinSAGE(g.num_brands, g.num_categories, d, L, seed=0)
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    samp = BPRSampler(g.user[s.train_idx], g.item[s.train_idx], s.num_items, batch_size=bs)
    ts = []
    for u, p, n in list(samp.batches(torch.Generator().manual_seed(0)))[:reps]:
        t = time.perf_counter()
        ue, ie = m(G)
        b, l2 = bpr_terms(ue[u], ie[p], ie[n])
        loss = b + 1e-2 * l2
        opt.zero_grad()
        loss.backward()
        opt.step()
        ts.append(time.perf_counter() - t)
    return _median(ts), len(samp)


def stacked(k: int, d: int, L: int, S: int, bs: int = 8192, reps: int = 6) -> float:
    """Median seconds per step of the S-seed stacked timing model."""
    from embcompat.backward.sampling import BPRSampler
    from embcompat.losses.bpr import bpr_terms
    from embcompat.models.gnn import _MeanAgg

    g, s, G = _graph(k)
    N, U = s.num_users + s.num_items, s.num_users
    Wl = [torch.randn(S, d, d, requires_grad=True) for _ in range(L)]
    Wr = [torch.randn(S, d, d, requires_grad=True) for _ in range(L)]
    x0 = torch.randn(N, S * d, requires_grad=True)
    bns = [torch.nn.BatchNorm1d(S * d) for _ in range(L)]
    opt = torch.optim.Adam(Wl + Wr + [x0] + [p for b in bns for p in b.parameters()], 1e-3)
    samp = BPRSampler(g.user[s.train_idx], g.item[s.train_idx], s.num_items, batch_size=bs)
    gens = [torch.Generator().manual_seed(i) for i in range(S)]
    ts = []
    for _ in range(reps):
        trip = [next(iter(samp.batches(gg))) for gg in gens]
        t = time.perf_counter()
        x = x0
        for i in range(L):
            agg = torch.cat([_MeanAgg.apply(G.ui, G.ui_t, x[U:]), _MeanAgg.apply(G.iu, G.iu_t, x[:U])])
            a3, x3 = agg.view(N, S, d).transpose(0, 1), x.view(N, S, d).transpose(0, 1)
            h = torch.bmm(a3, Wl[i]) + torch.bmm(x3, Wr[i])  # (S, N, d)
            x = bns[i](h.transpose(0, 1).reshape(N, S * d))
            if i < L - 1:
                x = torch.relu(x)
        x3 = x.view(N, S, d)
        loss = 0
        for si, (u, p, n) in enumerate(trip):
            b, l2 = bpr_terms(x3[:U, si][u], x3[U:, si][p], x3[U:, si][n])
            loss = loss + b + 1e-2 * l2
        opt.zero_grad()
        loss.backward()
        opt.step()
        ts.append(time.perf_counter() - t)
    return _median(ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print("| version | dims x layers | steps/epoch | PinSAGE, 1 seed (ms/step) | stacked S=1 (ms) "
          f"| stacked S={args.seeds} (ms) | S={args.seeds} / S=1 |")
    print("|---|---|---|---|---|---|---|")
    for k, d, L in [(0, 32, 2), (4, 64, 3), (0, 64, 2), (4, 128, 3)]:
        t1, nb = single(k, d, L)
        s1, sS = stacked(k, d, L, 1), stacked(k, d, L, args.seeds)
        print(f"| v{k} | {d} x {L} | {nb} | {1e3 * t1:.1f} | {1e3 * s1:.1f} | {1e3 * sS:.1f} "
              f"| {sS / s1:.2f} |", flush=True)


if __name__ == "__main__":
    main()
