"""Sinkhorn normalization: the doubly stochastic (entropic self-coupling) kernel e^{s} scaled so that
both marginals are μ; E_π[Y | X = x] under the coupling π."""

from __future__ import annotations

from ..symbolic.rules import couple
from ._sinkhorn_particles import SinkhornResult, sinkhorn_kernel, sinkhorn_plan
from .base import Normalization

NORMALIZATION = Normalization(
    name="sinkhorn",
    summary="Sinkhorn: e^{s} scaled to a doubly stochastic coupling",
    rule="Gaussian coupling (Sinkhorn)",
    expectation=couple,
    phi=None,
    particle_kernel=sinkhorn_kernel,
    no_causal_form="a lower-triangular kernel has only the identity as a doubly stochastic scaling "
                   "(every token would attend only to itself)",
)

__all__ = ["NORMALIZATION", "SinkhornResult", "sinkhorn_plan"]
