"""A richer closure family on S^{d−1}: Fisher–Bingham laws p_θ(x) ∝ exp(γᵀx + xᵀBx) (B symmetric).

Unlike the projected normal, the family contains the uniform law (θ = 0), antipodally symmetric bimodal laws
(Bingham, γ = 0) and concentrated von Mises–Fisher laws, and tilting acts on the natural parameter θ = (γ, B).

Closure (moment matching, the information projection of the continuity equation): with sufficient statistics
T(x) = (x, x xᵀ) the exact dynamics give d/dt E[T] = E[∇T · v] at the current law, v = sign·P⊥F_μ; we
choose θ̇ so that the family's moments move the same way, I(θ) θ̇ = E_θ[∇T · v], I(θ) = Cov_θ(T) the Fisher
information (minimum-norm solution: xᵀx = 1 makes B ↦ B + cI a null direction). Expectations use a fixed
quasi-uniform grid of the sphere with weights ∝ exp(θᵀT); the attention field F_μ at the grid points is the
weighted sphere field of :mod:`gaussflow.sphere.model` with those weights. Accurate while the law is not
concentrated below the grid spacing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .model import SphereModel, tangent
from .model import field as _field
from .quadrature import sphere_grid


def _stats(X: np.ndarray) -> np.ndarray:
    """T(x) = (x, x_a x_b for a ≤ b), shape (n, d + d(d+1)/2)."""
    d = X.shape[1]
    iu = np.triu_indices(d)
    return np.concatenate([X, (X[:, :, None] * X[:, None, :])[:, iu[0], iu[1]]], axis=1)


def _stats_dot(X: np.ndarray, V: np.ndarray) -> np.ndarray:
    """∇T(x)·v = (v, v_a x_b + x_a v_b)."""
    d = X.shape[1]
    iu = np.triu_indices(d)
    P = V[:, :, None] * X[:, None, :]
    return np.concatenate([V, (P + np.swapaxes(P, 1, 2))[:, iu[0], iu[1]]], axis=1)


def _theta(gamma: np.ndarray, B: np.ndarray) -> np.ndarray:
    """θ with θᵀT = γᵀx + xᵀBx (off-diagonal coefficients 2B_ab)."""
    d = len(gamma)
    iu = np.triu_indices(d)
    coef = np.where(iu[0] == iu[1], 1.0, 2.0) * B[iu]
    return np.concatenate([gamma, coef])


def _unpack(theta: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    iu = np.triu_indices(d)
    B = np.zeros((d, d))
    c = theta[d:] / np.where(iu[0] == iu[1], 1.0, 2.0)
    B[iu] = c
    B = B + B.T - np.diag(np.diag(B))
    return theta[:d].copy(), B


@dataclass
class FisherBinghamClosure:
    """Fisher–Bingham moment-matching closure of one sphere model; state (γ (d,), B (d, d))."""

    model: SphereModel
    grid: int = 3000
    _P: np.ndarray = field(init=False, repr=False)
    _T: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._P = sphere_grid(self.model.d, self.grid)
        self._T = _stats(self._P)

    def weights(self, gamma: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Grid weights of p_θ (sum 1)."""
        s = self._T @ _theta(gamma, B)
        w = np.exp(s - s.max())
        return w / w.sum()

    def law_nodes(self, gamma: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._P, self.weights(gamma, B)

    def fit(self, X: Any, iters: int = 50) -> tuple[np.ndarray, np.ndarray]:
        """Moment matching to a sample X (n, d): θ with E_θ[T] = mean T(X) (Newton on log Z(θ) − θᵀT̄)."""
        Tbar = _stats(np.asarray(X, dtype=float)).mean(axis=0)
        d = self.model.d
        th = np.zeros(self._T.shape[1])
        for _ in range(iters):
            w = self.weights(*_unpack(th, d))
            m = w @ self._T
            C = (self._T - m).T @ ((self._T - m) * w[:, None])
            step = np.linalg.lstsq(C, Tbar - m, rcond=1e-10)[0]
            th = th + step
            if np.max(np.abs(step)) < 1e-12:
                break
        return _unpack(th, d)

    def moment_rhs(self, gamma: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(γ̇, Ḃ) from I(θ) θ̇ = E_θ[∇T·v]."""
        w = self.weights(gamma, B)
        F, _ = _field(self.model, self._P, w)
        V = self.model.sign * tangent(self._P, F)
        rhs = w @ _stats_dot(self._P, V)
        m = w @ self._T
        C = (self._T - m).T @ ((self._T - m) * w[:, None])
        thdot = np.linalg.lstsq(C, rhs, rcond=1e-10)[0]
        return _unpack(thdot, self.model.d)


def solve_fisher_bingham(cl: FisherBinghamClosure, gamma0: np.ndarray, B0: np.ndarray, t_end: float, dt: float,
                         every: int = 1) -> dict[str, np.ndarray]:
    """RK4 for (γ, B). Returns t, gamma, B."""
    g, B = np.asarray(gamma0, dtype=float).copy(), np.asarray(B0, dtype=float).copy()
    n = max(round(t_end / dt), 1)
    h = t_end / n
    out: dict[str, list[Any]] = {"t": [0.0], "gamma": [g.copy()], "B": [B.copy()]}
    for k in range(1, n + 1):
        k1 = cl.moment_rhs(g, B)
        k2 = cl.moment_rhs(g + 0.5 * h * k1[0], B + 0.5 * h * k1[1])
        k3 = cl.moment_rhs(g + 0.5 * h * k2[0], B + 0.5 * h * k2[1])
        k4 = cl.moment_rhs(g + h * k3[0], B + h * k3[1])
        g = g + h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        B = B + h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
        if k % every == 0 or k == n:
            out["t"].append(k * h)
            out["gamma"].append(g.copy())
            out["B"].append(B.copy())
    return {k: np.array(v) for k, v in out.items()}


__all__ = ["FisherBinghamClosure", "solve_fisher_bingham"]
