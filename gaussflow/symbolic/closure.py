"""``derive``: from a variant (data) to a frozen :class:`Closure` via the rule engine."""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sympy as sp
from sympy.matrices.expressions import MatrixExpr

from ..kernels import NORMALIZATIONS
from ..variants import Variant, get_variant
from .certificate import Certificate, nonclosure_certificate
from .core import NotAffineError, RuleError, Sigma, alpha, is_zero, jacobian, symmetrize, x
from .explicit import ExplicitForm, explicit_form
from .rules import QuadraticScore, analyze_score
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
        α̇ = Γ(α) and Σ̇ = JΣ + ΣJᵀ (Lemma, docs/math.md §3) when the variant closes, else ``None``.
    preserves_gaussian : bool
        Γ affine in x on N(α, Σ) (J free of x), so N(α, Σ) stays Gaussian.
    certificate : Certificate or None
        For a non-closing variant, an explicit, checkable reason (∂²Γ/∂x² ≠ 0 in d = 1).
    steps : tuple[Step, ...]
        Ordered derivation steps (rendered by :meth:`latex`).
    definitions : tuple of (MatrixSymbol, MatrixExpr)
        Named parameter-only products used in the expressions above (``A := βKᵀQ``,
        ``C_h := W_h V_h``, ...); :meth:`expand` substitutes them back.
    log_partition : MatrixExpr (1, 1) or None
        log Z(x) = log ∫ k(s(x, y)) dN(y; α, Σ) for a single-head variant whose normalization gives it
        (softmax with a score linear in y: c(x) + aᵀα + ½aᵀΣa); the weight of a Gaussian component
        when a token attends to a mixture of laws (masked attention, :mod:`gaussflow.masked`).
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
    definitions: tuple[tuple[sp.MatrixSymbol, MatrixExpr], ...] = ()
    log_partition: MatrixExpr | None = field(default=None, repr=False)

    def expand(self, e: sp.Basic) -> sp.Basic:
        """Substitute the named parameter products (A := βKᵀQ, ...) back into ``e``."""
        for sym, val in reversed(self.definitions):
            e = e.xreplace({sym: val})
        return e

    @property
    def name(self) -> str:
        return self.variant.name

    @property
    def cov_depends_on_mean(self) -> bool:
        """Whether Σ̇ = JΣ + ΣJᵀ involves α (False: Σ evolves on its own, the Σ-only fast path of
        :func:`gaussflow.solve_batch`). True for a closure that does not close."""
        if not self.preserves_gaussian or self.cov_rhs is None or self.jacobian is None:
            return True
        return bool(self.cov_rhs.has(alpha) or self.jacobian.has(alpha))

    def __repr__(self) -> str:
        """One line: variant, options, whether it closes, heads and parameter names (per-head groups once)."""
        v = self.variant
        opts = "".join(f", {k}={val!r}" for k, val in v.options if k != "heads")  # heads: shown below
        names = " ".join(dict.fromkeys(p.group or p.name for p in v.params))  # per-head groups once
        return (f"Closure({v.name!r}{opts}, preserves_gaussian={self.preserves_gaussian}, heads={len(v.heads)}, "
                f"params: {names})")

    def _repr_latex_(self) -> str:
        """The closed moment ODEs as LaTeX (notebooks): :func:`gaussflow.latex.closure_ode_latex`."""
        from ..latex import closure_ode_latex

        return closure_ode_latex(self)

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
        outs = {k: self.expand(e) for k, e in outs.items()}
        sym = frozenset(str(s) for s in self.variant.symmetric)
        return explicit_form(outs, d, symmetric=sym)

    def compile(self) -> CompiledClosure:
        """NumPy functions generated from this closure (cached per closure)."""
        cached = self.__dict__.get("_compiled")
        if cached is None:  # frozen dataclass: memoize on the instance (hashing sympy trees is slow)
            from ..codegen import compile_closure

            cached = compile_closure(self)
            object.__setattr__(self, "_compiled", cached)
        return cached


def _fresh_name(base: str, taken: set[str]) -> str:
    name = base
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def _head_velocity(
    v: Variant, h_index: int, defs: dict[sp.MatrixSymbol, MatrixExpr], taken: set[str]
) -> tuple[MatrixExpr, MatrixExpr, list[Step], MatrixExpr | None]:
    """E_h[y | x] (or the unnormalized integral), the head's value map, the steps and the head's
    log-partition (when its normalization has the rule), with the
    parameter-only pieces named (A := cross term, B := curvature, C := value map) so
    the closure reads like the paper and the generated code shares them."""
    head = v.heads[h_index]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            q, steps = analyze_score(head.score, v.symmetric)
    except RuleError:
        raise
    except NotAffineError as exc:
        raise RuleError("completing the square (score quadratic in y)", head.score, str(exc)) from None
    except (AttributeError, TypeError, ValueError, NotImplementedError):
        raise RuleError("completing the square (score quadratic in y)", head.score,
                        "the score is not a polynomial of degree ≤ 2 in y built from matrix products, sums "
                        "and transposes (powers of 1×1 expressions are not expanded)") from None
    suffix = f"_{h_index + 1}" if len(v.heads) > 1 else ""

    def name(e: MatrixExpr | None, base: str) -> MatrixExpr | None:
        if e is None or isinstance(e, sp.MatrixSymbol):
            return e
        sym = sp.MatrixSymbol(_fresh_name(base + suffix, taken), *e.shape)
        defs[sym] = e
        return sym

    A = name(q.A, "A")
    if A is not None and q.A is not A:
        rest = (q.a - q.A * x).doit()
        a = A * x if is_zero(rest) else A * x + rest
        q = QuadraticScore(a, q.B, q.c, A)
    q = QuadraticScore(q.a, name(q.B, "B"), q.c, q.A)
    norm = NORMALIZATIONS[v.normalization]
    try:
        m, more = norm.expectation(q)
    except NotAffineError as exc:
        raise RuleError(norm.rule, head.score, str(exc)) from None
    value = name(head.value, "C")
    lp = norm.log_partition(q) if norm.log_partition is not None else None
    return m, value, steps + more, lp


def _minus_x(m: MatrixExpr) -> MatrixExpr:
    """E[y|x] − x for the residual form, written without cancellation:
    X⁻¹r − x = X⁻¹(r − Xx), so that at x = α the α − α terms cancel symbolically."""
    if isinstance(m, sp.MatMul):
        coeff, mats = m.as_coeff_matrices()
        if coeff == 1 and len(mats) > 1 and isinstance(mats[0], sp.Inverse):
            X = mats[0].arg
            r = sp.MatMul(*mats[1:])
            return sp.MatMul(mats[0], sp.expand(r - X * x))
    return m - x


def _derive(v: Variant) -> Closure:
    steps: list[Step] = []
    terms: list[MatrixExpr] = []
    multi = len(v.heads) > 1
    defs: dict[sp.MatrixSymbol, MatrixExpr] = {}
    taken = {p.name for p in v.params} | {"x", "y", "alpha", "Sigma"}
    for i in range(len(v.heads)):
        m, value, st, lp = _head_velocity(v, i, defs, taken)
        if multi:
            st = [Step(f"Head {i + 1}: {s.label}", s.latex, s.note) for s in st]
            # later heads repeat the same argument; keep the first in full
            st = st if i == 0 else st[-1:]
        steps += st
        inner = _minus_x(m) if v.residual else m
        terms.append(value * inner)
    if v.feedforward:
        terms.append(v.param("W_ff").symbol * x + v.param("b_ff").symbol)
    gamma = symmetrize(sp.MatAdd(*terms).doit(), v.symmetric)
    if defs:
        steps.append(Step("Named parameters", r",\\ ".join(rf"{tex(k)} := {tex(e)}" for k, e in defs.items()),
                          "parameter-only products, computed once per layer"))
    steps.append(Step("Velocity", rf"\Gamma(x) = {tex(gamma)}",
                      r"residual form $C(\mathbb E_x[y] - x)$" if v.residual else ""))
    definitions = tuple(defs.items())
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
        return Closure(v, gamma, J, mean, cov, True, None, tuple(steps), cov_half=P, definitions=definitions,
                       log_partition=lp if not multi else None)
    try:
        cert = nonclosure_certificate(v)
    except (NotImplementedError, NotAffineError, TypeError, ValueError) as exc:
        if isinstance(exc, RuleError):
            raise
        raise RuleError("non-closure certificate (d = 1)", gamma, str(exc)) from None
    steps += cert.steps()
    return Closure(v, gamma, J, None, None, False, cert, tuple(steps), definitions=definitions,
                   log_partition=lp if not multi else None)


@functools.lru_cache(maxsize=128)
def _derive_cached(name: str, options: tuple[tuple[str, Any], ...]) -> Closure:
    return _derive(get_variant(name, **dict(options)))


@functools.lru_cache(maxsize=64)
def _derive_variant(v: Variant) -> Closure:
    return _derive(v)


def clear_cache() -> None:
    """Forget every derived closure (benchmarks of cold derivation)."""
    _derive_cached.cache_clear()
    _derive_variant.cache_clear()


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

    Raises
    ------
    RuleError
        (a ``NotImplementedError``) when no rule applies to the score; it names the rule and the term.
    """
    if isinstance(variant, Variant):
        if options:
            raise ValueError("options go into the Variant itself when a Variant is passed")
        return _derive_variant(variant)
    if not isinstance(variant, str):
        raise ValueError(f"`variant` must be a name or a Variant; got {type(variant).__name__}")
    for k, v in options.items():
        if not isinstance(v, bool | int | str) or isinstance(v, float):
            raise ValueError(f"option `{k}` must be a bool, int or str; got {type(v).__name__} {v!r}")
    return _derive_cached(variant, tuple(sorted(options.items())))


__all__ = ["Closure", "clear_cache", "derive"]
