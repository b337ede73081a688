"""The closure-kind protocol: how the moments of a Gaussian token law are evolved for one closure.

A *closure kind* turns a derived closure, bound to numbers in an :class:`~gaussflow.Attention`, into
the moment right-hand side that the integrators (:func:`gaussflow.integrate.solve`,
:func:`gaussflow.integrate.propagate`,
:func:`gaussflow.verify`) evolve. Kinds are tried in the order of :data:`gaussflow.closures.KINDS`;
the first whose :meth:`ClosureKind.applies` is true is the closure's kind. Adding a kind is one file
with a subclass and one line in that registry (``docs/architecture.md``).

Contract of a subclass (numbered as in scipy's ``OdeSolver``):

1. ``name`` (str) and ``exact`` (bool): a label for results (``traj.solver["closure"]``) and whether
   the evolved moments are those of the true law (an exact closure) or an approximation.
2. ``applies(closure) -> bool`` (classmethod): whether the kind handles this derived closure. It
   reads the closure's data (``preserves_gaussian``, the velocity's structure) — never a variant
   name.
3. ``rhs(attn) -> callable``: ``(alpha (d,), Sigma (d, d)) -> (alpha_dot (d,), Sigma_dot (d, d))``,
   unchecked (integrators own their state), built from the generated code of ``attn``
   (``attn.compiled``, :mod:`gaussflow.codegen`) — no formula is typed in a kind.
4. ``describe(attn) -> str``: one line for the solver metadata (rule, degree, exactness).
5. ``factor_form`` (bool): whether Σ = LLᵀ, L̇ = JL applies (needs an x-independent Jacobian J).

State layout: every kind evolves (α, Σ) with α ∈ ℝ^d and Σ symmetric PSD (d × d); packing for an
integrator is the integrator's (``solve``'s full/factor forms, ``solve_batch``'s stacked arrays).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

MomentRHS = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


class ClosureKind(ABC):
    """Base class of closure kinds (module docstring: the numbered contract)."""

    name: ClassVar[str]
    exact: ClassVar[bool]
    factor_form: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def applies(cls, closure: Any) -> bool:
        """Whether this kind handles ``closure`` (contract item 2)."""

    @abstractmethod
    def rhs(self, attn: Any) -> MomentRHS:
        """The unchecked moment right-hand side of ``attn`` (contract item 3)."""

    def describe(self, attn: Any) -> str:
        """One line for the solver metadata (contract item 4)."""
        return self.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


__all__ = ["ClosureKind", "MomentRHS"]
