"""The two sides of a verification: the closure ODE and the particle run, from the same initial cloud."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.integrate import solve_ivp

from .._progress import progress_bar
from ..attention import Attention
from ..gaussian import Gaussian
from ..particles.engine import simulate_particles
from ..projection import projection_rhs
from .metrics import GH_DEGREES, GH_MAX_DIM, KEEP_ALL_MAX_N, ClosureRHS, Mardia, mardia_unchecked


def gh_degree(d: int) -> int:
    """Default Gauss–Hermite nodes per axis in dimension d ≤ 3 (64, 32, 16)."""
    return GH_DEGREES.get(d, 16)


def projection_closure_rhs(attn: Attention, degree: int | None = None) -> ClosureRHS:
    """Gaussian-projection closure of ``attn`` by tensor Gauss–Hermite cubature (d ≤ 3).

    α̇ = E[Γ(X)],  Σ̇ = E[(X − α)Γ(X)ᵀ] + E[Γ(X)(X − α)ᵀ],  X = α + L ξ ~ N(α, Σ), ξ ~ N(0, I),

    L = Σ^{1/2} (eigh, so singular Σ is fine), Γ = ``attn.velocity(·, α, Σ)`` and E over ξ replaced by
    the k-point-per-axis Gauss–Hermite rule (probabilists' weight e^{−ξ²/2}), exact when the integrands are
    polynomials of degree ≤ 2k − 1 in ξ, hence exact (to rounding) for every closed variant, whose Γ is
    affine. For non-affine Γ it is an approximation twice over: the projection itself and the cubature.

    Returns
    -------
    callable (alpha (d,), Sigma (d, d)) -> (alpha_dot (d,), Sigma_dot (d, d))
    """
    d = attn.d
    if d > GH_MAX_DIM:
        raise ValueError(f"the built-in projection closure supports d ≤ {GH_MAX_DIM}; got d = {d} "
                         "(pass `closure_rhs`)")
    degree = gh_degree(d) if degree is None else degree
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 2:
        raise ValueError(f"`degree` must be an integer ≥ 2; got {degree!r}")
    # k nodes per axis integrate polynomials of degree ≤ 2k − 1 exactly
    return projection_rhs(attn, rule="tensor", degree=2 * degree - 1)


@dataclass(frozen=True)
class ClosureRun:
    t: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    status: str
    message: str


#: budget of closure RHS evaluations in :func:`integrate_rhs` (bounded run time)
MAX_NFEV = 50_000


class _Stop(Exception):
    """Ends integrate_rhs's solve_ivp loop from inside the right-hand side."""


def integrate_rhs(rhs: ClosureRHS, m0: np.ndarray, C0: np.ndarray, t: np.ndarray) -> ClosureRun:
    """Integrate (α, Σ) under ``rhs`` with solve_ivp (DOP853, rtol 1e-8, atol 1e-10·scale)."""
    d = m0.shape[0]
    scale0 = max(float(np.trace(C0)), 1e-300)
    count = [0]

    def f(t_: float, y: np.ndarray) -> np.ndarray:
        # guards (issue 9): a NaN time (NaN step size) or a spent budget ends the run instead of spinning
        if not np.isfinite(t_) or count[0] >= MAX_NFEV:
            raise _Stop(f"closure integration abandoned at t = {t_!r} after {count[0]} RHS evaluations")
        count[0] += 1
        if not np.all(np.isfinite(y)):
            return np.full_like(y, np.nan)
        a, S = y[:d], y[d:].reshape(d, d)
        try:
            a_dot, S_dot = rhs(a, 0.5 * (S + S.T))
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):  # e.g. a diverging projection
            return np.full_like(y, np.nan)
        S_dot = np.asarray(S_dot, dtype=float)
        out = np.concatenate([np.asarray(a_dot, dtype=float).ravel(), (0.5 * (S_dot + S_dot.T)).ravel()])
        return out if np.all(np.isfinite(out)) else np.full_like(y, np.nan)

    def blowup(_t: float, y: np.ndarray) -> float:
        return 1e8 * scale0 - float(np.trace(y[d:].reshape(d, d)))

    blowup.terminal = True  # type: ignore[attr-defined]
    y0 = np.concatenate([m0, C0.ravel()])
    if t.size == 1:
        return ClosureRun(t, m0[None], C0[None], "ok", "single time")
    atol = 1e-10 * max(1.0, scale0, float(np.max(np.abs(m0))))
    with np.errstate(all="ignore"):
        if not np.all(np.isfinite(f(float(t[0]), y0))):
            return ClosureRun(t[:1], m0[None], C0[None], "failed",
                              "closure RHS is not finite at the initial state (overflow or a diverging projection)")
        try:
            sol = solve_ivp(f, (float(t[0]), float(t[-1])), y0, method="DOP853", t_eval=t, rtol=1e-8, atol=atol,
                            events=blowup)
        except (ValueError, FloatingPointError, _Stop) as exc:
            return ClosureRun(t[:1], m0[None], C0[None], "failed", f"closure RHS failed: {exc}")
    Y = np.asarray(sol.y, dtype=float).T.reshape(-1, y0.size)
    if Y.shape[0] == 0:  # failed before the first sample time after t[0]
        return ClosureRun(t[:1], m0[None], C0[None], "failed", f"closure integration failed: {sol.message}")
    ok = np.all(np.isfinite(Y), axis=1)
    T = int(np.argmin(ok)) if not np.all(ok) else Y.shape[0]
    Y = Y[:T]
    cov = Y[:, d:].reshape(T, d, d)
    cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
    if sol.status == 1 or T < t.size:
        status = "blowup" if sol.status == 1 or T < Y.shape[0] else "failed"
        msg = f"closure stopped at t = {sol.t[-1]:.6g}: " + ("tr Σ grew by 1e8" if sol.status == 1 else sol.message)
    else:
        status, msg = ("ok", "reached the end") if sol.status == 0 else ("failed", sol.message)
    return ClosureRun(sol.t[:T], Y[:, :d], cov, status, msg)


def closure_run(attn: Attention, m0: np.ndarray, C0: np.ndarray, t: np.ndarray, rhs: ClosureRHS | None) -> ClosureRun:
    if rhs is None:
        from ..integrate.solve import solve

        if t.size == 1:
            return ClosureRun(t, m0[None], C0[None], "ok", "single time")
        tr = solve(attn, Gaussian(m0, C0), (float(t[0]), float(t[-1])), t_eval=t, stationary_tol=None)
        k = 0
        while k < min(tr.t.size, t.size) and math.isclose(float(tr.t[k]), float(t[k]), rel_tol=1e-12, abs_tol=1e-14):
            k += 1
        return ClosureRun(t[:k], np.asarray(tr.mean[:k]), np.asarray(tr.cov[:k]), tr.status, tr.message)
    return integrate_rhs(rhs, m0, C0, t)


# --------------------------------------------------------------------------- particles


@dataclass(frozen=True)
class ParticleRun:
    t: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    mardia: list[Mardia]
    status: str
    message: str


def particle_run(attn: Attention, X0: np.ndarray, t: np.ndarray, chunk: int | None, method: str, dt: float | None,
               stats: bool, progress: bool = False) -> ParticleRun:
    """Run the particles; with ``stats`` also Mardia's statistics at every time.

    ``progress`` is passed to :func:`~gaussflow.particles.simulate_particles` (inside the bar of
    :func:`~gaussflow.verify.verify` the runs move that bar; the segmented run advances it per segment).

    n ≤ KEEP_ALL_MAX_N: one run with keep="all". Larger n: one run per sampling interval, continuing from
    the previous endpoint, so only the current cloud is held (RK4 takes the same steps as a single run
    because ``dt`` is fixed up front).
    """
    n = X0.shape[0]
    if dt is None and t.size > 1:
        dt = min(float(np.min(np.diff(t))), float(t[-1] - t[0]) / 20)
    kw: dict[str, Any] = {"method": method, "dt": dt, "chunk": chunk, "progress": progress}
    if not stats:
        p = simulate_particles(attn, X0, t, keep="moments", **kw)
        return ParticleRun(p.t, np.asarray(p.mean), np.asarray(p.cov), [], p.status, p.message)
    if n <= KEEP_ALL_MAX_N or t.size == 1:
        p = simulate_particles(attn, X0, t, keep="all", **kw)
        assert p.X is not None
        return ParticleRun(p.t, np.asarray(p.mean), np.asarray(p.cov), [mardia_unchecked(x) for x in p.X], p.status,
                            p.message)
    means, covs, mar = [], [], []
    X = X0
    Z = X - X.mean(axis=0)
    means.append(X.mean(axis=0))
    covs.append(0.5 * ((Z.T @ Z) / n + ((Z.T @ Z) / n).T))
    mar.append(mardia_unchecked(X))
    status, message = "ok", f"reached t = {t[-1]:g} in {t.size - 1} segments"
    with progress_bar(t.size - 1, "particles", progress) as bar:
        for k in range(t.size - 1):
            with bar.stage(f"segment {k + 1}/{t.size - 1}"):
                p = simulate_particles(attn, X, t[k:k + 2], keep="all", **kw)
            if p.status != "ok" or p.X is None or p.t.size < 2:
                status, message = p.status, p.message
                break
            X = np.asarray(p.X[-1])
            means.append(np.asarray(p.mean[-1]))
            covs.append(np.asarray(p.cov[-1]))
            mar.append(mardia_unchecked(X))
    T = len(means)
    return ParticleRun(t[:T], np.array(means), np.array(covs), mar, status, message)


def empirical(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = X.mean(axis=0)
    Z = X - m
    C = (Z.T @ Z) / X.shape[0]
    return m, 0.5 * (C + C.T)
