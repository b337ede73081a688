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

Kernels (by the variant's ``normalization``; one registry, :data:`gaussflow.kernels.NORMALIZATIONS`):

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

import time
from typing import Any

import numpy as np

from .._checks import as_array, check_positive
from .._progress import progress_bar, resolve
from ..attention import Attention
from ..gaussian import Gaussian
from ..kernels import NORMALIZATIONS
from ..kernels.field import (
    SINKHORN_MAX_ITER,
    Field,
    ParticleOverflowError,
    SinkhornConvergenceError,
    numeric_heads,
)
from ..kernels.sinkhorn import SinkhornResult, sinkhorn_plan
from .result import FORMAT, STATUSES, ParticleTrajectory, ParticleTrajectoryError
from .stepping import KEEP, MAX_STEPS, METHODS, Recorder, Run


def _check_beta(beta: Any, attn: Attention) -> float | None:
    """``beta`` of the particle engine: None (the attention's own) or np.inf (hardmax, softmax kernels only)."""
    if beta is None:
        return None
    try:
        b = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"`beta` must be None or np.inf; got {beta!r}") from None
    if b != np.inf:
        raise ValueError(f"`beta` must be None or np.inf (a finite β is a parameter of the Attention); got {beta!r}")
    if NORMALIZATIONS[attn.closure.variant.normalization].zero_temperature_kernel is None:
        raise ValueError(f"`beta=np.inf` (hardmax) is the zero-temperature limit of softmax attention; "
                         f"{attn.name!r} is normalized by {attn.closure.variant.normalization!r}, which has none")
    return b


def make_field(attn: Attention, chunk: int | None, causal: bool, sinkhorn_tol: float,
               beta: float | None = None) -> Field:
    v = attn.closure.variant
    norm = NORMALIZATIONS[v.normalization]
    kernel = norm.zero_temperature_kernel if beta == np.inf else norm.particle_kernel
    if causal and norm.no_causal_form:
        raise ValueError(f"`causal=True` is not defined for {v.normalization!r}: {norm.no_causal_form}")
    W_ff = b_ff = None
    if v.feedforward:
        W_ff = np.asarray(attn.params[v.param("W_ff").name], dtype=float)
        b_ff = np.asarray(attn.params[v.param("b_ff").name], dtype=float).reshape(-1)
    return Field(numeric_heads(attn), v.normalization, kernel, v.residual, W_ff, b_ff, chunk, causal,
                 sinkhorn_tol)


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
    beta: float | None = None,
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
    beta : None or np.inf
        ``np.inf``: the zero-temperature (hardmax) limit of a softmax-normalized attention, every head's
        mean the barycentre of its argmax tokens, ties averaged (``gaussflow.kernels.softmax``).

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
    fld = make_field(attn, _check_chunk(chunk), bool(causal), check_positive("sinkhorn_tol", sinkhorn_tol),
                     _check_beta(beta, attn))
    return fld(np.ascontiguousarray(Xa))


# --------------------------------------------------------------------------- trajectory




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
    beta: float | None = None,
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
        Progress bar on stderr (:mod:`gaussflow._progress`); default: only when stderr is a terminal (and
        not under ``--quiet``); inside another bar (e.g. :func:`gaussflow.verify.verify`'s) it moves that one.
    rtol, atol : float
        Tolerances of ``method="adaptive"``.
    sinkhorn_tol : float
        Marginal tolerance of the per-step Sinkhorn plans (variant ``sinkhorn``).
    beta : None or np.inf
        ``np.inf`` runs the hardmax (β = ∞) dynamics of a softmax-normalized attention (ties averaged:
        a Filippov solution; solutions of the β = ∞ flow need not be unique, docs/lowtemp.md).

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
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"`method` must be one of {sorted(METHODS)}; got {method!r}")
    if not isinstance(keep, str) or keep not in KEEP:
        raise ValueError(f"`keep` must be one of {list(KEEP)}; got {keep!r}")
    chunk = _check_chunk(chunk)
    t = _check_t_eval(t_eval)
    if dt is not None:
        dt = check_positive("dt", dt)
        if t.size > 1 and float(t[-1] - t[0]) / dt > MAX_STEPS:
            raise ValueError(f"`dt` = {dt:g} would take {float(t[-1] - t[0]) / dt:.3g} steps over t_eval; at most "
                             f"{MAX_STEPS:.0e} are allowed (bounded run time) — raise `dt`")
    rtol = check_positive("rtol", rtol)
    atol = check_positive("atol", atol)
    sinkhorn_tol = check_positive("sinkhorn_tol", sinkhorn_tol)
    resolve(progress)  # a ValueError naming `progress` for anything but True, False, None
    X = _initial_state(attn, X0, n, seed)
    fld = make_field(attn, chunk, bool(causal), sinkhorn_tol, _check_beta(beta, attn))
    if method == "rk4" and dt is None:
        span = float(t[-1] - t[0])
        dt = min(float(np.min(np.diff(t))), span / 20) if t.size > 1 else 1.0
    rec = Recorder(t.size, X.shape[0], X.shape[1], keep == "all")
    opts = {"dt": dt, "rtol": rtol, "atol": atol}
    start = time.perf_counter()
    with progress_bar(float(t[-1] - t[0]), "particles", progress, start=float(t[0]), unit="t") as bar:
        try:
            run = METHODS[method](fld, X, t, rec, bar, opts)
        except ParticleOverflowError as exc:
            run = Run(status="blowup", message=str(exc), dt=dt)
        except SinkhornConvergenceError as exc:
            run = Run(status="failed", message=str(exc), dt=dt)
        finally:
            bar.set(float(t[rec.count - 1]) if rec.count else float(t[0]), force=True)
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
        "beta": None if beta is None else "inf",
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
