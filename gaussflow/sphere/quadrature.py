"""Quadrature grids on S^{d−1} (uniform probability measure σ): product Gauss rules and Fibonacci points.

Product rule: x = (t, √(1−t²) x'), t ∈ [−1, 1] with density ∝ (1 − t²)^{(d−3)/2} (Gauss–Jacobi nodes), x'
on S^{d−2} recursively, S¹ by equispaced angles. With ``n`` Gauss nodes per polar angle and 2n angles on
the circle the rule integrates polynomials of degree ≤ 2n − 1 exactly.
"""

from __future__ import annotations

import numpy as np
import scipy.special


def product_grid(d: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Points (M, d) and weights (M,) (sum 1) of the product rule (module docstring); M = 2n·n^{d−2}."""
    if not (isinstance(d, int) and d >= 2):
        raise ValueError(f"`d` must be an int >= 2; got {d!r}")
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"`n` must be a positive int; got {n!r}")
    if d == 2:
        a = 2.0 * np.pi * (np.arange(2 * n) + 0.5) / (2 * n)
        return np.stack([np.cos(a), np.sin(a)], axis=1), np.full(2 * n, 1.0 / (2 * n))
    a = 0.5 * (d - 3)
    t, wt = scipy.special.roots_jacobi(n, a, a)
    wt = wt / wt.sum()
    P, W = product_grid(d - 1, n)
    r = np.sqrt(1.0 - t**2)
    X = np.concatenate([np.repeat(t, len(W))[:, None], (r[:, None, None] * P[None]).reshape(-1, d - 1)], axis=1)
    return X, np.outer(wt, W).ravel()


def fibonacci_grid(n: int) -> np.ndarray:
    """n quasi-uniform points on S² (the golden-angle spiral), shape (n, 3)."""
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"`n` must be a positive int; got {n!r}")
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    phi = np.pi * (1.0 + 5.0**0.5) * i
    r = np.sqrt(1.0 - z**2)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def circle_grid(n: int) -> np.ndarray:
    """n equispaced points on S¹ starting at angle 0, shape (n, 2)."""
    a = 2.0 * np.pi * np.arange(n) / n
    return np.stack([np.cos(a), np.sin(a)], axis=1)


def sphere_grid(d: int, n: int) -> np.ndarray:
    """About n quasi-uniform points on S^{d−1}: circle points (d = 2), Fibonacci (d = 3), product nodes otherwise."""
    if d == 2:
        return circle_grid(n)
    if d == 3:
        return fibonacci_grid(n)
    m = max(2, round((n / 2) ** (1.0 / (d - 1))))  # 2 m^{d−1} points
    return product_grid(d, m)[0]


def sphere_mean_of_exp(r: np.ndarray, d: int) -> np.ndarray:
    """Φ_d(r) = ∫_{S^{d−1}} e^{r y₁} dσ(y) = Γ(d/2) (2/r)^{d/2−1} I_{d/2−1}(r) (Φ_d(0) = 1)."""
    r = np.asarray(r, dtype=float)
    nu = 0.5 * d - 1.0
    rs = np.where(r > 1e-8, r, 1.0)
    val = scipy.special.gamma(0.5 * d) * (2.0 / rs) ** nu * scipy.special.ive(nu, rs) * np.exp(rs)
    return np.where(r > 1e-8, val, 1.0 + r**2 / (2.0 * d))


__all__ = ["circle_grid", "fibonacci_grid", "product_grid", "sphere_grid", "sphere_mean_of_exp"]
