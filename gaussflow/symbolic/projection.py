"""Symbolic side of the Gaussian-projection closure (SymPy only; numbers come from codegen).

For a velocity that does not close, the Gaussian projection integrates α̇ = E[Γ(X)],
Σ̇ = E[(X − α)Γ(X)ᵀ] + transpose, X ~ N(α, Σ). For Γ = e^{q(x)} p(x) with q quadratic and p
polynomial (``unnormalized`` attention) these expectations have a closed form, derived here by the
exp-quadratic rule (completing the square under the Gaussian, then Gaussian polynomial moments);
:func:`projection_steps` gives the steps the LaTeX writes. The numeric right-hand sides are in
:mod:`gaussflow.projection`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import sympy as sp
from sympy.matrices.expressions import MatrixExpr

from .core import I, Sigma, alpha, d, mdiff, scalar_grad, symmetrize, x
from .steps import Step, tex

#: a derived closure (duck-typed: ``variant``, ``velocity``, ``preserves_gaussian``, ``definitions``), so
#: that this module stays below the closure layer
Closure = Any


# =========================================================================== symbolic: the exp-quadratic rule

_G = sp.MatrixSymbol("G", d, d)
_h = sp.MatrixSymbol("h", d, 1)
_z = sp.MatrixSymbol("z", d, 1)
_w = sp.MatrixSymbol("w", d, 1)
_Pt = sp.MatrixSymbol(r"\tilde{P}", d, d)
_H = sp.MatrixSymbol("H", d, d)  # Σ^{1/2}
_Binv = sp.MatrixSymbol("Binv", d, d)  # (I − Σ^{1/2} G Σ^{1/2})⁻¹
_logdet = sp.Symbol("logdetB")  # log det(I − Σ^{1/2} G Σ^{1/2})
_St = sp.MatrixSymbol("St", d, d)
_dt = sp.MatrixSymbol("delta", d, 1)  # m̃ − α = S̃g
_Zs = sp.Symbol("Z", positive=True)


def _canon_traces(e: sp.Expr) -> sp.Expr:
    """Fully expand a scalar built from traces of 1×1 matrix products and orient every trace
    canonically (tr(M) = tr(Mᵀ) for 1×1 M), so equal quadratic forms compare equal."""
    e = sp.expand(e)

    def orient(t: sp.Trace) -> sp.Basic:
        arg = sp.expand(t.arg.doit())
        if isinstance(arg, sp.MatAdd):
            return sp.Add(*[orient(sp.Trace(a)) for a in arg.args])
        c, mats = arg.as_coeff_matrices() if isinstance(arg, sp.MatMul) else (1, [arg])
        known = frozenset({_G, _Pt, _Binv, _H, _St})
        m = symmetrize(sp.MatMul(*mats).doit(), known)
        mt = symmetrize(sp.Transpose(m).doit(), known)
        return c * sp.Trace(min(m, mt, key=sp.srepr))

    prev = None
    while prev != e:
        prev = e
        e = sp.expand(e.replace(lambda t: isinstance(t, sp.Trace), orient))
    return e


@dataclass(frozen=True)
class ExpQuadraticRule:
    """E[e^{f(X)} p(X)] = Z · E_{N(m̃, S̃)}[p], X ~ N(α, Σ), f(x) = ½xᵀGx + hᵀx, G symmetric.

    Attributes (SymPy, in the matrix symbols ``alpha``, ``Sigma``, ``G``, ``h``)
    ----------
    g : MatrixExpr (d, 1)
        ∇f(α) = Gα + h.
    S_tilde : MatrixExpr (d, d)
        (I − ΣG)⁻¹Σ — equal to (Σ⁻¹ − G)⁻¹ when Σ is invertible, defined for singular Σ.
    m_tilde : MatrixExpr (d, 1)
        α + S̃g = (I − ΣG)⁻¹(α + Σh).
    log_Z : sp.Expr
        f(α) + ½gᵀS̃g − ½ log det(I − ΣG).
    S_tilde_sym : MatrixExpr
        Σ^{1/2}(I − Σ^{1/2}GΣ^{1/2})⁻¹Σ^{1/2} = S̃ (symmetric form used numerically).
    steps : tuple[Step, ...]
    """

    g: MatrixExpr
    S_tilde: MatrixExpr
    m_tilde: MatrixExpr
    log_Z: sp.Expr
    S_tilde_sym: MatrixExpr
    steps: tuple[Step, ...]


def _check_zero(e: sp.Basic, what: str) -> None:
    e = e.doit() if hasattr(e, "doit") else e
    if isinstance(e, sp.MatrixExpr):
        e = sp.expand(e)
        if not (isinstance(e, sp.ZeroMatrix) or e == 0):
            raise AssertionError(f"symbolic check failed ({what}): residual {e}")
        return
    if _canon_traces(e) != 0:  # pragma: no cover - a SymPy regression would land here
        raise AssertionError(f"symbolic check failed ({what}): residual {_canon_traces(e)}")


@functools.lru_cache(maxsize=1)
def derive_exp_quadratic_rule() -> ExpQuadraticRule:
    """Derive the exp-quadratic Gaussian-integral rule by completing the square.

    Steps (each checked by SymPy on matrix symbols, not typed as a result):

    1. X = α + z, z ~ N(0, Σ): the log-integrand −½zᵀΣ⁻¹z + f(α + z) is quadratic in z;
       read its gradient g = ∇_z|₀ and Hessian −P̃ (P̃ = Σ⁻¹ − G) off by differentiation.
    2. Stationary point z* = P̃⁻¹g; the value there is f(α) + ½gᵀP̃⁻¹g (substituted and
       simplified with Σ⁻¹ = P̃ + G), so the integrand is e^{f(α) + ½gᵀP̃⁻¹g} N(z; z*, P̃⁻¹)
       up to the ratio of Gaussian normalizations det(ΣP̃)^{−1/2}.
    3. Σ⁻¹-free: P̃ = Σ⁻¹(I − ΣG) (checked by expansion) ⇒ P̃⁻¹ = (I − ΣG)⁻¹Σ and
       det(ΣP̃) = det(I − ΣG); symmetric form Σ^{1/2}(I − Σ^{1/2}GΣ^{1/2})⁻¹Σ^{1/2} (push-through).
    """
    sym = frozenset({_G, _Pt})
    Si = sp.Inverse(Sigma)
    f = lambda v: sp.Trace(v.T * _G * v) / 2 + sp.Trace(_h.T * v)  # noqa: E731
    log_int = -sp.Trace(_z.T * Si * _z) / 2 + f(alpha + _z)
    grad = symmetrize(scalar_grad(sp.expand(log_int), _z).doit(), sym | {Si})
    grad = sp.expand(grad).doit()
    g = symmetrize(grad.subs(_z, sp.ZeroMatrix(d, 1)).doit(), sym)
    hess = symmetrize(sp.expand(mdiff(grad, _z).doit()), sym)  # denominator layout; symmetric here
    _check_zero(hess - (_G - Si), "Hessian of the log-integrand = −(Σ⁻¹ − G)")
    _check_zero(sp.expand(g - (_G * alpha + _h)), "gradient at z = 0 equals ∇f(α) = Gα + h")
    # stationary point and value (quadratic ⇒ exact Taylor expansion around z*)
    zstar = sp.Inverse(_Pt) * g
    _check_zero(sp.expand((grad.subs(_z, zstar).doit()).subs(Si, _Pt + _G)).doit(), "∇ = 0 at z* = P̃⁻¹g")
    value = log_int.subs(_z, zstar).doit()
    value = value.subs(Si, _Pt + _G)
    claimed = f(alpha) + sp.Trace(g.T * sp.Inverse(_Pt) * g) / 2
    _check_zero(_canon_traces(value.doit()) - _canon_traces(claimed.doit()), "value at z*: f(α) + ½gᵀP̃⁻¹g")
    # Σ⁻¹-free forms
    _check_zero(sp.expand(Si * (I - Sigma * _G)).doit() - (Si - _G), "Σ⁻¹ − G = Σ⁻¹(I − ΣG)")
    S_tilde = sp.Inverse(Si * (I - Sigma * _G)).doit()
    det_ratio = sp.Determinant(sp.MatMul(Sigma, Si, I - Sigma * _G).doit()).doit()
    push = sp.expand((I - _H * _H * _G) * _H - _H * (I - _H * _G * _H))
    _check_zero(push, "(I − ΣG)Σ^{1/2} = Σ^{1/2}(I − Σ^{1/2}GΣ^{1/2}) with Σ = (Σ^{1/2})²")
    S_sym = _H * sp.Inverse(I - _H * _G * _H) * _H
    m_tilde = alpha + S_tilde * g
    log_Z = f(alpha) + sp.Trace(g.T * S_tilde * g) / 2 - sp.log(det_ratio) / 2
    fa = tex(f(alpha))
    steps = (
        Step(
            "Exp-quadratic integrand",
            r"\mathbb E\big[e^{f(X)}p(X)\big],\ X\sim\mathcal N(\alpha,\Sigma),\quad f(x) = "
            + tex(f(x)) + r",\quad X = \alpha + z",
            "G symmetric; the velocity of unnormalized attention has this form",
        ),
        Step(
            "Log-integrand in z",
            rf"-\tfrac12 z^\top\Sigma^{{-1}}z + f(\alpha+z):\quad \nabla_z\big|_{{z=0}} = g := {tex(g)},"
            rf"\quad \nabla_z^2 = {tex(hess)} =: -\tilde P",
            "quadratic in z: gradient and Hessian read off by SymPy",
        ),
        Step(
            "Completing the square",
            rf"z^* = \tilde P^{{-1}} g,\quad -\tfrac12 z^{{*\top}}\Sigma^{{-1}}z^* + f(\alpha+z^*) = {fa}"
            r" + \tfrac12 g^\top\tilde P^{-1}g",
            r"substituted and simplified with $\Sigma^{-1} = \tilde P + G$ (SymPy)",
        ),
        Step(
            "Tilted Gaussian",
            r"e^{f(\alpha+z)}\mathcal N(z;0,\Sigma) = Z\,\mathcal N(z; \tilde S g, \tilde S),\quad"
            rf" \tilde S = \tilde P^{{-1}} = {tex(S_tilde)},\quad \tilde m = \alpha + \tilde S g",
            r"$\tilde P = \Sigma^{-1}(I - \Sigma G)$, so no $\Sigma^{-1}$ remains: valid for singular Σ",
        ),
        Step(
            "Normalization",
            rf"Z = \det(\Sigma\tilde P)^{{-1/2}} e^{{{fa} + \frac12 g^\top\tilde S g}},\quad"
            rf" \det(\Sigma\tilde P) = {tex(det_ratio)}",
            r"finite iff $\tilde P \succ 0$ on range(Σ), i.e. $\lambda_{\min}(I - \Sigma^{1/2}G\Sigma^{1/2}) > 0$",
        ),
        Step(
            "Symmetric form",
            rf"\tilde S = {tex(S_sym.subs(_H, sp.MatPow(Sigma, sp.S.Half)))},\quad"
            r" \det(I-\Sigma G) = \det(I - \Sigma^{1/2}G\Sigma^{1/2})",
            "push-through identity (checked by SymPy) and Sylvester's determinant identity",
        ),
    )
    return ExpQuadraticRule(g, S_tilde, m_tilde, log_Z, S_sym, steps)


def gaussian_polynomial_expectation(expr: MatrixExpr, v: sp.MatrixSymbol, m: MatrixExpr, S: MatrixExpr) -> MatrixExpr:
    """E[expr(V)] for V ~ N(m, S), ``expr`` a matrix polynomial of degree ≤ 2 in ``v``.

    Substitutes V = m + W, expands, and uses E[W] = 0, E[W Wᵀ] = S (terms with W and Wᵀ
    adjacent); any other degree-2 pattern or degree > 2 raises ``NotImplementedError``.
    """
    e = sp.expand(expr.subs(v, m + _w).doit())
    terms = e.args if isinstance(e, sp.MatAdd) else (e,)
    out: list[sp.Basic] = []
    for t in terms:
        coeff, mats = t.as_coeff_matrices() if isinstance(t, sp.MatMul) else (sp.S.One, (t,))
        if coeff.has(_w):
            raise NotImplementedError(f"scalar factor depends on the integration variable: {t}")
        mats = list(mats)
        pos = [i for i, f in enumerate(mats) if f.has(_w)]
        if not pos:
            out.append(t)
            continue
        if len(pos) == 1:
            continue  # E[W] = 0
        if len(pos) == 2 and pos[1] == pos[0] + 1 and mats[pos[0]] == _w and mats[pos[1]] == _w.T:
            out.append(sp.MatMul(coeff, *mats[: pos[0]], S, *mats[pos[1] + 1 :]))
            continue
        raise NotImplementedError(f"moment pattern not covered (degree ≤ 2 with W Wᵀ adjacent): {t}")
    if not out:
        return sp.ZeroMatrix(*expr.shape)
    return sp.MatAdd(*out).doit()


# =========================================================================== unnormalized: closed form


@dataclass(frozen=True)
class UnnormalizedProjection:
    """Closed-form Gaussian projection of an exp-quadratic × polynomial velocity.

    Γ(x) = e^{½xᵀGx + hᵀx} p(x) (read off the closure's velocity), X ~ N(α, Σ):
    α̇ = Z E_{N(m̃, S̃)}[p],  Σ̇ = P + Pᵀ,  P = Z E_{N(m̃, S̃)}[(X − α) p(X)ᵀ].

    Attributes (SymPy; ``delta`` = m̃ − α, ``St`` = S̃, ``Z`` the normalization as named symbols)
    ----------
    G, h : MatrixExpr
    mean_rhs : MatrixExpr (d, 1)
    cov_half : MatrixExpr (d, d)
        P, with Σ̇ = P + Pᵀ.
    bindings : tuple of (symbol, expression)
        ``St``, ``delta``, ``Z`` in terms of α, Σ, G, h (symmetric form of S̃ with
        H = Σ^{1/2}, Binv = (I − HGH)⁻¹, logdetB = log det(I − HGH)).
    steps : tuple[Step, ...]
    """

    G: MatrixExpr
    h: MatrixExpr
    mean_rhs: MatrixExpr
    cov_half: MatrixExpr
    bindings: tuple[tuple[sp.Basic, sp.Basic], ...]
    steps: tuple[Step, ...]


def _split_exp(vel: MatrixExpr) -> tuple[sp.Expr, MatrixExpr]:
    """Γ = e^{q(x)} · p(x) → (q, p); ``NotImplementedError`` for any other shape."""
    if isinstance(vel, sp.MatMul):
        coeff, mats = vel.as_coeff_matrices()
        exps = [a for a in sp.Mul.make_args(coeff) if isinstance(a, sp.exp)]
        if len(exps) == 1:
            rest = sp.Mul(*[a for a in sp.Mul.make_args(coeff) if a is not exps[0]])
            if not rest.has(x):
                return exps[0].args[0], sp.MatMul(rest, *mats).doit()
    raise NotImplementedError(f"closed-form projection needs Γ = exp(quadratic) × polynomial; got {vel}")


_DERIVED: dict[Any, UnnormalizedProjection] = {}


def _derive_unnormalized(closure: Closure) -> UnnormalizedProjection:
    if closure.variant not in _DERIVED:
        _DERIVED[closure.variant] = _derive_unnormalized_uncached(closure)
    return _DERIVED[closure.variant]


def _derive_unnormalized_uncached(closure: Closure) -> UnnormalizedProjection:
    rule = derive_exp_quadratic_rule()
    sym = closure.variant.symmetric
    q, p = _split_exp(closure.velocity)
    hvec = symmetrize(sp.expand(scalar_grad(q, x)).doit().subs(x, sp.ZeroMatrix(d, 1)).doit(), sym)
    grad = sp.expand(symmetrize(sp.expand(scalar_grad(q, x).doit()), sym)).doit()
    G = symmetrize(mdiff(grad, x).doit(), sym)
    if G.has(x) or hvec.has(x):  # pragma: no cover - guarded by the variant's score
        raise NotImplementedError("exponent of Γ is not quadratic in x")
    # the exponent has no constant term: q(0) = 0 (checked), so q = ½xᵀGx + hᵀx exactly
    q0 = q.subs(x, sp.ZeroMatrix(d, 1)).doit()
    if _canon_traces(sp.sympify(q0).doit()) != 0:
        raise NotImplementedError(f"the exp-quadratic rule needs an exponent without a constant term; q(0) = {q0}")
    _check_zero(_canon_traces(q.doit()) - _canon_traces((sp.Trace(x.T * G * x) / 2 + sp.Trace(hvec.T * x)).doit()),
                "Γ's exponent = ½xᵀGx + hᵀx")
    # X ~ N(m̃, S̃) with m̃ = α + δ, δ = S̃g: expanding around α + δ avoids the cancellation
    # (m̃ − α) that an expansion around m̃ would leave to floating point
    m = alpha + _dt
    mean = symmetrize(sp.expand(_Zs * gaussian_polynomial_expectation(p, x, m, _St)).doit(), sym)
    half = gaussian_polynomial_expectation((x - alpha) * sp.Transpose(p).doit(), x, m, _St)
    half = symmetrize(sp.expand(_Zs * half).doit(), sym)
    # the rule's pieces in the symbols G, h (printed as the arrays G, h computed from the parameters)
    St = rule.S_tilde_sym.subs(_H, sp.MatPow(Sigma, sp.S.Half)).xreplace({_G: G})
    g = rule.g
    gT = symmetrize(sp.Transpose(g).doit(), frozenset({_G}))
    log_Z_num = sp.Trace(alpha.T * _G * alpha) / 2 + sp.Trace(_h.T * alpha) + sp.Trace(gT * _dt) / 2 - _logdet / 2
    bindings = ((_St, _H * _Binv * _H), (_dt, _St * g), (_Zs, sp.exp(log_Z_num)))
    G_tex = tex(G)
    pretty = {_St: sp.MatrixSymbol(r"\tilde{S}", d, d)}
    steps = (
        Step(
            "Gaussian projection (approximation)",
            r"\dot\alpha = \mathbb E[\Gamma(X)],\quad \dot\Sigma = \mathbb E[(X-\alpha)\Gamma(X)^\top]"
            r" + \mathbb E[\Gamma(X)(X-\alpha)^\top],\quad X\sim\mathcal N(\alpha,\Sigma)",
            f"{closure.name} does not preserve Gaussians: these are the exact instantaneous rates of the first "
            "two moments at a Gaussian law; integrating them with Γ always taken on the current Gaussian is an "
            "approximation, not the exact law",
        ),
        Step("Velocity", rf"\Gamma(x) = {tex(closure.velocity)}", "from the derived closure"),
        Step(
            "Exp-quadratic form",
            rf"\Gamma(x) = e^{{\frac12 x^\top G x + h^\top x}}\,p(x),\quad G = {G_tex},\ h = {tex(hvec)},"
            rf"\ p(x) = {tex(p)}",
            "G and h read off the exponent by differentiation",
        ),
        *rule.steps,
        Step(
            "Tilted moments",
            rf"g = {tex(g.xreplace({_G: G, _h: hvec}))},\quad \tilde m = \alpha + \delta,\ \delta = \tilde S g,"
            rf"\quad \tilde S = {tex(St)}",
            "the rule with the G, h above",
        ),
        Step(
            "Projected mean",
            rf"\dot\alpha = Z\,\mathbb E_{{\mathcal N(\tilde m,\tilde S)}}[p] = {tex(mean.xreplace(pretty))}",
            r"$p$ affine: $\mathbb E[p(X)] = p(\tilde m)$",
        ),
        Step(
            "Projected covariance",
            rf"\dot\Sigma = P + P^\top,\quad P = Z\,\mathbb E_{{\mathcal N(\tilde m,\tilde S)}}"
            rf"\big[(X-\alpha)p(X)^\top\big] = {tex(half.xreplace(pretty))}",
            r"$X = \tilde m + W$, $\mathbb E[W] = 0$, $\mathbb E[WW^\top] = \tilde S$",
        ),
        Step(
            "Finiteness",
            rf"\text{{finite iff }}\ \lambda_{{\min}}\big(I - \Sigma^{{1/2}}{G_tex}\Sigma^{{1/2}}\big) > 0"
            r"\quad(d = 1,\ A = a:\ 1/\sigma^2 - a^2\sigma^2 > 0)",
            "outside, the Gaussian integral diverges: the projected moments do not exist",
        ),
    )
    return UnnormalizedProjection(G, hvec, mean, half, bindings, steps)


def derive_unnormalized_projection(closure: Closure) -> UnnormalizedProjection:
    """The closed-form projection of an exp-quadratic × polynomial velocity (``unnormalized``).

    Parameters
    ----------
    closure : Closure
        A derived closure (``gaussflow.derive(...)``) whose velocity is e^{q(x)} p(x), q quadratic.
    """
    return _derive_unnormalized(closure)


_NO_CLOSED_FORM: set[Any] = set()


def closed_form_projection(closure: Closure) -> UnnormalizedProjection | None:
    """The closed-form Gaussian projection of a non-closing closure when its velocity has the structure
    the exp-quadratic rule integrates (Γ = e^{q(x)} p(x), q quadratic, p polynomial: ``unnormalized``
    attention, multi-head or not); ``None`` otherwise (e.g. sigmoid: the projection is by cubature).
    Decided from the velocity's expression, not from the variant's name; cached per variant."""
    if closure.preserves_gaussian or closure.variant in _NO_CLOSED_FORM:
        return None
    try:
        return _derive_unnormalized(closure)
    except NotImplementedError:
        _NO_CLOSED_FORM.add(closure.variant)
        return None


def projection_steps(closure: Closure) -> list[tuple[str, str]]:
    """Derivation steps (label, LaTeX) of the Gaussian projection of a variant.

    Where :func:`closed_form_projection` applies (``unnormalized``), the closed form derived symbolically;
    other non-closing variants: the cubature statement; closing variants: the projection coincides with
    the closure.
    """
    c = closure
    closed = closed_form_projection(c)
    if closed is not None:
        return [(s.label, s.latex) for s in closed.steps]
    head = (
        "Gaussian projection (approximation)" if not c.preserves_gaussian else "Gaussian projection (exact here)",
        r"\dot\alpha = \mathbb E[\Gamma(X)],\quad \dot\Sigma = \mathbb E[(X-\alpha)\Gamma(X)^\top]"
        r" + \mathbb E[\Gamma(X)(X-\alpha)^\top],\quad X\sim\mathcal N(\alpha,\Sigma)"
        + (r"\\ \text{(an approximation: the law leaves the Gaussian family)}" if not c.preserves_gaussian
           else r"\\ \text{(}\Gamma\text{ is affine: this equals the exact closure)}"),
    )
    cub = (
        "Cubature",
        r"\mathbb E[F(X)] \approx \sum_k w_k F(\alpha + \Sigma^{1/2} z_k),\\"
        r" (z_k, w_k):\ \text{tensor Gauss--Hermite of degree } 79/47/23/15/9/7/5/5\ (d = 1,\dots,8),"
        r"\\ \text{fully symmetric degree-5 rule with } 2d^2 + 1 \text{ nodes } (d > 8)",
    )
    return [head, ("Velocity", rf"\Gamma(x) = {tex(c.velocity)}"), cub]


__all__ = [
    "ExpQuadraticRule",
    "UnnormalizedProjection",
    "closed_form_projection",
    "derive_exp_quadratic_rule",
    "derive_unnormalized_projection",
    "gaussian_polynomial_expectation",
    "projection_steps",
]
