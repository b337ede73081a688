"""Scheme 1, the authors' explicit Euler + PSD projection, batched over members: Σ ← Π(Σ + hΣ̇(Σ)) with
their stopping rules. Σ̇ comes from the generated code of the closure (:mod:`gaussflow.codegen`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..._linalg import sqrtm_psd
from .setup import PSD_FLOOR


# --------------------------------------------------------------------------------------------------------
# batched Σ right-hand sides (numpy, any d; Σ has shape (N, d, d))
# --------------------------------------------------------------------------------------------------------
def _T(X: np.ndarray) -> np.ndarray:
    return np.swapaxes(X, -1, -2)


def _sym(P: np.ndarray) -> np.ndarray:
    return P + _T(P)


def _solve(M: np.ndarray, B: np.ndarray) -> np.ndarray:
    """M⁻¹B for stacks of matrices; 2 × 2 by the adjugate (much faster than LAPACK on small stacks)."""
    if M.shape[-1] != 2:
        return np.linalg.solve(M, B)
    m00, m01, m10, m11 = M[..., 0, 0], M[..., 0, 1], M[..., 1, 0], M[..., 1, 1]
    det = m00 * m11 - m01 * m10
    adj = np.stack([np.stack([m11, -m01], -1), np.stack([-m10, m00], -1)], -2)
    return (adj @ B) / det[..., None, None]


def sigma_rhs(variant: str, params: dict[str, Any], Sigma: np.ndarray) -> np.ndarray:
    """Batched Σ̇ = JΣ + ΣJᵀ of a Gaussian-preserving variant (α-independent), in our notation.

    Parameters
    ----------
    variant : {"softmax", "multihead", "l2", "sinkhorn"}
    params : dict
        softmax / sinkhorn: ``A`` (d, d), ``V`` (d, d); multihead: ``A`` (H, d, d), ``C`` (H, d, d);
        l2: ``Q``, ``K`` (k, d), ``V`` (d, d), ``beta`` > 0 (the keyword arguments of
        :func:`gaussflow.attention` for the same layer).
    Sigma : ndarray, shape (N, d, d)
        Symmetric PSD.

    Returns
    -------
    ndarray, shape (N, d, d)
        softmax VΣAΣ + t., multi-head Σ_h C_hΣA_hΣ + t., L2 βVΣ(I + βKᵀKΣ)⁻¹KᵀQΣ + t.,
        Sinkhorn 2VΣAΣ^{1/2}(I + R)⁻¹Σ^{1/2} + t. with R = (I + 4Σ^{1/2}AᵀΣAΣ^{1/2})^{1/2}
        ("+ t." = plus the transpose).
    """
    S = Sigma
    if variant == "softmax":
        return _sym((params["V"] @ S) @ (params["A"] @ S))
    if variant == "multihead":
        P = np.zeros_like(S)
        for A_h, C_h in zip(params["A"], params["C"], strict=True):
            P += (C_h @ S) @ (A_h @ S)
        return _sym(P)
    if variant == "l2":
        Q, K, V, beta = params["Q"], params["K"], params["V"], float(params["beta"])
        d = S.shape[-1]
        M = np.eye(d) + beta * (_T(K) @ K) @ S
        return _sym(beta * V @ S @ _solve(M, (_T(K) @ Q) @ S))
    if variant == "sinkhorn":
        A, V = params["A"], params["V"]
        d = S.shape[-1]
        Sh = sqrtm_psd(S)
        R = sqrtm_psd(np.eye(d) + 4.0 * Sh @ _T(A) @ S @ A @ Sh)
        R = 0.5 * (R + _T(R))
        MS = 2.0 * S @ A @ Sh @ np.linalg.solve(np.eye(d) + R, Sh)
        return _sym(V @ MS)
    raise ValueError(f"unknown `variant` {variant!r}; valid: softmax, multihead, l2, sinkhorn")

# --------------------------------------------------------------------------------------------------------
# scheme 1: the authors' Euler + PSD projection, batched
# --------------------------------------------------------------------------------------------------------
@dataclass
class EulerResult:
    """Batched Euler outcome: per member ``status`` (converged / diverged / max_iter), ``iters``,
    ``final`` Σ (N, d, d), ``clipped`` (any PSD projection happened), and sampled ``paths``."""

    status: np.ndarray
    iters: np.ndarray
    final: np.ndarray
    clipped: np.ndarray
    frames: np.ndarray = field(repr=False)  # (n_frames, N, d, d), NaN once stopped
    frame_iters: np.ndarray = field(repr=False)

    def path(self, m: int) -> np.ndarray:
        """Sampled Σ path of member m, ending at its final state, shape (n, d, d)."""
        P = self.frames[:, m]
        P = P[np.all(np.isfinite(P), axis=(1, 2))]
        return np.concatenate([P, self.final[m][None]])


def _frame_set(max_iter: int, n: int = 160) -> np.ndarray:
    head = np.arange(min(40, max_iter + 1))
    tail = np.unique(np.round(np.geomspace(40, max(max_iter, 41), n)).astype(int))
    return np.unique(np.concatenate([head, tail[tail <= max_iter]]))


def psd_project(Sigma: np.ndarray, floor: float = PSD_FLOOR, exact_rounding: bool = False
                ) -> tuple[np.ndarray, np.ndarray]:
    """The authors' projection: Σ ↦ U diag(λ') Uᵀ with λ'_i = floor where λ_i < 0, else λ_i.

    Their ``psd_projection`` rebuilds every member from its eigendecomposition, which changes Σ only
    by rounding when no eigenvalue is negative. For d ≥ 3 (or ``exact_rounding``) we do the same; for
    2 × 2 stacks only the members with a negative eigenvalue (closed-form λ_min) are rebuilt, the
    others are returned as they are (the same counts, tested against their code, ~10× faster).

    Parameters
    ----------
    Sigma : ndarray, shape (N, d, d)
    floor : float
        Value given to negative eigenvalues.
    exact_rounding : bool
        Rebuild every member also for d = 2.

    Returns
    -------
    Sigma : ndarray, shape (N, d, d)
    clipped : ndarray of bool, shape (N,)
        Which members had a negative eigenvalue.
    """
    if Sigma.shape[-1] == 2 and not exact_rounding:
        a, b, c = Sigma[..., 0, 0], Sigma[..., 1, 1], Sigma[..., 0, 1]
        clipped = 0.5 * (a + b) - np.hypot(0.5 * (a - b), c) < 0
        if not np.any(clipped):
            return Sigma, clipped
        out = Sigma.copy()
        out[clipped] = psd_project(Sigma[clipped], floor, exact_rounding=True)[0]
        return out, clipped
    w, U = np.linalg.eigh(Sigma)
    neg = w < 0
    w = np.where(neg, floor, w)
    return U @ (w[..., :, None] * _T(U)), neg.any(axis=-1)


def euler_step(variant: str, params: dict[str, Any], S: np.ndarray, step: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One step of the authors' ``evolution`` loop on a batch.

    Returns ‖Σ̇(Σ)‖_F, Π(Σ + hΣ̇), tr Π(Σ + hΣ̇) and whether the projection clipped.
    """
    D = sigma_rhs(variant, params, S)
    nrm = np.sqrt(np.einsum("nij,nij->n", D, D))
    S_new, clip = psd_project(S + step * D)
    return nrm, S_new, np.trace(S_new, axis1=1, axis2=2), clip


def euler_sigma(variant: str, params: dict[str, Any], Sigma0: np.ndarray, *, step: float, tol: float,
                tol_high: float = 1e3, max_iter: int = 50_000, batched: bool = False) -> EulerResult:
    """The authors' ``evolution()`` on a batch: Σ ← Π(Σ + hΣ̇), stopping per member.

    Iteration i = 0, 1, …, max_iter − 1 computes Σ̇(Σ_i), steps and projects; the member stops with
    "converged" if ‖Σ̇(Σ_i)‖_F < tol (checked first), else with "diverged" if tr Σ_{i+1} > tol_high,
    and with "max_iter" when the loop ends. ``iters`` is that i (the number the authors print) or
    max_iter; ``final`` is Σ_i, the last entry of their returned list. A member whose trace is not
    finite can satisfy neither test and is reported as "max_iter" (so would theirs, after max_iter
    steps on NaN).

    Parameters
    ----------
    variant, params : see :func:`sigma_rhs`
    Sigma0 : ndarray, shape (N, d, d)
    step, tol, tol_high : float
    max_iter : int
    batched : bool
        ``params`` arrays of ndim ≥ 3 carry one set of weights per member (leading axis N).

    Returns
    -------
    EulerResult
    """
    S = np.array(Sigma0, dtype=float)
    N = S.shape[0]
    status = np.full(N, "max_iter", dtype=object)
    iters = np.full(N, max_iter, dtype=int)
    final = S.copy()
    clipped = np.zeros(N, dtype=bool)
    fi = _frame_set(max_iter)
    frames = np.full((fi.size,) + S.shape, np.nan)
    slot = {int(v): k for k, v in enumerate(fi)}
    idx = np.arange(N)
    with np.errstate(all="ignore"):
        for it in range(max_iter):
            k = slot.get(it)
            if k is not None:
                frames[k, idx] = S
            nrm, S_new, tr, clip = euler_step(variant, params, S, step)
            conv = nrm < tol
            div = ~conv & (tr > tol_high)
            nan = ~conv & ~div & ~np.isfinite(tr)
            clipped[idx[clip]] = True
            stop = conv | div | nan
            if it == max_iter - 1:
                final[idx] = S
            if np.any(stop):
                final[idx[stop]] = S[stop]
                status[idx[conv]], iters[idx[conv]] = "converged", it
                status[idx[div]], iters[idx[div]] = "diverged", it
                go = ~stop
                idx, S = idx[go], S_new[go]
                if batched:
                    params = {k: v[go] if np.ndim(v) >= 3 else v for k, v in params.items()}
                if idx.size == 0:
                    break
            else:
                S = S_new
    return EulerResult(status, iters, final, clipped, frames, fi)
