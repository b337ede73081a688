"""What the Gaussian closure says at low temperature.

For the residual softmax closure (docs/math.md §3: J = V(ΣA − I)) in d = 1 with A = βa, V = v and
variance σ, Σ̇ = 2v(βaσ − 1)σ. With u = 1/σ this is linear, u̇ = −2v(βa − u), so
u(t) = βa + (1/σ₀ − βa)e^{2vt}: for βaσ₀ > 1 and v > 0 the variance blows up at

    T* = ln(βaσ₀ / (βaσ₀ − 1)) / (2v)  ≈  1 / (2vβaσ₀)   (βaσ₀ ≫ 1),

long before any metastable window (whose length grows like log β); for βaσ₀ < 1 the variance
relaxes to the stationary N(·, 1/(βa)) — a Gaussian of variance 1/(βa) is at rest for every v. So
Gaussian data have no low-temperature concentration and P#μ₀ has no Gaussian meaning (a Gaussian has
unbounded support). A Gaussian truncated to the ball of radius R does concentrate, on the sphere
of radius R (P(x) = R x/|x|): :func:`truncated_gaussian_density` feeds
:func:`gaussflow.lowtemp.mean_field_radial`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .._checks import check_positive


def gaussian_blowup_time_1d(beta: float, sigma0: float, *, a: float = 1.0, v: float = 1.0) -> float:
    """T* = ln(βaσ₀/(βaσ₀ − 1))/(2v) of the d = 1 residual Gaussian closure (``inf`` if βaσ₀ ≤ 1).

    Parameters
    ----------
    beta : float
        β > 0.
    sigma0 : float
        Initial variance σ₀ > 0.
    a : float
        A = βa is the score coefficient (a > 0).
    v : float
        Value v > 0.
    """
    b = check_positive("beta", beta)
    s = check_positive("sigma0", sigma0)
    aa = check_positive("a", a)
    vv = check_positive("v", v)
    k = b * aa * s
    if k <= 1.0:
        return math.inf
    return math.log(k / (k - 1.0)) / (2.0 * vv)


def truncated_gaussian_density(sigma: float, d: int) -> Callable[[np.ndarray], np.ndarray]:
    """Unnormalized radial density ρ^{d−1} e^{−ρ²/(2σ²)} of N(0, σ²I_d) (truncate it by the solver's R)."""
    s = check_positive("sigma", sigma)
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ValueError(f"`d` must be a positive integer; got {d!r}")

    def density(rho: np.ndarray) -> np.ndarray:
        return rho ** (d - 1) * np.exp(-0.5 * (rho / s) ** 2)

    return density


__all__ = ["gaussian_blowup_time_1d", "truncated_gaussian_density"]
