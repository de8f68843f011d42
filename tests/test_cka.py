"""Linear CKA (embcompat.metrics.cka): properties and brute-force Gram-matrix references."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from embcompat.metrics.cka import cka_matrix, linear_cka


def _hsic_biased(k: np.ndarray, l: np.ndarray) -> float:
    n = k.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    return np.trace(k @ h @ l @ h) / (n - 1) ** 2


def _hsic_unbiased(k: np.ndarray, l: np.ndarray) -> float:
    """Song et al. (2012), written out with n x n matrices."""
    n = k.shape[0]
    kt, lt = k.copy(), l.copy()
    np.fill_diagonal(kt, 0)
    np.fill_diagonal(lt, 0)
    one = np.ones(n)
    val = (np.trace(kt @ lt) + (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
           - 2.0 / (n - 2) * one @ kt @ lt @ one)
    return val / (n * (n - 3))


def brute_cka(x, y, debiased=False):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x, y = x - x.mean(0), y - y.mean(0)
    k, l = x @ x.T, y @ y.T
    hsic = _hsic_unbiased if debiased else _hsic_biased
    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


def _data(seed, n=50, d1=8, d2=5):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d1, generator=g, dtype=torch.float64)
    y = x[:, :d2] @ torch.randn(d2, d2, generator=g, dtype=torch.float64) \
        + 0.7 * torch.randn(n, d2, generator=g, dtype=torch.float64)
    return x, y


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_gram_reference(debiased, seed):
    x, y = _data(seed)
    x = x + 3.0  # an offset: centring must happen inside
    assert linear_cka(x, y, debiased) == pytest.approx(brute_cka(x, y, debiased), abs=1e-12)


@pytest.mark.parametrize("debiased", [False, True])
def test_identity_symmetry_and_range(debiased):
    x, y = _data(3)
    assert linear_cka(x, x, debiased) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, y, debiased) == pytest.approx(linear_cka(y, x, debiased), abs=1e-14)
    for seed in range(5):
        a, b = _data(10 + seed, n=30)
        v = linear_cka(a, torch.randn(30, 4, generator=torch.Generator().manual_seed(seed),
                                      dtype=torch.float64), debiased=False)
        assert 0.0 <= v <= 1.0
        assert 0.0 <= linear_cka(a, b) <= 1.0


@pytest.mark.parametrize("debiased", [False, True])
def test_invariances(debiased):
    x, y = _data(4)
    g = torch.Generator().manual_seed(5)
    qx, _ = torch.linalg.qr(torch.randn(8, 8, generator=g, dtype=torch.float64))
    qy, _ = torch.linalg.qr(torch.randn(5, 5, generator=g, dtype=torch.float64))
    base = linear_cka(x, y, debiased)
    assert linear_cka(x @ qx, y @ qy, debiased) == pytest.approx(base, abs=1e-12)
    assert linear_cka(3.7 * x, 0.02 * y, debiased) == pytest.approx(base, abs=1e-12)
    # a general invertible (ill-conditioned) map is NOT an invariance
    a = torch.diag(torch.tensor([10.0, 5, 1, 1, 0.5, 0.2, 0.1, 0.05], dtype=torch.float64)) @ qx
    assert abs(linear_cka(x @ a, y, debiased) - base) > 1e-2


def test_debiased_differs_and_is_near_zero_for_independent_features():
    g = torch.Generator().manual_seed(6)
    x = torch.randn(40, 30, generator=g, dtype=torch.float64)
    y = torch.randn(40, 30, generator=g, dtype=torch.float64)
    biased, unbiased = linear_cka(x, y), linear_cka(x, y, debiased=True)
    assert biased > 0.3  # the biased estimator is inflated at n ~ d
    assert abs(unbiased) < 0.15


def test_cka_matrix():
    x, y = _data(7)
    feats = {"old": x, "side": y, "old2": 2 * x[:, [1, 0, 2, 3, 4, 5, 6, 7]]}
    m = cka_matrix(feats)
    assert isinstance(m, pd.DataFrame)
    assert list(m.index) == list(m.columns) == ["old", "side", "old2"]
    np.testing.assert_allclose(m.to_numpy(), m.to_numpy().T)
    np.testing.assert_allclose(np.diag(m.to_numpy()), 1.0)
    assert m.loc["old", "side"] == pytest.approx(brute_cka(x, y), abs=1e-12)
    assert m.loc["old", "old2"] == pytest.approx(1.0, abs=1e-12)  # permutation + scale


def test_bad_inputs():
    x, y = _data(8)
    with pytest.raises(ValueError, match="same n"):
        linear_cka(x, y[:-1])
    with pytest.raises(ValueError, match="n >= 4"):
        linear_cka(x[:3], y[:3], debiased=True)
    with pytest.raises(ValueError, match="constant"):
        linear_cka(torch.ones(10, 3), y[:10])
