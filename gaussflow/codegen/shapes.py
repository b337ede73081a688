"""Runtime shapes in code generation: low-rank named products and the order of product chains."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sympy as sp

#: a derived closure, duck-typed (``definitions``)
Closure = Any

#: a product is kept factored (not hoisted into one matrix) when its factors hold at most this share
#: of the product's entries and the product is at least this large (below it, call overhead dominates)
LOWRANK_SHARE = 0.5
LOWRANK_MIN_WORK = 100_000


def dim_size(n: Any, dims: dict[sp.Symbol, int]) -> int | None:
    """A symbolic dimension as an int under ``dims`` (None when it is not determined)."""
    v = sp.sympify(sp.sympify(n).xreplace(dims))
    return int(v) if v.is_Integer else None


def bottleneck(mats: Sequence[sp.Basic], dims: dict[sp.Symbol, int]) -> list[int]:
    """Positions i (1 ≤ i < len) where the chain M_0⋯M_{i−1} · M_i⋯ passes through a low inner
    dimension r: r (R + C) < share · R C for the product's R × C — splitting there saves work."""
    R, C = dim_size(mats[0].rows, dims), dim_size(mats[-1].cols, dims)
    if R is None or C is None or R * C * min(R, C) < LOWRANK_MIN_WORK:
        return []
    out = []
    for i in range(1, len(mats)):
        r = dim_size(mats[i].rows, dims)
        if r is not None and r * (R + C) < LOWRANK_SHARE * R * C:
            out.append(i)
    return out


def lowrank_definitions(c: Closure, dims: dict[sp.Symbol, int]) -> dict[sp.Basic, sp.Basic]:
    """The closure's named parameter products (A_h := β_h K_hᵀQ_h, C_h := W_h V_h) that are low-rank
    at these dimensions: using them factored is cheaper than the hoisted square product."""
    out: dict[sp.Basic, sp.Basic] = {}
    for sym, val in c.definitions:
        if isinstance(val, sp.MatMul):
            _, mats = val.as_coeff_matrices()
            if len(mats) >= 2 and bottleneck(mats, dims):
                out[sym] = val
    return out


def flatten(e: sp.Basic) -> sp.Basic:
    """Flatten nested products (left by substituting a product for a symbol): one chain per MatMul."""
    if isinstance(e, sp.MatMul):
        coeff, mats = e.as_coeff_matrices()
        flat: list[sp.Basic] = []
        for m in mats:
            m = flatten(m)
            if isinstance(m, sp.MatMul):
                c_, ms = m.as_coeff_matrices()
                coeff *= c_
                flat.extend(ms)
            else:
                flat.append(m)
        return sp.MatMul(coeff, *flat) if coeff != 1 else sp.MatMul(*flat)
    if e.is_Atom or isinstance(e, sp.MatrixSymbol) or not e.args:
        return e
    return e.func(*[flatten(a) for a in e.args])


def chain_order(shapes: list[int]) -> list[list[int]]:
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
                if cost[i][j] < 0 or c_ <= cost[i][j]:  # ties: group from the left
                    cost[i][j], split[i][j] = c_, k_
    return split


__all__ = ["LOWRANK_MIN_WORK", "LOWRANK_SHARE", "bottleneck", "chain_order", "dim_size", "flatten",
           "lowrank_definitions"]
