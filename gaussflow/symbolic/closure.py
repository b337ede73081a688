"""``derive``: from a variant (data) to a frozen :class:`Closure` via the rule engine."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sympy as sp
from sympy.matrices.expressions import MatrixExpr

from ..variants import Variant, get_variant
from .certificate import Certificate, nonclosure_certificate
from .core import NotAffineError, Sigma, alpha, jacobian, symmetrize, transpose, x
from .explicit import ExplicitForm, explicit_form
from .rules import analyze_score, couple, stein, tilt
from .steps import Step, tex

if TYPE_CHECKING:  # pragma: no cover
    from ..codegen import CompiledClosure


@dataclass(frozen=True)
class Closure:
    """The Gaussian closure of an attention variant, as derived by the rule engine.

    Attributes
    ----------
    variant : Variant
    velocity : MatrixExpr, shape (d, 1)
        Γ(x) on μ = N(α, Σ), index-free in ``x``, ``alpha``, ``Sigma`` and the parameters.
    jacobian : MatrixExpr (d, d) or None
        J = ∂Γ/∂x (numerator layout); ``None`` when Γ is not affine and no rule gives it.
    mean_rhs, cov_rhs : MatrixExpr or None
        α̇ = Γ(α) and Σ̇ = JΣ + ΣJᵀ (Lemma, MATH §3) when the variant closes, else ``None``.
    preserves_gaussian : bool
        Γ affine in x on N(α, Σ) (J free of x), so N(α, Σ) stays Gaussian.
    certificate : Certificate or None
        For a non-closing variant, an explicit, checkable reason (∂²Γ/∂x² ≠ 0 in d = 1).
    steps : tuple[Step, ...]
        Ordered derivation steps (rendered by :meth:`latex`).
    """

    variant: Variant
    velocity: MatrixExpr
    jacobian: MatrixExpr | None
    mean_rhs: MatrixExpr | None
    cov_rhs: MatrixExpr | None
    preserves_gaussian: bool
    certificate: Certificate | None
    steps: tuple[Step, ...]
    cov_half: MatrixExpr | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.variant.name

    def latex(self, standalone: bool = False) -> str:
        """The step-by-step derivation as LaTeX (a section; ``standalone`` wraps it in a
        compilable document)."""
        from ..latex import closure_latex

        return closure_latex(self, standalone=standalone)

    def explicit(self, d: int) -> ExplicitForm:
        """Entrywise SymPy matrices of Γ's Jacobian and the moment RHS for dimension ``d``
        (``k = d_v = d``); inverses and square roots become named bindings."""
        if not isinstance(d, int) or d < 1:
            raise ValueError(f"`d` must be a positive integer; got {d!r}")
        if not self.preserves_gaussian:
            raise ValueError(f"variant {self.name!r} does not close; no moment equations to expand")
        outs = {"mean_rhs": self.mean_rhs, "cov_rhs": self.cov_rhs, "jacobian": self.jacobian}
        sym = frozenset(str(s) for s in self.variant.symmetric)
        return explicit_form(outs, d, symmetric=sym)

    def compile(self) -> CompiledClosure:
        """NumPy functions generated from this closure (cached per closure)."""
        from ..codegen import compile_closure

        return compile_closure(self)


def _head_velocity(v: Variant, h_index: int) -> tuple[MatrixExpr, list[Step]]:
    head = v.heads[h_index]
    q, steps = analyze_score(head.score, v.symmetric)
    if v.normalization == "softmax":
        m, more = tilt(q)
    elif v.normalization == "sinkhorn":
        m, more = couple(q)
    else:
        m, more = stein(q, "exp" if v.normalization == "none" else "sigmoid")
    return m, steps + more


def _derive(v: Variant) -> Closure:
    steps: list[Step] = []
    terms: list[MatrixExpr] = []
    multi = len(v.heads) > 1
    for i, head in enumerate(v.heads):
        m, st = _head_velocity(v, i)
        if multi:
            st = [Step(f"Head {i + 1}: {s.label}", s.latex, s.note) for s in st]
            # later heads repeat the same argument; keep the first in full
            st = st if i == 0 else st[-1:]
        steps += st
        inner = m - x if v.residual else m
        terms.append(head.value * inner)
    if v.feedforward:
        terms.append(v.param("W_ff").symbol * x + v.param("b_ff").symbol)
    gamma = symmetrize(sp.MatAdd(*terms).doit(), v.symmetric)
    steps.append(Step("Velocity", rf"\Gamma(x) = {tex(gamma)}",
                      "residual form C(E[y|x] − x)" if v.residual else ""))
    try:
        J = symmetrize(jacobian(gamma, x), v.symmetric)
    except NotAffineError:
        J = None
    closes = J is not None and not J.has(x)
    if closes:
        mean = symmetrize(gamma.subs(x, alpha).doit(), v.symmetric)
        P = symmetrize((J * Sigma).doit(), v.symmetric)
        cov = sp.MatAdd(P, sp.Transpose(P))
        steps += [
            Step("Jacobian", rf"J = \partial_x \Gamma = {tex(J)}",
                 "independent of x: Γ is affine, Γ(x) = Γ(α) + J(x − α)"),
            Step("Moment equations",
                 rf"\dot\alpha = \Gamma(\alpha) = {tex(mean)},\\ \dot\Sigma = J\Sigma + \Sigma J^\top = P + P^\top,"
                 rf"\quad P = J\Sigma = {tex(P)}",
                 r"affine velocities preserve Gaussians: $\Sigma(t)=\Phi\Sigma_0\Phi^\top$, $\dot\Phi = J\Phi$"),
        ]
        return Closure(v, gamma, J, mean, cov, True, None, tuple(steps), cov_half=P)
    cert = nonclosure_certificate(v)
    steps += cert.steps()
    return Closure(v, gamma, J, None, None, False, cert, tuple(steps))


@functools.lru_cache(maxsize=128)
def _derive_cached(name: str, options: tuple[tuple[str, Any], ...]) -> Closure:
    return _derive(get_variant(name, **dict(options)))


def derive(variant: str | Variant, **options: Any) -> Closure:
    """Derive the Gaussian closure of an attention variant.

    Parameters
    ----------
    variant : str or Variant
        A registered name (see :func:`gaussflow.variants`) or a :class:`Variant` built
        from any score — the rule engine needs no per-variant code.
    **options
        Variant options: ``residual``, ``feedforward``, ``heads`` (multi-head).

    Returns
    -------
    Closure
        Frozen; carries Γ, J, the moment equations α̇ = Γ(α), Σ̇ = JΣ + ΣJᵀ, the
        derivation steps, or a non-closure certificate.
    """
    if isinstance(variant, Variant):
        if options:
            raise ValueError("options go into the Variant itself when a Variant is passed")
        return _derive(variant)
    if not isinstance(variant, str):
        raise ValueError(f"`variant` must be a name or a Variant; got {type(variant).__name__}")
    return _derive_cached(variant, tuple(sorted(options.items())))


__all__ = ["Closure", "derive", "transpose"]
