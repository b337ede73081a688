"""Batched integration of the Σ-only moment ODE for B small systems at once.

For the bilinear-score variants with the shortcut ``A`` (score s(x, y) = yᵀAx; Q = A, K = I, β = 1) the
covariance obeys a closed ODE that does not involve the mean α (MATH.md §3), Σ̇ = F(Σ) with

``softmax``   J = VΣA,                           Σ̇ = VΣAΣ + ΣAᵀΣVᵀ
``l2``        J = VΣ(I + Σ)⁻¹A,                   Σ̇ = JΣ + ΣJᵀ
``sinkhorn``  MΣ = 2ΣAΣ^{1/2}(I + R)⁻¹Σ^{1/2},     Σ̇ = V(MΣ) + (MΣ)ᵀVᵀ,
              R = (I + 4Σ^{1/2}AᵀΣAΣ^{1/2})^{1/2}

(the L2 Jacobian βVΣ(I + βKᵀKΣ)⁻¹KᵀQ with K = I, β = 1, Q = A). :func:`solve_batch` advances B such
systems with one vectorized embedded Runge–Kutta pair, Dormand–Prince 5(4) (the tableau of scipy's
``RK45``), each member with its own step size and error control, so a 100 × 100 phase diagram costs a
few hundred NumPy sweeps over (B, d, d) arrays instead of 10⁴ scalar ODE solves.

Outcomes per member mirror :func:`gaussflow.solve.solve` (``status`` ∈ {ok, blowup, converged, failed}):

* ``"blowup"`` — tr Σ exceeds ``blowup_threshold`` × tr Σ₀ with the finite-time signature. Near a
  softmax-type singularity q = 1/tr Σ has a simple zero at T*; the linear extrapolation of q through the
  last accepted state with its exact slope q̇ = −tr Σ̇/(tr Σ)² (one Newton step, T_N = t + tr Σ / tr Σ̇)
  has error O((T* − t)²), and an estimate taken at tr Σ ≥ √threshold × tr Σ₀ is combined with it by
  Richardson extrapolation, exactly as in ``solve``. A crossing without that signature (τ√growth larger
  than the time since the last threshold, i.e. exponential growth as for L2 / Sinkhorn) raises the
  member's threshold by the same factor and continues, until tr Σ reaches ``CAP``.
* ``"converged"`` — ‖Σ̇‖_F ≤ ``stationary_tol``·max(‖Σ‖_F, ε_Σ) or ‖Σ‖_F ≤ ε_Σ, ε_Σ = 1e-8·‖Σ₀‖_F (the
  rule of ``solve`` with α = 0), tested at t₀ and after every accepted step.
* ``"ok"`` — t_span[1] reached; ``"failed"`` — ``max_steps`` accepted+rejected steps spent or the step
  size underflowed.

References
----------
J. R. Dormand, P. J. Prince, "A family of embedded Runge–Kutta formulae", J. Comput. Appl. Math. 6 (1980);
E. Hairer, S. P. Nørsett, G. Wanner, *Solving Ordinary Differential Equations I*, §II.4 (step-size
control); scipy.integrate.RK45 (tableau, initial step selection).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from ._checks import as_array, check_real
from ._linalg import sqrtm_psd

#: hard cap on tr Σ (as in gaussflow.solve)
CAP = 1e100

#: collapse floor ε_Σ relative to ‖Σ₀‖_F (gaussflow.solve.COLLAPSE_RTOL, applied to scale² = ‖Σ₀‖_F)
COLLAPSE_RTOL = 1e-8

#: the outcomes of a member (same as gaussflow.trajectory.STATUSES)
STATUSES: tuple[str, ...] = ("ok", "blowup", "converged", "failed")

_TINY = 1e-300

# Dormand–Prince 5(4), as in scipy.integrate._ivp.rk.RK45 (FSAL: the 7th stage is f at the new state)
_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0])
_A = [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
]
_B = np.array([35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84])
_E = np.array([-71 / 57600, 0.0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40])
_ORDER_ERR = 4  # exponent 1/(q+1) of the step-size controller, q = 4 the order of the error estimate
_SAFETY, _MIN_FACTOR, _MAX_FACTOR = 0.9, 0.2, 10.0


# --------------------------------------------------------------------------- batched right-hand sides


def _sym(P: np.ndarray) -> np.ndarray:
    return P + np.swapaxes(P, -1, -2)


def _rhs_softmax(A: np.ndarray, V: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Σ̇ = VΣAΣ + ΣAᵀΣVᵀ, shapes (B, d, d)."""
    return _sym(V @ S @ A @ S)


def _rhs_l2(A: np.ndarray, V: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Σ̇ = JΣ + ΣJᵀ with J = VΣ(I + Σ)⁻¹A (L2 score −½‖Ax − y‖²)."""
    eye = np.eye(S.shape[-1])
    J = V @ S @ np.linalg.solve(eye + S, A)
    return _sym(J @ S)




def _rhs_sinkhorn(A: np.ndarray, V: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Σ̇ = V(MΣ) + (MΣ)ᵀVᵀ, MΣ = 2ΣAΣ^{1/2}(I + R)⁻¹Σ^{1/2}, R = (I + 4Σ^{1/2}AᵀΣAΣ^{1/2})^{1/2}."""
    eye = np.eye(S.shape[-1])
    H = sqrtm_psd(S)
    G = H @ np.swapaxes(A, -1, -2) @ S @ A @ H
    R = sqrtm_psd(eye + 4.0 * G)
    MS = 2.0 * S @ A @ H @ np.linalg.solve(eye + R, H)
    return _sym(V @ MS)


def _J_softmax(A: np.ndarray, V: np.ndarray, S: np.ndarray) -> np.ndarray:
    """J = ∂Γ/∂x = VΣA."""
    return V @ S @ A


def _J_l2(A: np.ndarray, V: np.ndarray, S: np.ndarray) -> np.ndarray:
    """J = VΣ(I + Σ)⁻¹A."""
    return V @ S @ np.linalg.solve(np.eye(S.shape[-1]) + S, A)


#: batched Σ̇ by variant name: (A (B,d,d), V (B,d,d), Σ (B,d,d)) -> Σ̇ (B,d,d)
RHS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "softmax": _rhs_softmax,
    "l2": _rhs_l2,
    "sinkhorn": _rhs_sinkhorn,
}

#: variants integrated in the factor form Σ = LLᵀ, L̇ = J(LLᵀ)L (J = ∂Γ/∂x by name); the others in full form
JACOBIANS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "softmax": _J_softmax,
    "l2": _J_l2,
}


def sigma_rhs(A: Any, V: Any, Sigma: Any, variant: str = "softmax") -> np.ndarray:
    """Batched covariance velocity Σ̇ = F(Σ) of ``variant`` (see the module docstring).

    Parameters
    ----------
    A, V, Sigma : array_like, shape (B, d, d) or (d, d)
        Score matrix, value matrix and covariance; broadcast against each other.
    variant : {"softmax", "l2", "sinkhorn"}

    Returns
    -------
    ndarray, shape (B, d, d) (or (d, d) if all inputs are 2-D)
    """
    fn = _variant(variant)
    A_, V_, S_, _, _ = _inputs(A, V, Sigma)
    out = fn(A_, V_, S_)
    return out[0] if all(np.ndim(x) == 2 for x in (A, V, Sigma)) else out


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, eq=False)
class BatchResult:
    """Outcome of :func:`solve_batch` for B members.

    Attributes
    ----------
    t_final : ndarray, shape (B,)
        Time at which each member stopped (t_span[1] for ``"ok"``).
    Sigma_final : ndarray, shape (B, d, d)
        Σ at ``t_final`` (the last accepted, finite state).
    status : ndarray of str, shape (B,)
        ``"ok"``, ``"blowup"``, ``"converged"`` or ``"failed"``.
    t_blowup : ndarray, shape (B,)
        Extrapolated blow-up time T*; NaN where no finite-time blow-up was detected.
    nsteps : ndarray of int, shape (B,)
        Accepted steps per member.
    nrejected : ndarray of int, shape (B,)
        Rejected steps per member.
    t_eval : ndarray, shape (n,) or None
        Shared sample times of ``history``.
    history : ndarray, shape (B, n, d, d) or None
        Σ(t_eval[k]) per member; NaN for samples after the member stopped.
    variant : str
    t_span : (float, float)
    """

    t_final: np.ndarray
    Sigma_final: np.ndarray
    status: np.ndarray
    t_blowup: np.ndarray
    nsteps: np.ndarray
    nrejected: np.ndarray
    t_eval: np.ndarray | None
    history: np.ndarray | None
    variant: str
    t_span: tuple[float, float]

    def __post_init__(self) -> None:
        B = self.t_final.shape[0]
        for name in ("Sigma_final", "status", "t_blowup", "nsteps", "nrejected"):
            if getattr(self, name).shape[0] != B:
                raise ValueError(f"`{name}` must have {B} members; got shape {getattr(self, name).shape}")
        bad = set(np.unique(self.status)) - set(STATUSES)
        if bad:
            raise ValueError(f"`status` entries must be in {STATUSES}; got {sorted(bad)}")
        for name in ("t_final", "Sigma_final", "t_blowup", "nsteps", "nrejected", "t_eval", "history"):
            arr = getattr(self, name)
            if arr is not None:
                arr.setflags(write=False)

    def __len__(self) -> int:
        return int(self.t_final.shape[0])

    @property
    def d(self) -> int:
        return int(self.Sigma_final.shape[-1])

    def member(self, i: int) -> SimpleNamespace:
        """Member ``i`` as a trajectory-like object for :func:`gaussflow.spectrum.classify`.

        ``t`` (n,) are the recorded samples strictly before ``t_final`` followed by ``t_final``, ``cov``
        (n, d, d) the matching Σ, plus ``status`` and ``t_blowup`` (None when NaN).
        """
        B = len(self)
        if not (isinstance(i, int | np.integer) and -B <= i < B):
            raise ValueError(f"`i` must be an integer index in [-{B}, {B}); got {i!r}")
        tf = float(self.t_final[i])
        if self.history is not None and self.t_eval is not None:
            keep = (self.t_eval < tf) & np.all(np.isfinite(self.history[i]), axis=(1, 2))
            t = np.append(self.t_eval[keep], tf)
            cov = np.concatenate([self.history[i][keep], self.Sigma_final[i][None]])
        else:
            t = np.array([tf])
            cov = self.Sigma_final[i][None].copy()
        tb = float(self.t_blowup[i])
        return SimpleNamespace(t=t, cov=cov, status=str(self.status[i]), t_blowup=None if math.isnan(tb) else tb)


# --------------------------------------------------------------------------- validation


def _variant(variant: Any) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    if not isinstance(variant, str) or variant not in RHS:
        raise ValueError(f"unknown `variant` {variant!r}; valid: {', '.join(map(repr, RHS))}")
    return RHS[variant]


def _inputs(A: Any, V: Any, Sigma0: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    arrs = {}
    for name, val in (("A", A), ("V", V), ("Sigma0", Sigma0)):
        arr = as_array(name, val)
        if arr.ndim not in (2, 3) or arr.shape[-1] != arr.shape[-2] or arr.shape[-1] == 0:
            raise ValueError(f"`{name}` must have shape (B, d, d) or (d, d); got shape {arr.shape}")
        arrs[name] = arr
    ds = {k: a.shape[-1] for k, a in arrs.items()}
    if len(set(ds.values())) != 1:
        raise ValueError(f"`A`, `V`, `Sigma0` must share d; got {ds}")
    Bs = {a.shape[0] for a in arrs.values() if a.ndim == 3}
    if len(Bs) > 1:
        raise ValueError(f"`A`, `V`, `Sigma0` must have the same batch size B; got "
                         f"{ {k: a.shape[0] for k, a in arrs.items() if a.ndim == 3} }")
    B = Bs.pop() if Bs else 1
    d = ds["A"]
    out = [np.ascontiguousarray(np.broadcast_to(a if a.ndim == 3 else a[None], (B, d, d)), dtype=float)
           for a in arrs.values()]
    return out[0], out[1], out[2], B, d


def _check_psd(S: np.ndarray) -> np.ndarray:
    scale = np.maximum(1.0, np.max(np.abs(S), axis=(1, 2)))
    asym = np.max(np.abs(S - np.swapaxes(S, 1, 2)), axis=(1, 2))
    bad = np.flatnonzero(asym > 1e-10 * scale)
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"`Sigma0` must be symmetric; member {k} has max |Σ − Σᵀ| = {asym[k]:.3g}")
    S = 0.5 * (S + np.swapaxes(S, 1, 2))
    lam = np.linalg.eigvalsh(S)[:, 0]
    bad = np.flatnonzero(lam < -1e-10 * scale)
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"`Sigma0` must be positive semi-definite; member {k} has eigenvalue {lam[k]:.3g}")
    return S




# --------------------------------------------------------------------------- integrator


def _rms(X: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean(X**2, axis=(1, 2)))


def _trace(S: np.ndarray) -> np.ndarray:
    return np.trace(S, axis1=1, axis2=2)


def _fro(S: np.ndarray) -> np.ndarray:
    return np.sqrt(np.sum(S**2, axis=(1, 2)))


class _FullForm:
    """State Y = Σ, Ẏ = F(Σ)."""

    def __init__(self, rhs: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> None:
        self.rhs = rhs

    def init(self, S0: np.ndarray) -> np.ndarray:
        return S0.copy()

    def deriv(self, A: np.ndarray, V: np.ndarray, Y: np.ndarray) -> np.ndarray:
        return self.rhs(A, V, Y)

    def sigma(self, Y: np.ndarray) -> np.ndarray:
        return Y

    def sigma_dot(self, Y: np.ndarray, dY: np.ndarray) -> np.ndarray:
        return dY

    def clean(self, Y: np.ndarray) -> np.ndarray:
        return 0.5 * (Y + np.swapaxes(Y, 1, 2))


class _FactorForm:
    """State Y = L with Σ = LLᵀ, L̇ = J(LLᵀ)L: then Σ̇ = JΣ + ΣJᵀ, and Σ stays PSD of its initial rank by
    construction. A vanishing eigenvalue λ of Σ is a singular value √λ of L, so the error control resolves
    λ down to (rtol·‖L‖)² instead of rtol·‖Σ‖ — needed to see a rank-one stationary state as stationary."""

    def __init__(self, jac: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> None:
        self.jac = jac

    def init(self, S0: np.ndarray) -> np.ndarray:
        w, U = np.linalg.eigh(S0)
        return U * np.sqrt(np.clip(w, 0.0, None))[:, None, :]

    def deriv(self, A: np.ndarray, V: np.ndarray, Y: np.ndarray) -> np.ndarray:
        return self.jac(A, V, Y @ np.swapaxes(Y, 1, 2)) @ Y

    def sigma(self, Y: np.ndarray) -> np.ndarray:
        return Y @ np.swapaxes(Y, 1, 2)

    def sigma_dot(self, Y: np.ndarray, dY: np.ndarray) -> np.ndarray:
        return _sym(dY @ np.swapaxes(Y, 1, 2))

    def clean(self, Y: np.ndarray) -> np.ndarray:
        return Y


def _form(variant: str) -> _FullForm | _FactorForm:
    return _FactorForm(JACOBIANS[variant]) if variant in JACOBIANS else _FullForm(RHS[variant])


def solve_batch(
    A: Any,
    V: Any,
    Sigma0: Any,
    t_span: Any,
    *,
    variant: str = "softmax",
    rtol: float = 1e-8,
    atol: float = 1e-10,
    blowup_threshold: float = 1e8,
    stationary_tol: float | None = 1e-10,
    max_steps: int = 5_000,
    t_eval: Any = None,
) -> BatchResult:
    """Integrate Σ̇ = F(Σ) for B members at once with vectorized Dormand–Prince 5(4).

    Parameters
    ----------
    A : array_like, shape (B, d, d) or (d, d)
        Score matrices (s(x, y) = yᵀAx; for ``"l2"`` the score is −½‖Ax − y‖²). 2-D inputs are shared by
        all members.
    V : array_like, shape (B, d, d) or (d, d)
        Value matrices.
    Sigma0 : array_like, shape (B, d, d) or (d, d)
        Initial covariances, symmetric PSD (singular allowed).
    t_span : (t0, t1)
        Common integration interval, t0 < t1.
    variant : {"softmax", "l2", "sinkhorn"}
        Which closed Σ-ODE (module docstring). The mean α does not enter Σ̇ for these variants.
    rtol, atol : float
        Per-entry tolerances of the local error estimate, ‖err/(atol + rtol·max(|Σ|, |Σ_new|))‖_rms ≤ 1.
    blowup_threshold : float > 1
        A member is tested for finite-time blow-up when tr Σ exceeds this multiple of tr Σ₀.
    stationary_tol : float or None
        Rate below which a member counts as stationary (module docstring); ``None`` or 0 disables.
    max_steps : int
        Budget of (accepted + rejected) steps per member; exhausted → ``"failed"``. The default is of the
        order of ``solve``'s (max_nfev = 50 000 ≈ 4 000 DOP853 steps). Members that spend it are stiff for an
        explicit method (e.g. Σ strongly anisotropic near a rank-one state, decay rate ~ λ_max‖A‖‖V‖) and
        ``solve`` fails on them too. A member's error in T* is ~ rtol·T* (a time shift of the whole flow).
    t_eval : array_like, shape (n,), optional
        Strictly increasing shared sample times in t_span; steps are shortened to land on them and Σ is
        stored in ``history`` (NaN after a member stops). Default: no history.

    Returns
    -------
    BatchResult

    Raises
    ------
    ValueError
        Malformed input; the message names the argument.

    Examples
    --------
    >>> import numpy as np
    >>> r = solve_batch(np.eye(2), np.eye(2), np.stack([np.eye(2), 0.5 * np.eye(2)]), (0.0, 2.0))
    >>> r.status.tolist(), np.round(r.t_blowup, 6).tolist()     # Σ(t) = (Σ₀⁻¹ − 2t I)⁻¹
    (['blowup', 'blowup'], [0.5, 1.0])
    """
    _variant(variant)
    A_, V_, S0, _, _ = _inputs(A, V, Sigma0)
    S0 = _check_psd(S0)
    ts = as_array("t_span", t_span, 1)
    if ts.shape != (2,) or not ts[1] > ts[0]:
        raise ValueError(f"`t_span` must be (t0, t1) with t0 < t1; got {ts.tolist()}")
    t0, t1 = float(ts[0]), float(ts[1])
    rtol_v = check_real("rtol", rtol, low=0.0)
    atol_v = check_real("atol", atol, low=0.0, strict=False)
    R = check_real("blowup_threshold", blowup_threshold, low=1.0)
    tol = 0.0 if stationary_tol is None else check_real("stationary_tol", stationary_tol, low=0.0, strict=False)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int | np.integer) or max_steps < 1:
        raise ValueError(f"`max_steps` must be a positive integer; got {max_steps!r}")
    if t_eval is None:
        te = np.array([t1])
        record = False
    else:
        te = as_array("t_eval", t_eval, 1)
        if te.size == 0 or np.any(np.diff(te) <= 0) or te[0] < t0 or te[-1] > t1:
            raise ValueError(f"`t_eval` must be strictly increasing within t_span = ({t0:g}, {t1:g}); got {te}")
        record = True
    with np.errstate(all="ignore"):
        return _integrate(_form(variant), variant, A_, V_, S0, t0, t1, te, record, rtol_v, atol_v, R, tol,
                          int(max_steps))


def _integrate(
    form: _FullForm | _FactorForm, variant: str, A: np.ndarray, V: np.ndarray,
    S0: np.ndarray, t0: float, t1: float, te: np.ndarray, record: bool, rtol: float, atol: float, R: float,
    tol: float, max_steps: int,
) -> BatchResult:
    B, d = S0.shape[0], S0.shape[1]
    n_eval = te.size
    hist = np.full((B, n_eval, d, d), np.nan) if record else None
    k_eval = np.zeros(B, dtype=np.intp)  # next sample index per member
    if hist is not None and te[0] == t0:
        hist[:, 0] = S0
        k_eval[:] = 1

    t = np.full(B, t0)
    Y = form.init(S0)
    f = form.deriv(A, V, Y)
    status = np.full(B, "ok", dtype=object)
    t_blowup = np.full(B, np.nan)
    nsteps = np.zeros(B, dtype=np.int64)
    nrej = np.zeros(B, dtype=np.int64)
    active = np.ones(B, dtype=bool)
    mon = _Monitor(S0, R, tol, t0)

    done0 = mon.stationary(S0, form.sigma_dot(Y, f), np.arange(B))
    status[done0] = "converged"
    active &= ~done0

    # initial step (Hairer–Nørsett–Wanner II.4, as scipy's select_initial_step), per member
    scale = atol + np.abs(Y) * rtol
    d0, d1 = _rms(Y / scale), _rms(f / scale)
    h0 = np.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / np.where(d1 > 0, d1, 1.0))
    h0 = np.minimum(h0, t1 - t0)
    f1 = form.deriv(A, V, Y + h0[:, None, None] * f)
    d2 = _rms((f1 - f) / scale) / h0
    dm = np.maximum(d1, d2)
    h1 = np.where(dm <= 1e-15, np.maximum(1e-6, h0 * 1e-3), (0.01 / np.where(dm > 0, dm, 1.0)) ** (1 / 5))
    h = np.minimum(100 * h0, h1)
    h = np.where(np.isfinite(h) & (h > 0), h, 1e-6)

    K = np.empty((7, B, d, d))
    while True:
        ia = np.flatnonzero(active)
        if ia.size == 0:
            break
        ta, Ya, fa, ha = t[ia], Y[ia], f[ia], h[ia]
        Aa, Va = A[ia], V[ia]
        if record:
            ka = k_eval[ia]
            t_next = np.where(ka < n_eval, te[np.minimum(ka, n_eval - 1)], t1)
        else:
            t_next = np.full(ia.size, t1)
        hit = ha >= t_next - ta
        hs = np.where(hit, t_next - ta, ha)
        Ka = K[:, : ia.size]
        Ka[0] = fa
        hb = hs[:, None, None]
        for s in range(1, 6):
            dY = np.tensordot(np.asarray(_A[s]), Ka[:s], axes=(0, 0))
            Ka[s] = form.deriv(Aa, Va, Ya + hb * dY)
        Y_new = form.clean(Ya + hb * np.tensordot(_B, Ka[:6], axes=(0, 0)))
        f_new = form.deriv(Aa, Va, Y_new)
        Ka[6] = f_new
        err = hb * np.tensordot(_E, Ka, axes=(0, 0))
        sc = atol + np.maximum(np.abs(Ya), np.abs(Y_new)) * rtol
        en = _rms(err / sc)
        finite = np.isfinite(en) & np.all(np.isfinite(f_new), axis=(1, 2))
        en = np.where(finite, en, np.inf)
        acc = en < 1.0
        with np.errstate(divide="ignore"):
            fac = np.where(en == 0, _MAX_FACTOR, _SAFETY * en ** (-1.0 / (_ORDER_ERR + 1)))
        fac = np.where(acc, np.minimum(_MAX_FACTOR, fac), np.clip(fac, _MIN_FACTOR, 1.0))
        fac = np.where(np.isfinite(fac), fac, _MIN_FACTOR)
        # a step shortened to land on a sample says little about the natural step: never shrink h for it
        h[ia] = np.where(acc & hit, np.maximum(ha, hs * fac), hs * fac)
        nsteps[ia] += acc
        nrej[ia] += ~acc

        ja = ia[acc]
        if ja.size:
            t[ja] = np.where(hit[acc], t_next[acc], ta[acc] + hs[acc])
            Y[ja] = Y_new[acc]
            f[ja] = f_new[acc]
            S_acc = form.sigma(Y_new[acc])
            if hist is not None:
                rec = hit[acc] & (k_eval[ja] < n_eval)
                jr = ja[rec]
                hist[jr, k_eval[jr]] = S_acc[rec]
                k_eval[jr] += 1
            Sd_acc = form.sigma_dot(Y_new[acc], f_new[acc])
            stop = mon.check(ja, t[ja], S_acc, Sd_acc, status, t_blowup)
            active[ja[stop]] = False
            live = ja[~stop]
            active[live[t[live] >= t1]] = False
        # budget and step-size underflow
        spent = active & (nsteps + nrej >= max_steps)
        status[spent] = "failed"
        active &= ~spent
        tiny = active & (h <= 10 * np.spacing(np.maximum(np.abs(t), 1.0)))
        status[tiny] = "failed"
        active &= ~tiny

    return BatchResult(t_final=t, Sigma_final=form.sigma(Y), status=status.astype(str), t_blowup=t_blowup,
                       nsteps=nsteps, nrejected=nrej, t_eval=te if record else None, history=hist,
                       variant=variant, t_span=(t0, t1))


class _Monitor:
    """Per-member blow-up thresholds and the termination tests of the module docstring."""

    def __init__(self, S0: np.ndarray, R: float, tol: float, t0: float) -> None:
        B = S0.shape[0]
        self.R, self.tol = R, tol
        self.ref = _trace(S0)
        eps = COLLAPSE_RTOL * _fro(S0)
        self.eps_S = np.where(eps > 0, eps, COLLAPSE_RTOL)
        self.watch = self.ref > 0
        self.thr = np.minimum(self.ref * R, CAP)
        self.pre = np.minimum(self.ref * math.sqrt(R), self.thr)
        self.seg_start = np.full(B, t0)
        self.tau_pre = np.full(B, np.nan)  # Newton estimate at the first state past √threshold (Richardson)
        self.T_pre = np.full(B, np.nan)

    def stationary(self, S: np.ndarray, Sd: np.ndarray, j: np.ndarray) -> np.ndarray:
        """‖Σ̇‖_F ≤ tol·max(‖Σ‖_F, ε_Σ) or ‖Σ‖_F ≤ ε_Σ."""
        if self.tol <= 0:
            return np.zeros(S.shape[0], dtype=bool)
        nS, e = _fro(S), self.eps_S[j]
        return (_fro(Sd) <= self.tol * np.maximum(nS, e)) | (nS <= e)

    def check(self, j: np.ndarray, t: np.ndarray, S: np.ndarray, Sd: np.ndarray, status: np.ndarray,
              t_blowup: np.ndarray) -> np.ndarray:
        """Update members ``j`` (at times t, with Σ, Σ̇ stacked) after an accepted step; True = stop."""
        tr, trd = _trace(S), _trace(Sd)
        tau = np.where((trd > 0) & np.isfinite(trd), tr / np.where(trd > 0, trd, 1.0), np.inf)
        TN = t + tau
        first = self.watch[j] & (tr >= self.pre[j]) & np.isnan(self.tau_pre[j])
        self.tau_pre[j[first]] = tau[first]
        self.T_pre[j[first]] = TN[first]
        stop = np.zeros(j.size, dtype=bool)

        big = np.flatnonzero(self.watch[j] & (tr >= self.thr[j]))
        if big.size:
            jb = j[big]
            grown = tr[big] / self.ref[jb]
            sig = tau[big] * np.sqrt(grown) <= t[big] - self.seg_start[jb]
            kf = big[sig]
            if kf.size:  # finite-time singularity: Newton estimate, Richardson with the √threshold one
                jf = j[kf]
                tb, Tb = tau[kf], TN[kf]
                ta, Ta = self.tau_pre[jf], self.T_pre[jf]
                use = np.isfinite(ta) & (ta > 2 * tb)
                Tr = (ta**2 * Tb - tb**2 * Ta) / np.where(use, ta**2 - tb**2, 1.0)
                use &= np.abs(Tr - Tb) <= tb
                t_blowup[jf] = np.where(use, Tr, Tb)
                status[jf] = "blowup"
                stop[kf] = True
            kg = big[~sig]  # fast growth without a finite-time singularity: raise the threshold
            if kg.size:
                jg = j[kg]
                capped = self.thr[jg] >= CAP
                status[jg[capped]] = "blowup"
                stop[kg[capped]] = True
                kc = kg[~capped]
                jc = j[kc]
                self.seg_start[jc] = t[kc]
                self.ref[jc] = tr[kc]
                self.thr[jc] = np.minimum(tr[kc] * self.R, CAP)
                self.pre[jc] = np.minimum(tr[kc] * math.sqrt(self.R), self.thr[jc])
                self.tau_pre[jc] = np.nan
                self.T_pre[jc] = np.nan
        live = np.flatnonzero(~stop)
        conv = live[self.stationary(S[live], Sd[live], j[live])]
        status[j[conv]] = "converged"
        stop[conv] = True
        return stop


__all__ = ["CAP", "JACOBIANS", "RHS", "STATUSES", "BatchResult", "sigma_rhs", "solve_batch"]
