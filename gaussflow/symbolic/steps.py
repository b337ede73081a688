"""Derivation steps and the LaTeX printer they use."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.printing.latex import LatexPrinter


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
