"""The limit map P of the β = ∞ (hardmax) residual flow: P(x₀) = lim_{t→∞} x(t).

With m_∞ the barycentre of the tokens maximizing the score (ties averaged; the particle engine's
``beta=np.inf``), the residual hardmax flow ẋ = V(m_∞[μ_t](x) − x) moves every token toward its
current target m. While the targets stay put, x(t) = m + e^{−tV}(x₀ − m) exactly (V = I: straight lines
x(t) = P(x₀) + e^{−t}(x₀ − P(x₀))). :func:`limit_map` integrates the flow (RK4) until the targets are
frozen — the configuration of targets is at rest and the targets seen along the remaining exact path
x(t) = m + e^{−tV}(x − m) are m itself — and then returns the targets.

Known closed forms (tests/test_lowtemp_limit.py): cube [−1, 1]^d with QᵀK = I and its vertices among
the tokens: P = sign; ball with the points x/|x| among the tokens: P(x) = x/|x| (layer normalization).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.linalg import expm

from .._checks import as_array
from ..kernels.field import numeric_heads
from ..particles import particle_velocity


def _value_matrix(attn: Any) -> np.ndarray:
    v = attn.closure.variant
    if not v.residual:
        raise ValueError(f"`attn` must be a residual attention (gaussflow.attention(..., residual=True)); "
                         f"{attn.name!r} is the pure form, whose β = ∞ flow has no limit")
    if len(v.heads) != 1:
        raise ValueError(f"`attn` must have one head; {attn.name!r} has {len(v.heads)}")
    C = numeric_heads(attn)[0].C
    if C.shape != (attn.d, attn.d):
        raise ValueError(f"`attn` must have a (d, d) value matrix V; got {C.shape}")
    if np.min(np.real(np.linalg.eigvals(C))) <= 0:
        raise ValueError("the limit map needs V with eigenvalues of positive real part (a contracting residual flow)")
    return C


def limit_map(attn: Any, X0: Any, *, dt: float = 0.05, t_max: float = 200.0, tol: float = 1e-12,
              chunk: int | None = None) -> np.ndarray:
    """P(x₀) for every token of X0 under the β = ∞ residual flow of ``attn``.

    Parameters
    ----------
    attn : Attention
        A residual softmax attention (``gaussflow.attention("softmax", residual=True, Q=..., K=..., V=...)``);
        its β drops out (hardmax). V must have eigenvalues with positive real part.
    X0 : array_like, shape (n, d)
        The tokens (the empirical measure; include the extreme points of the support you mean).
    dt : float
        RK4 step between freeze checks.
    t_max : float
        Give up (RuntimeError) when the targets have not frozen by this time.
    tol : float
        Relative tolerance of "frozen" and "at rest".

    Returns
    -------
    ndarray, shape (n, d)
        P(x₀ᵢ).

    Raises
    ------
    ValueError
        Not a residual single-head softmax attention, bad X0, V not contracting.
    RuntimeError
        Targets still moving at ``t_max``.
    """
    V = _value_matrix(attn)
    X = as_array("X0", X0, 2).copy()
    if X.shape[1] != attn.d or X.shape[0] < 1:
        raise ValueError(f"`X0` must have shape (n, {attn.d}); got {X.shape}")
    if not dt > 0 or not t_max > 0 or not tol > 0:
        raise ValueError(f"`dt`, `t_max`, `tol` must be positive; got {dt!r}, {t_max!r}, {tol!r}")
    Vinv_T = np.linalg.inv(V).T
    scale = max(1.0, float(np.abs(X).max()))

    def vel(Y: np.ndarray) -> np.ndarray:
        return particle_velocity(attn, Y, beta=np.inf, chunk=chunk)

    def targets(Y: np.ndarray) -> np.ndarray:
        return Y + vel(Y) @ Vinv_T  # V(m − y) = velocity  ⇒  m = y + V⁻¹ velocity

    t = 0.0
    while True:
        M = targets(X)
        frozen = np.abs(vel(M)).max() <= tol * scale
        if frozen:
            for s in (0.1, 0.5, 2.0, 8.0, 32.0):
                Xs = M + (X - M) @ expm(-s * V).T
                if np.abs(targets(Xs) - M).max() > tol * scale:
                    frozen = False
                    break
        if frozen:
            return M
        if t >= t_max:
            raise RuntimeError(f"limit_map: the hardmax targets are still moving at t = {t:g} (t_max)")
        for _ in range(max(1, round(1.0 / dt))):
            k1 = vel(X)
            k2 = vel(X + 0.5 * dt * k1)
            k3 = vel(X + 0.5 * dt * k2)
            k4 = vel(X + dt * k3)
            X = X + (dt / 6) * (k1 + 2 * (k2 + k3) + k4)
            t += dt


__all__ = ["limit_map"]
