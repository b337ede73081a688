"""Exact affine Gaussian closure: Γ affine in x on N(α, Σ), so the law stays Gaussian with
α̇ = Γ(α), Σ̇ = JΣ + ΣJᵀ (the affine-velocity lemma, ``docs/math.md``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import ClosureKind, MomentRHS


class ExactAffine(ClosureKind):
    """The closed moment equations of a Gaussian-preserving closure, from the generated ``moments``."""

    name = "exact"
    exact = True
    factor_form = True

    @classmethod
    def applies(cls, closure: Any) -> bool:
        return bool(closure.preserves_gaussian)

    def rhs(self, attn: Any) -> MomentRHS:
        fn, prepared, d = attn.compiled.moments, tuple(attn.prepared), attn.d

        def moments(alpha: np.ndarray, Sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            m, S = fn(alpha[:, None], Sigma, *prepared)
            return np.asarray(m, dtype=float).reshape(d), np.asarray(S, dtype=float)

        return moments


__all__ = ["ExactAffine"]
