"""Scalar special functions the rules produce: Gaussian expectations of the logistic.

Λ_j(m, v) := E[σ^{(j)}(m + √v Z)], Z ~ N(0, 1), σ(z) = 1/(1 + e^{−z}).  No closed form;
SymPy keeps them unevaluated, ``evalf`` integrates with mpmath, the code printer emits
Gauss–Hermite quadrature.
"""

from __future__ import annotations

import mpmath
import sympy as sp


def logistic(z: sp.Expr) -> sp.Expr:
    """σ(z) = 1 / (1 + e^{−z})."""
    return 1 / (1 + sp.exp(-z))


class _LogisticMoment(sp.Function):
    order = 0
    nargs = 2

    def _eval_evalf(self, prec: int) -> sp.Float:
        m, v = (mpmath.mpf(str(sp.N(a, mpmath.prec_to_dps(prec) + 5))) for a in self.args)
        dps = mpmath.prec_to_dps(prec) + 5
        order = self.order
        with mpmath.workdps(dps):

            def sig(z: mpmath.mpf) -> mpmath.mpf:
                s = 1 / (1 + mpmath.exp(-z))
                return s if order == 0 else s * (1 - s)

            val = mpmath.quad(
                lambda z: sig(m + mpmath.sqrt(v) * z) * mpmath.npdf(z), [-mpmath.inf, 0, mpmath.inf]
            )
        return sp.Float(val, dps)

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        m, v = (printer._print(a) for a in self.args)
        return rf"\Lambda_{{{self.order}}}\!\left({m},\, {v}\right)"


class LogisticMoment0(_LogisticMoment):
    """Λ₀(m, v) = E[σ(m + √v Z)]."""

    order = 0


class LogisticMoment1(_LogisticMoment):
    """Λ₁(m, v) = E[σ'(m + √v Z)]."""

    order = 1
