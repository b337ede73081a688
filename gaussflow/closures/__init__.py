"""Closure kinds: one protocol (:class:`ClosureKind`), one file per kind, one registry.

>>> import gaussflow as gf
>>> gf.closures.kind_of(gf.derive("softmax")).name, gf.closures.kind_of(gf.derive("sigmoid")).exact
('exact', False)
"""

from __future__ import annotations

from typing import Any

from .base import ClosureKind, MomentRHS
from .exact import ExactAffine
from .masked import MaskedPerPosition
from .projection import GaussianProjection
from .sphere import SphereProjectedNormal

#: closure kinds, tried in order by :func:`kind_of` (kinds whose state is not one (α, Σ), such as
#: :class:`MaskedPerPosition`'s per-position groups, are chosen explicitly by their integrator)
KINDS: list[type[ClosureKind]] = [SphereProjectedNormal, ExactAffine, GaussianProjection]


def kind_of(closure: Any) -> ClosureKind:
    """The first kind of :data:`KINDS` that applies to ``closure``.

    Raises
    ------
    ValueError
        No registered kind applies (a kind was removed from the registry).
    """
    for k in KINDS:
        if k.applies(closure):
            return k()
    raise ValueError(f"no closure kind applies to {getattr(closure, 'name', closure)!r}; registered: "
                     f"{[k.__name__ for k in KINDS]}")


__all__ = ["KINDS", "ClosureKind", "ExactAffine", "GaussianProjection", "MaskedPerPosition", "MomentRHS", "kind_of"]
