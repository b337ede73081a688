"""Low temperature (Alcalde, Bungert, Riedl, Roith 2026): residual softmax dynamics as β → ∞.

The residual form ẋ = V(m_β[μ](x) − x) (``gaussflow.attention("softmax", residual=True, ...)``) concentrates
within times of order log β onto P#μ₀, P the limit map of the β = ∞ (hardmax) flow. This package holds

* :mod:`~gaussflow.lowtemp.model`: softmax / hardmax means on weighted atoms, residual and pure velocities,
  the rescaled score A(t) = e^{tVᵀ}Ae^{tV} of the pure form in z = e^{−tV}x;
* :mod:`~gaussflow.lowtemp.symbolic`: the SymPy proof of that rescaling;
* :mod:`~gaussflow.lowtemp.limit`: :func:`limit_map` (P of the hardmax flow, via the particle engine's
  ``beta=np.inf``);
* :mod:`~gaussflow.lowtemp.meanfield`: Lagrangian quadrature solvers (interval, product cube, radial ball)
  with W2(μ_t, P#μ₀) by the quantile / radial coupling;
* :mod:`~gaussflow.lowtemp.gaussian`: what the Gaussian closure says at low temperature.

See docs/lowtemp.md.
"""

from __future__ import annotations

from .gaussian import gaussian_blowup_time_1d, truncated_gaussian_density
from .limit import limit_map
from .meanfield import MeanFieldResult, mean_field_1d, mean_field_cube, mean_field_radial
from .model import (
    hardmax_mean,
    integrate_tokens,
    pure_velocity,
    rescaled_score,
    residual_velocity,
    softmax_mean,
)
from .quadrature import graded_panels
from .symbolic import RescalingProof, prove_rescaling

__all__ = [
    "MeanFieldResult", "RescalingProof", "gaussian_blowup_time_1d", "graded_panels", "hardmax_mean",
    "integrate_tokens", "limit_map", "mean_field_1d", "mean_field_cube", "mean_field_radial", "prove_rescaling",
    "pure_velocity", "rescaled_score", "residual_velocity", "softmax_mean", "truncated_gaussian_density",
]
