"""Numbers shared by the particle kernels: the scores as numeric polynomials, the per-head data
and the field Γ[μⁿ] that loops over heads (no SymPy beyond reading the scores once)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from ..symbols import DIMS
from ..symbols import x as _x
from ..symbols import y as _y

#: an Attention, duck-typed (``closure``, ``params``, ``d``), so that kernels stay below it
Attention = Any

#: default row/column block size of the streaming kernels
DEFAULT_CHUNK = 1024


#: cap on Sinkhorn scaling iterations per velocity evaluation
SINKHORN_MAX_ITER = 10_000


class ParticleOverflowError(FloatingPointError):
    """An unnormalized kernel e^{s} left the float64 range: the particle velocity is infinite."""


class SinkhornConvergenceError(RuntimeError):
    """The Sinkhorn scaling of a velocity evaluation missed its tolerance within the iteration cap."""


class Poly:
    """A matrix-valued polynomial of degree ≤ 2 in z = (x, y) ∈ ℝ^{2d}.

    ``c[0]`` has shape (r, c), ``c[1]`` (r, c, 2d), ``c[2]`` (r, c, 2d, 2d):
    value(z) = c[0] + c[1]·z + zᵀ c[2] z (contractions over the trailing axes).
    """

    def __init__(self, coeffs: dict[int, np.ndarray]) -> None:
        self.c = coeffs

    def __add__(self, other: Poly) -> Poly:
        out = dict(self.c)
        for k, v in other.c.items():
            out[k] = out[k] + v if k in out else v
        return Poly(out)

    def scale(self, a: float) -> Poly:
        return Poly({k: a * v for k, v in self.c.items()})

    def T(self) -> Poly:
        return Poly({k: np.swapaxes(v, 0, 1) for k, v in self.c.items()})

    def __matmul__(self, other: Poly) -> Poly:
        out: dict[int, np.ndarray] = {}
        for a, u in self.c.items():
            for b, v in other.c.items():
                if a + b > 2:
                    if np.any(u) and np.any(v):
                        raise NotImplementedError("score is not a polynomial of degree ≤ 2 in (x, y)")
                    continue
                # (r, k, *la) x (k, c, *lb) -> (r, c, *la, *lb)
                w = np.moveaxis(np.tensordot(u, v, axes=([1], [0])), 1 + a, 1)
                out[a + b] = out[a + b] + w if a + b in out else w
        return Poly(out)


def _scalar_value(e: sp.Basic, values: Mapping[str, Any]) -> float:
    sub = {s: sp.Float(float(values[s.name])) for s in e.free_symbols}
    return float(e.xreplace(sub))


def _poly(e: sp.Basic, values: Mapping[str, Any], dims: Mapping[sp.Basic, int], d: int) -> Poly:
    """Evaluate a matrix expression in x, y and the parameters to a :class:`Poly`."""
    m = 2 * d
    if e == _x or e == _y:
        lin = np.zeros((d, 1, m))
        off = 0 if e == _x else d
        lin[np.arange(d), 0, off + np.arange(d)] = 1.0
        return Poly({1: lin})
    if isinstance(e, sp.MatrixSymbol):
        return Poly({0: np.asarray(values[e.name], dtype=float).reshape(int(dims.get(e.rows, e.rows)), -1)})
    if isinstance(e, sp.Identity):
        return Poly({0: np.eye(int(dims.get(e.rows, e.rows)))})
    if isinstance(e, sp.ZeroMatrix):
        return Poly({0: np.zeros((int(dims.get(e.rows, e.rows)), int(dims.get(e.cols, e.cols))))})
    if isinstance(e, sp.Transpose):
        return _poly(e.arg, values, dims, d).T()
    if isinstance(e, sp.MatAdd):
        terms = [_poly(a, values, dims, d) for a in e.args]
        out = terms[0]
        for t in terms[1:]:
            out = out + t
        return out
    if isinstance(e, sp.MatMul):
        coeff = 1.0
        acc: Poly | None = None
        for a in e.args:
            if not a.is_Matrix:
                coeff *= _scalar_value(a, values)
                continue
            p = _poly(a, values, dims, d)
            acc = p if acc is None else acc @ p
        if acc is None:  # pragma: no cover - a MatMul always holds a matrix
            raise NotImplementedError(f"scalar-only MatMul {e}")
        return acc.scale(coeff)
    if isinstance(e, sp.MatPow) and e.args[1].is_Integer and int(e.args[1]) >= 1:
        base = _poly(e.args[0], values, dims, d)
        out = base
        for _ in range(int(e.args[1]) - 1):
            out = out @ base
        return out
    raise NotImplementedError(f"particles: no numeric rule for {type(e).__name__}: {e}")


@dataclass(frozen=True)
class NumericHead:
    """One head as numbers: s(x, y) = yᵀA x + yᵀR y + wᵀy + xᵀP x + uᵀx + c, value map C (d, d)."""

    A: np.ndarray
    R: np.ndarray
    w: np.ndarray
    P: np.ndarray
    u: np.ndarray
    c: float
    C: np.ndarray

    def col_terms(self, X: np.ndarray) -> np.ndarray:
        """yⱼᵀR yⱼ + wᵀyⱼ, shape (n,)."""
        return _quad_terms(X, self.R, self.w, 0.0)

    def row_terms(self, X: np.ndarray) -> np.ndarray:
        """xᵢᵀP xᵢ + uᵀxᵢ + c, shape (n,)."""
        return _quad_terms(X, self.P, self.u, self.c)


def _quad_terms(X: np.ndarray, M: np.ndarray, v: np.ndarray, c: float) -> np.ndarray:
    """xᵢᵀM xᵢ + vᵀxᵢ + c for every row (zero blocks skipped: bilinear scores have none)."""
    out = np.full(X.shape[0], c)
    if np.any(M):
        out += np.sum((X @ M) * X, axis=1)
    if np.any(v):
        out += X @ v
    return out


def numeric_heads(attn: Attention) -> list[NumericHead]:
    v = attn.closure.variant
    d = attn.d
    values = attn.params
    dims: dict[sp.Basic, int] = {}
    for p in v.params:
        if p.shape:
            for sym, size in zip(p.shape, np.shape(values[p.name]), strict=False):
                dims[DIMS[sym]] = int(size)
    heads = []
    for h in v.heads:
        s = _poly(h.score, values, dims, d)
        H2 = s.c.get(2, np.zeros((1, 1, 2 * d, 2 * d)))[0, 0]
        H2 = 0.5 * (H2 + H2.T)
        g = s.c.get(1, np.zeros((1, 1, 2 * d)))[0, 0]
        c0 = float(s.c.get(0, np.zeros((1, 1)))[0, 0])
        Cp = _poly(h.value, values, dims, d)
        if set(Cp.c) != {0}:
            raise NotImplementedError("particles: the value map must not depend on x or y")
        heads.append(
            NumericHead(A=2.0 * H2[d:, :d], R=H2[d:, d:].copy(), w=g[d:].copy(), P=H2[:d, :d].copy(),
                  u=g[:d].copy(), c=c0, C=np.asarray(Cp.c[0], dtype=float))
        )
    return heads


@dataclass
class Field:
    """Γ[μⁿ] for one attention: numeric heads, block size, mask, and per-head Sinkhorn state."""

    heads: list[NumericHead]
    normalization: str
    kernel: Callable[[Field, int, NumericHead, np.ndarray], tuple[np.ndarray, np.ndarray]]
    residual: bool
    W_ff: np.ndarray | None
    b_ff: np.ndarray | None
    chunk: int | None
    causal: bool
    sinkhorn_tol: float
    row_stop: int | None = None  # benchmarks only: evaluate the row blocks below this index
    potentials: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    nfev: int = 0
    sinkhorn_iterations: int = 0

    def block(self, n: int) -> int:
        return min(n, self.chunk if self.chunk is not None else DEFAULT_CHUNK)

    def rows(self, n: int) -> range:
        return range(0, n if self.row_stop is None else min(n, self.row_stop), self.block(n))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Γ[μⁿ](xᵢ) for all rows of X (n, d) → (n, d)."""
        self.nfev += 1
        kernel = self.kernel
        out = np.zeros_like(X)
        for h, head in enumerate(self.heads):
            M, m0 = kernel(self, h, head, X)
            E = M - m0[:, None] * X if self.residual else M
            out += E @ head.C.T
        if self.W_ff is not None and self.b_ff is not None:
            out += X @ self.W_ff.T + self.b_ff
        return out


def augment(head: NumericHead, X: np.ndarray, shift_col: bool) -> tuple[np.ndarray, np.ndarray]:
    """Row factor [X Aᵀ, 0, 1] (shift column left 0) and column factor [X, 1, b] (b the y-only terms)."""
    n, d = X.shape
    L = np.empty((n, d + 2))
    L[:, :d] = X @ head.A.T
    L[:, d] = 0.0
    L[:, d + 1] = 1.0
    Y = np.empty((n, d + 2))
    Y[:, :d] = X
    Y[:, d] = 1.0
    Y[:, d + 1] = head.col_terms(X)
    if not shift_col:  # unnormalized kernels: the x-only terms are part of the weight
        L[:, d] = head.row_terms(X)
    return L, Y


def plain_kernel(phi: Callable[[np.ndarray], None], overflow: bool) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    def kernel(fld: Field, h: int, head: NumericHead, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(1/n) Σⱼ φ(sᵢⱼ)(xⱼ, 1) in blocks: returns ((1/n)Σⱼ φ xⱼ (n, d), (1/n)Σⱼ φ (n,))."""
        n, d = X.shape
        c = fld.block(n)
        L, Y = augment(head, X, shift_col=False)
        Yw = Y[:, : d + 1]
        out = np.zeros((n, d + 1))
        buf = np.empty(c * c)
        tri = np.triu(np.ones((c, c), dtype=bool), 1) if fld.causal else None
        for i0 in fld.rows(n):
            i1 = min(i0 + c, n)
            for j0 in range(0, n, c):
                if fld.causal and j0 >= i1:
                    break
                j1 = min(j0 + c, n)
                S = buf[: (i1 - i0) * (j1 - j0)].reshape(i1 - i0, j1 - j0)
                np.matmul(L[i0:i1], Y[j0:j1].T, out=S)
                with np.errstate(over="ignore", invalid="ignore"):
                    phi(S)
                    if tri is not None and j0 == i0:
                        S[tri[: i1 - i0, : j1 - j0]] = 0.0
                    out[i0:i1] += S @ Yw[j0:j1]
                if overflow and not np.all(np.isfinite(out[i0:i1])):
                    raise ParticleOverflowError(
                        "unnormalized attention overflowed: e^{s(x_i, x_j)} exceeds the float64 range "
                        f"(s > {math.log(np.finfo(float).max):.2f}) for some pair among rows {i0}..{i1 - 1}; "
                        "the mean-field velocity e^{αᵀAx + ½xᵀAᵀΣAx}·V(α + ΣAx) has become infinite "
                        "for these tokens (finite-time blow-up of the unnormalized dynamics)"
                    )
        out /= n
        return out[:, :d], out[:, d]

    return kernel


__all__ = ["DEFAULT_CHUNK", "SINKHORN_MAX_ITER", "Field", "NumericHead", "ParticleOverflowError", "Poly",
           "SinkhornConvergenceError", "augment", "numeric_heads", "plain_kernel"]
