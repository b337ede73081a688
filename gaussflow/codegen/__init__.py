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

from ..cubature import cubature_moments
from ..symbols import DIMS, Sigma, alpha, x
from .printer import STATE, Hoister, Printer
from .runtime import RUNTIME
from .shapes import flatten, lowrank_definitions

#: what codegen reads of a closure (duck-typed so that codegen does not import the closure layer):
#: ``variant``, ``velocity``, ``jacobian``, ``mean_rhs``, ``preserves_gaussian``, ``definitions``, ``name``
Closure = Any

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


def function_source(name: str, args: Sequence[str], body: list[tuple[str, str]], ret: str) -> str:
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
    log_partition : callable or None
        ``log_partition(x (d,n), alpha (d,1), Sigma (d,d), *prepared) -> (1,n)``: log Z(x) of
        :attr:`gaussflow.Closure.log_partition`, when the closure has one.
    """

    source: str
    param_names: tuple[str, ...]
    prepare: Callable[..., tuple[Any, ...]]
    moments: Callable[..., tuple[np.ndarray, np.ndarray]]
    jacobian: Callable[..., np.ndarray] | None
    velocity: Callable[..., np.ndarray]
    log_partition: Callable[..., np.ndarray] | None = None


def _printable(e: sp.Basic) -> sp.Basic:
    return e.doit() if isinstance(e, sp.MatrixExpr) and e.has(sp.ZeroMatrix) else e


_CACHE: dict[Any, CompiledClosure] = {}


def clear_cache() -> None:
    """Forget every compiled closure (benchmarks of cold compilation)."""
    _CACHE.clear()


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
            # a run starting with a row built from xᵀ gives column-wise inner products only if it ends in a column;
            # never share such a prefix on its own (printed column-wise it would be meaningless)
            runs = {ch[i:j] for i in range(len(ch)) for j in range(i + 2, len(ch) + 1)
                    if not (ch[i].rows == 1 and ch[i].has(x) and ch[j - 1].cols != 1)}
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


def body_lines(outputs: list[sp.Basic], pr: Printer) -> tuple[list[tuple[str, str]], list[str]]:
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


_LOWRANK: dict[Any, dict[sp.Basic, sp.Basic]] = {}


def _lowrank(c: Closure, num: dict[sp.Symbol, int]) -> dict[sp.Basic, sp.Basic]:
    """:func:`lowrank_definitions` memoized per (variant, sizes): it runs on every ``attention()``."""
    key = (c.variant, tuple(sorted((str(k_), v) for k_, v in num.items())))
    if key not in _LOWRANK:
        _LOWRANK[key] = lowrank_definitions(c, num)
    return _LOWRANK[key]


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
    expand = _lowrank(c, num) if num else {}
    if not expand:
        num = {}
    key: Any = (c.variant, tuple(sorted((str(k_), v) for k_, v in num.items()))) if expand else c.variant
    if key in _CACHE:
        return _CACHE[key]
    h = Hoister(num or None)
    def sub(e: sp.Basic | None) -> sp.Basic | None:
        return None if e is None else (flatten(e.xreplace(expand)) if expand else e)

    velocity = sub(c.velocity)
    jacobian_e = sub(c.jacobian)
    mean_rhs = sub(c.mean_rhs)
    vel = h(_factor_right(_printable(velocity)))
    lp = None if c.log_partition is None else h(_printable(sub(c.log_partition)))
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
    pr0 = Printer()
    prep_body = [(str(s), pr0(v)) for s, v in c.definitions if s not in expand]
    prep_body += [(str(s), pr0(v)) for s, v in h.defs.items()]
    used: set[str] = set()
    exprs = [vel] + ([mean, jac] if closed else []) + ([lp] if lp is not None else [])
    for e in exprs:
        used |= {s.name for s in e.free_symbols if isinstance(s, sp.MatrixSymbol | sp.Symbol)}
    used -= {s.name for s in STATE} | {"d", "k", "d_v"}
    defnames = [str(s) for s, _ in c.definitions if s not in expand] + [str(s) for s in h.defs]
    prepared = tuple(sorted(used, key=lambda n: (n not in defnames, n)))
    src: list[str] = []
    stacks: dict[str, str] = {}
    if closed:
        pr = Printer(stacks=stacks, params=frozenset(prepared), dims=num or None)
        lines, (j_code,) = body_lines([jac], pr)
        # a Jacobian that simplified to c·I or 0 must still come out as a dense (d, d) array
        full = "_full({}, Sigma)" if (isinstance(jac, sp.Identity | sp.ZeroMatrix) or (
            isinstance(jac, sp.MatMul) and all(isinstance(m, sp.Identity) for m in jac.args[1:]))) else "{}"
        src.append(function_source("jacobian", ("alpha", "Sigma", *prepared), lines, full.format(j_code)))
        lines, (m_code, j_code) = body_lines([mean, jac], pr)
        lines.append(("J", full.format(j_code)))
        lines.append(("P", "J @ Sigma"))
        src.append(function_source("moments", ("alpha", "Sigma", *prepared), lines, f"{m_code}, P + P.mT"))
    pr = Printer(batch=x, stacks=stacks, params=frozenset(prepared), dims=num or None)
    lines, (v_code,) = body_lines([vel], pr)
    src.append(function_source("velocity", ("x", "alpha", "Sigma", *prepared), lines, v_code))
    if lp is not None:
        lines, (l_code,) = body_lines([lp], pr)
        src.append(function_source("log_partition", ("x", "alpha", "Sigma", *prepared), lines, l_code))
    prep_body += [(name, code) for code, name in stacks.items()]
    ret = "(" + "".join(f"{n}, " for n in prepared + tuple(stacks.values())) + ")"
    src.insert(0, function_source("prepare", pnames, prep_body, ret))
    if stacks:  # stacked per-head arrays are extra prepared arguments
        extra = ", ".join(stacks.values())
        src = [src[0]] + [
            s_.replace(", ".join(prepared) + "):", ", ".join(prepared) + ", " + extra + "):", 1)
            if prepared else s_ for s_ in src[1:]
        ]
    source = "\n\n\n".join(src) + "\n"
    ns: dict[str, Any] = dict(RUNTIME)
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
        log_partition=ns.get("log_partition"),
    )
    _CACHE[key] = out
    return out


__all__ = ["RUNTIME", "CompiledClosure", "Printer", "body_lines", "clear_cache", "compile_closure",
           "function_source"]
