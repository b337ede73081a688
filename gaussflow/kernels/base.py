"""A normalization (kernel) of attention as one object: its expectation rule, its non-closure
certificate kernel and its particle kernel.

Contract of a :class:`Normalization` (one module per normalization in :mod:`gaussflow.kernels`, one
line in its ``NORMALIZATIONS`` registry):

1. ``name``: the string a :class:`~gaussflow.Variant` names in ``normalization``.
2. ``rule``: the label of the Gaussian-expectation rule (named by :class:`~gaussflow.symbolic.core.RuleError`).
3. ``expectation(q) -> (m, steps)``: from the head's completed-square score ``q``
   (:class:`~gaussflow.symbolic.rules.QuadraticScore`) to E_h[y | x] (normalized kernels) or
   ∫ φ(s) y dN (unnormalized ones), with the derivation steps; raises ``NotAffineError`` when the score
   has the wrong shape for the rule.
4. ``phi``: the SymPy kernel φ(s) of an unnormalized weight (``sp.exp``, the logistic function) used by
   the d = 1 non-closure certificate, or ``None`` for normalized kernels (no certificate rule).
5. ``particle_kernel(field, h, head, X) -> (M, m0)``: Σⱼ w_ij xⱼ and Σⱼ w_ij for the particles' rows
   (:mod:`gaussflow.kernels.field`).
6. ``no_causal_form``: empty when causal masking is defined, else the reason it is not.
7. ``log_partition(q) -> expr | None`` (optional): log ∫ k(s) dN(α, Σ) of a normalized kernel, the weight
   of a Gaussian component in mixtures of laws (the masked per-position closure); ``None`` when the rule
   does not give it for this score.
8. ``zero_temperature_kernel`` (optional): the particle kernel of the β → ∞ limit (softmax: hardmax, the
   barycentre of the argmax tokens), used by ``simulate_particles(..., beta=np.inf)``; ``None`` when the
   normalization has no such limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Normalization:
    """One normalization of the attention kernel (module docstring: the numbered contract)."""

    name: str
    summary: str
    rule: str
    expectation: Callable[[Any], tuple[Any, list[Any]]]
    phi: Callable[[Any], Any] | None
    particle_kernel: Callable[..., tuple[np.ndarray, np.ndarray]]
    no_causal_form: str = ""
    log_partition: Callable[[Any], Any] | None = None
    zero_temperature_kernel: Callable[..., tuple[np.ndarray, np.ndarray]] | None = None


__all__ = ["Normalization"]
