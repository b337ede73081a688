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

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._checks import as_array, check_real
from ..attention import Attention
from ..status import STATUSES
from .batch_result import BatchResult
from .batched import BatchedClosure, Form
from .common import CAP
from .dopri import integrate

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
    tr_max = float(np.max(np.trace(S0, axis1=1, axis2=2)))
    a_max = 0.0 if a0 is None else float(np.max(np.linalg.norm(a0, axis=-1)))
    if tr_max * R >= CAP or a_max >= CAP / R:
        raise ValueError(f"`Sigma0`/`mean0` outside the integrator's range: max tr Σ₀ = {tr_max:.3g}, max ‖α₀‖ = "
                         f"{a_max:.3g}; tr Σ and ‖α‖ are capped at {CAP:.0e} and blow-up is detected at "
                         f"blowup_threshold = {R:g} × tr Σ₀; rescale the problem")
    shape = Form(rhs, form == "factor", with_mean, d)
    with np.errstate(all="ignore"):
        return integrate(shape, rhs, S0, a0, t0, t1, te, record, rtol_v, atol_v, R, tol, int(max_steps))


__all__ = ["CAP", "STATUSES", "BatchResult", "BatchedClosure", "solve_batch"]
