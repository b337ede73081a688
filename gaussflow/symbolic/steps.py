"""Derivation steps and the LaTeX printer they use."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE


class _Printer(LatexPrinter):
    """SymPy's LaTeX printer with the project's conventions: a 1x1 trace prints as the
    scalar it is, matrix square roots as ^{1/2}, transposes as ^\\top."""

    def _print_Trace(self, expr: sp.Trace) -> str:
        if expr.arg.shape == (1, 1):
            return self._print(expr.arg)
        return super()._print_Trace(expr)

    def _print_MatPow(self, expr: sp.MatPow) -> str:
        base, p = expr.args
        b = self._print(base)
        if not isinstance(base, sp.MatrixSymbol):
            b = rf"\left({b}\right)"
        ps = "1/2" if p == sp.S.Half else self._print(p)
        return rf"{b}^{{{ps}}}"

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        b = self._print(expr.arg)
        if not isinstance(expr.arg, sp.MatrixSymbol):
            b = rf"\left({b}\right)"
        return rf"{b}^{{\top}}"

    def _print_Identity(self, expr: sp.Identity) -> str:
        return "I"

    def _print_Determinant(self, expr: sp.Determinant) -> str:
        return rf"\det\left({self._print(expr.arg)}\right)"

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        # a scalar times the 1x1 identity (a bias in a score) prints as the scalar; a rational
        # coefficient prints as a fraction, not as "(1/2)"
        coeff, mats = expr.as_coeff_matrices()
        kept = [m for m in mats if not (isinstance(m, sp.Identity) and m.shape == (1, 1))]
        if not kept:
            return self._print(coeff)
        frac = coeff.is_Rational and not coeff.is_Integer
        if len(kept) == len(mats) and not frac:
            return super()._print_MatMul(expr)
        rest = self._print(sp.MatMul(*kept)) if len(kept) > 1 else self.parenthesize(kept[0], PRECEDENCE["Mul"])
        if coeff == 1:
            return rest
        if coeff == -1:
            return "- " + rest
        if frac:
            sign = "- " if coeff < 0 else ""
            return rf"{sign}\frac{{{abs(coeff.p)}}}{{{coeff.q}}} {rest}"
        return self.parenthesize(coeff, PRECEDENCE["Mul"]) + " " + rest


def tex(e: sp.Basic | None) -> str:
    """LaTeX of a (matrix) expression in the project's notation."""
    if e is None:
        return "0"
    return _Printer({"mat_symbol_style": "plain"}).doprint(e)


@dataclass(frozen=True)
class Step:
    """One step of a derivation: a label, the displayed LaTeX equation and a note."""

    label: str
    latex: str
    note: str = ""
