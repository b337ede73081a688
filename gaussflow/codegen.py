"""The only place that turns SymPy into NumPy: a matrix-level code printer.

Closures are printed as matrix products (``@``), linear solves for inverses and
symmetric eigendecompositions for the PSD square roots — never expanded to scalars.
Parameter-only subexpressions (``βKᵀQ``, ``W_h V_h``) are hoisted into a ``prepare``
function run once per :class:`~gaussflow.Attention`; common subexpressions are shared
with :func:`sympy.cse`; Σ̇ is emitted as ``P + P.T`` so it is symmetric to the last bit.

Generated functions (``source`` shows them):

``prepare(**params) -> tuple``
``moments(alpha (d,1), Sigma (d,d), *prepared) -> (alpha_dot (d,1), Sigma_dot (d,d))``
``velocity(x (d,n), alpha (d,1), Sigma (d,d), *prepared) -> (d,n)``
``jacobian(alpha (d,1), Sigma (d,d), *prepared) -> (d,d)``
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp

from .symbolic.core import Sigma, alpha, x
from .symbolic.functions import LogisticMoment0, LogisticMoment1

if TYPE_CHECKING:  # pragma: no cover
    from .symbolic.closure import Closure

_STATE = (x, alpha, Sigma)

# --------------------------------------------------------------------------- runtime helpers


def _sqrtm_psd(M: np.ndarray) -> np.ndarray:
    """Principal square root of a symmetric PSD matrix via ``eigh`` (negative rounding
    eigenvalues clipped to 0, so singular Σ is fine)."""
    w, U = np.linalg.eigh(M)
    return (U * np.sqrt(np.clip(w, 0.0, None))) @ U.T


def _add_eye(M: np.ndarray, c: float) -> np.ndarray:
    out = np.array(M, dtype=float, copy=True)
    out.flat[:: out.shape[0] + 1] += c
    return out


def _colsum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Column-wise inner products aᵢᵀbᵢ as a (1, n) row (batched quadratic forms)."""
    return np.einsum("ij,ij->j", a, b)[None, :]


_GH_Z, _GH_W = np.polynomial.hermite_e.hermegauss(64)
_GH_W = _GH_W / np.sqrt(2 * np.pi)


def _logistic_moment(m: Any, v: Any, order: int) -> np.ndarray:
    """Λ_j(m, v) = E[σ^{(j)}(m + √v Z)] by 64-point Gauss–Hermite (probabilists')."""
    m = np.asarray(m, dtype=float)
    z = m[..., None] + np.sqrt(np.clip(np.asarray(v, dtype=float), 0, None))[..., None] * _GH_Z
    s = 0.5 * (1 + np.tanh(0.5 * z))
    f = s if order == 0 else s * (1 - s)
    return f @ _GH_W


def _full(J: Any, Sigma: np.ndarray) -> np.ndarray:
    """A Jacobian that simplified to a multiple of I (or 0) as a dense (d, d) array."""
    J = np.asarray(J, dtype=float)
    return J if J.ndim == 2 else float(J) * np.eye(len(Sigma))


_RUNTIME: dict[str, Any] = {
    "_full": _full,
    "np": np,
    "_sqrtm_psd": _sqrtm_psd,
    "_add_eye": _add_eye,
    "_colsum": _colsum,
    "_logistic_moment": _logistic_moment,
}

# --------------------------------------------------------------------------- hoisting


class _Hoister:
    """Replace maximal parameter-only subexpressions by fresh symbols ``p0, p1, ...``."""

    def __init__(self) -> None:
        self.defs: dict[sp.Basic, sp.Basic] = {}
        self._by_expr: dict[sp.Basic, sp.Basic] = {}
        self._count = itertools.count()

    def _fresh(self, e: sp.Basic) -> sp.Basic:
        if e not in self._by_expr:
            name = f"p{next(self._count)}"
            sym = sp.MatrixSymbol(name, *e.shape) if e.is_Matrix else sp.Symbol(name)
            self._by_expr[e] = sym
            self.defs[sym] = e
        return self._by_expr[e]

    @staticmethod
    def _stateful(e: sp.Basic) -> bool:
        return any(e.has(s) for s in _STATE)

    def __call__(self, e: sp.Basic) -> sp.Basic:
        if not self._stateful(e):
            if e.is_Atom or isinstance(e, sp.MatrixSymbol | sp.Identity | sp.ZeroMatrix):
                return e
            if isinstance(e, sp.MatMul) and all(isinstance(m, sp.Identity) for m in e.args[1:]):
                return e  # c·I stays symbolic: its size is only known from Σ at run time
            if isinstance(e, sp.Transpose) and isinstance(e.arg, sp.MatrixSymbol):
                return e
            return self._fresh(e)
        if isinstance(e, sp.MatMul):
            coeff, mats = e.as_coeff_matrices()
            coeff = self(coeff) if self._stateful(coeff) else coeff
            out: list[sp.Basic] = []
            run: list[sp.Basic] = []
            pending = coeff if not self._stateful(coeff) else sp.S.One
            lead = coeff if self._stateful(coeff) else sp.S.One

            def flush() -> None:
                nonlocal pending
                if len(run) >= 2 or (run and pending != 1):
                    out.append(self._fresh(sp.MatMul(pending, *run).doit()))
                    pending = sp.S.One
                else:
                    out.extend(run)
                run.clear()

            for m in mats:
                if self._stateful(m):
                    flush()
                    out.append(self(m))
                else:
                    run.append(m)
            flush()
            return sp.MatMul(lead * pending, *out)
        if isinstance(e, sp.MatrixSymbol | sp.Symbol):
            return e
        return e.func(*[self(a) for a in e.args])


# --------------------------------------------------------------------------- printer


class _Printer:
    def __init__(self, batch: sp.MatrixSymbol | None = None) -> None:
        self.batch = batch

    def __call__(self, e: sp.Basic) -> str:
        return self.p(e)

    def p(self, e: sp.Basic) -> str:
        if isinstance(e, sp.MatrixSymbol | sp.Symbol):
            return e.name
        if isinstance(e, sp.Integer):
            return f"{int(e)}.0"
        if e.is_Number:
            return repr(float(e))
        if isinstance(e, sp.MatAdd):
            return self.matadd(e)
        if isinstance(e, sp.MatMul):
            return self.matmul(e)
        if isinstance(e, sp.Transpose):
            return f"{self.atom(e.arg)}.T"
        if isinstance(e, sp.Inverse):
            return f"np.linalg.inv({self.p(e.arg)})"
        if isinstance(e, sp.MatPow):
            base, pw = e.args
            if pw == sp.S.Half:
                return f"_sqrtm_psd({self.p(base)})"
            if pw == -1:
                return f"np.linalg.inv({self.p(base)})"
            if pw.is_Integer and pw > 0:
                return f"np.linalg.matrix_power({self.p(base)}, {int(pw)})"
        if isinstance(e, sp.Identity):
            return f"np.eye({self.p(e.rows)})" if not e.rows.is_Symbol else "np.eye(Sigma.shape[0])"
        if isinstance(e, sp.ZeroMatrix):
            return "0.0"
        if isinstance(e, sp.Trace):
            if e.arg.shape == (1, 1):
                return self.p(e.arg)
            return f"np.trace({self.p(e.arg)})"
        if isinstance(e, LogisticMoment0 | LogisticMoment1):
            m, v = (self.p(a) for a in e.args)
            return f"_logistic_moment({m}, {v}, {e.order})"
        if isinstance(e, sp.exp):
            return f"np.exp({self.p(e.args[0])})"
        if isinstance(e, sp.Add):
            return "(" + " + ".join(self.p(a) for a in e.args) + ")"
        if isinstance(e, sp.Mul):
            return "(" + " * ".join(self.atom(a) for a in e.args) + ")"
        if isinstance(e, sp.Pow):
            b, pw = e.args
            if pw == sp.S.Half:
                return f"np.sqrt({self.p(b)})"
            return f"({self.atom(b)} ** {self.atom(pw)})"
        raise NotImplementedError(f"codegen: no rule for {type(e).__name__}: {e}")

    def atom(self, e: sp.Basic) -> str:
        s = self.p(e)
        if isinstance(e, sp.MatrixSymbol | sp.Symbol) or (e.is_Number and e >= 0):
            return s
        return s if s.startswith("(") and s.endswith(")") else f"({s})"

    def matadd(self, e: sp.MatAdd) -> str:
        eye = sp.S.Zero
        rest: list[str] = []
        for a in e.args:
            if isinstance(a, sp.Identity):
                eye += 1
                continue
            if isinstance(a, sp.MatMul):
                c, mats = a.as_coeff_matrices()
                if len(mats) == 1 and isinstance(mats[0], sp.Identity):
                    eye += c
                    continue
            rest.append(self.p(a))
        body = " + ".join(rest).replace("+ -", "- ")
        if eye != 0:
            return f"_add_eye({body}, {self.p(eye)})"
        return f"({body})"

    def chain(self, mats: Sequence[sp.Basic]) -> str:
        mats = list(mats)
        for i, m in enumerate(mats):
            inv = isinstance(m, sp.Inverse) or (isinstance(m, sp.MatPow) and m.args[1] == -1)
            if inv:
                X = self.p(m.args[0])
                right = mats[i + 1 :]
                core = f"np.linalg.solve({X}, {self.chain(right)})" if right else f"np.linalg.inv({X})"
                return f"{self.chain(mats[:i])} @ {core}" if i else core
        if len(mats) == 1:
            return self.atom(mats[0])
        if mats[-1].cols == 1:  # right-to-left for (batches of) vectors
            out = self.atom(mats[-1])
            for m in reversed(mats[:-1]):
                out = f"({self.atom(m)} @ {out})"
            return out
        return "(" + " @ ".join(self.atom(m) for m in mats) + ")"

    def matmul(self, e: sp.MatMul) -> str:
        coeff, mats = e.as_coeff_matrices()
        mats = list(mats)
        if (
            self.batch is not None
            and isinstance(mats[0], sp.Transpose)
            and mats[0].arg == self.batch
            and len(mats) > 1
        ):
            body = f"_colsum({self.batch.name}, {self.chain(mats[1:])})"
        else:
            body = self.chain(mats)
        if coeff == 1:
            return body
        if coeff == -1:
            return f"(-{body})"
        return f"({self.atom(coeff)} * {body})"


# --------------------------------------------------------------------------- assembly


def _trivial(e: sp.Basic) -> bool:
    return (
        e.is_Atom
        or isinstance(e, sp.MatrixSymbol | sp.Identity | sp.ZeroMatrix)
        or (isinstance(e, sp.Transpose) and isinstance(e.arg, sp.MatrixSymbol))
    )


def _cse(exprs: list[sp.Basic]) -> tuple[list[tuple[sp.Basic, sp.Basic]], list[sp.Basic]]:
    """Common subexpressions of matrix expressions (structural, innermost first).

    SymPy's ``cse`` cannot rebuild products around a shared matrix sum (it creates a
    non-commutative scalar), so repeated subtrees are found here directly."""
    counts: dict[sp.Basic, int] = {}

    def visit(e: sp.Basic) -> None:
        if _trivial(e):
            return
        counts[e] = counts.get(e, 0) + 1
        if counts[e] == 1:
            for a in e.args:
                visit(a)

    for e in exprs:
        visit(e)
    repeated = sorted((e for e, n in counts.items() if n > 1), key=sp.count_ops)
    mapping: dict[sp.Basic, sp.Basic] = {}
    repl: list[tuple[sp.Basic, sp.Basic]] = []
    for i, e in enumerate(repeated):
        sym = sp.MatrixSymbol(f"t{i}", *e.shape) if e.is_Matrix else sp.Symbol(f"t{i}")
        repl.append((sym, e.xreplace(mapping)))
        mapping[e] = sym
    return repl, [e.xreplace(mapping) for e in exprs]


def _function(name: str, args: Sequence[str], body: list[tuple[str, str]], ret: str) -> str:
    lines = [f"def {name}({', '.join(args)}):"]
    lines += [f"    {lhs} = {rhs}" for lhs, rhs in body]
    lines.append(f"    return {ret}")
    return "\n".join(lines)


@dataclass(frozen=True)
class CompiledClosure:
    """NumPy right-hand sides generated from a :class:`~gaussflow.Closure`.

    Attributes
    ----------
    source : str
        The generated Python source (inspectable, printed by ``gaussflow derive --code``).
    param_names : tuple[str, ...]
        Keyword arguments of :attr:`prepare` (the variant's parameter symbols).
    prepare : callable
        ``prepare(**params) -> tuple`` — parameter-only work, run once.
    moments : callable or None
        ``moments(alpha (d,1), Sigma (d,d), *prepared) -> (alpha_dot, Sigma_dot)``;
        ``None`` for variants that do not close.
    jacobian : callable or None
        ``jacobian(alpha (d,1), Sigma (d,d), *prepared) -> J (d,d)``, J = ∂Γ/∂x.
    velocity : callable
        ``velocity(x (d,n), alpha (d,1), Sigma (d,d), *prepared) -> (d,n)``: Γ at the
        columns of ``x``.
    """

    source: str
    param_names: tuple[str, ...]
    prepare: Callable[..., tuple[Any, ...]]
    moments: Callable[..., tuple[np.ndarray, np.ndarray]] | None
    jacobian: Callable[..., np.ndarray] | None
    velocity: Callable[..., np.ndarray]


def _printable(e: sp.Basic) -> sp.Basic:
    return e.doit() if isinstance(e, sp.MatrixExpr) and e.has(sp.ZeroMatrix) else e


_CACHE: dict[Any, CompiledClosure] = {}


def compile_closure(c: Closure) -> CompiledClosure:
    """Generate (once per variant, then cached) the NumPy functions of a closure."""
    key = c.variant
    if key in _CACHE:
        return _CACHE[key]
    h = _Hoister()
    vel = h(_printable(c.velocity))
    closed = c.preserves_gaussian
    if closed:
        mean = h(_printable(c.mean_rhs))
        half = h(_printable(c.cov_half))
        jac = h(_printable(c.jacobian))
    pnames = tuple(p.name for p in c.variant.params)
    prep_body = [(str(s), _Printer()(v)) for s, v in h.defs.items()]
    used: set[str] = set()
    exprs = [vel] + ([mean, half, jac] if closed else [])
    for e in exprs:
        used |= {s.name for s in e.free_symbols if isinstance(s, sp.MatrixSymbol | sp.Symbol)}
    used -= {s.name for s in _STATE}
    used -= {str(s) for s in sp.Tuple(*exprs).atoms(sp.Symbol) if s.name in ("d", "k", "d_v")}
    prepared = tuple(sorted(used, key=lambda n: (n not in h.defs and n not in {str(s) for s in h.defs}, n)))
    prep_src = _function("prepare", pnames, prep_body, "(" + "".join(f"{n}, " for n in prepared) + ")")
    src = [prep_src]
    if closed:
        repl, (m_e, p_e) = _cse([mean, half])
        pr = _Printer()
        body = [(str(s), pr(v)) for s, v in repl] + [("P", pr(p_e))]
        src.append(_function("moments", ("alpha", "Sigma", *prepared), body, f"{pr(m_e)}, P + P.T"))
        repl, (j_e,) = _cse([jac])
        body = [(str(s), pr(v)) for s, v in repl]
        src.append(_function("jacobian", ("alpha", "Sigma", *prepared), body, f"_full({pr(j_e)}, Sigma)"))
    repl, (v_e,) = _cse([vel])
    pr = _Printer(batch=x)
    body = [(str(s), pr(v)) for s, v in repl]
    src.append(_function("velocity", ("x", "alpha", "Sigma", *prepared), body, pr(v_e)))
    source = "\n\n\n".join(src) + "\n"
    ns: dict[str, Any] = dict(_RUNTIME)
    exec(compile(source, f"<gaussflow codegen: {c.name}>", "exec"), ns)
    out = CompiledClosure(
        source=source,
        param_names=pnames,
        prepare=ns["prepare"],
        moments=ns.get("moments"),
        jacobian=ns.get("jacobian"),
        velocity=ns["velocity"],
    )
    _CACHE[key] = out
    return out


__all__ = ["CompiledClosure", "compile_closure"]
