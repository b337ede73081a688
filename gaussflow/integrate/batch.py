"""Batched integration of the closed moment ODEs for B members at once.

Every member evolves the closure of one attention variant, α̇ = Γ(α), Σ̇ = JΣ + ΣJᵀ, with the right-hand
side taken from the variant's **generated code** in its batched mode (the generated functions broadcast
over a leading member axis; see :mod:`gaussflow.codegen`) — no formula is typed here, so every variant that
closes works: multi-head with Q, K, V, W and per-head β, L2, Sinkhorn, the residual and feed-forward
add-ons, custom variants. Members share the weights (one :class:`~gaussflow.Attention`) or carry their own
(a sequence of Attentions of one variant, stacked once through the generated ``prepare``).

:func:`solve_batch` advances the B systems with one vectorized embedded Runge–Kutta pair, Dormand–Prince
5(4) (the tableau of scipy's ``RK45``), each member with its own step size and error control, so a
100 × 100 phase diagram costs a few hundred NumPy sweeps over (B, d, d) arrays instead of 10⁴ ODE solves.

State. When the closure's Σ̇ and J do not involve α (``Closure.cov_depends_on_mean`` is False) and no
``mean0`` is given, only Σ is integrated (the Σ-only fast path). Otherwise the state is (Σ, α), packed as
a (B, d, d + 1) array [Σ | α]. Σ itself is integrated in the factor form Σ = LLᵀ, L̇ = J L (exactly PSD,
rank-preserving; a vanishing eigenvalue λ is a singular value √λ of L, so the error control resolves λ
down to (rtol·‖L‖)²) — or, with ``form="full"``, as Σ with Σ̇ from the generated ``moments``.

Outcomes per member mirror :func:`gaussflow.integrate.solve.solve` (``status`` ∈ {ok, blowup, converged, failed}):

* ``"blowup"`` — tr Σ exceeds ``blowup_threshold`` × tr Σ₀ with the finite-time signature. Near a
  softmax-type singularity q = 1/tr Σ has a simple zero at T*; the linear extrapolation of q through the
  last accepted state with its exact slope q̇ = −tr Σ̇/(tr Σ)² (one Newton step, T_N = t + tr Σ / tr Σ̇)
  has error O((T* − t)²), and an estimate taken at tr Σ ≥ √threshold × tr Σ₀ is combined with it by
  Richardson extrapolation, exactly as in ``solve``. A crossing without that signature (τ√growth larger
  than the time since the last threshold, i.e. exponential growth as for L2 / Sinkhorn) raises the
  member's threshold by the same factor and continues, until tr Σ reaches ``CAP``.
* ``"converged"`` — ‖Σ̇‖_F ≤ ``stationary_tol``·max(‖Σ‖_F, ε_Σ) or ‖Σ‖_F ≤ ε_Σ, ε_Σ = 1e-8·‖Σ₀‖_F, and
  (with a mean) ‖α̇‖ ≤ ``stationary_tol``·max(‖α‖, ε_α), ε_α = 1e-8·‖Σ₀‖_F^{1/2} (the rule of ``solve``),
  tested at t₀ and after every accepted step.
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
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from .._checks import as_array, check_real
from ..attention import Attention
from ..status import STATUSES

#: hard cap on tr Σ (as in gaussflow.integrate.solve)
CAP = 1e100

#: collapse floor ε_Σ relative to ‖Σ₀‖_F (gaussflow.integrate.solve.COLLAPSE_RTOL, applied to scale² = ‖Σ₀‖_F)
COLLAPSE_RTOL = 1e-8


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


# --------------------------------------------------------------------------- batched generated code


def _sym(P: np.ndarray) -> np.ndarray:
    return P + np.swapaxes(P, -1, -2)


class BatchedClosure:
    """The generated functions of one closure bound to B members' prepared parameters.

    Parameters
    ----------
    attn : Attention or sequence of Attention
        One Attention (weights shared by every member) or B Attentions of one variant and one d
        (per-member weights, stacked through the generated ``prepare``).

    Raises
    ------
    ValueError
        Empty sequence, mixed variants or dimensions, or a variant that does not close.
    """

    def __init__(self, attn: Attention | Sequence[Attention]) -> None:
        if isinstance(attn, Attention):
            members: list[Attention] = [attn]
            self.shared = True
        elif isinstance(attn, Sequence) and not isinstance(attn, str) and len(attn) > 0 and all(
                isinstance(a, Attention) for a in attn):
            members = list(attn)
            self.shared = len(members) == 1
        else:
            raise ValueError("`attn` must be an Attention or a non-empty sequence of Attentions; "
                             f"got {type(attn).__name__}")
        first = members[0]
        shapes = {k: np.shape(v) for k, v in first.params.items()}
        for i, a in enumerate(members):
            if a.closure.variant != first.closure.variant or a.d != first.d:
                raise ValueError(f"`attn[{i}]` is {a.name!r} with d = {a.d}; every member must be "
                                 f"{first.name!r} with d = {first.d}")
            other = {k: np.shape(v) for k, v in a.params.items()}
            if other != shapes:
                raise ValueError(f"`attn[{i}]` has parameter shapes {other}; member 0 has {shapes}")
        if not first.preserves_gaussian:
            raise ValueError(f"`attn`: variant {first.name!r} does not close (see its certificate); "
                             "solve_batch integrates exact closures only — use gaussflow.integrate.solve for the "
                             "Gaussian-projection approximation")
        self.closure = first.closure
        self.name = first.name
        self.d = first.d
        self.B = 1 if self.shared else len(members)
        cc = first.compiled
        self._moments, self._jacobian = cc.moments, cc.jacobian
        if self.shared:
            self.prepared = tuple(first.prepared)
        else:
            stacked: dict[str, np.ndarray] = {}
            for k in first.params:
                vals = [np.asarray(a.params[k], dtype=float) for a in members]
                arr = np.stack(vals)
                stacked[k] = arr[:, None, None] if arr.ndim == 1 else arr
            self.prepared = tuple(cc.prepare(**stacked))
        self.mean_enters = first.closure.cov_depends_on_mean

    def take(self, idx: np.ndarray) -> tuple[Any, ...]:
        """Prepared parameters of the members ``idx`` (shared parameters are returned as they are)."""
        if self.shared:
            return self.prepared
        return tuple(p[idx] if isinstance(p, np.ndarray) and p.ndim >= 1 and p.shape[0] == self.B else p
                     for p in self.prepared)

    def moments(self, alpha: np.ndarray, Sigma: np.ndarray, prep: tuple[Any, ...]
                ) -> tuple[np.ndarray, np.ndarray]:
        """(α̇ (B, d, 1), Σ̇ (B, d, d)) from the generated ``moments`` at α (B, d, 1), Σ (B, d, d)."""
        m, S = self._moments(alpha, Sigma, *prep)
        if m.shape != alpha.shape:
            m = np.broadcast_to(m, alpha.shape)
        return m, (S if S.shape == Sigma.shape else np.broadcast_to(S, Sigma.shape))

    def jacobian(self, alpha: np.ndarray, Sigma: np.ndarray, prep: tuple[Any, ...]) -> np.ndarray:
        """J = ∂Γ/∂x (B, d, d) from the generated ``jacobian``."""
        J = self._jacobian(alpha, Sigma, *prep)
        return J if J.shape == Sigma.shape else np.broadcast_to(J, Sigma.shape)


class _Form:
    """State layout: Y (B, d, d) = Σ or L, or (B, d, d + 1) = [Σ or L | α] when the mean is evolved."""

    def __init__(self, rhs: BatchedClosure, factor: bool, with_mean: bool, d: int) -> None:
        self.rhs, self.factor, self.with_mean, self.d = rhs, factor, with_mean, d

    def init(self, S0: np.ndarray, a0: np.ndarray | None) -> np.ndarray:
        if self.factor:
            w, U = np.linalg.eigh(S0)
            S0 = U * np.sqrt(np.clip(w, 0.0, None))[:, None, :]
        return np.concatenate([S0, a0[:, :, None]], axis=2) if self.with_mean and a0 is not None else S0.copy()

    def _split(self, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = self.d
        core = Y[..., :d]
        alpha = Y[..., d:] if self.with_mean else np.zeros(Y.shape[:-1] + (1,))
        return core, alpha

    def deriv(self, prep: tuple[Any, ...], Y: np.ndarray) -> np.ndarray:
        core, alpha = self._split(Y)
        if self.factor:
            S = core @ np.swapaxes(core, 1, 2)
            dcore = self.rhs.jacobian(alpha, S, prep) @ core
            if not self.with_mean:
                return dcore
            da, _ = self.rhs.moments(alpha, S, prep)
        else:
            da, dcore = self.rhs.moments(alpha, core, prep)
            if not self.with_mean:
                return np.array(dcore)
        return np.concatenate([dcore, da], axis=2)

    def sigma(self, Y: np.ndarray) -> np.ndarray:
        core = Y[..., : self.d]
        return core @ np.swapaxes(core, 1, 2) if self.factor else core

    def alpha(self, Y: np.ndarray) -> np.ndarray | None:
        return Y[..., self.d] if self.with_mean else None

    def sigma_dot(self, Y: np.ndarray, dY: np.ndarray) -> np.ndarray:
        core, dcore = Y[..., : self.d], dY[..., : self.d]
        return _sym(dcore @ np.swapaxes(core, 1, 2)) if self.factor else dcore

    def clean(self, Y: np.ndarray) -> np.ndarray:
        if self.factor:
            return Y
        Y = Y.copy()
        core = Y[..., : self.d]
        Y[..., : self.d] = 0.5 * (core + np.swapaxes(core, 1, 2))
        return Y


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
    mean_final : ndarray, shape (B, d) or None
        α at ``t_final`` when the mean was evolved (``mean0`` given or Σ̇ depends on α).
    mean_history : ndarray, shape (B, n, d) or None
        α(t_eval[k]) per member, as ``history``.
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
    mean_final: np.ndarray | None = None
    mean_history: np.ndarray | None = None

    def __post_init__(self) -> None:
        B = self.t_final.shape[0]
        for name in ("Sigma_final", "status", "t_blowup", "nsteps", "nrejected"):
            if getattr(self, name).shape[0] != B:
                raise ValueError(f"`{name}` must have {B} members; got shape {getattr(self, name).shape}")
        bad = set(np.unique(self.status)) - set(STATUSES)
        if bad:
            raise ValueError(f"`status` entries must be in {STATUSES}; got {sorted(bad)}")
        for name in ("t_final", "Sigma_final", "t_blowup", "nsteps", "nrejected", "t_eval", "history",
                     "mean_final", "mean_history"):
            arr = getattr(self, name)
            if arr is not None:
                arr.setflags(write=False)

    def __len__(self) -> int:
        return int(self.t_final.shape[0])

    def __repr__(self) -> str:
        st, cnt = np.unique(self.status, return_counts=True)
        counts = ", ".join(f"{s} {c}" for s, c in zip(st.tolist(), cnt.tolist(), strict=True))
        mean = ", with mean" if self.mean_final is not None else ""
        return (f"BatchResult({self.variant!r}, B={len(self)}, d={self.d}, t_span={self.t_span}, "
                f"{counts}{mean})")

    @property
    def d(self) -> int:
        return int(self.Sigma_final.shape[-1])

    def member(self, i: int) -> SimpleNamespace:
        """Member ``i`` as a trajectory-like object for :func:`gaussflow.diagnostics.spectrum.classify`.

        ``t`` (n,) are the recorded samples strictly before ``t_final`` followed by ``t_final``, ``cov``
        (n, d, d) the matching Σ, ``mean`` (n, d) the matching α (None without a mean), plus ``status``
        and ``t_blowup`` (None when NaN).
        """
        B = len(self)
        if not (isinstance(i, int | np.integer) and -B <= i < B):
            raise ValueError(f"`i` must be an integer index in [-{B}, {B}); got {i!r}")
        tf = float(self.t_final[i])
        mean = None
        if self.history is not None and self.t_eval is not None:
            keep = (self.t_eval < tf) & np.all(np.isfinite(self.history[i]), axis=(1, 2))
            t = np.append(self.t_eval[keep], tf)
            cov = np.concatenate([self.history[i][keep], self.Sigma_final[i][None]])
            if self.mean_history is not None and self.mean_final is not None:
                mean = np.concatenate([self.mean_history[i][keep], self.mean_final[i][None]])
        else:
            t = np.array([tf])
            cov = self.Sigma_final[i][None].copy()
            if self.mean_final is not None:
                mean = self.mean_final[i][None].copy()
        tb = float(self.t_blowup[i])
        return SimpleNamespace(t=t, cov=cov, mean=mean, status=str(self.status[i]),
                               t_blowup=None if math.isnan(tb) else tb)


# --------------------------------------------------------------------------- validation


def _stack(name: str, val: Any, B: int | None, tail: tuple[int, ...]) -> np.ndarray:
    arr = as_array(name, val)
    nd = len(tail)
    if arr.ndim not in (nd, nd + 1) or arr.shape[-nd:] != tail:
        dims = ", ".join(map(str, tail))
        want = f"(B, {dims}) or ({dims}{',' if nd == 1 else ''})"
        raise ValueError(f"`{name}` must have shape {want}; got shape {arr.shape}")
    if arr.ndim == nd + 1 and B is not None and arr.shape[0] != B:
        raise ValueError(f"`{name}` has {arr.shape[0]} members but the batch size B is {B}")
    return arr


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


def solve_batch(
    attn: Attention | Sequence[Attention],
    Sigma0: Any,
    t_span: Any,
    *,
    mean0: Any = None,
    form: str = "factor",
    rtol: float = 1e-8,
    atol: float = 1e-10,
    blowup_threshold: float = 1e8,
    stationary_tol: float | None = 1e-10,
    max_steps: int = 5_000,
    t_eval: Any = None,
) -> BatchResult:
    """Integrate the closed moment ODEs of B members at once with vectorized Dormand–Prince 5(4).

    Parameters
    ----------
    attn : Attention or sequence of Attention
        Shared weights (one Attention) or per-member weights (B Attentions of one closing variant).
    Sigma0 : array_like, shape (B, d, d) or (d, d)
        Initial covariances, symmetric PSD (singular allowed); 2-D is shared by every member.
    t_span : (t0, t1)
        Common integration interval, t0 < t1.
    mean0 : array_like, shape (B, d) or (d,), optional
        Initial means. Without it the Σ-only fast path runs when Σ̇ does not involve α; when it does,
        α₀ = 0 is used.
    form : {"factor", "full"}
        Σ = LLᵀ with L̇ = JL (default; PSD and rank exact), or Σ with Σ̇ = JΣ + ΣJᵀ.
    rtol, atol : float
        Per-entry tolerances of the local error estimate, ‖err/(atol + rtol·max(|Y|, |Y_new|))‖_rms ≤ 1.
    blowup_threshold : float > 1
        A member is tested for finite-time blow-up when tr Σ exceeds this multiple of tr Σ₀.
    stationary_tol : float or None
        Rate below which a member counts as stationary (module docstring); ``None`` or 0 disables.
    max_steps : int
        Budget of (accepted + rejected) steps per member; exhausted → ``"failed"``.
    t_eval : array_like, shape (n,), optional
        Strictly increasing shared sample times in t_span; steps are shortened to land on them and Σ (and
        α) are stored in ``history`` (NaN after a member stops). Default: no history.

    Returns
    -------
    BatchResult

    Raises
    ------
    ValueError
        Malformed input; the message names the argument.

    Examples
    --------
    >>> import numpy as np, gaussflow as gf
    >>> att = gf.attention("softmax", A=np.eye(2), V=np.eye(2))
    >>> r = solve_batch(att, np.stack([np.eye(2), 0.5 * np.eye(2)]), (0.0, 2.0))
    >>> r.status.tolist(), np.round(r.t_blowup, 6).tolist()     # Σ(t) = (Σ₀⁻¹ − 2t I)⁻¹
    (['blowup', 'blowup'], [0.5, 1.0])
    """
    rhs = BatchedClosure(attn)
    d = rhs.d
    Bw = None if rhs.shared else rhs.B
    S0 = _stack("Sigma0", Sigma0, Bw, (d, d))
    a0 = None if mean0 is None else _stack("mean0", mean0, Bw, (d,))
    Bs = {a.shape[0] for a, nd in ((S0, 3), (a0, 2)) if a is not None and a.ndim == nd}
    if Bw is not None:
        Bs.add(Bw)
    if len(Bs) > 1:
        raise ValueError(f"`Sigma0` and `mean0` must have the same batch size B; got {sorted(Bs)}")
    B = Bs.pop() if Bs else 1
    S0 = _check_psd(np.ascontiguousarray(np.broadcast_to(S0, (B, d, d)), dtype=float))
    with_mean = a0 is not None or rhs.mean_enters
    if with_mean:
        a0 = np.zeros((B, d)) if a0 is None else np.ascontiguousarray(np.broadcast_to(a0, (B, d)), dtype=float)
    if form not in ("factor", "full"):
        raise ValueError(f"`form` must be 'factor' or 'full'; got {form!r}")
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
    shape = _Form(rhs, form == "factor", with_mean, d)
    with np.errstate(all="ignore"):
        return _integrate(shape, rhs, S0, a0, t0, t1, te, record, rtol_v, atol_v, R, tol, int(max_steps))


# --------------------------------------------------------------------------- integrator


def _rms(X: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean(X**2, axis=(1, 2)))


def _trace(S: np.ndarray) -> np.ndarray:
    return np.trace(S, axis1=1, axis2=2)


def _fro(S: np.ndarray) -> np.ndarray:
    return np.sqrt(np.sum(S**2, axis=(1, 2)))


def _integrate(
    form: _Form, rhs: BatchedClosure, S0: np.ndarray, a0: np.ndarray | None, t0: float, t1: float,
    te: np.ndarray, record: bool, rtol: float, atol: float, R: float, tol: float, max_steps: int,
) -> BatchResult:
    B, d = S0.shape[0], S0.shape[1]
    n_eval = te.size
    hist = np.full((B, n_eval, d, d), np.nan) if record else None
    mhist = np.full((B, n_eval, d), np.nan) if record and form.with_mean else None
    k_eval = np.zeros(B, dtype=np.intp)  # next sample index per member
    if hist is not None and te[0] == t0:
        hist[:, 0] = S0
        if mhist is not None and a0 is not None:
            mhist[:, 0] = a0
        k_eval[:] = 1

    everyone = np.arange(B)
    t = np.full(B, t0)
    Y = form.init(S0, a0)
    f = form.deriv(rhs.take(everyone), Y)
    status = np.full(B, "ok", dtype=object)
    t_blowup = np.full(B, np.nan)
    nsteps = np.zeros(B, dtype=np.int64)
    nrej = np.zeros(B, dtype=np.int64)
    active = np.ones(B, dtype=bool)
    mon = _Monitor(S0, R, tol, t0)

    done0 = mon.stationary(S0, form.sigma_dot(Y, f), everyone, form.alpha(Y), form.alpha(f))
    status[done0] = "converged"
    active &= ~done0

    # initial step (Hairer–Nørsett–Wanner II.4, as scipy's select_initial_step), per member
    scale = atol + np.abs(Y) * rtol
    d0, d1 = _rms(Y / scale), _rms(f / scale)
    h0 = np.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / np.where(d1 > 0, d1, 1.0))
    h0 = np.minimum(h0, t1 - t0)
    f1 = form.deriv(rhs.take(everyone), Y + h0[:, None, None] * f)
    d2 = _rms((f1 - f) / scale) / h0
    dm = np.maximum(d1, d2)
    h1 = np.where(dm <= 1e-15, np.maximum(1e-6, h0 * 1e-3), (0.01 / np.where(dm > 0, dm, 1.0)) ** (1 / 5))
    h = np.minimum(100 * h0, h1)
    h = np.where(np.isfinite(h) & (h > 0), h, 1e-6)

    K = np.empty((7, *Y.shape))
    while True:
        ia = np.flatnonzero(active)
        if ia.size == 0:
            break
        ta, Ya, fa, ha = t[ia], Y[ia], f[ia], h[ia]
        prep = rhs.take(ia)
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
            Ka[s] = form.deriv(prep, Ya + hb * dY)
        Y_new = form.clean(Ya + hb * np.tensordot(_B, Ka[:6], axes=(0, 0)))
        f_new = form.deriv(prep, Y_new)
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
                if mhist is not None:
                    mhist[jr, k_eval[jr]] = Y_new[acc][rec][..., d]
                k_eval[jr] += 1
            Sd_acc = form.sigma_dot(Y_new[acc], f_new[acc])
            stop = mon.check(ja, t[ja], S_acc, Sd_acc, status, t_blowup, form.alpha(Y_new[acc]),
                             form.alpha(f_new[acc]))
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
                       variant=rhs.name, t_span=(t0, t1), mean_final=form.alpha(Y), mean_history=mhist)


class _Monitor:
    """Per-member blow-up thresholds and the termination tests of the module docstring."""

    def __init__(self, S0: np.ndarray, R: float, tol: float, t0: float) -> None:
        B = S0.shape[0]
        self.R, self.tol = R, tol
        self.ref = _trace(S0)
        eps = COLLAPSE_RTOL * _fro(S0)
        self.eps_S = np.where(eps > 0, eps, COLLAPSE_RTOL)
        self.eps_a = COLLAPSE_RTOL * np.sqrt(np.where(eps > 0, _fro(S0), 1.0))
        self.watch = self.ref > 0
        self.thr = np.minimum(self.ref * R, CAP)
        self.pre = np.minimum(self.ref * math.sqrt(R), self.thr)
        self.seg_start = np.full(B, t0)
        self.tau_pre = np.full(B, np.nan)  # Newton estimate at the first state past √threshold (Richardson)
        self.T_pre = np.full(B, np.nan)

    def stationary(self, S: np.ndarray, Sd: np.ndarray, j: np.ndarray, a: np.ndarray | None = None,
                   ad: np.ndarray | None = None) -> np.ndarray:
        """(‖Σ̇‖_F ≤ tol·max(‖Σ‖_F, ε_Σ) or ‖Σ‖_F ≤ ε_Σ) and, with a mean, ‖α̇‖ ≤ tol·max(‖α‖, ε_α)."""
        if self.tol <= 0:
            return np.zeros(S.shape[0], dtype=bool)
        nS, e = _fro(S), self.eps_S[j]
        ok = (_fro(Sd) <= self.tol * np.maximum(nS, e)) | (nS <= e)
        if a is not None and ad is not None:
            ok &= np.linalg.norm(ad, axis=-1) <= self.tol * np.maximum(np.linalg.norm(a, axis=-1), self.eps_a[j])
        return ok

    def check(self, j: np.ndarray, t: np.ndarray, S: np.ndarray, Sd: np.ndarray, status: np.ndarray,
              t_blowup: np.ndarray, a: np.ndarray | None = None, ad: np.ndarray | None = None) -> np.ndarray:
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
        conv = live[self.stationary(S[live], Sd[live], j[live], None if a is None else a[live],
                                    None if ad is None else ad[live])]
        status[j[conv]] = "converged"
        stop[conv] = True
        return stop


__all__ = ["CAP", "STATUSES", "BatchResult", "BatchedClosure", "solve_batch"]
