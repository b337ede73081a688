"""Symbolic spine: Gaussian-expectation rules, closures, derivation steps.

The namespace is lazy (:func:`gaussflow._lazy.attach`): ``gaussflow.kernels`` and ``gaussflow.variants`` import
``gaussflow.symbolic.core`` / ``.rules`` without executing :mod:`~gaussflow.symbolic.closure` (which imports them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

if TYPE_CHECKING:  # pragma: no cover
    from .certificate import Certificate
    from .closure import Closure, derive
    from .explicit import ExplicitForm
    from .steps import Step

__getattr__, __dir__, _public = attach(__name__, {
    "certificate": ("Certificate",),
    "closure": ("Closure", "derive"),
    "explicit": ("ExplicitForm",),
    "steps": ("Step",),
})

__all__ = ["Certificate", "Closure", "ExplicitForm", "Step", "derive"]
