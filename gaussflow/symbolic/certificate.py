"""Non-closure certificates: Γ is not affine, shown by ∂²Γ/∂x² ≠ 0 in d = 1.

If Γ were affine on N(α, Σ) its second derivative would vanish identically; one point
where it does not is a finite, checkable proof that the variant does not close (a
non-affine map of a Gaussian is not Gaussian).  For unnormalized kernels
Γ(x) = Σ_h c_h ∫ φ(s_h(x, y)) y dN(y; α, σ²) the derivative is taken under the integral
sign and the resulting polynomial moments E[y^n] come from the Gaussian moment
generating function (exact); for normalized kernels the closed-form Γ is differentiated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sympy as sp

from ..kernels import NORMALIZATIONS
from .core import Sigma, alpha, x, y
from .steps import Step

if TYPE_CHECKING:  # pragma: no cover
    from ..variants import Variant


@dataclass(frozen=True)
class Certificate:
    """Γ''(x₀) ≠ 0 in d = 1 at a stated point.

    Attributes
    ----------
    statement : str
        Plain-language reason.
    symbols : dict[str, sp.Symbol]
        The d = 1 scalars (``x``, ``alpha``, ``Sigma`` = σ², parameters by name).
    second_derivative : sp.Expr
        ∂²Γ/∂x² at x = x₀ as a function of the other scalars (exact).
    point : dict[str, float]
        Values of every scalar, ``x`` included.
    value : sp.Expr
        ``second_derivative`` at ``point`` (exact; ``float(value)`` ≠ 0).
    """

    statement: str
    symbols: dict[str, sp.Symbol]
    second_derivative: sp.Expr
    point: dict[str, float]
    value: sp.Expr

    def check(self) -> bool:
        """True when the stated value is a nonzero real number (evaluated to 30 digits)."""
        v = sp.N(self.value, 30)
        return bool(v.is_real and abs(v) > sp.Float("1e-25"))

    def steps(self) -> list[Step]:
        # in d = 1 the covariance Σ is the variance σ²; factored forms read like a paper
        names = {self.symbols["Sigma"]: r"\sigma^{2}"} if "Sigma" in self.symbols else {}

        def ltx(e: sp.Basic) -> str:
            return sp.latex(e, symbol_names=names)

        pt = r",\ ".join(rf"{ltx(self.symbols[k])} = {ltx(sp.nsimplify(v))}" for k, v in self.point.items())
        return [
            Step("Second derivative (d = 1)",
                 rf"\partial_x^2 \Gamma(x)\big|_{{x = {ltx(sp.nsimplify(self.point['x']))}}} = {ltx(sp.factor(self.second_derivative))}",
                 r"differentiated under the integral sign; the moments $\mathbb E[y^n]$, $y\sim\mathcal N(\alpha,\sigma^2)$,"
                 " from the Gaussian moment generating function"),
            Step("Non-closure certificate",
                 rf"{pt}:\\ \partial_x^2\Gamma = {ltx(sp.factor(self.value))} \approx {float(sp.N(self.value, 20)):.12g} \neq 0",
                 self.statement),
        ]


def _scalarize(v: Variant) -> tuple[dict[sp.Basic, sp.Basic], dict[str, sp.Symbol]]:
    syms: dict[str, sp.Symbol] = {}
    sub: dict[sp.Basic, sp.Basic] = {}
    mats = [x, y, alpha, Sigma] + [p.symbol for p in v.params]
    for m in mats:
        s = sp.Symbol(m.name, real=True) if m is not Sigma else sp.Symbol("sigma2", positive=True)
        if isinstance(m, sp.MatrixSymbol):
            sub[m] = sp.ImmutableMatrix([[s]])
        syms[m.name] = s if isinstance(m, sp.MatrixSymbol) else m
    return sub, syms


def _as_scalar(e: sp.Basic, sub: dict[sp.Basic, sp.Basic]) -> sp.Expr:
    out = e.xreplace(sub)
    out = out.doit() if hasattr(out, "doit") else out
    if hasattr(out, "as_explicit"):
        out = out.as_explicit()
    if isinstance(out, sp.MatrixBase):
        out = out[0, 0]
    return sp.simplify(out) if out.has(sp.Trace) else out


def _gaussian_moment(n: int, mu: sp.Expr, var: sp.Expr) -> sp.Expr:
    t = sp.Symbol("t")
    return sp.diff(sp.exp(mu * t + var * t**2 / 2), t, n).subs(t, 0)


def _expect_poly(expr: sp.Expr, ys: sp.Symbol, mu: sp.Expr, var: sp.Expr) -> sp.Expr:
    poly = sp.Poly(sp.expand(expr), ys)
    return sp.expand(sum(c * _gaussian_moment(m[0], mu, var) for m, c in zip(poly.monoms(), poly.coeffs(), strict=True)))


#: evaluation points tried in order (x, then the common value of every parameter, α and σ²): the first with
#: ∂²Γ/∂x² ≠ 0 is the certificate. x = 0 alone is not enough: an odd φ with no bias (sigmoid of yᵀAx) has
#: ∂²Γ/∂x²(0) = 0 by symmetry although Γ is not affine.
CANDIDATE_POINTS: tuple[tuple[float, float], ...] = ((0.0, 1.0), (1.0, 1.0), (-1.0, 1.0), (0.5, 0.5), (2.0, 1.0))


def _second_derivative(v: Variant, sub: dict[sp.Basic, sp.Basic], syms: dict[str, sp.Symbol], x0: sp.Expr
                       ) -> sp.Expr:
    """∂²Γ/∂x² at x = x0 in d = 1 as an expression in the parameters, α and σ² (an Integral where φ(s(x0, y)) is
    not constant in y)."""
    X, Y, a, s2 = syms["x"], syms["y"], syms["alpha"], syms["Sigma"]
    phi = NORMALIZATIONS[v.normalization].phi
    if phi is None:
        raise NotImplementedError(f"no non-closure certificate rule for normalization {v.normalization!r}")
    total = sp.S.Zero
    for head in v.heads:
        s = _as_scalar(head.score, sub)
        c = _as_scalar(head.value, sub)
        integrand = sp.diff(phi(s) * c * Y, X, 2).subs(X, x0)
        if integrand.has(Y) and not sp.simplify(s.subs(X, x0)).has(Y):
            # φ^{(j)}(s(x0, y)) is constant in y: the integrand is a polynomial in y
            total += _expect_poly(integrand, Y, a, s2)
        else:  # e.g. a key bias: the Gaussian integral is left as it is, evaluated by quadrature
            pdf = sp.exp(-((Y - a) ** 2) / (2 * s2)) / sp.sqrt(2 * sp.pi * s2)
            total += sp.Integral(integrand * pdf, (Y, -sp.oo, sp.oo))
    return total if total.has(sp.Integral) else sp.simplify(total)


def nonclosure_certificate(v: Variant, x0: float | None = None) -> Certificate:
    """Build the certificate for a variant whose Γ is not affine.

    Parameters
    ----------
    v : Variant
    x0 : float, optional
        Evaluate at this x only (parameters, α, σ² = 1); default: the first of :data:`CANDIDATE_POINTS` where
        ∂²Γ/∂x² ≠ 0 (exactly, or beyond 1e-25 after 30-digit quadrature).

    Raises
    ------
    RuntimeError
        If ∂²Γ/∂x² vanishes at every candidate point (no certificate: Γ may be affine after all).
    """
    sub, syms = _scalarize(v)
    points = CANDIDATE_POINTS if x0 is None else ((float(x0), 1.0),)
    for xc, pc in points:
        general = _second_derivative(v, sub, syms, sp.nsimplify(xc))
        point: dict[str, float] = {"x": xc}
        values: dict[sp.Symbol, sp.Expr] = {}
        for name, sym in syms.items():
            if name in ("x", "y"):
                continue
            values[sym] = sp.nsimplify(pc)
            point[name] = pc
        value = general.subs(values)
        if value.has(sp.Integral):  # mpmath quadrature at 30 digits
            value = sp.Float(sp.N(value, 30), 30)
        else:
            value = sp.simplify(value)
        if value != 0 and abs(float(sp.N(value, 30))) > 1e-25:
            break
    else:
        raise RuntimeError(f"{v.name}: ∂²Γ/∂x² vanishes at every candidate point {points} in d = 1; "
                           "no non-closure certificate (Γ may be affine on Gaussians)")
    stmt = (
        f"{v.name}: ∂²Γ/∂x² = {float(sp.N(value)):.6g} ≠ 0 at x = {xc:g} in d = 1, so Γ is not "
        "affine on N(α, Σ) and a Gaussian does not stay Gaussian"
    )
    return Certificate(stmt, {k: s for k, s in syms.items()}, general, point, value)


__all__ = ["CANDIDATE_POINTS", "Certificate", "nonclosure_certificate"]
