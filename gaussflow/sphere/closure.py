"""A projected-normal closure of attention on the sphere (an approximation), registered as a closure kind.

Lemma (proved symbolically in :mod:`gaussflow.sphere.proof`): if ż = Mz then x = z/|z| solves
ẋ = P⊥_x(Mx). Hence projected-linear fields preserve the projected-normal family PN(m, Σ) (the law of z/|z|,
z ~ N(m, Σ)), with (m, Σ) → (e^{tM}m, e^{tM}Σe^{tMᵀ}), i.e. ṁ = Mm, Σ̇ = MΣ + ΣMᵀ.

Closure (our choice of projection): at μ = PN(m, Σ) the attention velocity v(x) = sign·P⊥_x F_μ(x) is
replaced by its L²(μ) projection onto the projected-linear fields,

    M = argmin_M E_μ |P⊥_x(Mx) − v(x)|²   (minimum-norm solution: M = cI moves nothing and is removed),

and (m, Σ) evolve by ṁ = Mm, Σ̇ = MΣ + ΣMᵀ. The expectations use a Gauss–Hermite product rule in ξ,
z = m + Lξ (LLᵀ = Σ), x = z/|z|, and F_μ at the nodes is the weighted sphere field of
:mod:`gaussflow.sphere.model` with the cubature weights. ``unexplained`` = E|v − P⊥Mx|² / E|v|² measures
what the family cannot follow. This is not the Wasserstein (Otto) projection; it is exact whenever v is
itself projected-linear.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .model import SphereModel, tangent
from .model import field as _field


def hermite_rule(d: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ξ (k^d, d) and weights (k^d,) (sum 1) of the product Gauss–Hermite rule for N(0, I_d)."""
    t, w = np.polynomial.hermite_e.hermegauss(k)
    w = w / w.sum()
    grids = np.meshgrid(*([t] * d), indexing="ij")
    W = np.prod(np.meshgrid(*([w] * d), indexing="ij"), axis=0)
    return np.stack([g.ravel() for g in grids], axis=1), W.ravel()


def nodes(m: np.ndarray, Sigma: np.ndarray, xi: np.ndarray) -> np.ndarray:
    """x = z/|z|, z = m + Lξ (L = Cholesky factor of Σ, eigen square root when singular)."""
    try:
        L = np.linalg.cholesky(Sigma)
    except np.linalg.LinAlgError:
        lam, U = np.linalg.eigh(Sigma)
        L = U * np.sqrt(np.clip(lam, 0.0, None))
    Z = m[None, :] + xi @ L.T
    return Z / np.linalg.norm(Z, axis=1, keepdims=True)


def best_linear(X: np.ndarray, V: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float]:
    """M = argmin Σ w_i |P⊥_i(M x_i) − v_i|² (minimum norm) and the unexplained fraction."""
    n, d = X.shape
    P = np.eye(d)[None] - X[:, :, None] * X[:, None, :]
    # P⊥_i M x_i = (x_iᵀ ⊗ P⊥_i) vec(M) with vec row-major: (P⊥_i M x_i)_a = Σ_bc P_ab M_bc x_c
    A = np.einsum("iab,ic->iabc", P, X).reshape(n, d, d * d)
    G = np.einsum("i,iak,ial->kl", w, A, A)
    b = np.einsum("i,iak,ia->k", w, A, V)
    Mv = np.linalg.lstsq(G, b, rcond=1e-12)[0]
    M = Mv.reshape(d, d)
    R = V - np.einsum("iab,bc,ic->ia", P, M, X)
    den = float(np.sum(w * np.sum(V**2, axis=1)))
    return M, float(np.sum(w * np.sum(R**2, axis=1)) / den) if den > 0 else 0.0


@dataclass
class SphereClosure:
    """The projected-normal closure of one sphere model (``manifold = "sphere"`` marks it for the closure-kind
    registry :data:`gaussflow.closures.KINDS`). ``moment_rhs(m, Σ) -> (ṁ, Σ̇)``."""

    model: SphereModel
    order: int = 10
    manifold: str = "sphere"
    preserves_gaussian: bool = False
    name: str = "sphere projected normal"
    _rule: tuple[np.ndarray, np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rule = hermite_rule(self.model.d, self.order)

    def law_nodes(self, m: np.ndarray, Sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cubature nodes on the sphere (k^d, d) and weights of PN(m, Σ)."""
        xi, w = self._rule
        return nodes(m, Sigma, xi), w

    def generator(self, m: np.ndarray, Sigma: np.ndarray) -> tuple[np.ndarray, float]:
        """(M, unexplained fraction) at PN(m, Σ)."""
        X, w = self.law_nodes(m, Sigma)
        F, _ = _field(self.model, X, w)
        return best_linear(X, self.model.sign * tangent(X, F), w)

    def moment_rhs(self, m: np.ndarray, Sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        M, _ = self.generator(m, Sigma)
        P = M @ Sigma
        return M @ m, P + P.T


def solve_closure(cl: SphereClosure, m0: Any, Sigma0: Any, t_end: float, dt: float,
                  every: int = 1) -> dict[str, np.ndarray]:
    """RK4 for (m, Σ) of the closure (the kind's right-hand side read from the registry); scale fixed by
    renormalizing |m|² + tr Σ = 1 after every step (PN(cm, c²Σ) = PN(m, Σ)). Returns t, m, Sigma, unexplained."""
    from ..closures import kind_of

    rhs = kind_of(cl).rhs(cl)
    m = np.asarray(m0, dtype=float).copy()
    S = np.asarray(Sigma0, dtype=float).copy()
    n = max(round(t_end / dt), 1)
    h = t_end / n
    out: dict[str, list[Any]] = {"t": [0.0], "m": [m.copy()], "Sigma": [S.copy()],
                                 "unexplained": [cl.generator(m, S)[1]]}
    for k in range(1, n + 1):
        k1 = rhs(m, S)
        k2 = rhs(m + 0.5 * h * k1[0], S + 0.5 * h * k1[1])
        k3 = rhs(m + 0.5 * h * k2[0], S + 0.5 * h * k2[1])
        k4 = rhs(m + h * k3[0], S + h * k3[1])
        m = m + h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        S = S + h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
        S = 0.5 * (S + S.T)
        c = np.sqrt(m @ m + np.trace(S))
        m, S = m / c, S / c**2
        if k % every == 0 or k == n:
            out["t"].append(k * h)
            out["m"].append(m.copy())
            out["Sigma"].append(S.copy())
            out["unexplained"].append(cl.generator(m, S)[1])
    return {k: np.array(v) for k, v in out.items()}


__all__ = ["SphereClosure", "best_linear", "hermite_rule", "nodes", "solve_closure"]
