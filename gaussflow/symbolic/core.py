"""The small index-free matrix calculus the rule engine is built on.

SymPy's own matrix derivative handles the polynomial scores well but rewrites matrix
square roots into Hadamard powers, so Jacobians of velocities are taken here by a
product rule that only knows what the engine produces (affine chains, scalar factors).
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions import MatrixExpr

from ..symbols import DIMS as DIMS
from ..symbols import I as I
from ..symbols import Sigma as Sigma
from ..symbols import alpha as alpha
from ..symbols import d as d
from ..symbols import d_v as d_v
from ..symbols import half as half
from ..symbols import k as k
from ..symbols import scalar as scalar
from ..symbols import x as x
from ..symbols import y as y


class NotAffineError(ValueError):
    """Raised when an expression is not of the polynomial shape a rule needs."""


class RuleError(NotImplementedError):
    """No rule of the engine applies: ``rule`` names the rule that failed and ``term`` the offending
    (sub)expression of the score or velocity. The one exception :func:`gaussflow.derive` raises for a
    score outside what the engine closes (never an error from SymPy internals).
    """

    def __init__(self, rule: str, term: object, reason: str = "") -> None:
        self.rule, self.term, self.reason = rule, term, reason
        why = f": {reason}" if reason else ""
        super().__init__(f"rule '{rule}' does not apply to the term {term}{why}")


def sqrtm(m: MatrixExpr) -> MatrixExpr:
    """Principal square root of a symmetric PSD matrix expression."""
    return sp.MatPow(m, half)


def _symmetric_atoms(extra: frozenset[sp.Basic]) -> frozenset[sp.Basic]:
    return frozenset({Sigma}) | extra


def is_symmetric(e: sp.Basic, sym: frozenset[sp.Basic]) -> bool:
    """Conservative structural test that ``e`` is a symmetric matrix."""
    if e in sym or isinstance(e, (sp.Identity, sp.ZeroMatrix)):
        return True
    if isinstance(e, sp.MatPow | sp.Inverse):
        return is_symmetric(e.args[0], sym)
    if isinstance(e, sp.MatAdd):
        return all(is_symmetric(a, sym) for a in e.args)
    if isinstance(e, sp.MatMul):
        _, mats = e.as_coeff_matrices()
        mats = list(mats)
        n = len(mats)
        # palindromic chains F G S G^T F^T with S symmetric in the middle
        for i in range(n // 2):
            if sp.Transpose(mats[i]).doit() != mats[n - 1 - i]:
                return False
        return n % 2 == 0 or is_symmetric(mats[n // 2], sym)
    return False


def symmetrize(e: sp.Basic, extra: frozenset[sp.Basic] = frozenset()) -> sp.Basic:
    """Drop transposes of matrices known to be symmetric (Σ, declared parameters, ...)."""
    sym = _symmetric_atoms(extra)
    prev = None
    while prev != e:
        prev = e
        e = e.replace(
            lambda z: isinstance(z, sp.Transpose) and is_symmetric(z.arg, sym),
            lambda z: z.arg,
        )
        e = e.doit() if isinstance(e, sp.Transpose) else e
    return e


def transpose(e: MatrixExpr, extra: frozenset[sp.Basic] = frozenset()) -> MatrixExpr:
    """Evaluated transpose with symmetric atoms simplified."""
    return symmetrize(sp.Transpose(e).doit(), extra)


def mdiff(e: MatrixExpr, v: sp.MatrixSymbol) -> MatrixExpr:
    """SymPy's matrix derivative (denominator layout) that returns an explicit zero when
    ``e`` does not depend on ``v``; only used on polynomial scores."""
    if not e.has(v):
        return sp.ZeroMatrix(v.rows, e.rows)
    out = e.diff(v)
    if out.has(sp.Derivative):
        raise NotAffineError(f"SymPy left an unevaluated derivative of {e} with respect to {v}")
    return out


def scalar_grad(s: sp.Expr, v: sp.MatrixSymbol) -> MatrixExpr:
    """Column gradient of a scalar built from traces of 1x1 polynomial forms."""
    if not s.has(v):
        return sp.ZeroMatrix(v.rows, 1)
    if isinstance(s, sp.Trace):
        return mdiff(s.arg, v)
    if isinstance(s, sp.Add):
        return sp.MatAdd(*[scalar_grad(a, v) for a in s.args]).doit()
    if isinstance(s, sp.Mul):
        terms = []
        for i, a in enumerate(s.args):
            if a.has(v):
                rest = sp.Mul(*(s.args[:i] + s.args[i + 1 :]))
                terms.append(rest * scalar_grad(a, v))
        return sp.MatAdd(*terms).doit()
    if isinstance(s, sp.exp):
        return s * scalar_grad(s.args[0], v)
    raise NotAffineError(f"no gradient rule for {s}")


def jacobian(e: MatrixExpr, v: sp.MatrixSymbol) -> MatrixExpr:
    """Numerator-layout Jacobian ∂e/∂v of a column-vector expression.

    Handles what the rule engine produces: sums, chains ``F_1 ... F_m v`` whose only
    ``v`` is the trailing factor (any matrix functions in ``F_i``), and scalar factors
    depending on ``v`` through traces of 1x1 polynomial forms (product rule).
    """
    rows = e.rows
    if not e.has(v):
        return sp.ZeroMatrix(rows, v.rows)
    if e == v:
        return sp.Identity(v.rows)
    if isinstance(e, sp.MatAdd):
        return sp.MatAdd(*[jacobian(a, v) for a in e.args]).doit()
    if isinstance(e, sp.MatMul):
        coeff, mats = e.as_coeff_matrices()
        mats = list(mats)
        terms: list[MatrixExpr] = []
        if coeff.has(v):
            vec = sp.MatMul(*mats)
            terms.append(vec * transpose(scalar_grad(coeff, v)))
            coeff_const = coeff
        else:
            coeff_const = coeff
        dep = [i for i, m in enumerate(mats) if m.has(v)]
        if dep:
            if dep != [len(mats) - 1]:
                raise NotAffineError(f"{e} depends on {v} other than through a trailing factor")
            head = sp.MatMul(*mats[:-1]) if len(mats) > 1 else sp.Identity(rows)
            terms.append(coeff_const * head * jacobian(mats[-1], v))
        return sp.MatAdd(*terms).doit()
    raise NotAffineError(f"no Jacobian rule for {type(e).__name__}: {e}")


def is_zero(e: sp.Basic) -> bool:
    """Whether a matrix expression is identically zero: structural simplification first,
    then an entrywise check with generic symbolic entries at d = k = d_v = 3."""
    e = e.doit()
    if isinstance(e, sp.ZeroMatrix) or e == 0:
        return True
    from .explicit import explicit_matrix

    m = explicit_matrix(e, 3)
    return all(sp.expand(z) == 0 for z in m)
