"""Closure kind: the projected-normal closure of attention on the sphere (an approximation).

Applies to closures that declare ``manifold == "sphere"`` (:class:`gaussflow.sphere.closure.SphereClosure`);
the moments are (m, Σ) of the projected normal PN(m, Σ) and the right-hand side is the closure's own
``moment_rhs`` (the L²(μ) projection of the attention velocity onto projected-linear fields; no formula here).
"""

from __future__ import annotations

from typing import Any

from .base import ClosureKind, MomentRHS


class SphereProjectedNormal(ClosureKind):
    """(m, Σ) of PN(m, Σ) under the best projected-linear approximation of the sphere velocity."""

    name = "sphere_projected_normal"
    exact = False

    @classmethod
    def applies(cls, closure: Any) -> bool:
        return getattr(closure, "manifold", None) == "sphere"

    def rhs(self, attn: Any) -> MomentRHS:
        """``attn`` is the sphere closure itself (it carries its model's numbers)."""
        return attn.moment_rhs

    def describe(self, attn: Any) -> str:
        return f"{self.name}: L2(mu) projection onto P(Mx), Gauss-Hermite order {attn.order} (approximation)"


__all__ = ["SphereProjectedNormal"]
