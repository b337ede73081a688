"""Reproduce the Gaussian experiments of Castin, Ablin, Carrillo & Peyré (2025), twice.

The public code of that paper evolves **only Σ** with explicit Euler + PSD projection

    Σ ← Π(Σ + h Σ̇(Σ)),   Π(Σ) = U max(Λ, 1e-14) Uᵀ,

and stops a trajectory when ‖Σ̇‖_F < tol ("converged"), tr Σ > tol_high ("diverged") or after max_iter
steps. :func:`reproduce_castin2025` runs every experiment of docs/math.md §6 with

1. that scheme ("euler", faithful: same draws, same steps, same stopping rules, batched over the
   whole grid of initial Σ₀ in NumPy), and
2. the exact adaptive moment solver :func:`gaussflow.solve.solve` ("exact", the truth: DOP853,
   blow-up time T* by extrapolation, regime by :func:`gaussflow.spectrum.classify`),

and reports where the two disagree. The mean is irrelevant: for softmax, multi-head, L2 and Sinkhorn
attention Σ̇ = JΣ + ΣJᵀ with J independent of α (docs/math.md §3), so the exact runs start at α₀ = 0.

Σ-only right-hand sides (our notation, score yᵀAx, docs/math.md §3), P := JΣ and Σ̇ = P + Pᵀ:

* softmax      P = VΣAΣ
* multi-head   P = Σ_h C_h Σ A_h Σ
* L2           P = βVΣ(I + βKᵀKΣ)⁻¹KᵀQΣ
* Sinkhorn     P = V·2ΣAΣ^{1/2}(I + R)⁻¹Σ^{1/2},  R = (I + 4Σ^{1/2}AᵀΣAΣ^{1/2})^{1/2}

The authors' conventions map onto ours as written in docs/castin2025.md (softmax / L2: A = KᵀQ/√d,
their L2 = ours with β = 2 and Q/√d; multi-head: rows of Q, K, V split in blocks of k = d/H,
A_h = K_hᵀQ_h/√k, C_h = E_h V with E_h the coordinate projection of block h; Sinkhorn A = KᵀQ).

References
----------
V. Castin, P. Ablin, J. A. Carrillo, G. Peyré, "A Unified Perspective on the Dynamics of Deep
Transformers", arXiv:2501.18322 (2025).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._io import check_writable
from ._linalg import sqrtm_psd

#: experiment keys in docs/math.md §6 order
EXPERIMENT_KEYS: tuple[str, ...] = ("a", "b", "c", "d", "e", "f", "ranks")
SCHEMES: tuple[str, ...] = ("both", "exact", "euler")
#: eigenvalue floor of the authors' PSD projection
PSD_FLOOR = 1e-14
#: relative eigenvalue threshold (λ_i/λ_max) for the rank of a final Σ in the grid experiments
RANK_RTOL = 1e-3
#: absolute eigenvalue threshold of the authors' rank histograms
HIST_THRESHOLD = 0.1
#: exact-solver settings shared by every run
EXACT_RTOL, EXACT_ATOL, EXACT_MAX_NFEV = 1e-8, 1e-12, 20_000
#: quick mode (tests): grid side, Euler step cap, rank samples
QUICK_GRID, QUICK_MAX_ITER, QUICK_SAMPLES = 4, 800, 3


# --------------------------------------------------------------------------------------------------------
# batched Σ right-hand sides (numpy, any d; Σ has shape (N, d, d))
# --------------------------------------------------------------------------------------------------------
def _T(X: np.ndarray) -> np.ndarray:
    return np.swapaxes(X, -1, -2)


def _sym(P: np.ndarray) -> np.ndarray:
    return P + _T(P)


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
        return _sym(params["V"] @ S @ params["A"] @ S)
    if variant == "multihead":
        P = np.zeros_like(S)
        for A_h, C_h in zip(params["A"], params["C"], strict=True):
            P += C_h @ S @ A_h @ S
        return _sym(P)
    if variant == "l2":
        Q, K, V, beta = params["Q"], params["K"], params["V"], float(params["beta"])
        d = S.shape[-1]
        M = np.eye(d) + beta * (_T(K) @ K) @ S
        return _sym(beta * V @ S @ np.linalg.solve(M, (_T(K) @ Q) @ S))
    if variant == "sinkhorn":
        A, V = params["A"], params["V"]
        d = S.shape[-1]
        Sh = sqrtm_psd(S)
        R = sqrtm_psd(np.eye(d) + 4.0 * Sh @ _T(A) @ S @ A @ Sh)
        R = 0.5 * (R + _T(R))
        MS = 2.0 * S @ A @ Sh @ np.linalg.solve(np.eye(d) + R, Sh)
        return _sym(V @ MS)
    raise ValueError(f"unknown `variant` {variant!r}; valid: softmax, multihead, l2, sinkhorn")


def psd_project(Sigma: np.ndarray, floor: float = PSD_FLOOR) -> tuple[np.ndarray, np.ndarray]:
    """The authors' projection Π(Σ) = U max(Λ, floor) Uᵀ, applied where λ_min(Σ) < floor.

    Returns
    -------
    Sigma : ndarray, shape (N, d, d)
    clipped : ndarray of bool, shape (N,)
        Which members were changed.
    """
    d = Sigma.shape[-1]
    if d == 2:
        a, b, c = Sigma[:, 0, 0], Sigma[:, 1, 1], Sigma[:, 0, 1]
        lam_min = 0.5 * (a + b) - np.hypot(0.5 * (a - b), c)
    else:
        lam_min = np.linalg.eigvalsh(Sigma)[:, 0]
    clipped = ~(lam_min >= floor)
    if np.any(clipped):
        sub = Sigma[clipped]
        w, U = np.linalg.eigh(0.5 * (sub + np.swapaxes(sub, -1, -2)))
        w = np.maximum(w, floor)
        Sigma = Sigma.copy()
        Sigma[clipped] = (U * w[:, None, :]) @ np.swapaxes(U, -1, -2)
    return Sigma, clipped


# --------------------------------------------------------------------------------------------------------
# run descriptions
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """One variant of one experiment: an attention layer plus the authors' Euler settings.

    ``params`` are the keyword arguments of :func:`gaussflow.attention` (our convention, already
    mapped from the authors'); ``t_exact`` is the horizon of the exact runs.
    """

    label: str
    variant: str
    params: dict[str, Any]
    step: float
    tol: float
    tol_high: float = 1e3
    max_iter: int = 100_000
    t_exact: float | None = None
    exact_rtol: float = 1e-8
    exact_form: str | None = None

    @property
    def horizon(self) -> float:
        """Exact-run horizon: ``t_exact`` or the Euler budget max_iter·step."""
        return float(self.t_exact) if self.t_exact is not None else self.max_iter * self.step


@dataclass(frozen=True)
class Experiment:
    key: str
    title: str
    draws: dict[str, Any]
    runs: tuple[Run, ...]
    grid: int
    half_width: float


def softmax_params(Q: np.ndarray, K: np.ndarray, V: np.ndarray) -> dict[str, Any]:
    """Authors' softmax (A = KᵀQ/√d) as :func:`gaussflow.attention` keywords (``A=`` shortcut)."""
    d = Q.shape[1]
    return {"A": K.T @ Q / math.sqrt(d), "V": V}


def l2_params(Q: np.ndarray, K: np.ndarray, V: np.ndarray) -> dict[str, Any]:
    """Authors' L2, Σ̇ = 2VΣ(I + 2KᵀKΣ)⁻¹AΣ + t. with A = KᵀQ/√d: ours with β = 2 and Q/√d."""
    d = Q.shape[1]
    return {"Q": Q / math.sqrt(d), "K": K, "V": V, "beta": 2.0}


def multihead_params(Q: np.ndarray, K: np.ndarray, V: np.ndarray, heads: int) -> dict[str, Any]:
    """Authors' multi-head with W = I as stacked ``A`` (H, d, d), ``C`` (H, d, d).

    Head h takes rows [hk, (h+1)k) of Q, K, V with k = d/H (NumPy slicing: a block beyond the last row
    is empty and gives a zero head), A_h = K_hᵀQ_h/√k and C_h = W_h V_h with W_h = I[:, block] the
    output columns of the block, i.e. C_h = E_h V, E_h = Σ_{i∈block} e_i e_iᵀ.
    """
    d = Q.shape[1]
    if d % heads:
        raise ValueError(f"`heads` must divide d = {d}; got heads={heads}")
    k = d // heads
    W = np.eye(d)
    A, C = [], []
    for h in range(heads):
        blk = slice(h * k, (h + 1) * k)
        Qh, Kh, Vh = Q[blk], K[blk], V[blk]
        A.append(Kh.T @ Qh / math.sqrt(k))
        C.append(W[:, blk][:, : Vh.shape[0]] @ Vh)
    return {"A": np.stack(A), "C": np.stack(C)}


def sinkhorn_params(Q: np.ndarray, K: np.ndarray, V: np.ndarray) -> dict[str, Any]:
    """Authors' Sinkhorn: A = KᵀQ unscaled, ε = 1."""
    return {"A": K.T @ Q, "V": V}


def _redraw_indefinite(seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """seed; redraw Q, K = randn(2, 2) until A + Aᵀ (A = KᵀQ/√2) has eigenvalues of opposite signs."""
    np.random.seed(seed)
    tries = 0
    while True:
        tries += 1
        Q = np.random.randn(2, 2)
        K = np.random.randn(2, 2)
        A = K.T @ Q / math.sqrt(2)
        w = np.linalg.eigvalsh(A + A.T)
        if w[0] < 0 < w[1]:
            return Q, K, tries


def draws(key: str) -> dict[str, Any]:
    """The random matrices of experiment ``key`` ∈ {a, …, f}, drawn as docs/math.md §6 says with NumPy's
    legacy global generator (which this function reseeds)."""
    if key == "a":
        np.random.seed(35)
        Q = np.random.rand(2, 2)
        M = np.random.randn(2, 2)
        return {"seed": 35, "Q": Q, "K": -Q, "V": M @ M.T}
    if key in ("b", "c"):
        np.random.seed(36)
        q = np.random.randn(1, 2)
        q = q / np.linalg.norm(q)
        return {"seed": 36, "Q": q, "K": -q, "V": np.eye(2)}
    if key == "d":
        Q, K, tries = _redraw_indefinite(36)
        np.random.seed(32)
        return {"seed": 36, "seed_V": 32, "tries": tries, "Q": Q, "K": K, "V": np.random.randn(2, 2)}
    if key == "e":
        np.random.seed(33)
        tries = 0
        while True:
            tries += 1
            Q = np.random.randn(2, 2)
            K = np.random.randn(2, 2)
            A = K.T @ Q / math.sqrt(2)
            if np.linalg.eigvalsh(A + A.T)[0] > 0:
                break
        return {"seed": 33, "tries": tries, "Q": Q, "K": K, "V": np.eye(2)}
    if key == "f":
        Q, K, tries = _redraw_indefinite(36)
        np.random.seed(35)
        np.random.randn(8, 7)  # the authors' dummy draw
        return {"seed": 36, "seed_V": 35, "tries": tries, "Q": Q, "K": K, "V": np.random.randn(2, 2)}
    raise ValueError(f"unknown experiment {key!r}; valid: a, b, c, d, e, f")


def experiment(key: str) -> Experiment:
    """Experiment ``key`` of docs/math.md §6 with its runs (variants, Euler steps, tolerances)."""
    D = draws(key)
    Q, K, V = D["Q"], D["K"], D["V"]
    sm, l2 = softmax_params(Q, K, V), l2_params(Q, K, V)
    sk = sinkhorn_params(Q, K, V)
    if key == "a":
        runs = (Run("softmax", "softmax", sm, 0.3, 1e-5), Run("L2", "l2", l2, 0.3, 1e-5),
                Run("multi-head H=2", "multihead", multihead_params(Q, K, V, 2), 0.3, 1e-5),
                Run("Sinkhorn", "sinkhorn", sk, 0.5, 1e-5))
        return Experiment(key, "convergence to zero", D, runs, 10, 0.5)
    if key == "b":
        runs = (Run("softmax", "softmax", sm, 0.5, 1e-4), Run("L2", "l2", l2, 0.5, 1e-4))
        return Experiment(key, "convergence to a line", D, runs, 10, 0.5)
    if key == "c":
        runs = (Run("multi-head H=2", "multihead", multihead_params(Q, K, V, 2), 0.5, 1e-4),)
        return Experiment(key, "convergence to a plane", D, runs, 10, 0.5)
    if key == "d":
        runs = (Run("softmax", "softmax", sm, 0.01, 1e-7), Run("L2", "l2", l2, 0.01, 1e-7))
        return Experiment(key, "convergence to two lines", D, runs, 20, 1.0)
    if key == "e":
        # exponential growth (L2, Sinkhorn) is followed to t = 20 / 8 only (rtol 1e-6: growth is benign):
        # beyond, tr Σ / λ_min > 1e12 and the double-precision RHS loses the small eigenvalue (L2: the
        # solver's step size collapses; Sinkhorn: the full-form error makes λ_min < 0 from t ≈ 9.9, and
        # the factor form Σ = LLᵀ is ~10× slower and exhausts max_nfev)
        runs = (Run("softmax", "softmax", sm, 0.01, 1e-4, max_iter=100_000),
                Run("multi-head H=2", "multihead", multihead_params(Q, K, V, 2), 0.002, 1e-4),
                Run("L2", "l2", l2, 0.001, 1e-4, tol_high=1e4, t_exact=20.0, exact_rtol=1e-6),
                Run("Sinkhorn", "sinkhorn", sk, 0.01, 1e-4, tol_high=1e4, t_exact=8.0, exact_rtol=1e-6))
        return Experiment(key, "blow-up vs divergence", D, runs, 40, 1.0)
    if key == "f":
        runs = (Run("softmax", "softmax", sm, 0.003, 1e-4),
                Run("L2", "l2", l2, 0.002, 1e-4, t_exact=40.0),
                Run("multi-head H=1", "multihead", multihead_params(Q, K, V, 1), 0.002, 1e-4))
        return Experiment(key, "convergence or blow-up depending on Σ₀", D, runs, 30, 1.0)
    raise ValueError(f"unknown experiment {key!r}; valid: a, b, c, d, e, f")


def initial_grid(n: int, half_width: float) -> np.ndarray:
    """Trace-one Σ₀ with (a − b, 2c) on an n × n grid over [−L, L]², kept iff strictly PD.

    Returns
    -------
    ndarray, shape (m, 2, 2)
        Σ₀ = [[(1 + x)/2, y/2], [y/2, (1 − x)/2]] for grid points with x² + y² < 1, row-major order
        (x fastest).
    """
    g = np.linspace(-half_width, half_width, n)
    X, Y = np.meshgrid(g, g)
    x, y = X.ravel(), Y.ravel()
    keep = x**2 + y**2 < 1.0
    x, y = x[keep], y[keep]
    S = np.empty((x.size, 2, 2))
    S[:, 0, 0] = 0.5 * (1 + x)
    S[:, 1, 1] = 0.5 * (1 - x)
    S[:, 0, 1] = S[:, 1, 0] = 0.5 * y
    return S


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


def euler_sigma(variant: str, params: dict[str, Any], Sigma0: np.ndarray, *, step: float, tol: float,
                tol_high: float = 1e3, max_iter: int = 100_000, batched: bool = False) -> EulerResult:
    """The authors' scheme on a batch: Σ ← Π(Σ + hΣ̇), stopping per member.

    Member m stops at iteration i with "converged" if ‖Σ̇(Σ_i)‖_F < tol (Σ_i kept), with "diverged"
    if tr Σ_{i+1} > tol_high (or non-finite), otherwise at ``max_iter`` with "max_iter".

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
        for it in range(max_iter + 1):
            k = slot.get(it)
            if k is not None:
                frames[k, idx] = S
            if it == max_iter or idx.size == 0:
                break
            D = sigma_rhs(variant, params, S)
            conv = np.sqrt(np.sum(D * D, axis=(1, 2))) < tol
            S_new, clip = psd_project(S + step * D)
            tr = np.trace(S_new, axis1=1, axis2=2)
            div = ~conv & ~(tr <= tol_high)
            clipped[idx[clip & ~conv]] = True
            stop = conv | div
            if np.any(stop):
                c_idx, d_idx = idx[conv], idx[div]
                status[c_idx], iters[c_idx], final[c_idx] = "converged", it, S[conv]
                status[d_idx], iters[d_idx], final[d_idx] = "diverged", it + 1, S_new[div]
                go = ~stop
                idx, S = idx[go], S_new[go]
                if batched:
                    params = {k: v[go] if np.ndim(v) >= 3 else v for k, v in params.items()}
            else:
                S = S_new
        final[idx] = S
    return EulerResult(status, iters, final, clipped, frames, fi)


# --------------------------------------------------------------------------------------------------------
# scheme 2: the exact adaptive solver, per member (process pool)
# --------------------------------------------------------------------------------------------------------
_ATTN_CACHE: dict[tuple[Any, ...], Any] = {}


def _subsample(t: np.ndarray, cov: np.ndarray, n: int = 120) -> np.ndarray:
    if t.size <= n:
        return cov
    k = np.unique(np.concatenate([np.round(np.linspace(0, t.size - 1, n)).astype(int), [t.size - 1]]))
    return cov[k]


def exact_member(attn: Any, Sigma0: np.ndarray, horizon: float, keep_path: bool = True,
                 rtol: float = EXACT_RTOL, form: str | None = None) -> dict[str, Any]:
    """Exact run of one member from N(0, Σ₀) to ``horizon``: status, T*, regime, final Σ, sampled path.

    ``kind`` is :func:`gaussflow.spectrum.classify`'s regime, except that a "bounded" run whose trace grew
    by more than 1e3 without a finite-time singularity is reported as "exponential_growth" (its log-rate
    had not settled within the horizon).
    """
    from .solve import solve
    from .spectrum import classify

    d = Sigma0.shape[0]
    traj = solve(attn, (np.zeros(d), Sigma0), (0.0, horizon), rtol=rtol, atol=EXACT_ATOL, form=form,
                 max_nfev=EXACT_MAX_NFEV, blowup_threshold=1e6)
    note = ""
    try:
        reg = classify(traj)
        kind, rank = reg.kind, reg.rank
    except ValueError as exc:  # fewer than 3 samples: stationary from the start
        kind, rank = ("stationary", None) if traj.status == "converged" else ("unclassified", None)
        note = str(exc)
    tr = np.trace(traj.cov, axis1=1, axis2=2)
    if kind == "bounded" and traj.t_blowup is None and tr[-1] > 1e3 * tr[0]:
        kind, note = "exponential_growth", "classify said bounded; tr Σ grew ×1e3+ without finite-time signature"
    out = {"status": traj.status, "t_blowup": traj.t_blowup, "t_end": float(traj.t[-1]), "kind": kind,
           "rank": rank, "final": np.array(traj.cov[-1]), "nfev": traj.nfev, "message": traj.message,
           "note": note}
    if keep_path:
        out["path"] = _subsample(traj.t, np.asarray(traj.cov))
    return out


def _exact_chunk(variant: str, params: dict[str, Any], Sigma0s: np.ndarray, horizon: float,
                 keep_path: bool, rtol: float, form: str | None = None) -> list[dict[str, Any]]:
    import gaussflow as gf

    ckey = (variant,) + tuple((k, np.shape(v), np.asarray(v, dtype=float).tobytes()) for k, v in sorted(params.items()))
    attn = _ATTN_CACHE.get(ckey)
    if attn is None:
        attn = _ATTN_CACHE[ckey] = gf.attention(variant, **params)
    return [exact_member(attn, S0, horizon, keep_path, rtol, form) for S0 in Sigma0s]


class _Pool:
    """A ProcessPoolExecutor(max_workers=workers), or in-process execution for workers ≤ 1."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.ex = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None

    def map_members(self, variant: str, params: dict[str, Any], Sigma0s: np.ndarray, horizon: float,
                    keep_path: bool = True, rtol: float = EXACT_RTOL, form: str | None = None
                    ) -> Callable[[], list[dict[str, Any]]]:
        """Submit the exact runs of a batch; call the returned function to collect them in order."""
        n = len(Sigma0s)
        if self.ex is None:
            res = _exact_chunk(variant, params, Sigma0s, horizon, keep_path, rtol, form)
            return lambda: res
        size = max(8, -(-n // (4 * self.workers)))
        futs = [self.ex.submit(_exact_chunk, variant, params, Sigma0s[i:i + size], horizon, keep_path,
                               rtol, form) for i in range(0, n, size)]
        return lambda: [r for f in futs for r in f.result()]

    def close(self) -> None:
        if self.ex is not None:
            self.ex.shutdown()


# --------------------------------------------------------------------------------------------------------
# summaries
# --------------------------------------------------------------------------------------------------------
def _rank_rel(S: np.ndarray, rtol: float = RANK_RTOL) -> int:
    w = np.linalg.eigvalsh(0.5 * (S + S.T))
    return int(np.sum(w > rtol * max(w[-1], 0.0))) if w[-1] > 0 else 0


def _direction(S: np.ndarray) -> float:
    """Angle in degrees, in [0, 180), of the top eigenvector of a 2 × 2 Σ."""
    U = np.linalg.eigh(0.5 * (S + S.T))[1]
    u = U[:, -1]
    return float(np.degrees(np.arctan2(u[1], u[0])) % 180.0)


def _top_angles(angles: Sequence[float], n: int = 3) -> list[tuple[float, int]]:
    c = Counter(round(a) % 180 for a in angles if math.isfinite(a))
    return [(float(a), k) for a, k in c.most_common(n)]


def _growth(kind: str) -> str:
    if kind in ("blowup", "blowup_rank_one"):
        return "finite-time blow-up"
    if kind == "exponential_growth":
        return "exponential growth"
    if kind in ("collapse_to_zero", "collapse_to_subspace", "stationary"):
        return "converges"
    return "other"


def _stats(x: Sequence[float]) -> dict[str, float] | None:
    a = np.asarray([v for v in x if v is not None and math.isfinite(v)], dtype=float)
    if a.size == 0:
        return None
    return {"min": float(a.min()), "median": float(np.median(a)), "max": float(a.max()), "n": int(a.size)}


def _summarize_run(run: Run, S0: np.ndarray, eu: EulerResult | None, ex: list[dict[str, Any]] | None
                   ) -> dict[str, Any]:
    out: dict[str, Any] = {
        "label": run.label, "variant": run.variant, "step": run.step, "tol": run.tol, "tol_high": run.tol_high,
        "max_iter": run.max_iter, "exact_horizon": run.horizon, "n_members": len(S0),
        "params": {k: np.asarray(v).tolist() if np.ndim(v) else float(v) for k, v in run.params.items()},
        "sigma0": S0.tolist(),
    }
    if eu is not None:
        ranks = [_rank_rel(S) for S in eu.final]
        dirs = [_direction(S) for S in eu.final] if S0.shape[-1] == 2 else []
        out["euler"] = {
            "counts": dict(Counter(eu.status.tolist())), "clipped": int(eu.clipped.sum()),
            "stop_time": _stats((eu.iters * run.step).tolist()),
            "final_rank": dict(Counter(ranks)), "directions_deg": _top_angles(dirs),
            "members": [{"status": s, "iters": int(i), "final": f.tolist(), "clipped": bool(c)}
                        for s, i, f, c in zip(eu.status, eu.iters, eu.final, eu.clipped, strict=True)],
        }
    if ex is not None:
        ranks = [_rank_rel(r["final"]) if _growth(r["kind"]) != "converges" or r["rank"] is None else r["rank"]
                 for r in ex]
        dirs = [_direction(r["final"]) for r in ex] if S0.shape[-1] == 2 else []
        out["exact"] = {
            "counts": dict(Counter(r["kind"] for r in ex)), "status": dict(Counter(r["status"] for r in ex)),
            "t_blowup": _stats([r["t_blowup"] for r in ex]), "final_rank": dict(Counter(ranks)),
            "directions_deg": _top_angles(dirs), "nfev": _stats([r["nfev"] for r in ex]),
            "members": [{"kind": r["kind"], "status": r["status"], "t_blowup": r["t_blowup"],
                         "t_end": r["t_end"], "rank": rk, "final": r["final"].tolist(), "note": r["note"]}
                        for r, rk in zip(ex, ranks, strict=True)],
        }
    if eu is not None and ex is not None:
        out["comparison"] = _compare(run, eu, ex)
    return out


def _compare(run: Run, eu: EulerResult, ex: list[dict[str, Any]]) -> dict[str, Any]:
    cross = Counter(f"{s} / {_growth(r['kind'])}" for s, r in zip(eu.status, ex, strict=True))
    rel_t = []
    for m, r in enumerate(ex):
        if eu.status[m] == "diverged" and r["t_blowup"] is not None:
            rel_t.append((eu.iters[m] * run.step - r["t_blowup"]) / r["t_blowup"])
    both = [m for m, r in enumerate(ex) if eu.status[m] == "converged" and _growth(r["kind"]) == "converges"]
    err = [float(np.linalg.norm(eu.final[m] - ex[m]["final"]) / max(np.linalg.norm(ex[m]["final"]), 1e-300))
           for m in both]
    rank_mismatch = sum(_rank_rel(eu.final[m]) != _rank_rel(ex[m]["final"]) for m in both)
    dir_gap = [abs(((_direction(eu.final[m]) - _direction(ex[m]["final"])) + 90) % 180 - 90)
               for m in range(len(ex)) if eu.final.shape[-1] == 2]
    return {"cross": dict(cross), "euler_stop_minus_Tstar_rel": _stats(rel_t),
            "converged_final_rel_error": _stats(err), "rank_mismatch_both_converged": int(rank_mismatch),
            "direction_gap_deg": _stats(dir_gap)}


def _explain(run: Run, c: dict[str, Any]) -> list[str]:
    """Human-readable reasons for the disagreements recorded in ``c`` (a run's comparison)."""
    lines = []
    cross = c["cross"]
    n_exp = cross.get("diverged / exponential growth", 0)
    if n_exp:
        lines.append(f"{n_exp} Euler 'diverged' (tr Σ > {run.tol_high:g}) are exponential growth for the exact "
                     "flow, not a finite-time blow-up: the Euler stopping rule cannot tell them apart.")
    n_fb = cross.get("diverged / finite-time blow-up", 0)
    st = c["euler_stop_minus_Tstar_rel"]
    if n_fb and st is not None:
        lines.append(f"{n_fb} 'diverged' are genuine finite-time blow-ups; Euler stops at iters·h with relative "
                     f"offset (t_E − T*)/T* in [{st['min']:.3g}, {st['max']:.3g}] (median {st['median']:.3g}): "
                     "explicit Euler lags a 1/(T* − t) singularity and stops at tr Σ = tol_high, not at T*.")
    for key, why in (("diverged / converges", "Euler overshoots (step too large for these Σ₀) although the exact "
                      "flow converges"),
                     ("converged / finite-time blow-up", "Euler's ‖Σ̇‖_F < tol stopped early on a trajectory that "
                      "blows up later"),
                     ("converged / exponential growth", "Euler's ‖Σ̇‖_F < tol stopped early on a trajectory that "
                      "grows exponentially later"),
                     ("max_iter / converges", "Euler hit max_iter before ‖Σ̇‖_F < tol (slow ~1/t convergence); "
                      "the exact flow does converge"),
                     ("max_iter / finite-time blow-up", "Euler hit max_iter while the exact flow blows up"),
                     ("max_iter / exponential growth", "Euler hit max_iter while the exact flow grows")):
        if cross.get(key, 0):
            lines.append(f"{cross[key]} × '{key}': {why}.")
    e = c["converged_final_rel_error"]
    if e is not None:
        lines.append(f"where both converge, ‖Σ_Euler − Σ_exact‖/‖Σ_exact‖ at the end: median {e['median']:.2g}, "
                     f"max {e['max']:.2g} (Euler stops at ‖Σ̇‖_F < {run.tol:g}; the exact run continues to "
                     f"t = {run.horizon:g}); final rank differs for {c['rank_mismatch_both_converged']}.")
    return lines


# --------------------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------------------
_COLORS = {"converged": "tab:blue", "diverged": "tab:red", "max_iter": "0.5",
           "converges": "tab:blue", "finite-time blow-up": "tab:red", "exponential growth": "tab:orange",
           "other": "0.5"}


def _draw_paths(ax3: Any, ax2: Any, paths: list[np.ndarray], colors: list[str], zcap: float) -> None:
    from matplotlib.collections import LineCollection
    from mpl_toolkits.mplot3d.art3d import Line3DCollection

    from .plot import cone_coordinates, disk_coordinates

    segs3, segs2, c3, c2 = [], [], [], []
    for P, col in zip(paths, colors, strict=True):
        P = 0.5 * (P + np.swapaxes(P, -1, -2))
        xyz = cone_coordinates(P)
        xyz = xyz[xyz[:, 2] <= zcap]
        if len(xyz) >= 2:
            segs3.append(xyz)
            c3.append(col)
        dd = disk_coordinates(P)
        dd = dd[np.all(np.isfinite(dd), axis=1)]
        if len(dd) >= 2:
            segs2.append(dd)
            c2.append(col)
    ax3.add_collection3d(Line3DCollection(segs3, colors=c3, linewidths=0.6, alpha=0.7))
    st = np.array([cone_coordinates(0.5 * (P[0] + P[0].T)) for P in paths])
    ax3.scatter(st[:, 0], st[:, 1], st[:, 2], s=2, color="k")
    r, phi = np.meshgrid(np.linspace(0.0, zcap, 8), np.linspace(0.0, 2 * np.pi, 37))
    ax3.plot_surface(r * np.cos(phi), r * np.sin(phi), r, color="0.6", alpha=0.1, linewidth=0)
    ax3.set(xlim=(-zcap, zcap), ylim=(-zcap, zcap), zlim=(0, zcap), xlabel="a−b", ylabel="2c", zlabel="a+b")
    ax2.add_collection(LineCollection(segs2, colors=c2, linewidths=0.6, alpha=0.7))
    th = np.linspace(0, 2 * np.pi, 257)
    ax2.plot(np.cos(th), np.sin(th), "k", lw=0.8)
    d0 = np.array([disk_coordinates(0.5 * (P[0] + P[0].T)) for P in paths])
    ax2.plot(d0[:, 0], d0[:, 1], ".", color="k", ms=1.5)
    ax2.set(xlim=(-1.05, 1.05), ylim=(-1.05, 1.05), aspect="equal", xlabel="(a−b)/(a+b)", ylabel="2c/(a+b)")


def _figure_grid(exp: Experiment, S0: np.ndarray, results: list[tuple[Run, EulerResult | None, Any]],
                 path: Path, max_paths: int = 400) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    schemes = [s for s in ("euler", "exact") if any((eu if s == "euler" else ex) is not None
                                                    for _, eu, ex in results)]
    ncol = 2 * len(schemes)
    nrow = len(results)
    fig = plt.figure(figsize=(3.4 * ncol, 3.3 * nrow))
    sel = np.arange(len(S0))
    if sel.size > max_paths:
        sel = sel[:: -(-sel.size // max_paths)]
    for i, (run, eu, ex) in enumerate(results):
        for j, s in enumerate(schemes):
            ax3 = fig.add_subplot(nrow, ncol, i * ncol + j + 1, projection="3d")
            ax2 = fig.add_subplot(nrow, ncol, i * ncol + len(schemes) + j + 1)
            if s == "euler" and eu is not None:
                paths = [eu.path(m) for m in sel]
                cols = [_COLORS[eu.status[m]] for m in sel]
                tag = "Euler + PSD proj. (blue conv., red div., grey max_iter)"
            elif ex is not None:
                paths = [ex[m]["path"] for m in sel]
                cols = [_COLORS[_growth(ex[m]["kind"])] for m in sel]
                tag = "exact (blue conv., red blow-up, orange exp. growth)"
            else:  # pragma: no cover - schemes lists only those present
                continue
            _draw_paths(ax3, ax2, paths, cols, zcap=3.0)
            ax3.set_title(f"{run.label}: cone, {s}", fontsize=8)
            ax2.set_title(f"{run.label}: disk, {tag}", fontsize=6)
    sub = f" ({sel.size} of {len(S0)} paths)" if sel.size < len(S0) else ""
    fig.suptitle(f"Castin et al. 2025 ({exp.key}) {exp.title}{sub}; cone clipped at tr Σ ≤ 3", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _figure_ranks(rank_results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = sorted({int(k.split("_d")[1]) for k in rank_results})
    fig, axes = plt.subplots(2, len(dims), figsize=(4.2 * len(dims), 6.4), squeeze=False)
    series = [(v, s) for v in ("softmax", "l2") for s in ("euler", "exact")]
    width = 0.8 / len(series)
    for i, vtype in enumerate(("identity", "random")):
        for j, d in enumerate(dims):
            ax = axes[i, j]
            ranks = np.arange(d + 1)
            for k, (variant, s) in enumerate(series):
                r = rank_results.get(f"{variant}_{vtype}_d{d}")
                if r is None or s not in r:
                    continue
                counts = [r[s]["histogram"].get(str(q), 0) for q in ranks]
                ax.bar(ranks - 0.4 + (k + 0.5) * width, counts, width, color=f"C{0 if variant == 'softmax' else 1}",
                       hatch="//" if s == "exact" else None, edgecolor="k", lw=0.4,
                       label=f"{'softmax' if variant == 'softmax' else 'L2'} {s}")
            ax.set_title(f"V {vtype}, d = {d}", fontsize=9)
            ax.set_xticks(ranks)
            ax.set_xlabel("rank (eigenvalues > 0.1)")
            ax.set_ylabel("count")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Castin et al. 2025: limiting ranks (Q ∈ R^{⌊d/2⌋×d}, K = −Q)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --------------------------------------------------------------------------------------------------------
# rank histograms
# --------------------------------------------------------------------------------------------------------
RANK_STEPS: dict[tuple[str, str], tuple[tuple[float, float, float], float, int]] = {
    ("softmax", "identity"): ((0.09, 0.05, 0.02), 1e-4, 60_000),
    ("softmax", "random"): ((0.09, 0.06, 0.02), 5e-5, 90_000),
    ("l2", "identity"): ((0.09, 0.06, 0.02), 1e-4, 60_000),
    ("l2", "random"): ((0.15, 0.15, 0.15), 5e-5, 50_000),
}
RANK_V_SEED = {"softmax": 26, "l2": 27}


def rank_draws(variant: str, vtype: str, d: int, samples: int = 100, sigma_pool: int = 3
               ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Draws of one rank-histogram cell.

    seed 40: ``samples`` × Q = randn(⌊d/2⌋, d); V = I, or seed 26 (softmax) / 27 (L2): M = randn(d, d),
    V = MᵀM (one per cell); seed 41: Σ₀ = SSᵀ, S = randn(d, d), ``sigma_pool`` × ``samples`` of them
    (sample s uses the pool in order s, s + samples, …: the first, then the retries).

    Returns
    -------
    Qs : list of ndarray (⌊d/2⌋, d); V : (d, d); Sigma0s : ndarray (sigma_pool·samples, d, d)
    """
    np.random.seed(40)
    Qs = [np.random.randn(d // 2, d) for _ in range(samples)]
    if vtype == "identity":
        V = np.eye(d)
    else:
        np.random.seed(RANK_V_SEED[variant])
        M = np.random.randn(d, d)
        V = M.T @ M
    np.random.seed(41)
    pool = []
    for _ in range(sigma_pool * samples):
        S = np.random.randn(d, d)
        pool.append(S @ S.T)
    return Qs, V, np.array(pool)


def _rank_params(variant: str, Q: np.ndarray, V: np.ndarray) -> dict[str, Any]:
    return softmax_params(Q, -Q, V) if variant == "softmax" else l2_params(Q, -Q, V)


def _euler_heterogeneous(variant: str, plist: list[dict[str, Any]], S0: np.ndarray, step: float, tol: float,
                         max_iter: int) -> EulerResult:
    """Euler on members with different weights: stack them in the batch dimension (same formulas)."""
    stacked = {k: np.stack([p[k] for p in plist]) if np.ndim(plist[0][k]) else plist[0][k] for k in plist[0]}
    return euler_sigma(variant, stacked, S0, step=step, tol=tol, max_iter=max_iter, batched=True)


def _run_ranks(variant: str, vtype: str, d: int, samples: int, schemes: set[str], pool: _Pool,
               max_iter_cap: int | None) -> dict[str, Any]:
    steps, tol, max_iter = RANK_STEPS[(variant, vtype)]
    if max_iter_cap is not None:
        max_iter = min(max_iter, max_iter_cap)
    step = steps[d - 3]
    retries = 3
    Qs, V, Spool = rank_draws(variant, vtype, d, samples, retries)
    plist = [_rank_params(variant, Q, V) for Q in Qs]
    keep_max = (d + 1) // 2
    used = np.zeros(samples, dtype=int)  # index into the pool per sample
    out: dict[str, Any] = {"variant": variant, "V": vtype, "d": d, "step": step, "tol": tol, "max_iter": max_iter,
                           "samples": samples, "V_matrix": V.tolist()}
    if "euler" in schemes:
        final = np.zeros((samples, d, d))
        status = np.full(samples, "max_iter", dtype=object)
        todo = np.arange(samples)
        for attempt in range(retries):
            S0 = Spool[attempt * samples + todo]
            res = _euler_heterogeneous(variant, [plist[s] for s in todo], S0, step, tol, max_iter)
            final[todo], status[todo] = res.final, res.status
            used[todo] = attempt * samples + todo
            todo = todo[res.status != "converged"]
            if todo.size == 0:
                break
        ranks = [int(np.sum(np.linalg.eigvalsh(F) > HIST_THRESHOLD)) for F in final]
        kept = [r for r, s in zip(ranks, status, strict=True) if s == "converged" and r <= keep_max]
        out["euler"] = {"histogram": {str(k): v for k, v in sorted(Counter(kept).items())},
                        "converged": int(np.sum(status == "converged")),
                        "discarded_rank_above": int(sum(r > keep_max for r, s in zip(ranks, status, strict=True)
                                                        if s == "converged")),
                        "ranks": ranks, "status": status.tolist()}
    if "exact" in schemes:
        horizon = max_iter * step
        getters = []
        for s in range(samples):
            getters.append(pool.map_members(variant, plist[s], Spool[used[s]][None], horizon, keep_path=False))
        ex = [g()[0] for g in getters]
        ranks = [int(np.sum(np.linalg.eigvalsh(r["final"]) > HIST_THRESHOLD)) for r in ex]
        conv = [_growth(r["kind"]) == "converges" for r in ex]
        kept = [r for r, c in zip(ranks, conv, strict=True) if c and r <= keep_max]
        out["exact"] = {"histogram": {str(k): v for k, v in sorted(Counter(kept).items())},
                        "converged": int(sum(conv)), "kinds": dict(Counter(r["kind"] for r in ex)),
                        "discarded_rank_above": int(sum(r > keep_max for r, c in zip(ranks, conv, strict=True) if c)),
                        "ranks": ranks, "horizon": horizon}
    if "euler" in out and "exact" in out:
        out["rank_mismatch"] = int(sum(a != b for a, b in zip(out["euler"]["ranks"], out["exact"]["ranks"],
                                                               strict=True)))
    return out


# --------------------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------------------
def _outputs(out_dir: Path, keys: Sequence[str]) -> list[Path]:
    files = [out_dir / f"castin2025_{k}.png" for k in keys]
    return files + [out_dir / "castin2025_report.md", out_dir / "castin2025_summary.json"]


def _fmt_counts(c: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1])) or "—"


def _report_run(s: dict[str, Any]) -> list[str]:
    L = [f"### {s['label']} (Euler step {s['step']:g}, tol {s['tol']:g}, tol_high {s['tol_high']:g}, "
         f"max_iter {s['max_iter']:g}; exact horizon t = {s['exact_horizon']:g}; {s['n_members']} Σ₀)"]
    if "euler" in s:
        e = s["euler"]
        st = e["stop_time"]
        L.append(f"- Euler: {_fmt_counts(e['counts'])}; PSD clipping in {e['clipped']} runs; stop time iters·h "
                 f"median {st['median']:.4g} (range {st['min']:.4g}–{st['max']:.4g}); final rank (λ/λmax > "
                 f"{RANK_RTOL:g}) {_fmt_counts({str(k): v for k, v in e['final_rank'].items()})}; top directions "
                 f"(deg, count) {e['directions_deg']}")
    if "exact" in s:
        x = s["exact"]
        tb = x["t_blowup"]
        tbs = f"T* {tb['min']:.4g}–{tb['max']:.4g} (median {tb['median']:.4g}, n = {tb['n']})" if tb else "no T*"
        L.append(f"- exact: {_fmt_counts(x['counts'])}; solver status {_fmt_counts(x['status'])}; {tbs}; final "
                 f"rank {_fmt_counts({str(k): v for k, v in x['final_rank'].items()})}; top directions "
                 f"{x['directions_deg']}")
    if "comparison" in s:
        c = s["comparison"]
        L.append(f"- Euler status / exact regime: {_fmt_counts(c['cross'])}")
        for line in s.get("explanations", []):
            L.append(f"  - {line}")
    return L


def reproduce_castin2025(
    out_dir: str | os.PathLike[str],
    *,
    scheme: str = "both",
    experiments: Sequence[str] = EXPERIMENT_KEYS,
    quick: bool = False,
    force: bool = False,
    workers: int | None = None,
) -> dict[str, Any]:
    """Run the Gaussian experiments of Castin et al. (2025) with the authors' Euler scheme and/or exactly.

    Parameters
    ----------
    out_dir : path
        Directory for ``castin2025_<key>.png`` (one per experiment), ``castin2025_report.md`` and
        ``castin2025_summary.json``; created if missing.
    scheme : {"both", "exact", "euler"}
        "euler" = Σ-only explicit Euler + PSD projection with the authors' stopping rules (faithful);
        "exact" = :func:`gaussflow.solve.solve` from every Σ₀ (truth); "both" compares them.
    experiments : sequence of {"a", "b", "c", "d", "e", "f", "ranks"}
        Which rows of docs/math.md §6 to run.
    quick : bool
        Coarse version for tests: 4 × 4 grids, Euler max_iter capped at 800 (exact horizons capped
        accordingly), 3 rank samples per cell.
    force : bool
        Overwrite existing output files.
    workers : int, optional
        Processes for the exact runs (default 2; 1 runs in-process).

    Returns
    -------
    dict
        ``experiments`` (key → summary with per-run counts, per-member outcomes and comparison),
        ``report`` (Markdown text), ``files`` (written paths), ``elapsed`` (seconds).

    Raises
    ------
    ValueError
        Unknown ``scheme`` / experiment key, or an output file exists and ``force`` is False.
    """
    t_start = time.perf_counter()
    if scheme not in SCHEMES:
        raise ValueError(f"`scheme` must be one of {SCHEMES}; got {scheme!r}")
    if isinstance(experiments, str):
        experiments = (experiments,)
    keys = list(dict.fromkeys(experiments))
    bad = [k for k in keys if k not in EXPERIMENT_KEYS]
    if bad or not keys:
        raise ValueError(f"`experiments` must be a non-empty subset of {EXPERIMENT_KEYS}; got {list(experiments)!r}")
    keys = [k for k in EXPERIMENT_KEYS if k in keys]
    if workers is None:
        workers = 1 if quick else 2
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"`workers` must be a positive integer; got {workers!r}")
    out = Path(out_dir)
    files = _outputs(out, keys)
    check_writable(files, force, hint="pass force=True (CLI: --force)")
    out.mkdir(parents=True, exist_ok=True)
    schemes = {"euler", "exact"} if scheme == "both" else {scheme}
    cap = QUICK_MAX_ITER if quick else None
    pool = _Pool(workers)
    summary: dict[str, Any] = {}
    report = ["# Castin et al. (2025), arXiv:2501.18322 — Euler (authors' scheme) vs exact",
              "", f"scheme = {scheme}, quick = {quick}. Euler = Σ-only explicit Euler + PSD projection (eigenvalues "
              f"clipped at {PSD_FLOOR:g}), stops at ‖Σ̇‖_F < tol / tr Σ > tol_high / max_iter. Exact = "
              f"gaussflow.solve.solve (DOP853, rtol {EXACT_RTOL:g}, atol {EXACT_ATOL:g}), regime from "
              "gaussflow.spectrum.classify. Conventions: docs/castin2025.md.", ""]
    try:
        # submit every exact grid run first, so the two workers stay busy while Euler runs here
        prepared: dict[str, Any] = {}
        for key in keys:
            if key == "ranks":
                continue
            exp = experiment(key)
            n = QUICK_GRID if quick else exp.grid
            S0 = initial_grid(n, exp.half_width)
            runs = [r if cap is None else Run(r.label, r.variant, r.params, r.step, r.tol, r.tol_high,
                                              min(r.max_iter, cap), min(r.horizon, cap * r.step), r.exact_rtol,
                                              r.exact_form)
                    for r in exp.runs]
            pending = [(r, pool.map_members(r.variant, r.params, S0, r.horizon, rtol=r.exact_rtol, form=r.exact_form)
                        if "exact" in schemes else None) for r in runs]
            prepared[key] = (exp, n, S0, pending)
        for key in keys:
            t0 = time.perf_counter()
            if key == "ranks":
                res_r: dict[str, Any] = {}
                samples = QUICK_SAMPLES if quick else 100
                for variant in ("softmax", "l2"):
                    for vtype in ("identity", "random"):
                        for d in (3, 4, 5):
                            res_r[f"{variant}_{vtype}_d{d}"] = _run_ranks(variant, vtype, d, samples, schemes,
                                                                            pool, cap)
                _figure_ranks(res_r, out / "castin2025_ranks.png")
                summary["ranks"] = res_r
                report += _report_ranks(res_r, time.perf_counter() - t0)
                continue
            exp, n, S0, pending = prepared[key]
            results = []
            for r, get in pending:
                eu = (euler_sigma(r.variant, r.params, S0, step=r.step, tol=r.tol, tol_high=r.tol_high,
                                  max_iter=r.max_iter) if "euler" in schemes else None)
                results.append((r, eu, get() if get is not None else None))
            _figure_grid(exp, S0, results, out / f"castin2025_{key}.png")
            runs_s = []
            for r, eu, ex in results:
                s = _summarize_run(r, S0, eu, ex)
                if "comparison" in s:
                    s["explanations"] = _explain(r, s["comparison"])
                runs_s.append(s)
            summary[key] = {"title": exp.title, "grid": n, "half_width": exp.half_width,
                            "draws": {k: np.asarray(v).tolist() for k, v in exp.draws.items()}, "runs": runs_s,
                            "seconds": time.perf_counter() - t0}
            report += [f"## ({key}) {exp.title}", "",
                       f"Draws: {_fmt_draws(exp.draws)}; grid {n}×{n} on [−{exp.half_width:g}, "
                       f"{exp.half_width:g}]², {len(S0)} trace-one Σ₀; {time.perf_counter() - t0:.1f} s.", ""]
            for s in runs_s:
                report += _report_run(s) + [""]
    finally:
        pool.close()
    elapsed = time.perf_counter() - t_start
    report += [f"Total time: {elapsed:.1f} s.", ""]
    text = "\n".join(report)
    (out / "castin2025_report.md").write_text(text, encoding="utf-8")
    (out / "castin2025_summary.json").write_text(
        json.dumps({"paper": "arXiv:2501.18322", "scheme": scheme, "quick": quick, "elapsed": elapsed,
                    "experiments": summary}, default=_json_default), encoding="utf-8")
    return {"experiments": summary, "report": text, "files": [str(p) for p in files], "elapsed": elapsed}


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _fmt_draws(D: dict[str, Any]) -> str:
    parts = []
    for k, v in D.items():
        a = np.asarray(v)
        parts.append(f"{k} = {np.array2string(a, precision=4, separator=', ')}" if a.ndim else f"{k} = {v}")
    return "; ".join(parts).replace("\n", "")


def _report_ranks(res: dict[str, Any], seconds: float) -> list[str]:
    L = ["## (ranks) limiting ranks, d = 3, 4, 5", "",
         f"Rank = #eigenvalues of the final Σ above {HIST_THRESHOLD:g}; kept iff converged and rank ≤ (d+1)//2 "
         f"(the kernel dimension of A + Aᵀ = −2QᵀQ/√d); {seconds:.1f} s.", "",
         "| cell | Euler histogram | Euler conv. | exact histogram | exact regimes | rank mismatch |",
         "|---|---|---|---|---|---|"]
    for k, r in res.items():
        e, x = r.get("euler"), r.get("exact")
        L.append(f"| {k} (h={r['step']:g}) | {e['histogram'] if e else '—'} | "
                 f"{e['converged'] if e else '—'}/{r['samples']} | {x['histogram'] if x else '—'} | "
                 f"{_fmt_counts(x['kinds']) if x else '—'} | {r.get('rank_mismatch', '—')} |")
    return L + [""]


# --------------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------------
PAPERS: dict[str, Callable[..., dict[str, Any]]] = {"castin2025": reproduce_castin2025}


def _cmd_reproduce(args: argparse.Namespace) -> int:
    res = PAPERS[args.paper](args.out, scheme=args.scheme, experiments=tuple(args.only or EXPERIMENT_KEYS),
                             quick=args.quick, force=args.force)
    for p in res["files"]:
        print(f"wrote {p}")
    print(f"done in {res['elapsed']:.1f} s")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``gaussflow reproduce castin2025 [--out DIR] [--scheme …] [--only …] [--quick] [--force]``."""
    p = sub.add_parser(
        "reproduce", help="reproduce published experiments (Euler scheme vs exact solver)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Re-run a paper's Gaussian experiments with its own scheme and with the exact solver; "
                    "write figures, a Markdown report and a JSON summary.",
        epilog="examples:\n  gaussflow reproduce castin2025 --out figures/\n"
               "  gaussflow reproduce castin2025 --only a e --scheme exact --force\n"
               "  gaussflow reproduce castin2025 --quick --out /tmp/castin",
    )
    p.add_argument("paper", choices=sorted(PAPERS), help="which paper")
    p.add_argument("--out", default="figures", help="output directory (default: figures/)")
    p.add_argument("--scheme", choices=SCHEMES, default="both", help="euler, exact or both (default)")
    p.add_argument("--only", nargs="+", choices=EXPERIMENT_KEYS, metavar="KEY",
                   help=f"experiments to run, among {' '.join(EXPERIMENT_KEYS)} (default: all)")
    p.add_argument("--quick", action="store_true", help="coarse grids and short runs (smoke test)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.set_defaults(func=_cmd_reproduce)


__all__ = [
    "EXPERIMENT_KEYS", "Experiment", "Run", "add_parser", "draws", "euler_sigma", "experiment", "initial_grid",
    "l2_params", "multihead_params", "psd_project", "rank_draws", "reproduce_castin2025", "sigma_rhs",
    "sinkhorn_params", "softmax_params",
]
