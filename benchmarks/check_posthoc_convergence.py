# Usage: EMBCOMPAT_MIRROR=../shared/data .venv/bin/python benchmarks/check_posthoc_convergence.py amazon-2014-hin 1
# (needs the demo Non-BC versions in the cache: run notebook 02 or 03 at demo first)
"""Diagnostic: does Post-Lin-SLoss's Adam fit reach the least-squares optimum with the official 200
epochs (demo uses 50)? One version (amazon-2014-hin, v1), the demo's data, the selection MSE every
10 epochs against Post-LS's closed form on the same data."""
import json, sys, time
from types import SimpleNamespace
import torch
from embcompat.backward.train import train_versions
from embcompat.backward.posthoc_check import posthoc_selection_data
from embcompat.backward.posthoc import posthoc_fit_backward
from embcompat.backward.closed_form import fit_closed_form, selection_mse
from embcompat.config.bc import bc_config
from embcompat.data import load_graph, version_splits
torch.set_num_threads(1)
ds, k = sys.argv[1], int(sys.argv[2])
g = load_graph(ds)
cfg = bc_config("demo", ds, device="cpu")
splits = version_splits(g, cfg.times, heldout_test=cfg.heldout_test, seed=42)
res = {m: train_versions(m, g, splits, cfg, progress=False) for m in ("Non-BC",)}
exp = SimpleNamespace(graph=g, splits=splits, config=cfg, results=res)
(zu, zi), (ou, oi) = posthoc_selection_data(exp, k)
W, _ = fit_closed_form("lstsq", (zu, zi), (ou, oi), ridge=0.0)
ls = float(selection_mse(W, (zu, zi), (ou, oi)))
s = splits[k]
edges = torch.stack([g.user[s.train_idx], g.item[s.train_idx]])
t = time.perf_counter()
r = posthoc_fit_backward((zu, zi), (ou, oi), epochs=200, lr=cfg.lr_trans, select_after=0,
                         batch_size=cfg.batch_size, seed=cfg.seed + 1000 * k + 3, edges=edges,
                         eval_every=10)
out = {"dataset": ds, "version": k, "ls_mse": ls, "seconds": time.perf_counter() - t,
       "lr": cfg.lr_trans, "batch_size": cfg.batch_size,
       "eval": {e + 1: v for e, v in enumerate(r.eval_mse) if v == v}}
print(json.dumps(out, indent=1))
