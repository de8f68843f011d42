"""Linear centred kernel alignment (CKA), as in the FCT paper's Table 6.

Linear CKA (Kornblith et al., 2019) between features ``x: (n, d1)`` and ``y: (n, d2)`` of the same
``n`` examples, computed in feature space on column-centred features::

    CKA(X, Y) = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)

which equals ``HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` with linear kernels ``K = X X^T`` and
``L = Y Y^T``. The ``debiased`` option replaces the (biased) HSIC by the unbiased estimator of
Song et al. (2012), as used for CKA by Nguyen, Raghu & Kornblith (2021); it needs ``n >= 4``.
The official FCT code has no CKA; the paper does not say which estimator it used.
"""
from __future__ import annotations

import pandas as pd
import torch


def _unbiased_hsic_terms(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Unbiased HSIC (times n(n-3)) of linear kernels, from feature-space products only.

    With ``K = X X^T`` and ``L = Y Y^T`` with zeroed diagonals (``Kt``, ``Lt``)::

        HSIC_1 = [tr(Kt Lt) + 1^T Kt 1 1^T Lt 1 / ((n-1)(n-2)) - 2/(n-2) 1^T Kt Lt 1] / (n(n-3))

    Args:
        x: ``(n, d1)``. y: ``(n, d2)``.

    Returns:
        A 0-d tensor, ``n (n - 3) HSIC_1`` (the common factor cancels in CKA).
    """
    n = x.shape[0]
    kd = (x * x).sum(1)  # diag(K): (n,)
    ld = (y * y).sum(1)
    # tr(Kt Lt) = ||Y^T X||_F^2 - sum_i K_ii L_ii
    tr = (y.T @ x).square().sum() - (kd * ld).sum()
    k1 = x @ x.sum(0) - kd  # Kt 1: (n,)
    l1 = y @ y.sum(0) - ld
    s_k, s_l = k1.sum(), l1.sum()
    return tr + s_k * s_l / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * (k1 * l1).sum()


def linear_cka(x: torch.Tensor, y: torch.Tensor, debiased: bool = False) -> float:
    """Linear CKA between two representations of the same examples.

    Args:
        x: ``(n, d1)`` features.
        y: ``(n, d2)`` features of the same ``n`` examples (rows aligned).
        debiased: use the unbiased HSIC estimator (needs ``n >= 4``); it can be slightly negative
            for nearly independent features.

    Returns:
        CKA in [0, 1] (biased); 1 for identical inputs. Invariant to orthogonal maps and isotropic
        scaling of either side, not to general invertible linear maps. Computed in float64.

    Raises:
        ValueError: on mismatched rows, too few rows, or a constant (zero-variance) input.
    """
    x = torch.as_tensor(x).double()
    y = torch.as_tensor(y).to(x.device).double()
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must be (n, d1) and (n, d2) with the same n; got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    n = x.shape[0]
    if n < (4 if debiased else 2):
        raise ValueError(f"linear_cka needs n >= {4 if debiased else 2} rows (debiased={debiased}),"
                         f" got {n}")
    x = x - x.mean(0, keepdim=True)
    y = y - y.mean(0, keepdim=True)
    if debiased:
        xy, xx, yy = (_unbiased_hsic_terms(x, y), _unbiased_hsic_terms(x, x),
                      _unbiased_hsic_terms(y, y))
    else:
        xy = (y.T @ x).square().sum()
        xx = (x.T @ x).square().sum()
        yy = (y.T @ y).square().sum()
    if float(xx) <= 0 or float(yy) <= 0:
        raise ValueError("linear_cka is undefined for a constant (zero-variance) representation")
    return float(xy / torch.sqrt(xx * yy))


def cka_matrix(features: dict[str, torch.Tensor], debiased: bool = False) -> pd.DataFrame:
    """Pairwise linear CKA between named representations of the same examples.

    Args:
        features: ``{name: (n, d_name)}``, all with the same ``n`` rows in the same order.
        debiased: see :func:`linear_cka`.

    Returns:
        A symmetric ``DataFrame`` indexed and columned by the names, with ones on the diagonal.
    """
    names = list(features)
    out = pd.DataFrame(index=names, columns=names, dtype=float)
    for a_i, a in enumerate(names):
        for b in names[a_i:]:
            v = 1.0 if a == b else linear_cka(features[a], features[b], debiased=debiased)
            out.loc[a, b] = out.loc[b, a] = v
    return out
