r"""Masked (causal) attention: reduction for position-independent laws, per-position closure otherwise.

Tokens carry a position τ ∈ [0, 1]; a token at τ attends only to tokens at τ' ≤ τ (docs/math.md §2). With the
joint law μ(dy, dτ') of tokens and positions, the masked softmax velocity at position τ is

    Γ_τ(x) = ∫_{τ'≤τ} ∫ e^{s(x,y)} V y μ(dy, dτ') / ∫_{τ'≤τ} ∫ e^{s(x,y)} μ(dy, dτ'),   s(x, y) = yᵀA x.

* **Position-independent law** μ = μ_y ⊗ Unif[0, 1]: by Fubini both integrals factor into a y-integral
  times ∫_0^τ dτ' = τ > 0, which cancels, so Γ_τ = Γ (unmasked) for every τ ∈ (0, 1]
  (:func:`masked_reduction_proof`, proved with SymPy; docs/math.md §3 row "masked, i.i.d. tokens").
* **Position-dependent law**: positions are split into P groups, group p = {τ ∈ ((p−1)/P, p/P]} with
  law N(α_p, Σ_p) and mass 1/P. By the exponential tilting e^{yᵀu} N(y; α, Σ) ∝ N(y; α + Σu, Σ),

      Γ_p(x) = V Σ_q w_pq Z_q(x) m_q(x) / Σ_q w_pq Z_q(x),
      Z_q(x) = exp(uᵀα_q + ½ uᵀΣ_q u),   m_q(x) = α_q + Σ_q u,   u = A x,

  a ratio of Gaussian mixtures (not affine in x), so the law leaves the Gaussian family and the closure
  is the Gaussian projection (docs/math.md §3), evaluated by tensor Gauss–Hermite cubature
  (:func:`gaussflow.projection.cubature_rule`):

      α̇_p = E[Γ_p(X)],   Σ̇_p = E[(X − α_p) Γ_p(X)ᵀ] + transpose,   X ~ N(α_p, Σ_p).

Group-level weights (the approximation made here). A token at relative position r ∈ (0, 1] inside group
p sees groups q < p fully and the fraction r of its own group: exact weights (1, …, 1, r, 0, …). The
closure uses one velocity per group with r replaced by its average over the group, **w_pq = 1 (q < p),
½ (q = p), 0 (q > p)**. Two errors follow, both vanishing as the partition is refined:
(i) the Jensen gap E_r[Γ(x; r)] − Γ(x; ½) — Γ is a Möbius function of r whose own-group share is
r/(p − 1 + r) (for comparable Z_q), so the gap is O((p − 1)⁻²) times the spread of the group means for
p ≥ 2 and zero for p = 1 (the first group attends only to itself: r cancels); (ii) tokens at different r
drift apart, so a group's law becomes a position mixture. For laws that vary smoothly in τ, replacing
them by group-constant laws costs O(1/P). Both are measured by refining: ``refine=R`` splits every group
into R sub-groups with the same initial law (a P·R partition) and reports the groups' mixture moments;
the difference between R = 1 and R > 1 is the within-group error (:func:`solve_masked`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
from scipy.integrate import solve_ivp

from ._checks import as_array, check_positive
from ._tabular import Tabular, columns
from .attention import Attention
from .closures.masked import MaskedClosure, MaskedPerPosition, group_weights, masked_closure
from .gaussian import Gaussian
from .latex import display, standalone_document, text

__all__ = [
    "MaskedClosure",
    "MaskedTrajectory",
    "group_weights",
    "masked_closure",
    "masked_latex",
    "masked_reduction_proof",
    "masked_reduction_proved",
    "solve_masked",
]


# =========================================================================== symbolic reduction


def _fubini(integral: sp.Integral, y: sp.Symbol, tp: sp.Symbol) -> sp.Expr:
    """∫∫ g(y) h(τ') dy dτ' → (∫ g dy)(∫ h dτ'), only when the integrand splits (else ValueError)."""
    f = integral.function
    limits = {lim[0]: lim for lim in integral.limits}
    g, h = f.as_independent(tp, as_Add=False)
    if h.has(y) or g.has(tp):
        raise ValueError("the integrand does not factor into a token part and a position part")
    return sp.Integral(g, limits[y]) * sp.Integral(h, limits[tp])


@functools.lru_cache(maxsize=1)
def _derive_reduction() -> tuple[tuple[tuple[str, str], ...], bool]:
    x, y = sp.symbols("x y", real=True)
    tau, tp = sp.symbols(r"tau \tau'", positive=True)
    s = sp.Function("s")(x, y)  # score s(x, y) = yᵀAx, kept abstract
    p = sp.Function("p")(y)  # density of the token law μ (per component y)
    g = sp.Function("g")(y)  # one component of the value V y
    rho = sp.Function("rho")(tp)  # position density, independent of y
    ylim, tlim = (y, -sp.oo, sp.oo), (tp, 0, tau)
    num = sp.Integral(sp.exp(s) * g * p * rho, ylim, tlim)
    den = sp.Integral(sp.exp(s) * p * rho, ylim, tlim)
    num_f, den_f = _fubini(num, y, tp), _fubini(den, y, tp)
    unmasked = sp.Integral(sp.exp(s) * g * p, ylim) / sp.Integral(sp.exp(s) * p, ylim)
    R = sp.Integral(rho, tlim)
    general = sp.simplify(num_f / den_f - unmasked)  # R cancels (R ≠ 0)
    uniform = {rho: sp.Integer(1)}
    R_unif = R.subs(uniform).doit()
    masked_unif = (num_f / den_f).subs(uniform)
    masked_unif = masked_unif.replace(lambda e: isinstance(e, sp.Integral) and e.has(tp), lambda e: e.doit())
    diff = sp.simplify(masked_unif - unmasked)
    proved = bool(general == 0 and diff == 0 and R_unif == tau)

    # spot check on a concrete Gaussian (d = 1): μ = N(α, σ²), s = a x y, value v y
    a, v, al = sp.symbols("a v alpha", real=True)
    sig = sp.Symbol("sigma", positive=True)
    dens = sp.exp(-((y - al) ** 2) / (2 * sig**2)) / sp.sqrt(2 * sp.pi * sig**2)
    n1 = sp.integrate(sp.integrate(sp.exp(a * x * y) * v * y * dens, ylim), tlim)
    d1 = sp.integrate(sp.integrate(sp.exp(a * x * y) * dens, ylim), tlim)
    gauss = sp.simplify(n1 / d1)
    closed = v * (al + sig**2 * a * x)
    proved = proved and sp.simplify(gauss - closed) == 0

    # contrast: a position-dependent law (mean c τ') does not factor and Γ_τ depends on τ
    c = sp.Symbol("c", real=True)
    dens_c = dens.subs(al, c * tp)
    try:
        _fubini(sp.Integral(sp.exp(a * x * y) * dens_c, ylim, tlim), y, tp)
        factors = True
    except ValueError:
        factors = False
    num_c = sp.integrate(sp.integrate(sp.exp(a * x * y) * v * y * dens_c, ylim, conds="none"), tlim)
    den_c = sp.integrate(sp.integrate(sp.exp(a * x * y) * dens_c, ylim, conds="none"), tlim)
    at = {a: 1, v: 1, x: 1, c: 1, sig: 1}
    slope = sp.diff(num_c / den_c, tau).subs(at).subs(tau, sp.Rational(1, 2)).evalf()
    proved = proved and not factors and abs(float(slope)) > 1e-3

    L = sp.latex
    steps = (
        ("Masked velocity",
         r"\Gamma_\tau(x) = \frac{\int_0^\tau\!\int e^{s(x,y)}\,Vy\,\mu(dy,d\tau')}"
         r"{\int_0^\tau\!\int e^{s(x,y)}\,\mu(dy,d\tau')},\quad \mu(dy,d\tau') = p(y)\,dy\,\rho(\tau')\,d\tau'"),
        ("Numerator (one component, g = (Vy)_k)", L(num)),
        ("Fubini (the integrand splits into a y-part and a τ'-part)",
         rf"{L(num)} = {L(num_f)},\quad {L(den)} = {L(den_f)}"),
        ("Cancel the position factor", rf"\Gamma_\tau - \Gamma = {L(general)}\quad\text{{whenever }} {L(R)} \neq 0"),
        ("Uniform positions", rf"\rho \equiv 1:\ {L(R.subs(uniform))} = {L(R_unif)} > 0\ \text{{for }}\tau\in(0,1],"
         rf"\quad \Gamma_\tau - \Gamma = {L(diff)}"),
        ("Spot check (d = 1, μ = N(α, σ²), s = axy, V = v)", rf"\Gamma_\tau(x) = {L(gauss)} = {L(closed)}"),
        ("Contrast: position-dependent law", r"p(y\mid\tau') = \mathcal N(y; c\tau', \sigma^2):\ "
         r"\text{the integrand does not split;}\ "
         rf"\partial_\tau\Gamma_\tau\big|_{{a=v=x=c=\sigma=1,\ \tau=1/2}} = {float(slope):.6f} \neq 0"),
        ("Conclusion", r"\Gamma_\tau = \Gamma\ \ \forall \tau\in(0,1]" + (r"\quad\checkmark" if proved else
                                                                          r"\quad\text{(NOT proved)}")),
    )
    return steps, proved


def masked_reduction_proof() -> list[tuple[str, str]]:
    """SymPy proof that masked attention on a position-independent law equals unmasked attention.

    With μ(dy, dτ') = p(y) dy ⊗ ρ(τ') dτ' (ρ ≡ 1: Unif[0, 1]) both integrals of Γ_τ factor by Fubini
    (checked: the integrand splits into a y-free and a τ'-free part) into a y-integral times
    R(τ) = ∫_0^τ ρ = τ; R cancels and ``sympy.simplify(Γ_τ − Γ) == 0``. A concrete spot check (d = 1,
    Gaussian μ, integrals evaluated by SymPy) gives V(α + σ²ax) for every τ, and a position-dependent
    law (mean cτ') is shown not to factor.

    Returns
    -------
    list of (label, LaTeX)
        The derivation steps; :func:`masked_reduction_proved` gives the verdict.
    """
    return [tuple(s) for s in _derive_reduction()[0]]  # type: ignore[misc]


def masked_reduction_proved() -> bool:
    """True when every check of :func:`masked_reduction_proof` passed (Γ_τ − Γ simplifies to 0)."""
    return _derive_reduction()[1]


# =========================================================================== per-position closure


@dataclass(frozen=True)
class MaskedTrajectory(Tabular):
    """Per-group Gaussian moments of the masked closure.

    ``to_dict()`` holds the attributes below as plain lists; ``to_dataframe()`` has one row per time and
    group: columns ``t``, ``group``, ``alpha_i``, ``Sigma_i_j`` (:mod:`gaussflow.results`).

    Attributes
    ----------
    t : ndarray, shape (T,)
    mean : ndarray, shape (T, P, d)
        α_p(t) (with ``refine`` R > 1: mixture mean of the R sub-groups of group p).
    cov : ndarray, shape (T, P, d, d)
        Σ_p(t) (mixture covariance with ``refine``).
    status : str
        ``"ok"``, or ``"failed"`` (solver failure, non-finite right-hand side, a covariance leaving the
        PSD cone, or the ``max_nfev`` budget spent; the arrays stop at the last valid sample);
        ``message`` says why.
    message : str
    nfev : int
    refine : int
    """

    t: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    status: str
    message: str
    nfev: int
    refine: int

    def law(self, p: int, i: int = -1) -> Gaussian:
        """N(α_p(t_i), Σ_p(t_i))."""
        return Gaussian(self.mean[i, p], self.cov[i, p])

    def _columns(self) -> dict[str, np.ndarray]:
        T, P, d = self.mean.shape
        return {"t": np.repeat(self.t, P), "group": np.tile(np.arange(P), T),
                **columns("alpha", self.mean.reshape(T * P, d)), **columns("Sigma", self.cov.reshape(T * P, d, d))}


def solve_masked(attn: Attention, laws: Sequence[Gaussian], t_span: Any, t_eval: Any = None, *, refine: int = 1,
                 rule: str = "tensor", degree: int | None = None, weights: Any = None, rtol: float = 1e-8,
                 atol: float = 1e-10, max_nfev: int = 200_000) -> MaskedTrajectory:
    """Integrate the per-position masked closure (``solve_ivp`` DOP853).

    Parameters
    ----------
    attn : Attention
        Plain softmax attention.
    laws : sequence of Gaussian, length P
        Initial law of each position group, in position order.
    t_span : (t0, t1)
    t_eval : array_like, optional
        Output times (default: t0 and t1).
    refine : int
        Split every group into ``refine`` sub-groups with the same initial law (a P·R partition with
        the default weights) and report each group's mixture moments
        ᾱ = mean_r α_r, Σ̄ = mean_r (Σ_r + (α_r − ᾱ)(α_r − ᾱ)ᵀ). Measures the within-group error.
    rule, degree
        Cubature (see :func:`masked_closure`).
    weights : array_like, shape (P, P), optional
        Group weights instead of :func:`group_weights` (only with ``refine=1``); e.g. all ones = no mask.
    rtol, atol : float
    max_nfev : int
        Budget of right-hand side evaluations; spent → status ``"failed"`` (bounded run time).

    Returns
    -------
    MaskedTrajectory
    """
    if isinstance(refine, bool) or not isinstance(refine, int | np.integer) or refine < 1:
        raise ValueError(f"`refine` must be a positive integer; got {refine!r}")
    laws = list(laws) if not isinstance(laws, Gaussian) else [laws]
    if not laws or not all(isinstance(g, Gaussian) for g in laws):
        raise ValueError("`laws` must be a non-empty sequence of Gaussian")
    if any(g.d != attn.d for g in laws):
        raise ValueError(f"`laws` must all have d = {attn.d} (the d of `attn`); got {[g.d for g in laws]}")
    ts = as_array("t_span", t_span, 1)
    if ts.shape != (2,) or not ts[1] > ts[0]:
        raise ValueError(f"`t_span` must be (t0, t1) with t0 < t1; got {t_span!r}")
    t0, t1 = float(ts[0]), float(ts[1])
    te = np.array([t0, t1]) if t_eval is None else as_array("t_eval", t_eval, 1)
    if te.size == 0 or np.any(np.diff(te) <= 0) or te[0] < t0 or te[-1] > t1:
        raise ValueError(f"`t_eval` must be strictly increasing within t_span = ({t0:g}, {t1:g}); got {te}")
    rtol, atol = check_positive("rtol", rtol), check_positive("atol", atol)
    if isinstance(max_nfev, bool) or not isinstance(max_nfev, int | np.integer) or max_nfev < 1:
        raise ValueError(f"`max_nfev` must be a positive integer; got {max_nfev!r}")
    P, d, R = len(laws), attn.d, int(refine)
    if weights is not None and R != 1:
        raise ValueError(f"`weights` can only be given with refine=1; got refine={R}")
    cl = MaskedPerPosition().groups(attn, P * R, rule=rule, degree=degree, weights=weights)
    a0 = np.repeat(np.stack([g.mean for g in laws]), R, axis=0)
    S0 = np.repeat(np.stack([g.cov for g in laws]), R, axis=0)
    n_a = P * R * d
    count = {"nfev": 0}

    def f(t: float, y: np.ndarray) -> np.ndarray:
        # guards (issue 9): a NaN time or step, or a spent budget, ends the run instead of spinning
        if not np.isfinite(t) or count["nfev"] >= max_nfev:
            raise _Stop(f"stopped at t = {t!r} after {count['nfev']} RHS evaluations (max_nfev = {max_nfev})")
        count["nfev"] += 1
        if not np.all(np.isfinite(y)):
            return np.full_like(y, np.nan)
        a = y[:n_a].reshape(P * R, d)
        S = y[n_a:].reshape(P * R, d, d)
        with np.errstate(all="ignore"):
            ad, Sd = cl(a, 0.5 * (S + np.swapaxes(S, 1, 2)))
        out = np.concatenate([np.ravel(ad), np.ravel(Sd)])
        return out if np.all(np.isfinite(out)) else np.full_like(y, np.nan)

    y0 = np.concatenate([a0.ravel(), S0.ravel()])
    status, message = "ok", ""
    if not np.all(np.isfinite(f(t0, y0))):
        Tt, Y = np.array([t0]), y0[:, None]
        status, message = "failed", f"the masked closure's right-hand side is not finite at t = {t0:g}"
    else:
        try:
            sol = solve_ivp(f, (t0, t1), y0, method="DOP853", t_eval=te, rtol=rtol, atol=atol)
            Tt, Y = sol.t, sol.y
            if not sol.success:
                status, message = "failed", str(sol.message)
            else:
                message = str(sol.message)
        except _Stop as exc:
            Tt, Y = np.array([t0]), y0[:, None]
            status, message = "failed", f"{exc}; the arrays hold the initial state only"
    T = Tt.size
    a = Y[:n_a].T.reshape(T, P, R, d)
    S = Y[n_a:].T.reshape(T, P, R, d, d)
    S = 0.5 * (S + np.swapaxes(S, -1, -2))
    mean = a.mean(axis=2)
    dev = a - mean[:, :, None, :]
    cov = S.mean(axis=2) + np.einsum("tprd,tpre->tpde", dev, dev) / R
    good = np.all(np.isfinite(mean.reshape(T, -1)), axis=1) & np.all(np.isfinite(cov.reshape(T, -1)), axis=1)
    lam = np.linalg.eigvalsh(np.where(good[:, None, None, None], cov, 0.0))  # (T, P, d)
    top = np.maximum(lam[..., -1], 1e-300)
    good &= np.all(lam[..., 0] >= -1e-6 * top, axis=1)
    if not np.all(good):
        n_ok = max(int(np.argmin(good)), 1)  # first invalid sample (the initial one is validated input)
        status = "failed"
        message += (f"; a group covariance became non-finite or left the PSD cone (tolerance 1e-6·λ_max) at "
                    f"t = {Tt[n_ok] if n_ok < T else Tt[-1]:.10g}; the arrays stop before it")
        Tt, mean, cov = Tt[:n_ok], mean[:n_ok], cov[:n_ok]
    return MaskedTrajectory(Tt, mean, cov, status, message.lstrip("; "), count["nfev"], R)


class _Stop(Exception):
    """Ends solve_masked's integration from inside the right-hand side."""


def masked_latex() -> str:
    """Standalone section: the symbolic proof that masked attention with position-independent
    token laws reduces to the unmasked closure (steps from :mod:`gaussflow.masked`)."""
    lines = [r"\section{Masked (causal) attention}\label{sec:masked}",
             r"Tokens carry a position $\tau\in[0,1]$ with density $\rho$; the joint law of (token, position) is"
             r" $\mu(dy,d\tau')$, and for position-independent laws $\mu(dy,d\tau') = p(y)\,dy\,\rho(\tau')\,d\tau'$."
             r" A token at position $\tau$ attends only to positions $\tau'\le\tau$; $\Gamma_\tau$ is its softmax"
             r" velocity \eqref{eq:softmax} restricted to those positions and $\Gamma$ the unmasked one. "
             + ("Every step below is checked by SymPy." if masked_reduction_proved()
                else r"\textbf{The SymPy check of this proof FAILED.}"), ""]
    for i, (label, eq) in enumerate(masked_reduction_proof(), 1):
        lines.append(rf"\paragraph{{Step {i}: {text(label)}.}}")
        lines += display(eq, f"eq:masked:{i}")
    lines.append(r"Position-dependent laws do not reduce: \texttt{gaussflow.masked.solve\_masked} integrates a"
                 r" per-position Gaussian-projection closure \eqref{eq:projection} (one Gaussian per group of"
                 r" positions) instead.")
    return standalone_document("\n".join(lines))
