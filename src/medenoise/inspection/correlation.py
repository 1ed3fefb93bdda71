"""Spatial correlation of the noise from detrended flat blocks, corrected for the detrending.

Each block has its best quadratic surface removed (the local signal), which also removes
part of the noise and biases the residual's lag products. That bias is linear in the noise's
correlation, so it is undone exactly (for noise correlated up to lag 3) by solving a small
linear system built from the projection matrix; white noise then measures ≈ 0 at every lag.
"""

from __future__ import annotations

import functools

import numpy as np

MAX_LAG = 3  # correlation map covers lags -3..3 along y and x
DETREND_TERMS = 6  # 1, x, y, x², xy, y²: the quadratic surface removed from each block


def half_plane_lags() -> list[tuple[int, int]]:
    """The lags (dy, dx) of one half of the symmetric map, lag (0, 0) first."""
    lags = [(0, 0)] + [(0, dx) for dx in range(1, MAX_LAG + 1)]
    lags += [(dy, dx) for dy in range(1, MAX_LAG + 1) for dx in range(-MAX_LAG, MAX_LAG + 1)]
    return lags


@functools.lru_cache(maxsize=4)
def detrend_matrix(block: int) -> np.ndarray:
    """I - P: removes the least-squares quadratic surface from a flattened block×block patch."""
    y, x = np.mgrid[0:block, 0:block].astype(np.float64)
    x = (x - x.mean()).ravel() / block
    y = (y - y.mean()).ravel() / block
    basis = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)
    q, _ = np.linalg.qr(basis)
    return np.eye(block * block) - q @ q.T


def _pairs(block: int, dy: int, dx: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices (p, q) of all pixel pairs in a block with q = p + (dy, dx)."""
    i, j = np.mgrid[0:block, 0:block]
    ok = (i + dy < block) & (j + dx >= 0) & (j + dx < block)
    return (i * block + j)[ok], ((i + dy) * block + j + dx)[ok]


@functools.lru_cache(maxsize=4)
def bias_matrix(block: int) -> np.ndarray:
    """M[d, k]: expected mean lag-d product of detrended noise correlated only at lag ±k."""
    # k = 0: white noise of variance 1; other k: correlation 1 at lag ±k and nowhere else.
    q_mat = detrend_matrix(block)
    lags = half_plane_lags()
    pairs = [_pairs(block, dy, dx) for dy, dx in lags]
    m = np.zeros((len(lags), len(lags)))
    for k, (pk, qk) in enumerate(pairs):
        e = np.zeros_like(q_mat)
        e[pk, qk] = 1.0
        e[qk, pk] = 1.0  # lag 0 sets the diagonal once, which is what we want
        qeq = q_mat @ e @ q_mat
        for d, (pd, qd) in enumerate(pairs):
            m[d, k] = qeq[pd, qd].mean()
    return m


def raw_lag_products(residuals: np.ndarray) -> np.ndarray:
    """Mean lag products of detrended blocks (n, B, B), one per half-plane lag."""
    b = residuals.shape[1]
    out = []
    for dy, dx in half_plane_lags():
        x0, x1 = max(0, -dx), b - max(0, dx)
        a = residuals[:, : b - dy, x0:x1]
        c = residuals[:, dy:, x0 + dx : x1 + dx]
        out.append(float(np.mean(a * c)))
    return np.asarray(out)


def solve_correlation(products: np.ndarray, block: int) -> tuple[np.ndarray, float]:
    """Correlation per half-plane lag and the noise variance, with the detrending bias removed."""
    # `products`: raw mean lag products of detrended blocks (raw_lag_products).
    m = bias_matrix(block)
    if products[0] <= 0:
        return np.r_[1.0, np.zeros(len(products) - 1)], 0.0
    raw = products / products[0]
    # E[products[d]] = var * sum_k rho_k M[d, k] (rho_0 = 1); dividing by the lag-0 equation
    # gives, for every d != 0, raw[d] * sum_k rho_k M[0, k] - sum_k rho_k M[d, k] = 0.
    a = raw[1:, None] * m[0, None, 1:] - m[1:, 1:]
    c = raw[1:] * m[0, 0] - m[1:, 0]
    rho = np.r_[1.0, np.linalg.solve(a, -c)]
    variance = float(products[0] / (rho @ m[0]))
    return rho, variance


def correlation_map(rho: np.ndarray) -> np.ndarray:
    """The full symmetric (2·3+1)² map of lags -3..3 (rows: y, columns: x) from the half plane."""
    size = 2 * MAX_LAG + 1
    out = np.zeros((size, size))
    for value, (dy, dx) in zip(rho, half_plane_lags(), strict=True):
        out[MAX_LAG + dy, MAX_LAG + dx] = value
        out[MAX_LAG - dy, MAX_LAG - dx] = value
    return out
