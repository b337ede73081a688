"""The paper's classification of minimizers and maximizers of E by the spectrum of D.

- c·I, c > 0: minimizer the uniform measure σ (QP certificate); maximizer every Dirac, e^{βc}.
- positive definite: minimizer with full support, E < E(σ) (QP); maximizer the top-eigenvector Dirac.
- singular PSD: minimizers the measures on ker D ∩ S, E = 1 (E ≥ 1 termwise); maximizer as above.
- negative definite: minimizer the Dirac at ±v_min, e^{βλ_min} (bound xᵀDy ≥ λ_min); maximizer the
  antipodal pair on v_min, cosh βλ_min (candidates).
- indefinite: minimizer the Dirac at v_min when |λ_min| ≥ λ_max (bound), else uncertified; maximizer the
  best candidate, max(e^{βλ_max}, cosh βλ_min).

For D ⪰ 0 E is convex on measures, so its maximum is attained at an extreme point (a Dirac) and the
maximizer is certified; for the other cases the maximizer is the best of the paper's candidates that meets
the first-order condition k∗μ ≤ E (necessary, not sufficient).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .energy import check_D, uniform_energy
from .extremal import ExtremalMeasure, maximum_energy, minimum_dirac_bound, minimum_energy


@dataclass
class Classification:
    """case (str), minimizer / maximizer (ExtremalMeasure or None), how each was certified, a description."""

    case: str
    minimizer: ExtremalMeasure | None
    maximizer: ExtremalMeasure
    min_certificate: str
    max_certificate: str
    min_description: str
    uniform_energy: float


def spectral_case(D: Any, rtol: float = 1e-12) -> str:
    """"identity" (c·I, c > 0), "positive definite", "singular PSD", "negative definite" or "indefinite"."""
    lam = np.linalg.eigvalsh(check_D(D))
    tol = rtol * max(1.0, float(np.abs(lam).max()))
    if lam.min() > tol:
        return "identity" if lam.max() - lam.min() <= tol else "positive definite"
    if lam.min() >= -tol:
        return "singular PSD"
    if lam.max() < -tol:
        return "negative definite"
    return "indefinite"


def classify_extremals(D: Any, beta: float = 1.0, n: int | None = None) -> Classification:
    """Minimizer and maximizer of E for this D, each with how it is certified (module docstring)."""
    Da = check_D(D)
    case = spectral_case(Da)
    Eu = uniform_energy(Da, beta)
    mx = maximum_energy(Da, beta)
    max_cert = "convexity (D ⪰ 0): a Dirac at the top eigenvector" if case in (
        "identity", "positive definite", "singular PSD") else "best paper candidate meeting k∗μ ≤ E (first order)"
    mn: ExtremalMeasure | None
    if case in ("identity", "positive definite", "singular PSD"):
        mn = minimum_energy(Da, beta, n=n)
        cert = f"convex QP, gap {mn.gap:.2e}, E ≥ {mn.lower_bound:.12f}"
        supp = mn.support(1e-6)
        if case == "singular PSD":
            on = float(mn.weights[np.linalg.norm(mn.points @ Da, axis=1) < 1e-8].sum())
            desc = f"supported on ker D ∩ S (mass on ker D {on:.8f}), E = {mn.energy:.10f}"
        elif case == "identity":
            desc = f"uniform: E = {mn.energy:.12f} vs E(σ) = {Eu:.12f}"
        else:
            desc = f"full support ({len(supp)}/{len(mn.points)} grid points), E = {mn.energy:.10f} < E(σ) = {Eu:.10f}"
    else:
        mn = minimum_dirac_bound(Da, beta)
        if mn is not None:
            cert = "bound xᵀDy ≥ λ_min = −‖D‖"
            desc = f"Dirac at ±v_min, E = e^(βλ_min) = {mn.energy:.10f}"
        else:
            cert = "none (E is not convex and λ_max > |λ_min|)"
            desc = "not certified"
    return Classification(case, mn, mx, cert, max_cert, desc, Eu)


__all__ = ["Classification", "classify_extremals", "spectral_case"]
