"""Interacting-particle simulation of the same attention the closures describe.

:func:`simulate_particles` integrates ẋᵢ = Γ[μⁿ](xᵢ) with the particle kernel of the variant's
normalization (``gaussflow.kernels``); :func:`particle_velocity` evaluates Γ[μⁿ] once.
"""

from __future__ import annotations

from .engine import (
    ParticleOverflowError,
    ParticleTrajectory,
    ParticleTrajectoryError,
    SinkhornConvergenceError,
    particle_velocity,
    simulate_particles,
    sinkhorn_plan,
)

__all__ = [
    "ParticleOverflowError", "ParticleTrajectory", "ParticleTrajectoryError", "SinkhornConvergenceError",
    "particle_velocity", "simulate_particles", "sinkhorn_plan",
]
