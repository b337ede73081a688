"""Tokens on the sphere (layer normalization): the Burger–Kabri–Korolev–Roith–Weigand model.

>>> import numpy as np, gaussflow.sphere as gs
>>> m = gs.gradient_model(np.eye(3), sign=1)
>>> round(gs.energy(np.array([[0.0, 0.0, 1.0]]), np.eye(3)), 6)   # Dirac at an eigenvector: e^{βλ}
2.718282
"""

from __future__ import annotations

from .cases import Classification, classify_extremals, spectral_case
from .energy import antipodal_energy, dirac_energy, energy, energy_rate, uniform_energy
from .extremal import ExtremalMeasure, candidates, maximum_energy, minimum_dirac_bound, minimum_energy
from .integrate import METHODS, SphereTrajectory, simulate, simulate_batch, speed, step_euler, step_rkmk4
from .model import SphereModel, from_attention, gradient_model, model, velocity
from .stationary import Stationary, find_stationary, find_stationary_general, riemannian_hessian, stable_step

__all__ = [
    "METHODS", "Classification", "ExtremalMeasure", "SphereModel", "SphereTrajectory", "Stationary",
    "antipodal_energy", "candidates", "classify_extremals", "dirac_energy", "energy", "energy_rate",
    "find_stationary", "find_stationary_general", "from_attention", "gradient_model", "maximum_energy",
    "minimum_dirac_bound",
    "minimum_energy", "model", "riemannian_hessian", "simulate", "simulate_batch", "spectral_case", "speed",
    "stable_step",
    "step_euler", "step_rkmk4", "uniform_energy", "velocity",
]
