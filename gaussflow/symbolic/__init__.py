"""Symbolic spine: Gaussian-expectation rules, closures, derivation steps."""

from .certificate import Certificate
from .closure import Closure, derive
from .explicit import ExplicitForm
from .steps import Step

__all__ = ["Certificate", "Closure", "ExplicitForm", "Step", "derive"]
