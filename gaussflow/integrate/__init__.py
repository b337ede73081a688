"""Integrators of closed moment dynamics: one ODE (:func:`solve`), a batch of them (:func:`solve_batch`),
and a stack of layers (:func:`propagate`). Every right-hand side comes from the closure kind of the
``Attention`` (generated code); nothing here knows a variant by name.
"""

from __future__ import annotations

from .batch import BatchResult, solve_batch
from .propagate import propagate
from .solve import solve

__all__ = ["BatchResult", "propagate", "solve", "solve_batch"]
