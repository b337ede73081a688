"""Gaussian-projection closure for velocities that are not affine: α̇ = E[Γ(X)],
Σ̇ = E[(X − α)Γ(X)ᵀ] + transpose, X ~ N(α, Σ) — an approximation (the law leaves the Gaussian family),
in closed form for exp-quadratic × polynomial velocities, by cubature otherwise
(:mod:`gaussflow.projection`)."""

from __future__ import annotations

from typing import Any

from ..projection import projection_closure
from .base import ClosureKind, MomentRHS


class GaussianProjection(ClosureKind):
    """The projected moments of a closure that does not preserve Gaussians."""

    name = "Gaussian projection (approximation)"
    exact = False
    factor_form = False

    @classmethod
    def applies(cls, closure: Any) -> bool:
        return not closure.preserves_gaussian

    def rhs(self, attn: Any) -> MomentRHS:
        return projection_closure(attn)

    def describe(self, attn: Any) -> str:
        return f"{self.name}: {projection_closure(attn).info}"


__all__ = ["GaussianProjection"]
