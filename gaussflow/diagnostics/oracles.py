"""Independent truths for the moment solver (docs/math.md §4), written without the symbolic pipeline.

* softmax with V = vI: P = Σ⁻¹ solves Ṗ = −v(A + Aᵀ), hence Σ(t) = (Σ₀⁻¹ − vtS)⁻¹, S = A + Aᵀ; written
  as Σ(t) = R(I − vtN)⁻¹R with R = Σ₀^{1/2}, N = RSR, the same formula holds for singular Σ₀
  (it is Φ Σ₀ Φᵀ restricted to range Σ₀). Blow-up at T* = 1/λ_max(vN) (∞ if λ_max(vN) ≤ 0).
* scalar σ̇ = 2wσ + 2kσ² (softmax in d = 1 with A = a, V = v, feed-forward W_ff = w: k = va):
  1/σ solves a linear ODE, σ(t) = wσ₀e^{2wt} / (w + kσ₀(1 − e^{2wt})), T* = ln(1 + w/(kσ₀))/(2w).
* a 30+ digit reference integrator (``mpmath.odefun``, Taylor series) for softmax with general V and
  an optional affine feed-forward, its right-hand side typed here from docs/math.md §3 in mpmath matrices:
  α̇ = V(α + ΣAα) + Wα + b,  Σ̇ = VΣAΣ + ΣAᵀΣVᵀ + WΣ + ΣWᵀ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import mpmath
import numpy as np

from .._linalg import sqrtm_psd

_TINY = 1e-300




def softmax_isotropic_cov(Sigma0: Any, A: Any, v: float, t: Any) -> np.ndarray:
    """Σ(t) = R(I − vtN)⁻¹R = (Σ₀⁻¹ − vt(A + Aᵀ))⁻¹ for softmax attention with V = vI.

    Parameters
    ----------
    Sigma0 : array_like, shape (d, d)
        Symmetric PSD (singular allowed).
    A : array_like, shape (d, d)
        Score matrix (s(x, y) = yᵀAx).
    v : float
        Value scale, V = vI. Σ depends on (v, t) through v·t only, so for v(t) pass v = 1 and
        t = ∫₀ᵗ v(s) ds.
    t : float or array_like, shape (n,)
        Times before blow-up.

    Returns
    -------
    ndarray, shape (d, d) or (n, d, d)
    """
    S0 = np.asarray(Sigma0, dtype=float)
    Am = np.asarray(A, dtype=float)
    R = sqrtm_psd(S0)
    N = R @ (Am + Am.T) @ R
    I = np.eye(S0.shape[0])
    ts = np.atleast_1d(np.asarray(t, dtype=float))
    out = np.array([R @ np.linalg.solve(I - v * s * N, R) for s in ts])
    out = 0.5 * (out + out.transpose(0, 2, 1))
    return out[0] if np.ndim(t) == 0 else out


def softmax_blowup_time(Sigma0: Any, A: Any, v: float = 1.0) -> float:
    """T* = 1/λ_max(v Σ₀^{1/2}(A + Aᵀ)Σ₀^{1/2}) for softmax with V = vI; ``inf`` if that is ≤ 0
    (up to rounding: ≤ 1e-13 × the largest |eigenvalue|)."""
    S0 = np.asarray(Sigma0, dtype=float)
    Am = np.asarray(A, dtype=float)
    R = sqrtm_psd(S0)
    w = np.linalg.eigvalsh(v * (R @ (Am + Am.T) @ R))
    # eigenvalues at rounding level (e.g. along ker Σ₀) are zeros, not slow blow-ups
    lam = float(w[-1])
    return 1.0 / lam if lam > 1e-13 * max(float(np.max(np.abs(w))), _TINY) else math.inf


def softmax_subspace_limit(Sigma0: Any, A: Any) -> np.ndarray:
    """lim Σ(t) = Z(ZᵀΣ₀⁻¹Z)⁻¹Zᵀ as t → ∞ for softmax with V = vI, v > 0, S = A + Aᵀ ⪯ 0 singular
    (Z: orthonormal basis of ker S); Σ₀ positive definite."""
    S0 = np.asarray(Sigma0, dtype=float)
    Am = np.asarray(A, dtype=float)
    w, U = np.linalg.eigh(Am + Am.T)
    if w[-1] > 1e-12 * max(1.0, float(np.max(np.abs(w)))):
        raise ValueError(f"`A` must have A + Aᵀ ⪯ 0; largest eigenvalue {w[-1]:.3g}")
    Z = U[:, np.abs(w) <= 1e-12 * max(1.0, float(np.max(np.abs(w))))]
    return Z @ np.linalg.solve(Z.T @ np.linalg.solve(S0, Z), Z.T)


def blowup_time_scalar(w: float, k: float, sigma0: float) -> float:
    """Blow-up time of σ̇ = 2wσ + 2kσ², σ(0) = σ₀ > 0: T* = ln(1 + w/(kσ₀))/(2w)
    (1/(2kσ₀) at w = 0; ``inf`` when σ stays bounded, i.e. k ≤ 0 or kσ₀ ≤ −w)."""
    if k <= 0 or k * sigma0 + w <= 0:
        return math.inf
    if w == 0:
        return 1.0 / (2 * k * sigma0)
    return math.log1p(w / (k * sigma0)) / (2 * w)


def scalar_solution(w: float, k: float, sigma0: float, t: Any) -> np.ndarray:
    """σ(t) = wσ₀e^{2wt} / (w + kσ₀(1 − e^{2wt})) solving σ̇ = 2wσ + 2kσ² (before blow-up)."""
    tt = np.asarray(t, dtype=float)
    if w == 0:
        return sigma0 / (1 - 2 * k * sigma0 * tt)
    e = np.exp(2 * w * tt)
    return w * sigma0 * e / (w + k * sigma0 * (1 - e))


def softmax_reference(
    alpha0: Any,
    Sigma0: Any,
    A: Any,
    V: Any,
    times: Sequence[float],
    *,
    W: Any = None,
    b: Any = None,
    dps: int = 30,
) -> tuple[np.ndarray, np.ndarray]:
    """High-precision moments of softmax attention (+ affine feed-forward Wx + b) at ``times``.

    Integrates α̇ = V(α + ΣAα) + Wα + b, Σ̇ = VΣAΣ + ΣAᵀΣVᵀ + WΣ + ΣWᵀ (all d² entries of Σ, no
    symmetry assumed) with :func:`mpmath.odefun` (adaptive-degree Taylor series) at ``dps`` digits,
    from t = 0.

    Parameters
    ----------
    alpha0 : (d,), Sigma0 : (d, d), A : (d, d), V : (d, d)
    times : sequence of float ≥ 0, before any blow-up
    W : (d, d), optional; b : (d,), optional
    dps : int ≥ 30 recommended

    Returns
    -------
    mean : ndarray, shape (n, d)
    cov : ndarray, shape (n, d, d)
        Rounded to float64 from the ``dps``-digit values.
    """
    a0 = np.asarray(alpha0, dtype=float)
    d = a0.shape[0]
    with mpmath.workdps(dps):
        def mat(x: Any, shape: tuple[int, int]) -> mpmath.matrix:
            return mpmath.matrix(np.asarray(x, dtype=float).reshape(shape).tolist())

        Am, Vm = mat(A, (d, d)), mat(V, (d, d))
        Wm = mat(W, (d, d)) if W is not None else mpmath.zeros(d, d)
        bm = mat(b, (d, 1)) if b is not None else mpmath.zeros(d, 1)

        def F(t: Any, y: list[Any]) -> list[Any]:
            al = mpmath.matrix(y[:d])
            S = mpmath.matrix(d, d)
            for i in range(d):
                for j in range(d):
                    S[i, j] = y[d + i * d + j]
            ad = Vm * (al + S * Am * al) + Wm * al + bm
            Sd = Vm * S * Am * S + S * Am.T * S * Vm.T + Wm * S + S * Wm.T
            return [ad[i] for i in range(d)] + [Sd[i, j] for i in range(d) for j in range(d)]

        y0 = [mpmath.mpf(float(x)) for x in a0] + [mpmath.mpf(float(x)) for x in np.asarray(Sigma0).ravel()]
        f = mpmath.odefun(F, 0, y0)
        vals = [f(mpmath.mpf(float(t))) for t in times]
        Y = np.array([[float(v) for v in row] for row in vals])
    return Y[:, :d], Y[:, d:].reshape(-1, d, d)


__all__ = [
    "blowup_time_scalar", "scalar_solution", "softmax_blowup_time", "softmax_isotropic_cov",
    "softmax_reference", "softmax_subspace_limit",
]
