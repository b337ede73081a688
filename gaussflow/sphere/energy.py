"""The interaction energy of the gradient case and its rate along the flow.

E(μ) = ∬ e^{β xᵀDy} dμ(x) dμ(y); for particles E = Σ_ij w_i w_j e^{β x_iᵀ D x_j}. Along ẋ_i = sign·P⊥F_i
(QᵀK = V = D, G_i = Σ_j w_j e^{β x_iᵀDx_j} D x_j, Z_i = Σ_j w_j e^{β x_iᵀDx_j}):

    USA (none):    dE/dt = 2β·sign·Σ_i w_i |P⊥G_i|²
    SA (softmax):  dE/dt = 2β·sign·Σ_i w_i Z_i |P⊥F_i|²,  F_i = G_i / Z_i

(∂E/∂x_i = 2β w_i G_i for symmetric D). Closed values: a Dirac at x gives e^{β xᵀDx}; masses p, q at ±v
give (p² + q²) e^{βλ} + 2pq e^{−βλ} with λ = vᵀDv; the uniform measure gives E_x[Φ_d(|βDx|)] (quadrature).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import as_array, check_shape
from .model import DEFAULT_BLOCK, check_points, check_weights, normalized_kernel, row_sums, tangent
from .quadrature import product_grid, sphere_mean_of_exp


def check_D(D: Any, d: int | None = None) -> np.ndarray:
    Da = as_array("D", D, 2)
    check_shape("D", Da, (Da.shape[0], Da.shape[0]) if d is None else (d, d))
    if not np.allclose(Da, Da.T, rtol=1e-12, atol=1e-14):
        raise ValueError(f"`D` must be symmetric; got {Da}")
    return 0.5 * (Da + Da.T)


def energy(X: Any, D: Any, beta: float = 1.0, weights: Any = None, block: int = DEFAULT_BLOCK) -> float:
    """E = Σ_ij w_i w_j e^{β x_iᵀ D x_j} (uniform weights 1/n by default), streamed in blocks.

    X : (n, d) unit rows; D : (d, d) symmetric; weights : (n,) nonnegative summing to 1.
    """
    Xa = check_points(X)
    Da = check_D(D, Xa.shape[1])
    w = check_weights(weights, Xa.shape[0])
    m, S1, _ = row_sums(Xa, float(beta) * Da, w, block=block)
    return float(np.sum(w * np.exp(m) * S1))


def energy_rate(X: Any, D: Any, beta: float = 1.0, normalization: str = "none", sign: int = 1,
                weights: Any = None, block: int = DEFAULT_BLOCK) -> float:
    """dE/dt along the flow from the closed formula (module docstring)."""
    Xa = check_points(X)
    Da = check_D(D, Xa.shape[1])
    w = check_weights(weights, Xa.shape[0])
    if sign not in (1, -1):
        raise ValueError(f"`sign` must be +1 or -1; got {sign!r}")
    normalized = normalized_kernel(normalization)
    m, S1, Sx = row_sums(Xa, float(beta) * Da, w, block=block)
    Z = np.exp(m) * S1
    G = (Sx * np.exp(m)[:, None]) @ Da.T
    PG = tangent(Xa, G)
    sq = np.sum(PG**2, axis=1)
    rate = np.sum(w * sq / Z) if normalized else np.sum(w * sq)
    return float(2.0 * float(beta) * sign * rate)


def dirac_energy(D: Any, x: Any, beta: float = 1.0) -> float:
    """E(δ_x) = e^{β xᵀDx} (x a unit vector)."""
    Da = check_D(D)
    xa = np.asarray(x, dtype=float)
    return float(np.exp(beta * xa @ Da @ xa))


def antipodal_energy(D: Any, v: Any, p: float = 0.5, beta: float = 1.0) -> float:
    """E(p δ_v + q δ_{−v}) = (p² + q²) e^{βλ} + 2pq e^{−βλ}, q = 1 − p, λ = vᵀDv."""
    Da = check_D(D)
    va = np.asarray(v, dtype=float)
    lam = float(va @ Da @ va)
    q = 1.0 - p
    return float((p * p + q * q) * np.exp(beta * lam) + 2.0 * p * q * np.exp(-beta * lam))


def uniform_energy(D: Any, beta: float = 1.0, n: int = 48) -> float:
    """E(σ) for the uniform measure σ on S^{d−1}: E_x[Φ_d(|βDx|)], Φ_d(r) = ∫ e^{r y₁} dσ(y) in closed form
    (Bessel I), the outer mean by the product Gauss rule with ``n`` nodes per angle (d = 3, D = ±I, β = 1:
    sinh 1)."""
    Da = check_D(D)
    d = Da.shape[0]
    P, W = product_grid(d, n)
    r = np.linalg.norm(float(beta) * P @ Da.T, axis=1)
    return float(np.sum(W * sphere_mean_of_exp(r, d)))


__all__ = ["antipodal_energy", "check_D", "dirac_energy", "energy", "energy_rate", "uniform_energy"]
