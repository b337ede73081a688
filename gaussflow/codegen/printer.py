"""Hoisting of parameter-only subexpressions and the matrix-level NumPy printer."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import sympy as sp

from ..symbolic.functions import LogisticMoment0, LogisticMoment1
from ..symbols import Sigma, alpha, x
from .shapes import bottleneck, chain_order, dim_size

#: the state symbols: a subexpression free of them depends on parameters only
STATE = (x, alpha, Sigma)

# --------------------------------------------------------------------------- hoisting


class Hoister:
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
        return any(e.has(s) for s in STATE)

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
                cuts = bottleneck(run, self.dims) if (self.dims and len(run) >= 2) else []
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


class Printer:
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
                if not pos[0].has(*STATE):
                    return None
                parts.append(f"{self.atom(pos[0])}[..., None, :, :]")
                continue
            codes = [self._param_factor(f) for f in pos]
            if any(c is None for c in codes) or len({f.shape for f in pos}) != 1:
                return None
            code = "np.stack((" + ", ".join(str(c) for c in codes) + "), axis=-3)"
            parts.append(self.stacks.setdefault(code, f"stack{len(self.stacks)}"))
        lead = cols[0]
        dims = self.dims or {}
        n, r = dim_size(lead[0].rows, dims), dim_size(lead[0].cols, dims)
        shapes = [dim_size(m.rows, dims) for m in split[0][1]] + [dim_size(split[0][1][-1].cols, dims)]
        if n is None or r is None or r >= n or any(v is None for v in shapes) or parts[0].endswith("]"):
            return None
        rest_shapes = [int(v) for v in shapes[1:] if v is not None]
        order = chain_order(rest_shapes) if len(rest_shapes) > 2 else None

        state_tail = "[..., None, :, :]"

        def paren(i: int, j: int) -> str:
            if i == j:
                return parts[1 + i]
            if j == i + 1 and parts[1 + i].startswith("stack") and parts[1 + j].endswith(state_tail):
                # stacked heads times the shared state: one GEMM on the heads' rows, not H small ones
                return f"_stack_matmul({parts[1 + i]}, {parts[1 + j][: -len(state_tail)]})"
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
            if all(f == pos[0] for f in pos) and pos[0].has(*STATE):  # a new head axis (-3)
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
                sig = tuple(m.shape if (not m.has(*STATE) and self._param_factor(m) is not None)
                            or (not m.has(*STATE) and isinstance(m, sp.MatrixSymbol)) else m for m in mats)
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
                core = f"_solve({X}, {self.chain(right)})" if right else f"np.linalg.inv({X})"
                return f"{self.chain(mats[:i])} @ {core}" if i else core
        if len(mats) == 1:
            return self.atom(mats[0])
        if mats[-1].cols == 1:  # right-to-left for (batches of) vectors
            out = self.atom(mats[-1])
            for m in reversed(mats[:-1]):
                out = f"({self.atom(m)} @ {out})"
            return out
        if self.dims and len(mats) >= 3:
            shapes = [dim_size(mats[0].rows, self.dims)] + [dim_size(m.cols, self.dims) for m in mats]
            if all(n is not None for n in shapes):
                split = chain_order([int(n) for n in shapes if n is not None])

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
        if self.batch is not None and isinstance(mats[0], sp.Transpose) and mats[0].arg == self.batch and len(mats) > 1:
            body = f"_colsum({self.batch.name}, {self.chain(mats[1:])})"
        elif self.batch is not None and len(mats) > 1 and mats[0].rows == 1 and mats[0].has(self.batch):
            # a row built from xᵀ (e.g. bᵀ + xᵀAᵀ) times a column: column-wise inner products uᵢᵀvᵢ
            body = f"_colsum({self.p(sp.Transpose(mats[0]).doit())}, {self.chain(mats[1:])})"
        else:
            body = self.chain(mats)
        if coeff == 1:
            return body
        if coeff == -1:
            return f"(-{body})"
        return f"({self.atom(coeff)} * {body})"


__all__ = ["STATE", "Hoister", "Printer"]
