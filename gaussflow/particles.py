"""Interacting-particle reference simulation of the attention PDE.

The transformer PDE ∂ₜμ + ∇·(μ Γ[μ]) = 0 has the empirical measure μⁿ = (1/n) Σⱼ δ_{xⱼ} of the
particle system

    ẋᵢ = Γ[μⁿ](xᵢ),   i = 1, ..., n                                   (docs/math.md §1)

as an exact weak solution. This module integrates that system for every registered variant,
reading the variant's own data (its heads' scores and value maps, its normalization and add-ons):
no score formula is typed here. Each head's score is evaluated once, exactly, as a quadratic form

    s(x, y) = yᵀA x + yᵀR y + wᵀy + (xᵀP x + uᵀx + c)

(A = βKᵀQ for bilinear scores; for L2, A = βKᵀQ, R = −(β/2)KᵀK, P = −(β/2)QᵀQ). The x-only bracket
cancels in every normalized kernel.

Kernels (by the variant's ``normalization``; one registry, :data:`_KERNELS`):

* ``softmax`` (softmax, multi-head per head, L2): E_h[y | xᵢ] = Σⱼ e^{sᵢⱼ} xⱼ / Σⱼ e^{sᵢⱼ}, in row
  blocks of ``chunk`` rows with a streaming log-sum-exp over column blocks of ``chunk`` columns:
  memory O(chunk² + n d), never an n × n matrix. Scores, shift and column terms come out of one
  matrix product [X_I Aᵀ, −m_I, 1] @ [X_J, 1, b_J]ᵀ, the weighted sums and normalizer out of a
  second one, so the work is two GEMMs and one ``exp`` per block.
* ``sinkhorn``: n·π = diag(eᶠ) e^{S} diag(eᵍ) doubly stochastic (rows and columns sum to 1), by
  log-stabilized Sinkhorn (:func:`sinkhorn_plan`) warm-started from the previous evaluation's
  potentials. Needs the n × n plan: O(n²) memory.
* ``sigmoid``: (1/n) Σⱼ σ(sᵢⱼ) xⱼ; ``none`` (unnormalized): (1/n) Σⱼ e^{sᵢⱼ} xⱼ, computed directly
  (a max-shift is not exact for an unnormalized sum); float overflow raises
  :class:`ParticleOverflowError`, reported by :func:`simulate_particles` as ``status="blowup"``.

Γ(xᵢ) = Σ_h C_h E_h[y | xᵢ] (residual form: C_h(E_h[y | xᵢ] − xᵢ)) + W_ff xᵢ + b_ff, C_h the head's
value map (V, or W_h V_h).

Causal mask: token i sits at position τᵢ = i/n (row order of ``X0``) and attends to j ≤ i only.
Normalized kernels renormalize over j ≤ i; unnormalized kernels keep the mean-field weight 1/n of
the joint law of (x, τ): Γ(xᵢ) = (1/n) Σ_{j ≤ i} φ(sᵢⱼ) C xⱼ. Blocks above the diagonal are skipped.
Sinkhorn has no causal form (a lower-triangular kernel scales only to the identity plan).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import sympy as sp
from scipy.integrate import RK45
from scipy.special import expit

from ._checks import as_array, check_positive, frozen_array
from ._io import jsonable, load_npz, package_versions, save_npz
from .attention import Attention
from .gaussian import Gaussian
from .status import Status
from .symbolic.core import DIMS
from .symbolic.core import x as _x
from .symbolic.core import y as _y

#: outcomes of a particle run (a subset of the one vocabulary, :class:`gaussflow.status.Status`)
STATUSES: tuple[str, ...] = (Status.OK.value, Status.BLOWUP.value, Status.FAILED.value)

#: identifies the on-disk layout written by :meth:`ParticleTrajectory.save`
FORMAT = "gaussflow.ParticleTrajectory/1"

#: default row/column block size of the streaming kernels
DEFAULT_CHUNK = 1024


#: cap on Sinkhorn scaling iterations per velocity evaluation
SINKHORN_MAX_ITER = 10_000


class ParticleOverflowError(FloatingPointError):
    """An unnormalized kernel e^{s} left the float64 range: the particle velocity is infinite."""


class SinkhornConvergenceError(RuntimeError):
    """The Sinkhorn scaling of a velocity evaluation missed its tolerance within the iteration cap."""


# --------------------------------------------------------------------------- scores as numbers


class _Poly:
    """A matrix-valued polynomial of degree ≤ 2 in z = (x, y) ∈ ℝ^{2d}.

    ``c[0]`` has shape (r, c), ``c[1]`` (r, c, 2d), ``c[2]`` (r, c, 2d, 2d):
    value(z) = c[0] + c[1]·z + zᵀ c[2] z (contractions over the trailing axes).
    """

    def __init__(self, coeffs: dict[int, np.ndarray]) -> None:
        self.c = coeffs

    def __add__(self, other: _Poly) -> _Poly:
        out = dict(self.c)
        for k, v in other.c.items():
            out[k] = out[k] + v if k in out else v
        return _Poly(out)

    def scale(self, a: float) -> _Poly:
        return _Poly({k: a * v for k, v in self.c.items()})

    def T(self) -> _Poly:
        return _Poly({k: np.swapaxes(v, 0, 1) for k, v in self.c.items()})

    def __matmul__(self, other: _Poly) -> _Poly:
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
        return _Poly(out)


def _scalar_value(e: sp.Basic, values: Mapping[str, Any]) -> float:
    sub = {s: sp.Float(float(values[s.name])) for s in e.free_symbols}
    return float(e.xreplace(sub))


def _poly(e: sp.Basic, values: Mapping[str, Any], dims: Mapping[sp.Basic, int], d: int) -> _Poly:
    """Evaluate a matrix expression in x, y and the parameters to a :class:`_Poly`."""
    m = 2 * d
    if e == _x or e == _y:
        lin = np.zeros((d, 1, m))
        off = 0 if e == _x else d
        lin[np.arange(d), 0, off + np.arange(d)] = 1.0
        return _Poly({1: lin})
    if isinstance(e, sp.MatrixSymbol):
        return _Poly({0: np.asarray(values[e.name], dtype=float).reshape(int(dims.get(e.rows, e.rows)), -1)})
    if isinstance(e, sp.Identity):
        return _Poly({0: np.eye(int(dims.get(e.rows, e.rows)))})
    if isinstance(e, sp.ZeroMatrix):
        return _Poly({0: np.zeros((int(dims.get(e.rows, e.rows)), int(dims.get(e.cols, e.cols))))})
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
        acc: _Poly | None = None
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
class _Head:
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


def _numeric_heads(attn: Attention) -> list[_Head]:
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
            _Head(A=2.0 * H2[d:, :d], R=H2[d:, d:].copy(), w=g[d:].copy(), P=H2[:d, :d].copy(),
                  u=g[:d].copy(), c=c0, C=np.asarray(Cp.c[0], dtype=float))
        )
    return heads


# --------------------------------------------------------------------------- Sinkhorn


@dataclass(frozen=True, eq=False)
class SinkhornResult:
    """Output of :func:`sinkhorn_plan`.

    Attributes
    ----------
    plan : ndarray, shape (n, n)
        P = diag(eᶠ) e^{logK} diag(eᵍ), rows and columns summing to 1 (P = n·π for the coupling π
        with marginals (1/n)·1).
    f, g : ndarray, shape (n,)
        Log potentials (warm start for the next call).
    iterations : int
        Scaling iterations (one row and one column update each).
    row_error, col_error : float
        max |P 1 − 1| and max |Pᵀ1 − 1|.
    converged : bool
        Both errors ≤ ``tol``.
    """

    plan: np.ndarray
    f: np.ndarray
    g: np.ndarray
    iterations: int
    row_error: float
    col_error: float
    converged: bool


def _lse_rows(M: np.ndarray) -> np.ndarray:
    mx = M.max(axis=1)
    return mx + np.log(np.exp(M - mx[:, None]).sum(axis=1))


def _sinkhorn_scaled(
    logK: np.ndarray, f: np.ndarray, g: np.ndarray, tol: float, max_iter: int, absorb: float = 30.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, float]:
    """Log-stabilized Sinkhorn (Schmitzer 2019): scale K̃ = exp(logK + f ⊕ g) by (u, v) and absorb
    log u, log v into (f, g) whenever they leave [−absorb, absorb].

    Returns (K̃, u, v, f, g, iterations, row_error) with the plan diag(u) K̃ diag(v): its column
    sums are 1 to rounding and its row sums within ``row_error`` of 1. K̃ is overwritten in a work
    buffer; ``logK`` is not modified.
    """
    n = logK.shape[0]
    f = np.array(f, dtype=float)
    g = np.array(g, dtype=float)
    Kt = np.empty_like(logK)
    it = 0
    err = math.inf
    while True:
        np.add(logK, g[None, :], out=Kt)
        Kt += f[:, None]
        with np.errstate(over="ignore"):
            np.exp(Kt, out=Kt)
            ksum = Kt.sum(axis=0)
            rsum = Kt.sum(axis=1)
        u = np.ones(n)
        tiny = 1e-280
        if not (np.all(np.isfinite(ksum)) and np.all(np.isfinite(rsum)) and ksum.min() > tiny and rsum.min() > tiny):
            # a row or column under/overflowed at these potentials: one exact log-domain sweep
            g = -_lse_rows((logK + f[:, None]).T)
            f = -_lse_rows(logK + g[None, :])
            it += 1
            if it >= max_iter:
                raise SinkhornConvergenceError(f"Sinkhorn did not leave the under/overflow regime in {it} sweeps")
            continue
        v = np.ones(n)
        restart = False
        while it < max_iter:
            it += 1
            v = 1.0 / (Kt.T @ u)
            r = Kt @ v
            err = float(np.max(np.abs(u * r - 1.0)))
            if err <= tol:
                return Kt, u, v, f, g, it, err
            u = 1.0 / r
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                lu, lv = np.log(u), np.log(v)
            if not (np.all(np.isfinite(lu)) and np.all(np.isfinite(lv))):
                g = -_lse_rows((logK + f[:, None]).T)  # scaling left the float range: exact sweep
                f = -_lse_rows(logK + g[None, :])
                restart = True
                break
            if max(np.max(np.abs(lu)), np.max(np.abs(lv))) > absorb:
                f = f + lu
                g = g + lv
                restart = True
                break
        if not restart:
            return Kt, u, v, f, g, it, err


def sinkhorn_plan(
    logK: Any,
    f: Any | None = None,
    g: Any | None = None,
    *,
    tol: float = 1e-9,
    max_iter: int = 100_000,
) -> SinkhornResult:
    """Doubly stochastic scaling of a positive n × n kernel given by its logarithm.

    Finds potentials f, g with P = diag(eᶠ) e^{logK} diag(eᵍ) having all row and column sums 1
    (P = n·π, π the entropic self-coupling of the empirical measure with marginals (1/n)·1). Runs
    log-stabilized Sinkhorn: the kernel is exponentiated with the current potentials absorbed, so
    nothing overflows, and the scalings are folded back into (f, g) whenever they grow.

    Parameters
    ----------
    logK : array_like, shape (n, n)
        Log kernel, e.g. the score matrix sᵢⱼ = s(xᵢ, xⱼ). Finite.
    f, g : array_like, shape (n,), optional
        Warm-start log potentials (default 0).
    tol : float
        Stop when max |P1 − 1| ≤ tol and max |Pᵀ1 − 1| ≤ tol.
    max_iter : int
        Cap on scaling iterations.

    Returns
    -------
    SinkhornResult

    Memory: O(n²) (the kernel and the plan).

    References
    ----------
    Sinkhorn (1967); Schmitzer, "Stabilized sparse scaling algorithms for entropy regularized
    transport problems", SIAM J. Sci. Comput. 41 (2019).
    """
    L = as_array("logK", logK, 2)
    n = L.shape[0]
    if L.shape != (n, n) or n == 0:
        raise ValueError(f"`logK` must be a square (n, n) matrix with n ≥ 1; got shape {L.shape}")
    f0 = np.zeros(n) if f is None else as_array("f", f, 1)
    g0 = np.zeros(n) if g is None else as_array("g", g, 1)
    for name, arr in (("f", f0), ("g", g0)):
        if arr.shape != (n,):
            raise ValueError(f"`{name}` must have shape ({n},); got shape {arr.shape}")
    tol = check_positive("tol", tol)
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"`max_iter` must be a positive integer; got {max_iter!r}")
    Kt, u, v, f1, g1, it, _ = _sinkhorn_scaled(L, f0, g0, tol, max_iter)
    Kt *= u[:, None]
    Kt *= v[None, :]
    row = float(np.max(np.abs(Kt.sum(axis=1) - 1.0)))
    col = float(np.max(np.abs(Kt.sum(axis=0) - 1.0)))
    return SinkhornResult(Kt, f1 + np.log(u), g1 + np.log(v), it, row, col, row <= tol and col <= tol)


# --------------------------------------------------------------------------- kernels


@dataclass
class _Field:
    """Γ[μⁿ] for one attention: numeric heads, block size, mask, and per-head Sinkhorn state."""

    heads: list[_Head]
    normalization: str
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
        kernel = _KERNELS[self.normalization]
        out = np.zeros_like(X)
        for h, head in enumerate(self.heads):
            M, m0 = kernel(self, h, head, X)
            E = M - m0[:, None] * X if self.residual else M
            out += E @ head.C.T
        if self.W_ff is not None and self.b_ff is not None:
            out += X @ self.W_ff.T + self.b_ff
        return out


def _augment(head: _Head, X: np.ndarray, shift_col: bool) -> tuple[np.ndarray, np.ndarray]:
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


def _softmax_kernel(fld: _Field, h: int, head: _Head, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Streaming log-sum-exp: returns (E[y|xᵢ] (n, d), ones (n,))."""
    n, d = X.shape
    c = fld.block(n)
    L, Y = _augment(head, X, shift_col=True)
    Yw = Y[:, : d + 1]  # [xⱼ, 1]: weighted sums and normalizer from one product
    out = np.ones((n, d + 1))
    buf = np.empty(c * c)
    tri = np.triu(np.ones((c, c), dtype=bool), 1) if fld.causal else None
    for i0 in fld.rows(n):
        i1 = min(i0 + c, n)
        Li = L[i0:i1].copy()
        acc = np.zeros((i1 - i0, d + 1))
        first = True
        for j0 in range(0, n, c):
            if fld.causal and j0 >= i1:
                break
            j1 = min(j0 + c, n)
            S = buf[: (i1 - i0) * (j1 - j0)].reshape(i1 - i0, j1 - j0)
            np.matmul(Li, Y[j0:j1].T, out=S)  # sᵢⱼ − mᵢ (m = 0 on the first block)
            diag = tri is not None and j0 == i0
            if diag:
                S[tri[: i1 - i0, : j1 - j0]] = -np.inf
            if first:
                m = S.max(axis=1)
                S -= m[:, None]
                Li[:, d] = -m
                first = False
            with np.errstate(over="ignore", invalid="ignore"):
                np.exp(S, out=S)
                new = acc + S @ Yw[j0:j1]
            if not np.all(np.isfinite(new)):
                # a score exceeded the running shift by > ~709: re-shift these rows exactly
                np.matmul(Li, Y[j0:j1].T, out=S)
                if diag:
                    S[tri[: i1 - i0, : j1 - j0]] = -np.inf
                with np.errstate(divide="ignore"):
                    delta = np.maximum(S.max(axis=1), np.log(acc[:, d]))
                acc *= np.exp(-delta)[:, None]
                S -= delta[:, None]
                Li[:, d] -= delta
                np.exp(S, out=S)
                new = acc + S @ Yw[j0:j1]
            acc = new
        out[i0:i1] = acc
    return out[:, :d] / out[:, d : d + 1], np.ones(n)


def _plain_kernel(phi: Callable[[np.ndarray], None], overflow: bool) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    def kernel(fld: _Field, h: int, head: _Head, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(1/n) Σⱼ φ(sᵢⱼ)(xⱼ, 1) in blocks: returns ((1/n)Σⱼ φ xⱼ (n, d), (1/n)Σⱼ φ (n,))."""
        n, d = X.shape
        c = fld.block(n)
        L, Y = _augment(head, X, shift_col=False)
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


def _exp_inplace(S: np.ndarray) -> None:
    np.exp(S, out=S)


def _sigmoid_inplace(S: np.ndarray) -> None:
    expit(S, out=S)


def _sinkhorn_kernel(fld: _Field, h: int, head: _Head, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """V-free part of Sinkhorn attention: (Σⱼ Pᵢⱼ xⱼ, Σⱼ Pᵢⱼ) with P = n·π doubly stochastic."""
    n = X.shape[0]
    logK = (X @ head.A.T) @ X.T
    logK += head.col_terms(X)[None, :]  # y-only terms cancel in the scaling; kept for the potentials
    f, g = fld.potentials.get(h, (np.zeros(n), np.zeros(n)))
    if f.shape != (n,):
        f, g = np.zeros(n), np.zeros(n)
    Kt, u, v, f1, g1, it, err = _sinkhorn_scaled(logK, f, g, fld.sinkhorn_tol, SINKHORN_MAX_ITER)
    if err > fld.sinkhorn_tol:
        raise SinkhornConvergenceError(
            f"Sinkhorn missed its tolerance after {it} iterations (marginal error {err:.3g} > sinkhorn_tol = "
            f"{fld.sinkhorn_tol:g}): the kernel e^s is close to a permutation (large β or spread-out tokens); "
            "loosen `sinkhorn_tol` or shorten the horizon"
        )
    fld.sinkhorn_iterations += it
    fld.potentials[h] = (f1 + np.log(u), g1 + np.log(v))
    M = u[:, None] * (Kt @ (v[:, None] * X))
    m0 = u * (Kt @ v)
    return M, m0


#: kernel by the variant's normalization
_KERNELS: dict[str, Callable[[_Field, int, _Head, np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
    "softmax": _softmax_kernel,
    "sinkhorn": _sinkhorn_kernel,
    "sigmoid": _plain_kernel(_sigmoid_inplace, overflow=False),
    "none": _plain_kernel(_exp_inplace, overflow=True),
}


def _make_field(attn: Attention, chunk: int | None, causal: bool, sinkhorn_tol: float) -> _Field:
    v = attn.closure.variant
    if causal and v.normalization == "sinkhorn":
        raise ValueError(
            "`causal=True` is not defined for 'sinkhorn': a lower-triangular kernel has only the identity "
            "as a doubly stochastic scaling (every token would attend only to itself)"
        )
    W_ff = b_ff = None
    if v.feedforward:
        W_ff = np.asarray(attn.params[v.param("W_ff").name], dtype=float)
        b_ff = np.asarray(attn.params[v.param("b_ff").name], dtype=float).reshape(-1)
    return _Field(_numeric_heads(attn), v.normalization, v.residual, W_ff, b_ff, chunk, causal, sinkhorn_tol)


def _check_attn(attn: Any) -> Attention:
    if not isinstance(attn, Attention):
        raise TypeError(f"`attn` must be an Attention (build it with gaussflow.attention); got {type(attn).__name__}")
    return attn


def _check_chunk(chunk: Any) -> int | None:
    if chunk is None:
        return None
    if isinstance(chunk, bool) or not isinstance(chunk, int | np.integer) or chunk < 1:
        raise ValueError(f"`chunk` must be a positive integer or None; got {chunk!r}")
    return int(chunk)


def particle_velocity(
    attn: Attention,
    X: Any,
    *,
    chunk: int | None = None,
    causal: bool = False,
    sinkhorn_tol: float = 1e-9,
) -> np.ndarray:
    """The particle velocity Γ[μⁿ](xᵢ), μⁿ = (1/n) Σⱼ δ_{xⱼ}, at every particle.

    Parameters
    ----------
    attn : Attention
    X : array_like, shape (n, d)
        Particle positions (row i = token i; with ``causal`` the row order is the position τᵢ = i/n).
    chunk : int, optional
        Row/column block size of the streaming kernels (default ``min(n, 1024)``); memory
        O(chunk² + n d). Ignored by Sinkhorn (O(n²)).
    causal : bool
        Token i attends to j ≤ i only (see the module docstring for the normalization).
    sinkhorn_tol : float
        Marginal tolerance of the Sinkhorn plan (variant ``sinkhorn`` only).

    Returns
    -------
    ndarray, shape (n, d)
        Γ(xᵢ) = Σ_h C_h E_h[y | xᵢ] (+ residual / feed-forward add-ons).

    Raises
    ------
    ParticleOverflowError
        Unnormalized kernel values beyond the float64 range.
    SinkhornConvergenceError
        The Sinkhorn plan missed ``sinkhorn_tol`` within :data:`SINKHORN_MAX_ITER` iterations.
    """
    attn = _check_attn(attn)
    Xa = as_array("X", X, 2)
    if Xa.shape[1] != attn.d or Xa.shape[0] < 1:
        raise ValueError(f"`X` must have shape (n, {attn.d}) with n ≥ 1 (d of `attn`); got shape {Xa.shape}")
    fld = _make_field(attn, _check_chunk(chunk), bool(causal), check_positive("sinkhorn_tol", sinkhorn_tol))
    return fld(np.ascontiguousarray(Xa))


# --------------------------------------------------------------------------- trajectory




class ParticleTrajectoryError(RuntimeError):
    """Raised by :meth:`ParticleTrajectory.raise_for_status` for an unwanted outcome."""


@dataclass(frozen=True, eq=False)
class ParticleTrajectory:
    """Empirical moments (and optionally positions) of a particle cloud at the requested times.

    Attributes
    ----------
    t : ndarray, shape (T,)
        Times reached (all of ``t_eval`` when ``status == "ok"``; a prefix otherwise).
    mean : ndarray, shape (T, d)
        Empirical mean (1/n) Σᵢ xᵢ(t).
    cov : ndarray, shape (T, d, d)
        Empirical covariance with 1/n normalization, (1/n) Σᵢ (xᵢ − mean)(xᵢ − mean)ᵀ: the covariance
        of the empirical measure μⁿ itself (the quantity the moment ODE of μⁿ describes), not the
        unbiased 1/(n−1) estimator of the law the particles were drawn from.
    n : int
        Number of particles.
    X : ndarray, shape (T, n, d), or None
        Positions, only with ``keep="all"``.
    status : str
        ``"ok"``, ``"blowup"`` (unnormalized kernel overflow or non-finite state; arrays stop at the
        last finite sample) or ``"failed"`` (the adaptive integrator gave up, or a Sinkhorn plan
        missed its tolerance).
    message : str
    nfev : int
        Velocity evaluations (each is one pass over all n² pairs).
    steps : int
        Time steps taken (accepted steps for ``method="adaptive"``).
    variant : str
    params : Mapping[str, float | ndarray]
        Numeric attention parameters.
    solver : Mapping[str, Any]
        Settings and diagnostics (JSON types): method, dt, chunk, causal, seed, tolerances,
        Sinkhorn iterations, wall time, ...
    versions : Mapping[str, str]
    """

    t: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    n: int
    X: np.ndarray | None = None
    status: str = "ok"
    message: str = ""
    nfev: int = 0
    steps: int = 0
    variant: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    solver: Mapping[str, Any] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=package_versions)

    def __post_init__(self) -> None:
        t = frozen_array("t", self.t, 1)
        mean = frozen_array("mean", self.mean, 2)
        cov = frozen_array("cov", self.cov, 3)
        T = t.shape[0]
        if T > 1 and not np.all(np.diff(t) > 0):
            raise ValueError(f"`t` must be strictly increasing; got {t}")
        d = mean.shape[1]
        if mean.shape[0] != T or cov.shape != (T, d, d):
            raise ValueError(f"`mean`, `cov` must have shapes ({T}, d), ({T}, d, d); got {mean.shape}, {cov.shape}")
        n = int(self.n)
        if n < 1:
            raise ValueError(f"`n` must be a positive integer; got {self.n!r}")
        if self.X is not None:
            X = frozen_array("X", self.X, 3)
            if X.shape != (T, n, d):
                raise ValueError(f"`X` must have shape ({T}, {n}, {d}); got shape {X.shape}")
            object.__setattr__(self, "X", X)
        if self.status not in STATUSES:
            raise ValueError(f"`status` must be one of {STATUSES}; got {self.status!r}")
        object.__setattr__(self, "status", Status(self.status))
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "cov", cov)
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "nfev", int(self.nfev))
        object.__setattr__(self, "steps", int(self.steps))
        object.__setattr__(self, "message", str(self.message))
        object.__setattr__(self, "variant", str(self.variant))
        params: dict[str, Any] = {}
        for k, v in self.params.items():
            if np.ndim(v) == 0:
                params[str(k)] = float(v)
            else:
                a = np.array(v, dtype=float, copy=True)
                a.setflags(write=False)
                params[str(k)] = a
        object.__setattr__(self, "params", MappingProxyType(params))
        object.__setattr__(self, "solver", MappingProxyType(dict(self.solver)))
        object.__setattr__(self, "versions", MappingProxyType({str(k): str(v) for k, v in self.versions.items()}))

    @property
    def d(self) -> int:
        return int(self.mean.shape[1])

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def law(self, i: int = -1) -> Gaussian:
        """N(mean[i], cov[i]): the Gaussian with the cloud's empirical moments at sample ``i``."""
        return Gaussian(self.mean[i], self.cov[i])

    def raise_for_status(self) -> ParticleTrajectory:
        """Raise :class:`ParticleTrajectoryError` with :attr:`message` unless ``status == "ok"``."""
        if self.status != "ok":
            raise ParticleTrajectoryError(f"{self.status}: {self.message}")
        return self

    def metadata(self) -> dict[str, Any]:
        """Everything but the arrays, as plain JSON types (parameters as nested lists)."""
        return {
            "format": FORMAT, "n": self.n, "status": self.status, "message": self.message,
            "nfev": self.nfev, "steps": self.steps, "variant": self.variant,
            "params": jsonable(dict(self.params)), "solver": jsonable(dict(self.solver)),
            "versions": dict(self.versions),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``t``, ``mean``, ``cov`` (and ``X``) plus the JSON :meth:`metadata` to one ``.npz``.

        Written to a temporary file in the target directory, then moved into place with
        ``os.replace`` (readers never see a partial file). The path is used as given.
        """
        arrays = {"t": self.t, "mean": self.mean, "cov": self.cov}
        if self.X is not None:
            arrays["X"] = self.X
        return save_npz(path, arrays, self.metadata())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ParticleTrajectory:
        """Read a file written by :meth:`save` (never unpickles)."""
        arrays, meta = load_npz(path, {"t", "mean", "cov"}, "ParticleTrajectory")
        t, mean, cov, X = arrays["t"], arrays["mean"], arrays["cov"], arrays.get("X")
        if meta.get("format") != FORMAT:
            raise ValueError(f"`path` has format {meta.get('format')!r}; expected {FORMAT!r}")
        return cls(
            t=t, mean=mean, cov=cov, n=meta["n"], X=X, status=meta["status"], message=meta["message"],
            nfev=meta["nfev"], steps=meta["steps"], variant=meta["variant"],
            params={k: np.asarray(v, dtype=float) if isinstance(v, list) else v for k, v in meta["params"].items()},
            solver=meta["solver"], versions=meta["versions"],
        )

    def __repr__(self) -> str:
        return (f"ParticleTrajectory({self.variant!r}, n={self.n}, d={self.d}, T={len(self)}, "
                f"t=[{self.t[0]:g}, {self.t[-1]:g}], status={self.status!r})")


# --------------------------------------------------------------------------- time stepping


class _Progress:
    """A one-line ``\\r`` progress bar on stderr (throttled to 5 updates/s)."""

    def __init__(self, t0: float, t1: float, enabled: bool) -> None:
        self.t0, self.t1, self.enabled = t0, t1, enabled
        self.start = time.perf_counter()
        self.last = -math.inf

    def update(self, t: float, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self.last < 0.2:
            return
        self.last = now
        frac = 1.0 if self.t1 <= self.t0 else min(1.0, max(0.0, (t - self.t0) / (self.t1 - self.t0)))
        bar = "#" * int(30 * frac)
        sys.stderr.write(f"\rparticles [{bar:<30}] {100 * frac:5.1f}%  t={t:.4g}  {now - self.start:.1f}s")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


class _Recorder:
    """Empirical moments (and positions) at the sample times."""

    def __init__(self, T: int, n: int, d: int, keep_all: bool) -> None:
        self.mean = np.empty((T, d))
        self.cov = np.empty((T, d, d))
        self.X = np.empty((T, n, d)) if keep_all else None
        self.count = 0

    def __call__(self, X: np.ndarray) -> None:
        k = self.count
        m = X.mean(axis=0)
        Z = X - m
        C = (Z.T @ Z) / X.shape[0]
        self.mean[k] = m
        self.cov[k] = 0.5 * (C + C.T)
        if self.X is not None:
            self.X[k] = X
        self.count += 1


@dataclass
class _Run:
    steps: int = 0
    status: str = "ok"
    message: str = ""
    dt: float | None = None


def _rk4(fld: _Field, X0: np.ndarray, t_eval: np.ndarray, rec: _Recorder, bar: _Progress, opts: Mapping[str, Any]
         ) -> _Run:
    """Classic RK4; each interval [t_k, t_{k+1}] is split into ⌈Δt/dt⌉ equal steps (lands on t_eval)."""
    dt = opts["dt"]
    run = _Run(dt=dt)
    X = X0.copy()
    rec(X)
    for k in range(len(t_eval) - 1):
        t, span = float(t_eval[k]), float(t_eval[k + 1] - t_eval[k])
        m = max(1, math.ceil(span / dt - 1e-9))
        h = span / m
        for s in range(m):
            k1 = fld(X)
            k2 = fld(X + (0.5 * h) * k1)
            k3 = fld(X + (0.5 * h) * k2)
            k4 = fld(X + h * k3)
            X = X + (h / 6.0) * (k1 + 2.0 * (k2 + k3) + k4)
            run.steps += 1
            if not np.all(np.isfinite(X)):
                run.status = "blowup"
                run.message = f"particle state became non-finite at t = {t + (s + 1) * h:.6g}"
                return run
            bar.update(t + (s + 1) * h)
        rec(X)
    return run


def _adaptive(fld: _Field, X0: np.ndarray, t_eval: np.ndarray, rec: _Recorder, bar: _Progress,
              opts: Mapping[str, Any]) -> _Run:
    """Dormand–Prince RK45 (scipy's ``solve_ivp`` integrator class) on the flattened state; samples
    are read off its dense output, so only the current state is held in memory."""
    run = _Run(dt=opts["dt"])
    shape = X0.shape
    rec(X0)
    if len(t_eval) == 1:
        return run

    def fun(_t: float, y: np.ndarray) -> np.ndarray:
        return fld(y.reshape(shape)).ravel()

    kw: dict[str, Any] = {"rtol": opts["rtol"], "atol": opts["atol"]}
    if opts["dt"] is not None:
        kw["max_step"] = opts["dt"]
    solver = RK45(fun, float(t_eval[0]), X0.ravel().copy(), float(t_eval[-1]), **kw)
    k = 1
    while k < len(t_eval):
        msg = solver.step()
        if solver.status == "failed":
            run.status, run.message = "failed", f"RK45 failed at t = {solver.t:.6g}: {msg}"
            return run
        run.steps += 1
        if not np.all(np.isfinite(solver.y)):
            run.status, run.message = "blowup", f"particle state became non-finite at t = {solver.t:.6g}"
            return run
        if k < len(t_eval) and t_eval[k] <= solver.t:
            dense = solver.dense_output()
            while k < len(t_eval) and t_eval[k] <= solver.t:
                y = solver.y if t_eval[k] == solver.t else dense(t_eval[k])
                rec(np.asarray(y).reshape(shape))
                k += 1
        bar.update(solver.t)
    return run


#: time stepping methods
_METHODS: dict[str, Callable[..., _Run]] = {"rk4": _rk4, "adaptive": _adaptive}
_KEEP: tuple[str, ...] = ("moments", "all")


def _check_t_eval(t_eval: Any) -> np.ndarray:
    t = as_array("t_eval", t_eval)
    if t.ndim == 0:
        t = t.reshape(1)
    if t.ndim != 1 or t.size < 1:
        raise ValueError(f"`t_eval` must be a 1-D array of at least one time; got shape {t.shape}")
    if t.size > 1 and not np.all(np.diff(t) > 0):
        raise ValueError(f"`t_eval` must be strictly increasing; got {t}")
    return t


def _initial_state(attn: Attention, X0: Any, n: int | None, seed: Any) -> np.ndarray:
    if isinstance(X0, Gaussian):
        if X0.d != attn.d:
            raise ValueError(f"`X0` is a Gaussian in d = {X0.d} but `attn` has d = {attn.d}")
        if n is None or isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"`n` must be a positive integer when `X0` is a Gaussian; got n={n!r}")
        return np.ascontiguousarray(X0.sample(int(n), seed))
    X = as_array("X0", X0)
    if X.ndim != 2 or X.shape[1] != attn.d or X.shape[0] < 1:
        raise ValueError(f"`X0` must have shape (n, {attn.d}) (n ≥ 1, d of `attn`); got shape {X.shape}")
    if n is not None and n != X.shape[0]:
        raise ValueError(f"`n` = {n!r} does not match `X0` with {X.shape[0]} rows")
    return np.ascontiguousarray(X)


def simulate_particles(
    attn: Attention,
    X0: Any,
    t_eval: Any,
    *,
    n: int | None = None,
    method: str = "rk4",
    dt: float | None = None,
    chunk: int | None = None,
    seed: int | np.random.Generator | None = None,
    keep: str = "moments",
    causal: bool = False,
    progress: bool | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    sinkhorn_tol: float = 1e-9,
) -> ParticleTrajectory:
    """Integrate the interacting-particle system ẋᵢ = Γ[μⁿ](xᵢ) and record its empirical moments.

    Parameters
    ----------
    attn : Attention
        Any registered variant (with its residual / feed-forward add-ons).
    X0 : array_like, shape (n, d), or Gaussian
        Initial particles (row order = token position for ``causal``), or a law to draw ``n``
        i.i.d. particles from with ``seed``.
    t_eval : array_like, shape (T,)
        Strictly increasing sample times; ``t_eval[0]`` is the time of ``X0``.
    n : int, optional
        Number of particles (required when ``X0`` is a Gaussian; checked against an array).
    method : {"rk4", "adaptive"}
        Fixed-step classic RK4, or adaptive Dormand–Prince RK45 (the ``solve_ivp`` "RK45"
        integrator) with ``rtol``/``atol`` on the flattened (n·d) state.
    dt : float, optional
        RK4 step (each interval of ``t_eval`` is split into ⌈Δt/dt⌉ equal steps). Default:
        min(min Δt_eval, (t_eval[-1] − t_eval[0]) / 20), i.e. at least 20 steps and every sample hit.
        For "adaptive", ``dt`` is the maximal step.
    chunk : int, optional
        Block size of the streaming kernels (default min(n, 1024)); memory O(chunk² + n d).
    seed : int or Generator, optional
        Seed for sampling ``X0`` when it is a Gaussian (otherwise only recorded).
    keep : {"moments", "all"}
        Record only the empirical moments, or also all positions (T × n × d floats).
    causal : bool
        Causal mask: token i (position i/n) attends to j ≤ i only.
    progress : bool, optional
        Text progress bar on stderr; default: only when stderr is a terminal.
    rtol, atol : float
        Tolerances of ``method="adaptive"``.
    sinkhorn_tol : float
        Marginal tolerance of the per-step Sinkhorn plans (variant ``sinkhorn``).

    Returns
    -------
    ParticleTrajectory
        ``status="blowup"`` (with the samples reached so far) when an unnormalized kernel
        overflows or the state becomes non-finite; ``"failed"`` when RK45 gives up or a Sinkhorn plan
        misses ``sinkhorn_tol`` within :data:`SINKHORN_MAX_ITER` iterations.

    Raises
    ------
    ValueError
        Bad ``X0`` (shape, non-finite entries, d different from ``attn.d``), non-increasing
        ``t_eval``, bad ``n``, ``dt``, ``chunk``, ``method``, ``keep`` or tolerances;
        ``causal=True`` with Sinkhorn.
    """
    attn = _check_attn(attn)
    if not isinstance(method, str) or method not in _METHODS:
        raise ValueError(f"`method` must be one of {sorted(_METHODS)}; got {method!r}")
    if not isinstance(keep, str) or keep not in _KEEP:
        raise ValueError(f"`keep` must be one of {list(_KEEP)}; got {keep!r}")
    chunk = _check_chunk(chunk)
    t = _check_t_eval(t_eval)
    if dt is not None:
        dt = check_positive("dt", dt)
    rtol = check_positive("rtol", rtol)
    atol = check_positive("atol", atol)
    sinkhorn_tol = check_positive("sinkhorn_tol", sinkhorn_tol)
    if progress is not None and not isinstance(progress, bool):
        raise ValueError(f"`progress` must be True, False or None; got {progress!r}")
    X = _initial_state(attn, X0, n, seed)
    fld = _make_field(attn, chunk, bool(causal), sinkhorn_tol)
    if method == "rk4" and dt is None:
        span = float(t[-1] - t[0])
        dt = min(float(np.min(np.diff(t))), span / 20) if t.size > 1 else 1.0
    enabled = sys.stderr.isatty() if progress is None else progress
    bar = _Progress(float(t[0]), float(t[-1]), enabled)
    rec = _Recorder(t.size, X.shape[0], X.shape[1], keep == "all")
    opts = {"dt": dt, "rtol": rtol, "atol": atol}
    start = time.perf_counter()
    try:
        run = _METHODS[method](fld, X, t, rec, bar, opts)
    except ParticleOverflowError as exc:
        run = _Run(status="blowup", message=str(exc), dt=dt)
    except SinkhornConvergenceError as exc:
        run = _Run(status="failed", message=str(exc), dt=dt)
    finally:
        bar.update(float(t[rec.count - 1]) if rec.count else float(t[0]), force=True)
        bar.close()
    wall = time.perf_counter() - start
    T = rec.count
    if run.status == "ok" and T < t.size:  # pragma: no cover - every method records all samples
        run.status, run.message = "failed", f"only {T} of {t.size} samples were reached"
    v = attn.closure.variant
    solver = {
        "method": method, "dt": dt, "rtol": rtol if method == "adaptive" else None,
        "atol": atol if method == "adaptive" else None, "chunk": fld.block(X.shape[0]),
        "causal": bool(causal), "seed": seed if isinstance(seed, int | None) else repr(seed),
        "keep": keep, "t_eval": t.tolist(), "options": dict(v.options),
        "sinkhorn_tol": sinkhorn_tol if v.normalization == "sinkhorn" else None,
        "sinkhorn_iterations": fld.sinkhorn_iterations, "wall_time": wall,
        "velocity_evaluations_per_second": fld.nfev / wall if wall > 0 else None,
    }
    return ParticleTrajectory(
        t=t[:T], mean=rec.mean[:T], cov=rec.cov[:T], n=X.shape[0],
        X=rec.X[:T] if rec.X is not None else None, status=run.status,
        message=run.message or f"reached t = {t[T - 1]:g} with {run.steps} steps, {fld.nfev} velocity evaluations",
        nfev=fld.nfev, steps=run.steps, variant=attn.name, params=dict(attn.params), solver=solver,
    )


__all__ = [
    "FORMAT",
    "SINKHORN_MAX_ITER",
    "STATUSES",
    "ParticleOverflowError",
    "ParticleTrajectory",
    "ParticleTrajectoryError",
    "SinkhornConvergenceError",
    "SinkhornResult",
    "particle_velocity",
    "simulate_particles",
    "sinkhorn_plan",
]
