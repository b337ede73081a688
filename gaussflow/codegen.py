"""The only place that turns SymPy into NumPy: a matrix-level code printer.

Closures are printed as matrix products (``@``), linear solves for inverses and
symmetric eigendecompositions for the PSD square roots — never expanded to scalars.
Parameter-only subexpressions (``βKᵀQ``, ``W_h V_h``) are hoisted into a ``prepare``
function run once per :class:`~gaussflow.Attention`; common subexpressions are shared
with :func:`sympy.cse`; Σ̇ is emitted as ``P + Pᵀ`` so it is symmetric to the last bit.

Generated functions (``source`` shows them):

``prepare(**params) -> tuple``
``moments(alpha (…,d,1), Sigma (…,d,d), *prepared) -> (alpha_dot (…,d,1), Sigma_dot (…,d,d))``
``velocity(x (…,d,n), alpha (…,d,1), Sigma (…,d,d), *prepared) -> (…,d,n)``
``jacobian(alpha (…,d,1), Sigma (…,d,d), *prepared) -> (…,d,d)``

Batched mode is the same code: every generated function broadcasts over any leading batch axes
``…`` (transposes are ``.mT``, identities take their size from ``Sigma.shape[-1]``, stacked heads
live on axis −3 and the runtime helpers are written for stacks of matrices). Parameters may be
shared (``(k, d)``) or per member (``(B, k, d)``; scalars as ``(B, 1, 1)``) — ``prepare`` broadcasts too.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from .cubature import cubature_moments
from .symbolic.functions import LogisticMoment0, LogisticMoment1
from .symbols import DIMS, Sigma, alpha, x

#: what codegen reads of a closure (duck-typed so that codegen does not import the closure layer):
#: ``variant``, ``velocity``, ``jacobian``, ``mean_rhs``, ``preserves_gaussian``, ``definitions``, ``name``
Closure = Any

_STATE = (x, alpha, Sigma)

# --------------------------------------------------------------------------- runtime helpers


def _sqrtm_psd(M: np.ndarray) -> np.ndarray:
    """Principal square root of symmetric PSD matrices (..., d, d) via ``eigh`` (negative rounding
    eigenvalues clipped to 0, so singular Σ is fine)."""
    w, U = np.linalg.eigh(M)
    return (U * np.sqrt(np.clip(w, 0.0, None))[..., None, :]) @ U.mT


def _solve_one_plus_sqrt(Y: np.ndarray, R: np.ndarray) -> np.ndarray:
    """(I + Y^{1/2})⁻¹R for symmetric PSD Y (..., d, d) from one ``eigh``: U diag(1/(1 + √w)) UᵀR."""
    w, U = np.linalg.eigh(Y)
    return U @ ((U.mT @ R) / (1.0 + np.sqrt(np.clip(w, 0.0, None)))[..., :, None])


def _add_eye(M: np.ndarray, c: float) -> np.ndarray:
    """M + cI on a copy (M may be a named array still in use); M of shape (..., d, d)."""
    out = np.array(M, dtype=float, copy=True)
    np.einsum("...ii->...i", out)[...] += c
    return out


def _add_eye_(M: np.ndarray, c: float) -> np.ndarray:
    """M + cI in place, for a freshly computed temporary M of shape (..., d, d)."""
    if M.ndim == 2:
        M.flat[:: M.shape[0] + 1] += c
    else:
        np.einsum("...ii->...i", M)[...] += c
    return M


def _colsum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Column-wise inner products aᵢᵀbᵢ as a (..., 1, n) row (batched quadratic forms)."""
    return np.einsum("...ij,...ij->...j", a, b)[..., None, :]


def _flat_heads(R: np.ndarray) -> np.ndarray:
    """Stacked head blocks (..., H, r, n) → (..., H·r, n), so Σ_h L_h R_h = [L_1 ⋯ L_H] · R."""
    return R.reshape(*R.shape[:-3], R.shape[-3] * R.shape[-2], R.shape[-1])


def _trace(M: np.ndarray) -> np.ndarray:
    """Trace over the last two axes, kept as a (..., 1, 1) array so it broadcasts like a scalar."""
    return np.trace(M, axis1=-2, axis2=-1)[..., None, None]


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
    if J.ndim >= 2:
        return J
    return np.broadcast_to(J[..., None, None] * np.eye(Sigma.shape[-1]), Sigma.shape).copy()


def _solve_many(X: np.ndarray, *rhs: np.ndarray) -> tuple[np.ndarray, ...]:
    """One LU factorization of X for several right-hand sides; returns X⁻¹R_i each."""
    lead = np.broadcast_shapes(X.shape[:-2], *(r.shape[:-2] for r in rhs))
    rhs = tuple(np.broadcast_to(r, lead + r.shape[-2:]) for r in rhs)
    sol = np.linalg.solve(X, np.concatenate(rhs, axis=-1))
    if len(rhs) == 2:
        w = rhs[0].shape[-1]
        return sol[..., :w], sol[..., w:]
    out = []
    i = 0
    for r in rhs:
        j = i + r.shape[-1]
        out.append(sol[..., i:j])
        i = j
    return tuple(out)


_RUNTIME: dict[str, Any] = {
    "_solve_many": _solve_many,
    "_full": _full,
    "np": np,
    "_sqrtm_psd": _sqrtm_psd,
    "_add_eye": _add_eye,
    "_solve_one_plus_sqrt": _solve_one_plus_sqrt,
    "_add_eye_": _add_eye_,
    "_colsum": _colsum,
    "_trace": _trace,
    "_flat_heads": _flat_heads,
    "_logistic_moment": _logistic_moment,
}

# --------------------------------------------------------------------------- shapes

#: a product is kept factored (not hoisted into one matrix) when its factors hold at most this share
#: of the product's entries and the product is at least this large (below it, call overhead dominates)
_LOWRANK_SHARE = 0.5
_LOWRANK_MIN_WORK = 100_000


def _size(n: Any, dims: dict[sp.Symbol, int]) -> int | None:
    """A symbolic dimension as an int under ``dims`` (None when it is not determined)."""
    v = sp.sympify(sp.sympify(n).xreplace(dims))
    return int(v) if v.is_Integer else None


def _bottleneck(mats: Sequence[sp.Basic], dims: dict[sp.Symbol, int]) -> list[int]:
    """Positions i (1 ≤ i < len) where the chain M_0⋯M_{i−1} · M_i⋯ passes through a low inner
    dimension r: r (R + C) < share · R C for the product's R × C — splitting there saves work."""
    R, C = _size(mats[0].rows, dims), _size(mats[-1].cols, dims)
    if R is None or C is None or R * C * min(R, C) < _LOWRANK_MIN_WORK:
        return []
    out = []
    for i in range(1, len(mats)):
        r = _size(mats[i].rows, dims)
        if r is not None and r * (R + C) < _LOWRANK_SHARE * R * C:
            out.append(i)
    return out


def _lowrank_definitions(c: Closure, dims: dict[sp.Symbol, int]) -> dict[sp.Basic, sp.Basic]:
    """The closure's named parameter products (A_h := β_h K_hᵀQ_h, C_h := W_h V_h) that are low-rank
    at these dimensions: using them factored is cheaper than the hoisted square product."""
    out: dict[sp.Basic, sp.Basic] = {}
    for sym, val in c.definitions:
        if isinstance(val, sp.MatMul):
            _, mats = val.as_coeff_matrices()
            if len(mats) >= 2 and _bottleneck(mats, dims):
                out[sym] = val
    return out


def _flatten(e: sp.Basic) -> sp.Basic:
    """Flatten nested products (left by substituting a product for a symbol): one chain per MatMul."""
    if isinstance(e, sp.MatMul):
        coeff, mats = e.as_coeff_matrices()
        flat: list[sp.Basic] = []
        for m in mats:
            m = _flatten(m)
            if isinstance(m, sp.MatMul):
                c_, ms = m.as_coeff_matrices()
                coeff *= c_
                flat.extend(ms)
            else:
                flat.append(m)
        return sp.MatMul(coeff, *flat) if coeff != 1 else sp.MatMul(*flat)
    if e.is_Atom or isinstance(e, sp.MatrixSymbol) or not e.args:
        return e
    return e.func(*[_flatten(a) for a in e.args])


def _chain_order(shapes: list[int]) -> list[list[int]]:
    """Matrix-chain dynamic programme: split[i][j] of the cheapest parenthesization of M_i⋯M_j
    (M_i of shape shapes[i] × shapes[i+1])."""
    n = len(shapes) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length - 1
            cost[i][j] = -1
            for k_ in range(i, j):
                c_ = cost[i][k_] + cost[k_ + 1][j] + shapes[i] * shapes[k_ + 1] * shapes[j + 1]
                if cost[i][j] < 0 or c_ < cost[i][j]:
                    cost[i][j], split[i][j] = c_, k_
    return split


# --------------------------------------------------------------------------- hoisting


class _Hoister:
    """Replace maximal parameter-only subexpressions by fresh symbols ``p0, p1, ...``."""

    def __init__(self, dims: dict[sp.Symbol, int] | None = None) -> None:
        self.defs: dict[sp.Basic, sp.Basic] = {}
        self._by_expr: dict[sp.Basic, sp.Basic] = {}
        self._count = itertools.count()
        self.dims = dims

    def _fresh(self, e: sp.Basic) -> sp.Basic:
        if e not in self._by_expr:
            name = f"p{next(self._count)}"
            sym = sp.MatrixSymbol(name, *e.shape) if e.is_Matrix else sp.Symbol(name)
            self._by_expr[e] = sym
            self.defs[sym] = e
        return self._by_expr[e]

    @staticmethod
    def _trivial(e: sp.Basic) -> bool:
        return isinstance(e, sp.MatrixSymbol | sp.Identity) or (
            isinstance(e, sp.Transpose) and isinstance(e.arg, sp.MatrixSymbol)
        )

    @staticmethod
    def _stateful(e: sp.Basic) -> bool:
        return any(e.has(s) for s in _STATE)

    def __call__(self, e: sp.Basic) -> sp.Basic:
        if isinstance(e, sp.MatMul):
            c, m = e.as_coeff_matrices()
            if c == 1 and len(m) == 1:
                return self(m[0])
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

            def flush_part(part: list[sp.Basic]) -> None:
                if len(part) >= 2:
                    out.append(self._fresh(sp.MatMul(*part).doit()))
                elif part and not (self._trivial(part[0])):
                    out.append(self._fresh(part[0]))
                else:
                    out.extend(part)

            def flush() -> None:
                # hoist products of ≥ 2 parameters and compound single factors (sums);
                # scalar coefficients stay outside so βKᵀQ-type products are shared;
                # with known dimensions a run is not multiplied out through a low inner dimension
                cuts = _bottleneck(run, self.dims) if (self.dims and len(run) >= 2) else []
                for a, b in zip([0, *cuts], [*cuts, len(run)], strict=True):
                    flush_part(run[a:b])
                run.clear()

            for m in mats:
                if self._stateful(m):
                    flush()
                    out.append(self(m))
                else:
                    run.append(m)
            flush()
            return sp.MatMul(coeff, *out)
        if isinstance(e, sp.MatrixSymbol | sp.Symbol):
            return e
        return e.func(*[self(a) for a in e.args])


# --------------------------------------------------------------------------- printer


def _one_plus_sqrt(X: sp.Basic) -> sp.Basic | None:
    """Y when X = I + Y^{1/2} (the engine's square roots are of symmetric PSD matrices)."""
    if isinstance(X, sp.MatAdd) and len(X.args) == 2:
        a, b = X.args
        if isinstance(b, sp.Identity):
            a, b = b, a
        if isinstance(a, sp.Identity) and isinstance(b, sp.MatPow) and b.args[1] == sp.S.Half:
            return b.args[0]
    return None


def _is_eye(a: sp.Basic) -> bool:
    if isinstance(a, sp.Identity):
        return True
    if isinstance(a, sp.MatMul):
        _, mats = a.as_coeff_matrices()
        return len(mats) == 1 and isinstance(mats[0], sp.Identity)
    return False


def _allocates(a: sp.Basic | None) -> bool:
    """Whether the printed term is a fresh array (safe to modify in place)."""
    if a is None:  # a stacked batched sum
        return True
    if isinstance(a, sp.MatMul):
        coeff, mats = a.as_coeff_matrices()
        return len(mats) >= 2 or coeff != 1
    return isinstance(a, sp.MatAdd | sp.Inverse | sp.MatPow)


class _Printer:
    """Matrix-level printer. ``batch`` is the symbol whose columns are a batch of points
    (quadratic forms in it become column sums); ``stacks`` collects per-head arrays to be
    stacked in ``prepare`` (code → name) so sums over heads become one batched product."""

    def __init__(
        self,
        batch: sp.MatrixSymbol | None = None,
        stacks: dict[str, str] | None = None,
        params: frozenset[str] = frozenset(),
        dims: dict[sp.Symbol, int] | None = None,
    ) -> None:
        self.batch = batch
        self.stacks = stacks if stacks is not None else {}
        self.params = params
        self.dims = dims

    def _param_factor(self, f: sp.Basic) -> str | None:
        """Code of a per-head parameter factor (a parameter symbol or its transpose), else None."""
        if isinstance(f, sp.MatrixSymbol) and f.name in self.params:
            return f.name
        if (self.dims and isinstance(f, sp.Transpose) and isinstance(f.arg, sp.MatrixSymbol)
                and f.arg.name in self.params):
            return f"{f.arg.name}.mT"
        return None

    def _stacked_lowrank(self, terms: list[sp.Basic]) -> str | None:
        """With known shapes: Σ_h c_h L_h F_2^h ⋯ F_m^h, factors per-head parameters (or transposes)
        or one shared state factor, L_h of shape n × r with r < n → one concatenated product
        [L_1 ⋯ L_H] · stack_h(c_h F_2^h ⋯ F_m^h), the chain ordered by the matrix-chain programme."""
        split = [t.as_coeff_matrices() for t in terms]
        if len({len(m) for _, m in split}) != 1 or len(split[0][1]) < 2:
            return None
        coeffs = [c for c, _ in split]
        if len(set(coeffs)) == 1:
            coeff_code = None if coeffs[0] == 1 else self.atom(coeffs[0])
        elif all(isinstance(c, sp.Symbol) and c.name in self.params for c in coeffs):
            code = "np.stack((" + ", ".join(f"np.multiply({c.name}, np.ones((1, 1)))" for c in coeffs) + "), axis=-3)"
            coeff_code = self.stacks.setdefault(code, f"stack{len(self.stacks)}")
        else:
            return None
        cols = list(zip(*(m for _, m in split), strict=True))
        parts: list[str] = []
        for pos in cols:
            if all(f == pos[0] for f in pos):
                if not pos[0].has(*_STATE):
                    return None
                parts.append(f"{self.atom(pos[0])}[..., None, :, :]")
                continue
            codes = [self._param_factor(f) for f in pos]
            if any(c is None for c in codes) or len({f.shape for f in pos}) != 1:
                return None
            code = "np.stack((" + ", ".join(str(c) for c in codes) + "), axis=-3)"
            parts.append(self.stacks.setdefault(code, f"stack{len(self.stacks)}"))
        lead = cols[0]
        n, r = _size(lead[0].rows, self.dims or {}), _size(lead[0].cols, self.dims or {})
        shapes = [_size(m.rows, self.dims or {}) for m in split[0][1]] + [_size(split[0][1][-1].cols, self.dims or {})]
        if n is None or r is None or r >= n or any(v is None for v in shapes) or parts[0].endswith("]"):
            return None
        rest_shapes = [int(v) for v in shapes[1:] if v is not None]
        order = _chain_order(rest_shapes) if len(rest_shapes) > 2 else None

        def paren(i: int, j: int) -> str:
            if i == j:
                return parts[1 + i]
            assert order is not None
            k_ = order[i][j]
            return f"({paren(i, k_)} @ {paren(k_ + 1, j)})"

        if coeff_code is not None and parts[-1].startswith("stack"):  # fold c_h into the last factor
            code = f"({coeff_code} * {parts[-1]})"
            parts[-1] = self.stacks.setdefault(code, f"stack{len(self.stacks)}")
            coeff_code = None
        rest = paren(0, len(parts) - 2)
        if coeff_code is not None:
            rest = f"({coeff_code} * {rest})"
        cat = "np.concatenate((" + ", ".join(str(self._param_factor(f)) for f in lead) + "), axis=-1)"
        cat_name = self.stacks.setdefault(cat, f"stack{len(self.stacks)}")
        return f"({cat_name} @ _flat_heads({rest}))"

    def _stacked(self, terms: list[sp.Basic]) -> str | None:
        """Σ_h F_1^h ⋯ F_m^h with the same shape in every term, differing only in
        parameter symbols → one batched ``(S_1 @ ⋯ @ S_m).sum(-3)`` (with known low-rank shapes,
        the concatenated product of :meth:`_stacked_lowrank`)."""
        if len(terms) < 2 or not all(isinstance(t, sp.MatMul) for t in terms):
            return None
        if self.dims:
            low = self._stacked_lowrank(terms)
            if low is not None:
                return low
        split = [t.as_coeff_matrices() for t in terms]
        if any(c != 1 for c, _ in split) or len({len(m) for _, m in split}) != 1:
            return None
        parts: list[str] = []
        varying = False
        for pos in zip(*(m for _, m in split), strict=True):
            if all(f == pos[0] for f in pos) and pos[0].has(*_STATE):  # a new head axis (-3)
                parts.append(f"{self.atom(pos[0])}[..., None, :, :]")
                continue
            if all(f == pos[0] for f in pos):
                parts.append(self.atom(pos[0]))
                continue
            if not all(isinstance(f, sp.MatrixSymbol) and f.shape == pos[0].shape for f in pos):
                return None
            if any(f.name not in self.params for f in pos):
                return None
            code = "np.stack((" + ", ".join(f.name for f in pos) + "), axis=-3)"
            name = self.stacks.setdefault(code, f"stack{len(self.stacks)}")
            parts.append(name)
            varying = True
        if not varying:
            return None
        return "(" + " @ ".join(parts) + ").sum(-3)"

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
            return f"{self.atom(e.arg)}.mT"
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
            return f"np.eye({self.p(e.rows)})" if not e.rows.is_Symbol else "np.eye(Sigma.shape[-1])"
        if isinstance(e, sp.ZeroMatrix):
            rows = "Sigma.shape[-1]" if e.rows.free_symbols else str(int(e.rows))
            cols = "Sigma.shape[-1]" if e.cols.free_symbols else str(int(e.cols))
            return f"np.zeros(Sigma.shape[:-2] + ({rows}, {cols}))"
        if isinstance(e, sp.Trace):
            if e.arg.shape == (1, 1):
                return self.p(e.arg)
            return f"_trace({self.p(e.arg)})"
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
        groups: dict[tuple[Any, ...], list[sp.Basic]] = {}
        others: list[sp.Basic] = []
        for a in e.args:
            coeff = a.as_coeff_matrices()[0] if isinstance(a, sp.MatMul) else None
            per_head_coeff = bool(self.dims) and isinstance(coeff, sp.Symbol) and coeff.name in self.params
            if coeff is not None and (coeff == 1 or per_head_coeff):
                mats = a.as_coeff_matrices()[1]
                sig = tuple(m.shape if (not m.has(*_STATE) and self._param_factor(m) is not None)
                            or (not m.has(*_STATE) and isinstance(m, sp.MatrixSymbol)) else m for m in mats)
                groups.setdefault((per_head_coeff, *sig), []).append(a)
            else:
                others.append(a)
        for g in groups.values():
            code = self._stacked(g)
            if code is None:
                others.extend(g)
            else:
                rest.append(code)
        rest_terms = [a for a in others if not _is_eye(a)] + [None] * (len(rest))
        for a in others:
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
            fresh = len(rest_terms) > 1 or (len(rest_terms) == 1 and _allocates(rest_terms[0]))
            return f"_add_eye{'_' if fresh else ''}({body}, {self.p(eye)})"
        return f"({body})"

    def chain(self, mats: Sequence[sp.Basic]) -> str:
        mats = list(mats)
        for i, m in enumerate(mats):
            inv = isinstance(m, sp.Inverse) or (isinstance(m, sp.MatPow) and m.args[1] == -1)
            if inv:
                right = mats[i + 1 :]
                root = _one_plus_sqrt(m.args[0])
                if root is not None and right:
                    core = f"_solve_one_plus_sqrt({self.p(root)}, {self.chain(right)})"
                    return f"{self.chain(mats[:i])} @ {core}" if i else core
                X = self.p(m.args[0])
                core = f"np.linalg.solve({X}, {self.chain(right)})" if right else f"np.linalg.inv({X})"
                return f"{self.chain(mats[:i])} @ {core}" if i else core
        if len(mats) == 1:
            return self.atom(mats[0])
        if mats[-1].cols == 1:  # right-to-left for (batches of) vectors
            out = self.atom(mats[-1])
            for m in reversed(mats[:-1]):
                out = f"({self.atom(m)} @ {out})"
            return out
        if self.dims and len(mats) >= 3:
            shapes = [_size(mats[0].rows, self.dims)] + [_size(m.cols, self.dims) for m in mats]
            if all(n is not None for n in shapes):
                split = _chain_order([int(n) for n in shapes if n is not None])

                def paren(i: int, j: int) -> str:
                    if i == j:
                        return self.atom(mats[i])
                    k_ = split[i][j]
                    return f"({paren(i, k_)} @ {paren(k_ + 1, j)})"

                return paren(0, len(mats) - 1)
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
    moments : callable
        ``moments(alpha (d,1), Sigma (d,d), *prepared) -> (alpha_dot, Sigma_dot)``: the exact
        closed moment equations, or for variants that do not close the Gaussian-projection closure
        α̇ = E[Γ(X)], Σ̇ = E[(X−α)Γ(X)ᵀ] + transpose by cubature of stated degree (an approximation;
        :func:`gaussflow.projection.cubature_moments`).
    jacobian : callable or None
        ``jacobian(alpha (d,1), Sigma (d,d), *prepared) -> J (d,d)``, J = ∂Γ/∂x.
    velocity : callable
        ``velocity(x (d,n), alpha (d,1), Sigma (d,d), *prepared) -> (d,n)``: Γ at the
        columns of ``x``.
    """

    source: str
    param_names: tuple[str, ...]
    prepare: Callable[..., tuple[Any, ...]]
    moments: Callable[..., tuple[np.ndarray, np.ndarray]]
    jacobian: Callable[..., np.ndarray] | None
    velocity: Callable[..., np.ndarray]


def _printable(e: sp.Basic) -> sp.Basic:
    return e.doit() if isinstance(e, sp.MatrixExpr) and e.has(sp.ZeroMatrix) else e


_CACHE: dict[Any, CompiledClosure] = {}


def _factor_right(e: sp.Basic) -> sp.Basic:
    """Group the terms of a sum by their trailing factor: Σ_h C_h α + J α → (Σ_h C_h + J) α."""
    if not isinstance(e, sp.MatAdd):
        return e
    groups: dict[sp.Basic, list[sp.Basic]] = {}
    for t in sp.expand(e).args if isinstance(sp.expand(e), sp.MatAdd) else [e]:
        if isinstance(t, sp.MatMul):
            coeff, mats = t.as_coeff_matrices()
            last, head = mats[-1], (sp.MatMul(coeff, *mats[:-1]) if len(mats) > 1 else coeff * sp.Identity(t.rows))
        else:
            last, head = t, sp.Identity(t.rows)
        groups.setdefault(last, []).append(head)
    terms = [
        (sp.MatMul(sp.MatAdd(*hs), last) if len(hs) > 1 else sp.MatMul(hs[0], last).doit())
        for last, hs in groups.items()
    ]
    return sp.MatAdd(*terms) if len(terms) > 1 else terms[0]


def _is_inverse(m: sp.Basic) -> bool:
    return isinstance(m, sp.Inverse) or (isinstance(m, sp.MatPow) and m.args[1] == -1)


class _SolveMany(sp.Basic):
    """Marker: one LU for several right-hand sides, ``X⁻¹[R_1 … R_m]`` (printed as a call)."""


def _share_solves(exprs: list[sp.Basic]) -> tuple[list[tuple[tuple[sp.Basic, ...], sp.Basic]], list[sp.Basic]]:
    """Replace ``X⁻¹ R_i`` occurring with several different R_i by slices of one solve."""
    uses: dict[sp.Basic, list[sp.Basic]] = {}
    for e in exprs:
        for node in sp.preorder_traversal(e):
            if isinstance(node, sp.MatMul):
                _, mats = node.as_coeff_matrices()
                for i, m in enumerate(mats[:-1]):
                    if _is_inverse(m):
                        r = sp.MatMul(*mats[i + 1 :]).doit() if len(mats) - i > 2 else mats[i + 1]
                        uses.setdefault(m.args[0], [])
                        if r not in uses[m.args[0]]:
                            uses[m.args[0]].append(r)
                        break
    groups = {X: rs for X, rs in uses.items() if len(rs) > 1}
    if not groups:
        return [], exprs
    out: list[tuple[tuple[sp.Basic, ...], sp.Basic]] = []
    sub: dict[tuple[sp.Basic, sp.Basic], sp.Basic] = {}
    for g, (X, rs) in enumerate(groups.items()):
        syms = tuple(sp.MatrixSymbol(f"s{g}_{j}", *r.shape) for j, r in enumerate(rs))
        out.append((syms, _SolveMany(X, *rs)))
        for r, sym in zip(rs, syms, strict=True):
            sub[(X, r)] = sym

    def rewrite(node: sp.Basic) -> sp.Basic:
        if isinstance(node, sp.MatMul):
            coeff, mats = node.as_coeff_matrices()
            for i, m in enumerate(mats[:-1]):
                if _is_inverse(m):
                    r = sp.MatMul(*mats[i + 1 :]).doit() if len(mats) - i > 2 else mats[i + 1]
                    key = (m.args[0], r)
                    if key in sub:
                        return sp.MatMul(coeff, *[rewrite(a) for a in mats[:i]], sub[key])
                    break
            return sp.MatMul(coeff, *[rewrite(a) for a in mats])
        if node.is_Atom or isinstance(node, sp.MatrixSymbol):
            return node
        return node.func(*[rewrite(a) for a in node.args])

    return out, [rewrite(e) for e in exprs]


def _chain_cse(exprs: list[sp.Basic], start: int = 0) -> tuple[list[tuple[sp.Basic, sp.Basic]], list[sp.Basic]]:
    """Share the longest common run (≥ 2 factors) of matrix-product chains, repeatedly."""
    repl: list[tuple[sp.Basic, sp.Basic]] = []
    count = itertools.count(start)
    while True:
        chains: list[tuple[sp.Basic, ...]] = []
        for e in exprs + [v for _, v in repl]:
            for node in sp.preorder_traversal(e):
                if isinstance(node, sp.MatMul):
                    _, mats = node.as_coeff_matrices()
                    if len(mats) >= 2:
                        chains.append(tuple(mats))
        best: tuple[sp.Basic, ...] | None = None
        seen: dict[tuple[sp.Basic, ...], int] = {}
        for ci, ch in enumerate(chains):
            runs = {ch[i:j] for i in range(len(ch)) for j in range(i + 2, len(ch) + 1)}
            for r in runs:
                if r == ch and len(chains) == 1:
                    continue
                seen.setdefault(r, -1)
                if seen[r] != ci:
                    seen[r] = ci if seen[r] == -1 else -2
        shared = [r for r, v in seen.items() if v == -2]
        # a run shared by two different chains (or twice in one chain list) and not a whole lone chain
        if not shared:
            break
        best = max(shared, key=lambda r: (len(r), str(r)))
        sym = sp.MatrixSymbol(f"c{next(count)}", best[0].rows, best[-1].cols)
        value = sp.MatMul(*best)

        def rewrite(node: sp.Basic, best: tuple[sp.Basic, ...] = best, sym: sp.Basic = sym) -> sp.Basic:
            if isinstance(node, sp.MatMul):
                coeff, mats = node.as_coeff_matrices()
                coeff = rewrite(coeff)
                mats = [rewrite(m) for m in mats]
                out: list[sp.Basic] = []
                i, n = 0, len(best)
                while i < len(mats):
                    if tuple(mats[i : i + n]) == best:
                        out.append(sym)
                        i += n
                    else:
                        out.append(mats[i])
                        i += 1
                return sp.MatMul(coeff, *out) if (coeff != 1 or len(out) > 1) else out[0]
            if node.is_Atom or isinstance(node, sp.MatrixSymbol):
                return node
            return node.func(*[rewrite(a) for a in node.args])

        exprs = [rewrite(e) for e in exprs]
        repl = [(k, rewrite(v) if v != value else v) for k, v in repl]
        repl.append((sym, value))
    return repl, exprs


def _ordered(assign: list[tuple[Any, sp.Basic]]) -> list[tuple[Any, sp.Basic]]:
    """Assignments in dependency order (each after the temporaries it reads)."""
    names: dict[str, int] = {}
    for i, (lhs, _) in enumerate(assign):
        for s in lhs if isinstance(lhs, tuple) else (lhs,):
            names[str(s)] = i
    done: set[int] = set()
    out: list[tuple[Any, sp.Basic]] = []

    def visit(i: int) -> None:
        if i in done:
            return
        done.add(i)
        for s in assign[i][1].atoms(sp.MatrixSymbol, sp.Symbol):
            j = names.get(str(s))
            if j is not None and j != i:
                visit(j)
        out.append(assign[i])

    for i in range(len(assign)):
        visit(i)
    return out


def _body(outputs: list[sp.Basic], pr: _Printer) -> tuple[list[tuple[str, str]], list[str]]:
    """Shared solves, then shared subtrees, then shared product runs; printed in order."""
    n_out = len(outputs)
    solves, outs = _share_solves(outputs)
    trees, red = _cse(outs + [v for _, v in solves])
    solves = [(lhs, v) for (lhs, _), v in zip(solves, red[n_out:], strict=True)]
    outs = red[:n_out]
    pending = trees + solves
    chains, red = _chain_cse(outs + [v for _, v in pending])
    outs = red[:n_out]
    assign: list[tuple[Any, sp.Basic]] = list(chains)
    assign += [(lhs, v) for (lhs, _), v in zip(pending, red[n_out:], strict=True)]
    lines: list[tuple[str, str]] = []
    for lhs, v in _ordered(assign):
        if isinstance(v, _SolveMany):
            X, *rs = v.args
            code = f"_solve_many({pr(X)}, {', '.join(pr(r) for r in rs)})"
            lines.append((", ".join(str(s) for s in lhs), code))
        else:
            lines.append((str(lhs), pr(v)))
    return lines, [pr(o) for o in outs]


def compile_closure(c: Closure, dims: Mapping[str, int] | None = None) -> CompiledClosure:
    """Generate (once per variant, then cached) the NumPy functions of a closure.

    Parameters
    ----------
    c : Closure
    dims : mapping of str to int, optional
        Runtime sizes of the dimension symbols (``d``, ``k``, ``d_v``). When a named parameter
        product is low-rank at these sizes (e.g. C_h = W_h V_h with d_v ≪ d), the code keeps it
        factored and orders every product chain by the matrix-chain dynamic programme on these
        shapes; such code is cached per (variant, sizes). Otherwise the generic code is returned.
    """
    num = {DIMS[k_]: int(v) for k_, v in (dims or {}).items() if k_ in DIMS}
    expand = _lowrank_definitions(c, num) if num else {}
    if not expand:
        num = {}
    key: Any = (c.variant, tuple(sorted((str(k_), v) for k_, v in num.items()))) if expand else c.variant
    if key in _CACHE:
        return _CACHE[key]
    h = _Hoister(num or None)
    def sub(e: sp.Basic | None) -> sp.Basic | None:
        return None if e is None else (_flatten(e.xreplace(expand)) if expand else e)

    velocity = sub(c.velocity)
    jacobian_e = sub(c.jacobian)
    mean_rhs = sub(c.mean_rhs)
    vel = h(_factor_right(_printable(velocity)))
    closed = c.preserves_gaussian
    if closed:
        jac = h(_printable(jacobian_e))
        gamma0 = _printable(velocity.subs(x, sp.ZeroMatrix(*x.shape)).doit())
        # α̇ = Γ(0) + Jα reuses J when Γ(0) is cheap (no Σ); otherwise α̇ = Γ(α) as derived
        def nterms(e: sp.Basic) -> int:
            e = sp.expand(e)
            return len(e.args) if isinstance(e, sp.MatAdd) else (0 if isinstance(e, sp.ZeroMatrix) else 1)

        # Γ(0) + Jα only when it is cheap (no Σ in Γ(0)) and nothing cancels (residual forms do)
        cancels = nterms(gamma0) + nterms(jacobian_e * alpha) != nterms(mean_rhs)
        if gamma0.has(Sigma) or cancels:
            mean = h(_factor_right(_printable(mean_rhs)))
        else:  # J stays a subtree so it is computed once for α̇ and Σ̇
            mean = sp.MatAdd(h(_factor_right(gamma0)), sp.MatMul(jac, alpha))
    pnames = tuple(p.name for p in c.variant.params)
    pr0 = _Printer()
    prep_body = [(str(s), pr0(v)) for s, v in c.definitions if s not in expand]
    prep_body += [(str(s), pr0(v)) for s, v in h.defs.items()]
    used: set[str] = set()
    exprs = [vel] + ([mean, jac] if closed else [])
    for e in exprs:
        used |= {s.name for s in e.free_symbols if isinstance(s, sp.MatrixSymbol | sp.Symbol)}
    used -= {s.name for s in _STATE} | {"d", "k", "d_v"}
    defnames = [str(s) for s, _ in c.definitions if s not in expand] + [str(s) for s in h.defs]
    prepared = tuple(sorted(used, key=lambda n: (n not in defnames, n)))
    src: list[str] = []
    stacks: dict[str, str] = {}
    if closed:
        pr = _Printer(stacks=stacks, params=frozenset(prepared), dims=num or None)
        lines, (j_code,) = _body([jac], pr)
        # a Jacobian that simplified to c·I or 0 must still come out as a dense (d, d) array
        full = "_full({}, Sigma)" if (isinstance(jac, sp.Identity | sp.ZeroMatrix) or (
            isinstance(jac, sp.MatMul) and all(isinstance(m, sp.Identity) for m in jac.args[1:]))) else "{}"
        src.append(_function("jacobian", ("alpha", "Sigma", *prepared), lines, full.format(j_code)))
        lines, (m_code, j_code) = _body([mean, jac], pr)
        lines.append(("J", full.format(j_code)))
        lines.append(("P", "J @ Sigma"))
        src.append(_function("moments", ("alpha", "Sigma", *prepared), lines, f"{m_code}, P + P.mT"))
    pr = _Printer(batch=x, stacks=stacks, params=frozenset(prepared), dims=num or None)
    lines, (v_code,) = _body([vel], pr)
    src.append(_function("velocity", ("x", "alpha", "Sigma", *prepared), lines, v_code))
    prep_body += [(name, code) for code, name in stacks.items()]
    ret = "(" + "".join(f"{n}, " for n in prepared + tuple(stacks.values())) + ")"
    src.insert(0, _function("prepare", pnames, prep_body, ret))
    if stacks:  # stacked per-head arrays are extra prepared arguments
        extra = ", ".join(stacks.values())
        src = [src[0]] + [
            s_.replace(", ".join(prepared) + "):", ", ".join(prepared) + ", " + extra + "):", 1)
            if prepared else s_ for s_ in src[1:]
        ]
    source = "\n\n\n".join(src) + "\n"
    ns: dict[str, Any] = dict(_RUNTIME)
    exec(compile(source, f"<gaussflow codegen: {c.name}>", "exec"), ns)
    moments = ns.get("moments")
    if moments is None:  # Γ not affine: the Gaussian-projection closure by cubature (an approximation)
        moments = cubature_moments(ns["velocity"])
    out = CompiledClosure(
        source=source,
        param_names=pnames,
        prepare=ns["prepare"],
        moments=moments,
        jacobian=ns.get("jacobian"),
        velocity=ns["velocity"],
    )
    _CACHE[key] = out
    return out


__all__ = ["CompiledClosure", "compile_closure"]
