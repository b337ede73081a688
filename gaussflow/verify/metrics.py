"""Distances and normality statistics of the verification, and its constants."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import chi2, norm

from .._checks import as_array, check_cov, check_mean
from .._linalg import sqrtm_psd

ClosureRHS = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

#: Gauss–Hermite nodes per axis of the built-in projection closure by dimension (k^d nodes; the rule is exact
#: for polynomials of degree ≤ 2k − 1). Sigmoid with ‖A‖ ≈ 3: degree 20 vs 40 changes Σ by ~0.4 %.
GH_DEGREES = {1: 64, 2: 32, 3: 16}

#: largest dimension for the tensor Gauss–Hermite cubature (k^d nodes)
GH_MAX_DIM = 3

#: up to this many particles all positions are kept in memory (keep="all"); above, the run is split into
#: one call per sampling interval and Mardia's statistics are computed on the fly (O(n d) memory)
KEEP_ALL_MAX_N = 20_000

#: cap on the seeds per n of a convergence study (small n get repeats·n_max/n seeds)
REPEATS_MAX = 64

#: verdict threshold: errors up to this multiple of the sampling scale c/√n count as sampling error
Z_VERDICT = 3.0

#: a convergence slope below this counts as decay like n^{-1/2} (−½ expected, 0 for a pure bias)
SLOPE_VERDICT = -0.3

#: tr Σ of the closure growing by at least this factor over the compared times counts as "near a blow-up":
#: there the O(n^{-1/2}) fluctuations of the particle system are amplified by the singular growth (the
#: n-particle blow-up time itself fluctuates around T*), so with an exact closure a large error is a
#: finite-n effect, not a bias
BLOWUP_GROWTH = 10.0


def bures_wasserstein(m1: Any, S1: Any, m2: Any, S2: Any) -> float:
    """2-Wasserstein distance between N(m1, S1) and N(m2, S2).

    W₂² = |m1 − m2|² + tr S1 + tr S2 − 2 tr (S1^{1/2} S2 S1^{1/2})^{1/2}

    Parameters
    ----------
    m1, m2 : array_like, shape (d,)
    S1, S2 : array_like, shape (d, d), symmetric PSD (singular allowed)

    Returns
    -------
    float
        W₂ ≥ 0 (the squared value is clipped at 0 against rounding). W₂ is the square root of a
        cancelling difference, so its absolute accuracy is about √(ε·(tr S1 + tr S2)) ≈ 1e-8·scale.

    References
    ----------
    Dowson & Landau (1982); Givens & Shortt (1984); POT ``ot.gaussian.bures_wasserstein_distance``.
    """
    a = check_mean("m1", m1)
    d = a.shape[0]
    b = check_mean("m2", m2, d)
    A = check_cov("S1", S1, d)
    B = check_cov("S2", S2, d)
    return bw_unchecked(a, A, b, B)


def bw_unchecked(a: np.ndarray, A: np.ndarray, b: np.ndarray, B: np.ndarray) -> float:
    r = sqrtm_psd(A)
    cross = np.linalg.eigvalsh(0.5 * (r @ B @ r + (r @ B @ r).T))
    w2 = float(np.sum((a - b) ** 2) + np.trace(A) + np.trace(B) - 2.0 * np.sum(np.sqrt(np.clip(cross, 0.0, None))))
    return math.sqrt(max(w2, 0.0))


@dataclass(frozen=True)
class Mardia:
    """Mardia's multivariate skewness and kurtosis of a sample.

    Attributes
    ----------
    b1 : float
        Skewness b₁ = (1/n²) Σᵢⱼ (zᵢᵀS⁻¹zⱼ)³ (0 for a Gaussian law).
    b2 : float
        Kurtosis b₂ = (1/n) Σᵢ (zᵢᵀS⁻¹zᵢ)² (d(d + 2) for a Gaussian law).
    skewness_stat, skewness_p : float
        n b₁ / 6 and its p-value under χ² with d(d + 1)(d + 2)/6 degrees of freedom.
    kurtosis_stat, kurtosis_p : float
        (b₂ − d(d + 2)) / √(8 d(d + 2)/n) and its two-sided p-value under N(0, 1).
    dim : int
        Dimension used (the numerical rank of S).
    """

    b1: float
    b2: float
    skewness_stat: float
    skewness_p: float
    kurtosis_stat: float
    kurtosis_p: float
    dim: int


def mardia(X: Any) -> Mardia:
    """Mardia's tests of multivariate normality.

    With zᵢ = xᵢ − x̄, S = (1/n) Σ zᵢzᵢᵀ and whitened yᵢ = S^{-1/2} zᵢ,

        b₁ = (1/n²) Σᵢⱼ (yᵢᵀyⱼ)³ = Σ_{abc} ((1/n) Σᵢ y_{ia} y_{ib} y_{ic})²,   b₂ = (1/n) Σᵢ |yᵢ|⁴,

    the middle form (third-moment tensor) costing O(n d³) instead of O(n²). Under normality
    n b₁/6 ~ χ²_{d(d+1)(d+2)/6} and (b₂ − d(d+2))/√(8d(d+2)/n) ~ N(0, 1) asymptotically.
    A rank-deficient S (e.g. a cloud collapsed onto a subspace) is whitened on its range and d is
    replaced by the numerical rank.

    Parameters
    ----------
    X : array_like, shape (n, d), n ≥ 2

    Returns
    -------
    Mardia

    References
    ----------
    K. V. Mardia, "Measures of multivariate skewness and kurtosis with applications",
    Biometrika 57 (1970) 519–530.
    """
    Xa = as_array("X", X, 2)
    if Xa.shape[0] < 2 or Xa.shape[1] < 1:
        raise ValueError(f"`X` must have shape (n, d) with n ≥ 2, d ≥ 1; got shape {Xa.shape}")
    return mardia_unchecked(Xa)


def mardia_unchecked(X: np.ndarray) -> Mardia:
    n = X.shape[0]
    Z = X - X.mean(axis=0)
    S = (Z.T @ Z) / n
    w, U = np.linalg.eigh(0.5 * (S + S.T))
    keep = w > max(float(w[-1]), 0.0) * X.shape[1] * 1e-12
    p = int(np.count_nonzero(keep))
    if p == 0:
        return Mardia(math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, 0)
    Y = (Z @ U[:, keep]) / np.sqrt(w[keep])
    M3 = np.einsum("ia,ib,ic->abc", Y, Y, Y, optimize=True) / n
    b1 = float(np.sum(M3**2))
    b2 = float(np.mean(np.sum(Y**2, axis=1) ** 2))
    dof = p * (p + 1) * (p + 2) / 6
    sk = n * b1 / 6.0
    ku = (b2 - p * (p + 2)) / math.sqrt(8.0 * p * (p + 2) / n)
    return Mardia(b1, b2, sk, float(chi2.sf(sk, dof)), ku, float(2.0 * norm.sf(abs(ku))), p)


def relative_errors(m_p: np.ndarray, C_p: np.ndarray, m_c: np.ndarray, C_c: np.ndarray) -> tuple[float, float]:
    """(|m_p − m_c| / max(|m_c|, √tr C_c), ‖C_p − C_c‖_F / ‖C_c‖_F) for one time."""
    scale = max(float(np.linalg.norm(m_c)), math.sqrt(max(float(np.trace(C_c)), 0.0)))
    fro = float(np.linalg.norm(C_c))
    em = float(np.linalg.norm(m_p - m_c)) / scale if scale > 0 else math.inf
    ec = float(np.linalg.norm(C_p - C_c)) / fro if fro > 0 else math.inf
    return em, ec


def sampling_scale(cov: Any, n: int) -> float:
    """c/√n: relative Frobenius error of a covariance estimated from n Gaussian samples.

    For i.i.d. N(m, C) samples E‖Ĉ − C‖²_F = (‖C‖²_F + (tr C)²)/n + O(n⁻²) (Wishart second moments),
    so c = √(1 + (tr C)²/‖C‖²_F) ∈ [√2, √(1 + d)]. This is the yardstick for "an O(n^{-1/2}) error".
    """
    C = np.asarray(cov, dtype=float)
    fro2 = float(np.sum(C**2))
    if fro2 == 0:
        return math.inf
    return math.sqrt((1.0 + float(np.trace(C)) ** 2 / fro2) / n)
