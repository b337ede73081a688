"""Tokens on the sphere (layer normalization): the Burger–Kabri–Korolev–Roith–Weigand model.

>>> import numpy as np, gaussflow.sphere as gs
>>> m = gs.gradient_model(np.eye(3), sign=1)
>>> round(gs.energy(np.array([[0.0, 0.0, 1.0]]), np.eye(3)), 6)   # Dirac at an eigenvector: e^{βλ}
2.718282
"""

from __future__ import annotations

from .energy import antipodal_energy, dirac_energy, energy, energy_rate, uniform_energy
from .integrate import METHODS, SphereTrajectory, simulate, speed, step_euler, step_rkmk4
from .model import SphereModel, from_attention, gradient_model, model, velocity

__all__ = [
    "METHODS", "SphereModel", "SphereTrajectory", "antipodal_energy", "dirac_energy", "energy", "energy_rate",
    "from_attention", "gradient_model", "model", "simulate", "speed", "step_euler", "step_rkmk4",
    "uniform_energy", "velocity",
]
