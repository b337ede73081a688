"""The low-temperature model on weighted atoms: softmax and hardmax means, residual and pure forms,
and the rescaling that turns the pure form into the residual one.

A token law μ = Σⱼ wⱼ δ_{yⱼ} (weights wⱼ > 0 summing to 1: an empirical measure, or the nodes and
weights of a quadrature of a continuous law) and the bilinear score β⟨Qx, Ky⟩ = β yᵀA x with
A = KᵀQ (d × d) give

    m_β[μ](x) = Σⱼ wⱼ yⱼ e^{β yⱼᵀA x} / Σⱼ wⱼ e^{β yⱼᵀA x}                       (softmax mean)
    m_∞[μ](x) = barycentre of μ on argmax_{yⱼ} yⱼᵀA x (ties averaged)        (hardmax, β = ∞)

and the two forms of the dynamics

    residual  ẋ = V (m_β[μ](x) − x)          pure  ẋ = V m_β[μ](x).

Under z = e^{−tV} x the pure form becomes the residual form in z with the time-dependent score matrix
A(t) = e^{tVᵀ} A e^{tV} (V = vI: β_eff = β e^{2vt}); :func:`rescaled_score` gives A(t) and
:mod:`gaussflow.lowtemp.symbolic` proves the identity with SymPy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.linalg import expm

from .._checks import as_array

#: relative tolerance under which two hardmax scores count as tied (Filippov averaging)
TIE_RTOL = 1e-12


def _atoms(Y: Any, w: Any) -> tuple[np.ndarray, np.ndarray]:
    Ya = as_array("Y", Y, 2)
    if w is None:
        wa = np.full(Ya.shape[0], 1.0 / Ya.shape[0])
    else:
        wa = as_array("w", w, 1)
        if wa.shape != (Ya.shape[0],) or np.any(wa <= 0):
            raise ValueError(f"`w` must hold {Ya.shape[0]} positive weights; got shape {wa.shape}")
        wa = wa / wa.sum()
    return Ya, wa


def _square(name: str, M: Any, d: int) -> np.ndarray:
    if np.ndim(M) == 0:
        return float(as_array(name, M, 0)) * np.eye(d)
    Ma = as_array(name, M, 2)
    if Ma.shape != (d, d):
        raise ValueError(f"`{name}` must be a scalar or have shape ({d}, {d}); got shape {Ma.shape}")
    return Ma


def _beta(beta: Any) -> float:
    try:
        b = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"`beta` must be a positive number or np.inf; got {beta!r}") from None
    if not b > 0 or np.isnan(b):
        raise ValueError(f"`beta` must be a positive number or np.inf; got {beta!r}")
    return b


def scores(X: np.ndarray, Y: np.ndarray, A: np.ndarray) -> np.ndarray:
    """S_ij = yⱼᵀ A xᵢ, shape (n, m), for X (n, d), Y (m, d), A (d, d)."""
    return (X @ A.T) @ Y.T


def softmax_mean(X: Any, Y: Any, w: Any = None, *, A: Any = 1.0, beta: Any = 1.0) -> np.ndarray:
    """m_β[μ](xᵢ) for μ = Σⱼ wⱼ δ_{yⱼ}; ``beta=np.inf`` gives :func:`hardmax_mean`.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Query points.
    Y : array_like, shape (m, d)
        Atoms of μ.
    w : array_like, shape (m,), optional
        Positive weights (normalized here; default uniform).
    A : float or array_like, shape (d, d)
        A = KᵀQ (a scalar means a·I).
    beta : float
        Inverse temperature β > 0, or ``np.inf``.

    Returns
    -------
    ndarray, shape (n, d)
        Σⱼ wⱼ yⱼ e^{β yⱼᵀA xᵢ} / Σⱼ wⱼ e^{β yⱼᵀA xᵢ} (log-sum-exp stabilized).
    """
    Xa = as_array("X", X, 2)
    Ya, wa = _atoms(Y, w)
    Aa = _square("A", A, Xa.shape[1])
    b = _beta(beta)
    if np.isinf(b):
        return hardmax_mean(Xa, Ya, wa, A=Aa)
    L = b * scores(Xa, Ya, Aa) + np.log(wa)[None, :]
    L -= L.max(axis=1, keepdims=True)
    E = np.exp(L)
    return (E @ Ya) / E.sum(axis=1, keepdims=True)


def hardmax_mean(X: Any, Y: Any, w: Any = None, *, A: Any = 1.0, rtol: float = TIE_RTOL) -> np.ndarray:
    """m_∞[μ](xᵢ): the w-weighted barycentre of the atoms maximizing yⱼᵀA xᵢ.

    Scores within ``rtol · max(1, max_j |S_ij|)`` of the row maximum count as tied and are averaged
    (the Filippov convex combination at a switching surface). At a tie the β = ∞ flow need not have
    unique solutions (docs/lowtemp.md, "non-uniqueness").

    Returns
    -------
    ndarray, shape (n, d)
    """
    Xa = as_array("X", X, 2)
    Ya, wa = _atoms(Y, w)
    Aa = _square("A", A, Xa.shape[1])
    S = scores(Xa, Ya, Aa)
    top = S.max(axis=1, keepdims=True)
    tol = rtol * np.maximum(1.0, np.abs(S).max(axis=1, keepdims=True))
    W = np.where(S >= top - tol, wa[None, :], 0.0)
    return (W @ Ya) / W.sum(axis=1, keepdims=True)


def residual_velocity(X: Any, Y: Any = None, w: Any = None, *, A: Any = 1.0, V: Any = 1.0,
                      beta: Any = 1.0) -> np.ndarray:
    """V (m_β[μ](xᵢ) − xᵢ), shape (n, d); μ = Σⱼ wⱼ δ_{yⱼ} (default: the points X themselves)."""
    Xa = as_array("X", X, 2)
    Ya = Xa if Y is None else Y
    Va = _square("V", V, Xa.shape[1])
    return (softmax_mean(Xa, Ya, w, A=A, beta=beta) - Xa) @ Va.T


def pure_velocity(X: Any, Y: Any = None, w: Any = None, *, A: Any = 1.0, V: Any = 1.0,
                  beta: Any = 1.0) -> np.ndarray:
    """V m_β[μ](xᵢ), shape (n, d) (the form without the residual connection)."""
    Xa = as_array("X", X, 2)
    Ya = Xa if Y is None else Y
    Va = _square("V", V, Xa.shape[1])
    return softmax_mean(Xa, Ya, w, A=A, beta=beta) @ Va.T


def rescaled_score(A: Any, V: Any, t: float, d: int | None = None) -> np.ndarray:
    """A(t) = e^{tVᵀ} A e^{tV}: the score matrix of the residual form in z = e^{−tV} x.

    For V = vI this is e^{2vt} A, i.e. the inverse temperature β_eff(t) = β e^{2vt}.
    """
    dim = d if d is not None else (1 if np.ndim(A) == 0 and np.ndim(V) == 0 else
                                    (np.shape(A)[0] if np.ndim(A) else np.shape(V)[0]))
    Aa = _square("A", A, dim)
    Va = _square("V", V, dim)
    E = expm(float(t) * Va)
    return E.T @ Aa @ E


def integrate_tokens(velocity: Callable[[float, np.ndarray], np.ndarray], X0: Any, t_eval: Any, *,
                     dt: float = 1e-2) -> np.ndarray:
    """Classic RK4 for ẋᵢ = F(t, X)ᵢ on the whole cloud, landing on every sample time.

    Parameters
    ----------
    velocity : callable ``(t, X) -> (n, d)``
    X0 : array_like, shape (n, d)
    t_eval : array_like, shape (T,), increasing; ``t_eval[0]`` is the time of X0
    dt : float
        Largest step (each interval is split into equal steps).

    Returns
    -------
    ndarray, shape (T, n, d)
    """
    X = as_array("X0", X0, 2).copy()
    t = as_array("t_eval", t_eval, 1)
    if t.size > 1 and not np.all(np.diff(t) > 0):
        raise ValueError("`t_eval` must be strictly increasing")
    if not dt > 0:
        raise ValueError(f"`dt` must be positive; got {dt!r}")
    out = np.empty((t.size, *X.shape))
    out[0] = X
    for k in range(t.size - 1):
        m = max(1, int(np.ceil((t[k + 1] - t[k]) / dt - 1e-9)))
        h = (t[k + 1] - t[k]) / m
        s = float(t[k])
        for _ in range(m):
            k1 = velocity(s, X)
            k2 = velocity(s + h / 2, X + (h / 2) * k1)
            k3 = velocity(s + h / 2, X + (h / 2) * k2)
            k4 = velocity(s + h, X + h * k3)
            X = X + (h / 6) * (k1 + 2 * (k2 + k3) + k4)
            s += h
        out[k + 1] = X
    return out


__all__ = ["TIE_RTOL", "hardmax_mean", "integrate_tokens", "pure_velocity", "rescaled_score", "residual_velocity",
           "scores", "softmax_mean"]
