""":func:`verify`: closure against particles, as a report."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._checks import as_array, check_cov, check_mean
from .._io import jsonable
from .._progress import ProgressBar, progress_bar, resolve
from ..attention import Attention
from ..gaussian import Gaussian
from .metrics import REPEATS_MAX, ClosureRHS, bw_unchecked, relative_errors, sampling_scale
from .report import ConvergenceStudy, VerificationReport
from .runs import ClosureRun, ParticleRun, closure_run, empirical, gh_degree, particle_run, projection_closure_rhs


def law_arg(law0: Any, d: int) -> Gaussian:
    if isinstance(law0, Gaussian):
        g = law0
    elif isinstance(law0, tuple | list) and len(law0) == 2:
        g = Gaussian(check_mean("law0.mean", law0[0]), check_cov("law0.cov", law0[1]))
    else:
        raise ValueError(f"`law0` must be a Gaussian or a (mean, cov) pair; got {type(law0).__name__}")
    if g.d != d:
        raise ValueError(f"`law0` has d = {g.d} but `attn` has d = {d}")
    if not float(np.trace(g.cov)) > 0:
        raise ValueError("`law0.cov` is zero: every particle starts at the mean, so there is no covariance to "
                         "compare (the relative errors would be 0/0); give a non-zero covariance")
    return g


def pos_int(name: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"`{name}` must be an integer ≥ {low}; got {value!r}")
    return int(value)




def compare(attn: Attention, X0: np.ndarray, t: np.ndarray, rhs: ClosureRHS | None, chunk: int | None,
             method: str, dt: float | None, stats: bool, progress: bool = False
             ) -> tuple[ParticleRun, ClosureRun, int]:
    m0, C0 = empirical(X0)
    pr = particle_run(attn, X0, t, chunk, method, dt, stats, progress)
    cr = closure_run(attn, m0, C0, t, rhs)
    return pr, cr, min(pr.t.size, cr.t.size)


def _convergence(attn: Attention, g: Gaussian, t: np.ndarray, ns: list[int], reps: list[int], seed: int,
                 rhs: ClosureRHS | None, chunk: int | None, method: str, dt: float | None, bar: ProgressBar
                 ) -> ConvergenceStudy:
    """The convergence study of :func:`verify`: ``reps[a]`` seeds at ``ns[a]`` particles, one bar stage per run."""
    inner = bar.enabled or bar.parent is not None
    samples = np.full((len(ns), max(reps)), np.nan)
    for a, k in enumerate(ns):
        for r in range(reps[a]):
            with bar.stage(f"n = {k}, seed {seed + r}"):
                p, c, Tk = compare(attn, g.sample(k, seed + r), t, rhs, chunk, method, dt, stats=False,
                                   progress=inner)
            if Tk == t.size:
                samples[a, r] = relative_errors(p.mean[-1], p.cov[-1], c.mean[-1], c.cov[-1])[1]
    errors = np.array([math.sqrt(float(np.mean(row[np.isfinite(row)] ** 2))) if np.any(np.isfinite(row))
                       else math.nan for row in samples])
    good = np.isfinite(errors) & (errors > 0)
    if np.count_nonzero(good) >= 2:
        slope, icpt = np.polyfit(np.log(np.asarray(ns, float)[good]), np.log(errors[good]), 1)
    else:
        slope = icpt = math.nan
    return ConvergenceStudy(np.asarray(ns, dtype=float), errors, samples, float(slope), float(icpt), float(t[-1]))


def verify(
    attn: Attention,
    law0: Gaussian | tuple[Any, Any],
    t_eval: Any,
    *,
    n: int = 4000,
    seed: int = 0,
    ns: Sequence[int] | None = None,
    repeats: int = 3,
    chunk: int | None = None,
    method: str = "rk4",
    dt: float | None = None,
    closure_rhs: ClosureRHS | None = None,
    degree: int | None = None,
    progress: bool | None = None,
) -> VerificationReport:
    """Compare the Gaussian closure with the interacting-particle system.

    Draws n particles from ``law0`` with ``seed``, runs :func:`~gaussflow.particles.simulate_particles`,
    integrates the closure from the cloud's *empirical* initial moments (1/n normalization), and compares
    the two per time (Bures–Wasserstein distance, relative mean and covariance errors) together with
    Mardia's normality statistics of the cloud.

    Closure used: for a Gaussian-preserving variant the exact moment ODE via
    :func:`gaussflow.integrate.solve.solve`; with ``closure_rhs`` that function; otherwise the built-in
    Gaussian-projection closure :func:`projection_closure_rhs` (tensor Gauss–Hermite, ``degree`` nodes per axis,
    d ≤ 3), integrated with ``solve_ivp`` (DOP853, rtol 1e-8) -- an approximation for non-closing variants.

    Parameters
    ----------
    attn : Attention
    law0 : Gaussian or (mean (d,), cov (d, d))
        Law of the initial particles.
    t_eval : array_like, shape (T,)
        Strictly increasing times; ``t_eval[0]`` is the initial time.
    n : int
        Particles of the main run.
    seed : int
        Seed of the main run; the convergence study uses seeds ``seed, seed + 1, ...`` for every n.
    ns : sequence of int, optional
        Particle numbers of a convergence study (≥ 2 distinct values): relative covariance error at the
        last time, RMS over ``repeats`` seeds, and its log-log slope against n.
    repeats : int
        Seeds at the largest n of the convergence study; a smaller n gets repeats·n_max/n seeds (at most
        ``REPEATS_MAX``): the same particle budget per n, which makes the small-n errors precise at little
        cost (a run costs O(n²)) and steadies the fitted slope.
    chunk, method, dt :
        Passed to :func:`~gaussflow.particles.simulate_particles` (``dt`` default:
        min(min Δt_eval, (t_eval[-1] − t_eval[0])/20)).
    closure_rhs : callable (alpha (d,), Sigma (d, d)) -> (alpha_dot (d,), Sigma_dot (d, d)), optional
        Moment closure to compare against (e.g. another projection closure).
    degree : int, optional
        Gauss–Hermite nodes per axis of the built-in projection closure (default :func:`gh_degree`).
    progress : bool, optional
        One bar on stderr over the particle runs (the main run, then every run of the convergence study),
        moved within a run by its time stepping. Default: only when stderr is a terminal (and not under
        ``--quiet``).

    Returns
    -------
    VerificationReport

    Raises
    ------
    ValueError
        Bad arguments (named), d mismatch, non-closing variant with d > 3 and no ``closure_rhs``.

    Notes
    -----
    Mardia's statistics need the positions: for n ≤ ``KEEP_ALL_MAX_N`` the particles run with
    keep="all" (T·n·d floats); above, the run is split at the sample times and only the current cloud is held.
    """
    if not isinstance(attn, Attention):
        raise ValueError(f"`attn` must be an Attention (see gaussflow.attention); got {type(attn).__name__}")
    g = law_arg(law0, attn.d)
    t = as_array("t_eval", t_eval)
    t = t.reshape(1) if t.ndim == 0 else t
    if t.ndim != 1 or t.size < 2 or not np.all(np.diff(t) > 0):
        raise ValueError(f"`t_eval` must be a strictly increasing 1-D array of ≥ 2 times; got {t}")
    n = pos_int("n", n, 2)
    seed = pos_int("seed", seed, 0)
    repeats = pos_int("repeats", repeats, 1)
    resolve(progress)
    if closure_rhs is not None and not callable(closure_rhs):
        raise ValueError(f"`closure_rhs` must be callable (alpha, Sigma) -> (alpha_dot, Sigma_dot); "
                         f"got {closure_rhs!r}")
    ns_arr: list[int] | None = None
    if ns is not None:
        ns_arr = sorted({pos_int("ns", k, 2) for k in ns})
        if len(ns_arr) < 2:
            raise ValueError(f"`ns` must hold at least two distinct particle numbers; got {ns!r}")
    if closure_rhs is not None:
        rhs: ClosureRHS | None = closure_rhs
        kind = "user closure_rhs"
    elif attn.preserves_gaussian:
        rhs, kind = None, "exact"
    else:
        degree = gh_degree(attn.d) if degree is None else degree
        rhs = projection_closure_rhs(attn, degree)
        kind = f"projection (Gauss–Hermite degree {degree})"

    X0 = g.sample(n, seed)
    C0 = np.cov(X0.T, bias=True).reshape(attn.d, attn.d)
    if not float(np.trace(C0)) > 0:
        raise ValueError(f"`law0.cov` (trace {float(np.trace(g.cov)):.3g}) is below the float resolution at the mean "
                         f"(|mean| = {float(np.linalg.norm(g.mean)):.3g}): the {n} sampled particles coincide, so "
                         "there is no covariance to compare")
    reps = [min(REPEATS_MAX, max(repeats, round(repeats * ns_arr[-1] / k))) for k in ns_arr] if ns_arr else []
    with progress_bar(1 + sum(reps), f"verify {attn.name}", progress) as bar:
        inner = bar.enabled or bar.parent is not None
        with bar.stage(f"n = {n}"):
            pr, cr, T = compare(attn, X0, t, rhs, chunk, method, dt, stats=True, progress=inner)
        conv = None if ns_arr is None else _convergence(attn, g, t, ns_arr, reps, seed, rhs, chunk, method, dt, bar)
    bw = np.empty(T)
    em = np.empty(T)
    ec = np.empty(T)
    for i in range(T):
        bw[i] = bw_unchecked(pr.mean[i], pr.cov[i], cr.mean[i], cr.cov[i])
        em[i], ec[i] = relative_errors(pr.mean[i], pr.cov[i], cr.mean[i], cr.cov[i])
    mar = pr.mardia[:T]

    msg = f"particles: {pr.message}; closure: {cr.message}"
    if T < t.size:
        msg += f"; compared the first {T} of {t.size} times"
    return VerificationReport(
        variant=attn.name, n=n, seed=seed, t=t[:T], particle_mean=pr.mean[:T], particle_cov=pr.cov[:T],
        closure_mean=cr.mean[:T], closure_cov=cr.cov[:T], bw=bw, rel_mean_error=em, rel_cov_error=ec,
        mardia_b1=np.array([m.b1 for m in mar]), mardia_b2=np.array([m.b2 for m in mar]),
        mardia_skew_p=np.array([m.skewness_p for m in mar]), mardia_kurt_p=np.array([m.kurtosis_p for m in mar]),
        closed=bool(attn.preserves_gaussian), closure_kind=kind, sampling_scale=sampling_scale(pr.cov[0], n),
        convergence=conv, particle_status=pr.status, closure_status=cr.status, message=msg,
        params={k: jsonable(v) for k, v in attn.params.items()},
    )
