"""A seeded synthetic evolving user-item graph, shaped like the paper's Amazon data.

For tests and for users with no data at hand, never for headline results. The generative story
(all vectorised; no Python loop over edges):

* ``num_clusters`` latent taste clusters in ``R^latent_dim``; items and users belong to one each
  (latent = cluster centre + noise);
* items arrive over time (a share exists at ``t = 0``, the rest at sorted uniform times) with a
  heavy-tailed (Pareto) popularity; users arrive at uniform times and stay active for a random
  window, with a heavy-tailed number of edges (at least ``min_user_degree``, like a 5-core);
* a user's preference drifts linearly with time: ``p_u(t) = p_u + (t - a_u) * drift_u``;
* each edge picks its item among ``num_candidates`` popularity-sampled items that already exist,
  by a softmax (Gumbel-max) of ``sharpness * <p_u(t), q_i>``: link prediction is learnable;
* the rating is ``user bias + item bias + rating_signal * <p_u(t), q_i> + item-specific noise``,
  cut into 1..5 stars at quantiles that give an Amazon-like distribution (mostly 5s);
* brands live in clusters (an item draws a brand of its own cluster, or none); categories have
  their own latents and an item takes 1 + Poisson labels by a Gumbel top-k over ``<q_i, c_j>``.

Every item gets at least one edge (a few edges are re-pointed to otherwise unused items), so the
counts match the config up to rare collisions; brands or categories that end up unused vanish.
Timestamps are unix seconds at day resolution from 2000-01-01, so same-day ties are common.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from embcompat.data.graphs import InteractionGraph
from embcompat.data.sources import build_graph

RATING_SHARES = (0.05, 0.04, 0.08, 0.17, 0.66)   # 1..5 stars, roughly Amazon 5-core
_DAY, _T0, _SPAN_DAYS = 86_400, 946_684_800, 5_479


@dataclass(frozen=True)
class SyntheticConfig:
    """Size and shape of the synthetic graph (defaults: the ``tiny`` preset)."""

    num_users: int = 500
    num_items: int = 300
    num_edges: int = 10_000
    num_brands: int = 20
    num_categories: int = 15
    num_clusters: int = 8
    latent_dim: int = 8
    min_user_degree: int = 5
    user_degree_tail: float = 1.5       # Pareto shape of user activity (smaller = heavier tail)
    item_popularity_tail: float = 1.2   # Pareto shape of item popularity
    initial_item_share: float = 0.3     # items present at t = 0
    drift: float = 0.6                  # scale of the preference drift per unit time
    num_candidates: int = 32
    sharpness: float = 4.0
    rating_signal: float = 1.5
    branded_share: float = 0.85
    mean_extra_categories: float = 1.5
    seed: int = 0


PRESETS = {
    "tiny": SyntheticConfig(),
    "small": SyntheticConfig(num_users=3_000, num_items=1_500, num_edges=60_000, num_brands=60,
                             num_categories=50, num_clusters=16),
    # the size of the paper's Musical Instruments graph after processing
    "musical-instruments": SyntheticConfig(num_users=27_530, num_items=10_611, num_edges=231_312,
                                           num_brands=391, num_categories=349, num_clusters=32,
                                           latent_dim=16),
}


def _pareto_weights(rng: np.random.Generator, n: int, tail: float) -> np.ndarray:
    return rng.pareto(tail, n) + 1.0


def _sample_prefix(rng, cum: np.ndarray, n_avail: np.ndarray, m: int) -> np.ndarray:
    """Sample ``m`` indices per row from ``p ∝ weights[:n_avail[row]]`` (``cum`` = cumsum)."""
    u = rng.random((len(n_avail), m)) * cum[n_avail - 1][:, None]
    return np.minimum(np.searchsorted(cum, u, side="right"), (n_avail - 1)[:, None])


def generate(config: SyntheticConfig = SyntheticConfig(), *, name: str = "synthetic") -> InteractionGraph:
    """Generate the graph of ``config`` (deterministic given ``config.seed``)."""
    c = config
    if min(c.num_users, c.num_items, c.num_clusters, c.latent_dim) < 1 or c.min_user_degree < 1:
        raise ValueError(f"sizes must be positive: {c}")
    if c.num_edges < c.num_users * c.min_user_degree:
        raise ValueError(f"num_edges={c.num_edges} < num_users * min_user_degree "
                         f"= {c.num_users * c.min_user_degree}")
    rng = np.random.default_rng(c.seed)
    U, I, E, D, K = c.num_users, c.num_items, c.num_edges, c.latent_dim, c.num_clusters
    centres = rng.normal(size=(K, D)) / np.sqrt(D) * 1.5
    cluster_w = rng.dirichlet(np.full(K, 2.0))

    # items: cluster, latent, arrival (sorted), popularity, rating bias and noise
    icl = rng.choice(K, size=I, p=cluster_w)
    q = centres[icl] + rng.normal(size=(I, D)) / np.sqrt(D) * 0.6
    n0 = max(1, int(round(c.initial_item_share * I)))
    birth = np.concatenate([np.zeros(n0), np.sort(rng.uniform(0, 0.95, I - n0))])
    pop_cum = np.cumsum(_pareto_weights(rng, I, c.item_popularity_tail))
    item_bias = rng.normal(0, 0.5, I)
    item_noise = rng.lognormal(-0.6, 0.5, I)

    # users: arrival, activity window, degree, latent, drift
    arrive = rng.uniform(0, 0.97, U)
    end = np.minimum(1.0, arrive + 0.03 + rng.exponential(0.3, U))
    ucl = rng.choice(K, size=U, p=cluster_w)
    p = centres[ucl] + rng.normal(size=(U, D)) / np.sqrt(D) * 0.6
    drift = rng.normal(size=(U, D)) / np.sqrt(D) * c.drift
    user_bias = rng.normal(0, 0.4, U)
    w = _pareto_weights(rng, U, c.user_degree_tail)
    deg = c.min_user_degree + rng.multinomial(E - c.min_user_degree * U, w / w.sum())

    # edges: user, time inside the user's window, item among popularity candidates
    eu = np.repeat(np.arange(U), deg)
    et = arrive[eu] + rng.random(E) * (end[eu] - arrive[eu])
    n_avail = np.searchsorted(birth, et, side="right")
    ei = np.empty(E, dtype=np.int64)
    for s in range(0, E, 65_536):                      # chunks of edges, vectorised inside
        sl = slice(s, min(E, s + 65_536))
        cand = _sample_prefix(rng, pop_cum, n_avail[sl], c.num_candidates)
        pu = p[eu[sl]] + (et[sl] - arrive[eu[sl]])[:, None] * drift[eu[sl]]
        score = c.sharpness * np.einsum("ed,emd->em", pu, q[cand]) + rng.gumbel(size=cand.shape)
        ei[sl] = cand[np.arange(len(cand)), score.argmax(1)]

    # every item gets an edge: re-point a random later edge to each unused item (3 rounds)
    order = np.argsort(et, kind="stable")
    for _ in range(3):
        unused = np.flatnonzero(np.bincount(ei, minlength=I) == 0)
        if unused.size == 0:
            break
        lo = np.searchsorted(et[order], birth[unused], side="left")
        pick = order[np.minimum(E - 1, lo + (rng.random(unused.size) * (E - lo)).astype(np.int64))]
        pick, first = np.unique(pick, return_index=True)
        ei[pick] = unused[first]

    # ratings tied to the latents, cut at quantiles
    pu = p[eu] + (et - arrive[eu])[:, None] * drift[eu]
    latent = (user_bias[eu] + item_bias[ei] + c.rating_signal * np.einsum("ed,ed->e", pu, q[ei])
              + item_noise[ei] * rng.normal(size=E))
    cuts = np.quantile(latent, np.cumsum(RATING_SHARES)[:-1])
    rating = (1 + np.searchsorted(cuts, latent, side="right")).astype(np.float32)
    time = _T0 + np.floor(et * _SPAN_DAYS).astype(np.int64) * _DAY

    # brands: each belongs to a cluster; an item draws one of its cluster's brands (or none)
    B = c.num_brands
    brand_items = brand_values = np.zeros(0, np.int64)
    if B > 0:
        bcl = np.concatenate([rng.permutation(K)[:min(B, K)], rng.choice(K, size=max(0, B - K), p=cluster_w)])
        by_cl = np.argsort(bcl, kind="stable")
        bcum = np.cumsum(_pareto_weights(rng, B, 2.0)[by_cl])
        seg_lo = np.searchsorted(bcl[by_cl], np.arange(K), side="left")
        seg_hi = np.searchsorted(bcl[by_cl], np.arange(K), side="right")
        has = (rng.random(I) < c.branded_share) & (seg_hi[icl] > seg_lo[icl])
        it = np.flatnonzero(has)
        lo, hi = seg_lo[icl[it]], seg_hi[icl[it]]
        base = np.where(lo > 0, bcum[np.maximum(lo - 1, 0)], 0.0)
        u = base + rng.random(it.size) * (bcum[hi - 1] - base)
        brand_items, brand_values = it, by_cl[np.clip(np.searchsorted(bcum, u, side="right"), lo, hi - 1)]

    # categories: latents near cluster centres; 1 + Poisson labels per item by Gumbel top-k
    C = c.num_categories
    cat_items = cat_values = np.zeros(0, np.int64)
    if C > 0:
        cvec = centres[np.arange(C) % K] + rng.normal(size=(C, D)) / np.sqrt(D) * 0.5
        kmax = min(C, 6)
        n_lab = np.minimum(kmax, 1 + rng.poisson(c.mean_extra_categories, I))
        s = 3.0 * q @ cvec.T + rng.gumbel(size=(I, C))
        top = np.argsort(-s, axis=1, kind="stable")[:, :kmax]
        keep = np.arange(kmax)[None, :] < n_lab[:, None]
        cat_items, cat_values = np.nonzero(keep)[0], top[keep]

    meta = {"source": "synthetic", "spec": name, "config": asdict(c),
            "notes": ["synthetic data: for tests and demos, never for headline results"]}
    return build_graph(name, eu, ei, rating, time, brand_items=brand_items, brand_values=brand_values,
                       category_items=cat_items, category_values=cat_values, min_attr_items=1,
                       dedup_categories=True, meta=meta)


def load(spec: str = "synthetic", *, seed: int | None = None) -> InteractionGraph:
    """``synthetic`` (= ``synthetic-tiny``) or ``synthetic-<preset>`` with ``preset`` in PRESETS."""
    preset = "tiny" if spec == "synthetic" else spec.removeprefix("synthetic-")
    if preset not in PRESETS:
        raise ValueError(f"unknown synthetic preset {spec!r}; allowed: 'synthetic', "
                         + ", ".join(f"'synthetic-{k}'" for k in PRESETS))
    cfg = PRESETS[preset] if seed is None else replace(PRESETS[preset], seed=seed)
    return generate(cfg, name=spec)
