"""Entrywise (explicit) form of index-free closures for a concrete small dimension.

Polynomial parts are expanded to entries of SymPy matrices. Matrix inverses and square
roots cannot be written entrywise at reasonable size for d > 1, so each becomes a named
matrix of fresh symbols with its defining matrix recorded (a *binding*); evaluation
computes the bindings in order with mpmath at high precision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from ..symbols import DIMS, Sigma

__all__ = ["ExplicitForm", "explicit_form", "explicit_matrix"]


@dataclass
class _Walker:
    d: int
    symmetric: frozenset[str] = frozenset()
    entries: dict[str, sp.ImmutableMatrix] = field(default_factory=dict)
    bindings: list[tuple[sp.ImmutableMatrix, sp.ImmutableMatrix, str]] = field(default_factory=list)
    allow_bindings: bool = True
    _memo: dict[sp.Basic, Any] = field(default_factory=dict)

    def dim(self, n: sp.Expr) -> int:
        return int(sp.sympify(n).subs({s: self.d for s in DIMS.values()}))

    def symbol_matrix(self, m: sp.MatrixSymbol) -> sp.ImmutableMatrix:
        if m.name not in self.entries:
            r, c = self.dim(m.rows), self.dim(m.cols)
            sym = m.name in self.symmetric or m == Sigma

            def ent(i: int, j: int) -> sp.Symbol:
                if sym and i > j:
                    i, j = j, i
                return sp.Symbol(f"{m.name}_{i}{j}", real=True)

            self.entries[m.name] = sp.ImmutableMatrix(r, c, lambda i, j: ent(i, j))
        return self.entries[m.name]

    def bind(self, defn: sp.ImmutableMatrix, kind: str) -> sp.ImmutableMatrix:
        n = defn.rows
        if n == 1:
            z = defn[0, 0]
            return sp.ImmutableMatrix([[1 / z if kind == "inv" else sp.sqrt(z)]])
        if not self.allow_bindings:
            raise ValueError("expression is not polynomial")
        tag = len(self.bindings)
        sym = sp.ImmutableMatrix(n, n, lambda i, j: sp.Symbol(f"N{tag}_{i}{j}", real=True))
        self.bindings.append((sym, defn, kind))
        return sym

    def scalar(self, e: sp.Expr) -> sp.Expr:
        if isinstance(e, sp.Trace):
            return self.mat(e.arg)[0, 0]
        if e.is_Atom:
            return e
        return e.func(*[self.scalar(a) for a in e.args])

    def mat(self, e: sp.Basic) -> sp.ImmutableMatrix:
        if e in self._memo:
            return self._memo[e]
        out = self._mat(e)
        self._memo[e] = out
        return out

    def _mat(self, e: sp.Basic) -> sp.ImmutableMatrix:
        if isinstance(e, sp.MatrixSymbol):
            return self.symbol_matrix(e)
        if isinstance(e, sp.Identity):
            return sp.ImmutableMatrix(sp.eye(self.dim(e.rows)))
        if isinstance(e, sp.ZeroMatrix):
            return sp.ImmutableMatrix(sp.zeros(self.dim(e.rows), self.dim(e.cols)))
        if isinstance(e, sp.MatAdd):
            out = self.mat(e.args[0])
            for a in e.args[1:]:
                out = out + self.mat(a)
            return sp.ImmutableMatrix(out)
        if isinstance(e, sp.MatMul):
            coeff, mats = e.as_coeff_matrices()
            out = self.mat(mats[0])
            for m in mats[1:]:
                out = out * self.mat(m)
            return sp.ImmutableMatrix(self.scalar(coeff) * out)
        if isinstance(e, sp.Transpose):
            return self.mat(e.arg).T
        if isinstance(e, sp.Inverse):
            return self.bind(self.mat(e.arg), "inv")
        if isinstance(e, sp.MatPow):
            base, p = e.args
            if p == sp.S.Half:
                return self.bind(self.mat(base), "sqrt")
            if p == -1:
                return self.bind(self.mat(base), "inv")
            if p.is_Integer and p > 0:
                return sp.ImmutableMatrix(self.mat(base) ** int(p))
        raise NotImplementedError(f"explicit form of {type(e).__name__}: {e}")


def explicit_matrix(e: sp.Basic, d: int) -> sp.ImmutableMatrix:
    """Entrywise matrix of a *polynomial* matrix expression at dimension ``d``."""
    return _Walker(d, allow_bindings=False).mat(e)


@dataclass(frozen=True)
class ExplicitForm:
    """Closure written entrywise for a concrete dimension ``d``.

    Attributes
    ----------
    d : int
    entries : dict[str, ImmutableMatrix]
        Entry symbols of every matrix symbol (Σ symmetric: ``Sigma_01 = Sigma_10``).
    bindings : tuple of (symbols, definition, kind)
        ``kind`` is ``"inv"`` (symbols = definition⁻¹) or ``"sqrt"`` (symmetric PSD root).
    outputs : dict[str, ImmutableMatrix]
        ``"mean_rhs"`` (d, 1), ``"cov_rhs"`` (d, d), ``"jacobian"`` (d, d) entrywise.
    """

    d: int
    entries: dict[str, sp.ImmutableMatrix]
    bindings: tuple[tuple[sp.ImmutableMatrix, sp.ImmutableMatrix, str], ...]
    outputs: dict[str, sp.ImmutableMatrix]
    scalars: tuple[sp.Symbol, ...]

    def evaluate(self, values: Mapping[str, Any], dps: int = 40) -> dict[str, np.ndarray]:
        """Evaluate every output at numeric ``values`` (name → array or float) with
        ``dps`` decimal digits; bindings are computed with ``mpmath.inverse`` and
        ``mpmath.sqrtm``. Returns float64 arrays."""
        with mpmath.workdps(dps):
            sub: dict[sp.Basic, sp.Basic] = {}
            for name, ent in self.entries.items():
                if name not in values:
                    raise KeyError(f"no value for matrix {name!r}")
                val = np.asarray(values[name], dtype=float).reshape(ent.shape)
                for i in range(ent.rows):
                    for j in range(ent.cols):
                        sub[ent[i, j]] = sp.Float(repr(float(val[i, j])), dps)
            for s in self.scalars:
                sub[s] = sp.Float(repr(float(values[s.name])), dps)

            def num(m: sp.ImmutableMatrix) -> mpmath.matrix:
                return mpmath.matrix(
                    [[mpmath.mpf(str(sp.N(z.xreplace(sub), dps))) for z in row] for row in m.tolist()]
                )

            for sym, defn, kind in self.bindings:
                mat = num(defn)
                res = mpmath.inverse(mat) if kind == "inv" else mpmath.sqrtm(mat)
                for i in range(sym.rows):
                    for j in range(sym.cols):
                        sub[sym[i, j]] = sp.Float(str(mpmath.re(res[i, j])), dps)
            return {
                k: np.array(num(m).tolist(), dtype=float) for k, m in self.outputs.items()
            }


def explicit_form(
    outputs: Mapping[str, sp.Basic], d: int, symmetric: frozenset[str] = frozenset()
) -> ExplicitForm:
    """Entrywise form of several matrix expressions sharing one set of bindings."""
    w = _Walker(d, symmetric=symmetric)
    outs = {k: w.mat(v) for k, v in outputs.items()}
    known = {s for e in w.entries.values() for s in e} | {s for b, _, _ in w.bindings for s in b}
    scalars: set[sp.Symbol] = set()
    for m in list(outs.values()) + [defn for _, defn, _ in w.bindings]:
        scalars |= {s for s in m.free_symbols if s not in known}
    return ExplicitForm(
        d=d,
        entries=dict(w.entries),
        bindings=tuple(w.bindings),
        outputs=outs,
        scalars=tuple(sorted(scalars, key=lambda s: s.name)),
    )
