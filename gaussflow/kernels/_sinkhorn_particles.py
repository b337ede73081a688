"""Sinkhorn for particles: the log-stabilized scaling of e^{S} to a doubly stochastic plan and the
particle kernel Σⱼ Pᵢⱼ xⱼ with P = n·π (warm-started from the previous evaluation's potentials)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._checks import as_array, check_positive
from .field import SINKHORN_MAX_ITER, Field, NumericHead, SinkhornConvergenceError


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


def sinkhorn_scaled(
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
    Kt, u, v, f1, g1, it, _ = sinkhorn_scaled(L, f0, g0, tol, max_iter)
    Kt *= u[:, None]
    Kt *= v[None, :]
    row = float(np.max(np.abs(Kt.sum(axis=1) - 1.0)))
    col = float(np.max(np.abs(Kt.sum(axis=0) - 1.0)))
    return SinkhornResult(Kt, f1 + np.log(u), g1 + np.log(v), it, row, col, row <= tol and col <= tol)


def sinkhorn_kernel(fld: Field, h: int, head: NumericHead, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """V-free part of Sinkhorn attention: (Σⱼ Pᵢⱼ xⱼ, Σⱼ Pᵢⱼ) with P = n·π doubly stochastic."""
    n = X.shape[0]
    logK = (X @ head.A.T) @ X.T
    logK += head.col_terms(X)[None, :]  # y-only terms cancel in the scaling; kept for the potentials
    f, g = fld.potentials.get(h, (np.zeros(n), np.zeros(n)))
    if f.shape != (n,):
        f, g = np.zeros(n), np.zeros(n)
    Kt, u, v, f1, g1, it, err = sinkhorn_scaled(logK, f, g, fld.sinkhorn_tol, SINKHORN_MAX_ITER)
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


__all__ = ["SinkhornResult", "sinkhorn_kernel", "sinkhorn_plan", "sinkhorn_scaled"]
