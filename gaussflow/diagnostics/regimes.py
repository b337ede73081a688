"""Regimes: name the asymptotic behaviour of a covariance trajectory from its spectrum (collapse to zero or
to a subspace, finite-time blow-up, exponential growth, stationary, bounded), keeping the numbers that
decided it as evidence.

Works on anything with the fields of :class:`gaussflow.trajectory.Trajectory` (``t``, ``cov`` and optionally
``status`` and ``t_blowup``); integrates nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from ..status import STATUSES
from .spectrum import spectrum

__all__ = ["KINDS", "Regime", "classify"]

Kind = Literal[
    "collapse_to_zero", "collapse_to_subspace", "blowup_rank_one", "blowup",
    "exponential_growth", "stationary", "bounded",
]
#: every value ``Regime.kind`` can take, in the order ``classify`` tests them
KINDS: tuple[str, ...] = (
    "exponential_growth", "blowup_rank_one", "blowup", "collapse_to_zero", "collapse_to_subspace",
    "stationary", "bounded",
)
_STATUSES = STATUSES


# --------------------------------------------------------------------------------------------------------
# Regime classification
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Regime:
    """Asymptotic regime of a covariance trajectory, with the numbers that decided it.

    Attributes
    ----------
    kind : str
        One of ``KINDS``: ``"collapse_to_zero"``, ``"collapse_to_subspace"``, ``"blowup_rank_one"``,
        ``"blowup"`` (finite-time blow-up whose normalized limit Σ/trΣ has rank > 1),
        ``"exponential_growth"``, ``"stationary"``, ``"bounded"``.
    rank : int or None
        Rank of the limit where the rule determines one: 0 for collapse to zero, dim of the limit subspace
        for collapse to a subspace, rank of lim Σ/trΣ for blow-up, numerical rank of the final Σ for
        stationary; ``None`` otherwise.
    reason : str
        The rule that fired, in words.
    evidence : mapping
        All diagnostic numbers computed by ``classify`` (read-only).
    """

    kind: Kind
    rank: int | None = None
    reason: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"`kind` must be one of {KINDS}; got {self.kind!r}")
        if self.rank is not None and (not isinstance(self.rank, int | np.integer) or self.rank < 0):
            raise ValueError(f"`rank` must be a non-negative int or None; got {self.rank!r}")
        object.__setattr__(self, "rank", None if self.rank is None else int(self.rank))
        object.__setattr__(self, "evidence", MappingProxyType(dict(self.evidence)))

    def __str__(self) -> str:
        head = self.kind + ("" if self.rank is None else f" (rank {self.rank})")
        lines = [f"{head}: {self.reason}" if self.reason else head]
        for key, val in self.evidence.items():
            lines.append(f"  {key} = {_fmt(val)}")
        return "\n".join(lines)


def _fmt(val: Any) -> str:
    if isinstance(val, float):
        return f"{val:.6g}"
    if isinstance(val, tuple):
        return "(" + ", ".join(_fmt(v) for v in val) + ")"
    return str(val)


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of y against x (NaN if x is constant)."""
    xm = x - x.mean()
    den = float(xm @ xm)
    return float(xm @ (y - y.mean()) / den) if den > 0 else math.nan


def _tail(tau: np.ndarray, tail: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the two halves (early, late) of the tail window τ ≥ (1 − tail)·τ_end, each ≥ 2 samples."""
    n = tau.size
    idx = np.flatnonzero(tau >= (1.0 - tail) * tau[-1])
    if idx.size < 3:
        idx = np.arange(max(n - 3, 0), n)
    mid = 0.5 * (tau[idx[0]] + tau[idx[-1]])
    early, late = idx[tau[idx] <= mid], idx[tau[idx] >= mid]
    if early.size < 2 or late.size < 2:  # few or unevenly spread samples: split by index instead
        m = idx.size // 2
        early, late = idx[: m + 1], idx[m:]
    return early, late


def classify(
    traj: Any,
    *,
    tail: float = 0.25,
    zero_rtol: float = 1e-3,
    decay_slope: float = 0.5,
    flat_slope: float = 0.1,
    rate_rtol: float = 0.05,
    blowup_rtol: float = 0.05,
    stationary_rtol: float = 1e-3,
    rank_rtol: float = 1e-9,
) -> Regime:
    """Name the asymptotic regime of a covariance trajectory from its samples.

    All rates are measured on the tail window τ ∈ [(1 − tail)·τ_end, τ_end], τ = t − t₀, split in an
    early and a late half (least-squares slopes on each). With λ_i the sorted eigenvalues, the rules are
    applied in this order and the first that fires wins:

    1. **exponential_growth** — g = d/dt log trΣ is positive and has converged: on both halves of the
       tail g agrees within ``rate_rtol`` (relative), and g_late·τ_end ≥ 1 (at least one e-fold at that
       rate over the run). Tested first because a solver may flag such runs as ``"blowup"`` when trΣ
       crosses a threshold; a genuine finite-time blow-up has g ~ 1/(T* − t), which never converges.
    2. **blowup_rank_one** / **blowup** — ``traj.status == "blowup"`` or ``traj.t_blowup`` is set. The
       rank r of lim Σ/trΣ is #{i : λ_i/λ_1 ≥ ``blowup_rtol``} at the final sample; r = 1 gives
       ``blowup_rank_one`` (Σ/trΣ approaching rank one), r > 1 gives ``blowup`` with that rank.
    3. **collapse_to_zero** / **collapse_to_subspace** — let r₀ be the initial rank (relative threshold
       ``rank_rtol``). Eigenvalue i < r₀ *vanishes* if λ_i(end) ≤ ``zero_rtol``·max_t λ_max or its
       log-log slope d log λ_i / d log τ on the late tail is ≤ −``decay_slope`` (e.g. −1 for
       Σ ~ 1/t, −∞ for exponential decay). If all r₀ vanish: collapse_to_zero (rank 0). If some vanish
       and every other one is *flat* (|log-log slope| ≤ ``flat_slope``, i.e. converges to a positive
       constant): collapse_to_subspace with rank = number of flat eigenvalues. Structurally zero
       eigenvalues (already zero at t₀; rank is invariant) are ignored, so a constant singular Σ is no
       collapse.
    4. **stationary** — ``traj.status == "converged"``, or the end rate is negligible:
       ‖ΔΣ/Δt‖_F·τ_end / ‖Σ‖_F ≤ ``stationary_rtol`` on the last step.
    5. **bounded** — nothing above fired (e.g. rotating or oscillating Σ); read the evidence.

    Parameters
    ----------
    traj : object
        Anything with ``t`` (n,) and ``cov`` (n, d, d), n ≥ 3; optional ``status`` (one of "ok",
        "blowup", "converged", "failed"; default "ok") and ``t_blowup`` (float or None).
    tail, zero_rtol, decay_slope, flat_slope, rate_rtol, blowup_rtol, stationary_rtol, rank_rtol : float
        Thresholds of the rules above.

    Returns
    -------
    Regime
        ``kind``, ``rank``, ``reason`` and ``evidence`` (initial / final trace, trace log-rates,
        per-eigenvalue final values, log-log slopes and fates, rank-one distance, end rate, status).

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> t = np.linspace(0.0, 100.0, 201)
    >>> cov = np.array([np.diag([1.0, 1.0 / (1.0 + s)]) for s in t])  # softmax V = I, A = −diag(0, ½)
    >>> classify(SimpleNamespace(t=t, cov=cov)).kind
    'collapse_to_subspace'
    """
    for name, val in (("tail", tail), ("zero_rtol", zero_rtol), ("decay_slope", decay_slope),
                      ("flat_slope", flat_slope), ("rate_rtol", rate_rtol), ("blowup_rtol", blowup_rtol),
                      ("stationary_rtol", stationary_rtol), ("rank_rtol", rank_rtol)):
        if not (isinstance(val, int | float) and math.isfinite(val) and val > 0):
            raise ValueError(f"`{name}` must be a positive finite number; got {val!r}")
    if tail >= 1:
        raise ValueError(f"`tail` must be in (0, 1); got {tail!r}")
    if not (hasattr(traj, "t") and hasattr(traj, "cov")):
        raise ValueError(f"`traj` must have fields `t` and `cov`; got {type(traj).__name__}")
    status = getattr(traj, "status", "ok")
    if status not in _STATUSES:
        raise ValueError(f"`traj.status` must be one of {_STATUSES}; got {status!r}")
    t_blowup = getattr(traj, "t_blowup", None)
    spec = spectrum(traj.t, traj.cov)
    if spec.n < 3 and status == "converged":  # the solver found Σ̇ ≈ 0 right away (e.g. at t₀)
        ev0 = {"status": status, "t_final": float(spec.t[-1]), "n_samples": spec.n,
               "eigenvalues_final": tuple(float(v) for v in spec.eigenvalues[-1])}
        return Regime("stationary", int(spec.rank(rank_rtol)[-1]), "the solver reported a stationary state", ev0)
    if spec.n < 3:
        raise ValueError(f"`traj` needs at least 3 time samples to classify; got {spec.n}")

    lam, tr = spec.eigenvalues, spec.trace
    tau = spec.t - spec.t[0]
    early, late = _tail(tau, tail)
    ev: dict[str, Any] = {"status": status, "t_final": float(spec.t[-1]), "n_samples": spec.n}

    if tr[0] <= 0:
        ev["trace_initial"] = 0.0
        return Regime("stationary", 0, "Σ₀ = 0 stays 0", ev)

    r0 = int(np.sum(lam[0] > rank_rtol * lam[0, 0]))
    ev["trace_initial"] = float(tr[0])
    ev["trace_final"] = float(tr[-1])
    ev["initial_rank"] = r0
    ev["eigenvalues_final"] = tuple(float(x) for x in lam[-1])
    rod = spec.rank_one_distance
    ev["rank_one_distance_initial"] = float(rod[0])
    ev["rank_one_distance_final"] = float(rod[-1])

    # 1. exponential growth: d/dt log trΣ converged to a positive constant
    if tr[-1] > 0 and np.all(tr[early] > 0):
        logtr = np.log(np.where(tr > 0, tr, np.nan))
        g_early, g_late = _slope(spec.t[early], logtr[early]), _slope(spec.t[late], logtr[late])
    else:
        g_early = g_late = -math.inf
    ev["log_trace_rate_early"] = g_early
    ev["log_trace_rate_late"] = g_late
    if (g_late > 0 and abs(g_late - g_early) <= rate_rtol * g_late and g_late * tau[-1] >= 1):
        return Regime("exponential_growth", None,
                      f"d/dt log trΣ converged to {g_late:.4g} > 0 (early half of tail {g_early:.4g})", ev)

    # 2. finite-time blow-up: rank of the normalized limit
    if status == "blowup" or t_blowup is not None:
        ev["t_blowup"] = None if t_blowup is None else float(t_blowup)
        ratio = lam[-1] / lam[-1, 0]
        ev["eigenvalue_ratios_final"] = tuple(float(x) for x in ratio)
        r = int(np.sum(ratio >= blowup_rtol))
        if r == 1:
            return Regime("blowup_rank_one", 1,
                          f"blow-up with λ_i/λ_1 < {blowup_rtol:g} for i ≥ 2 at the last sample: "
                          f"Σ/trΣ → rank one (distance {rod[-1]:.3g})", ev)
        return Regime("blowup", r, f"blow-up with {r} eigenvalues growing together (λ_i/λ_1 ≥ {blowup_rtol:g})",
                      ev)

    # 3. collapse: eigenvalues that were positive at t₀ and vanish
    x = np.log(tau[late])
    slopes, fates = [], []
    scale = float(np.max(lam[:, 0]))
    for i in range(r0):
        y = lam[late, i]
        s = _slope(x, np.log(y)) if np.all(y > 0) else -math.inf
        slopes.append(s)
        if lam[-1, i] <= zero_rtol * scale or s <= -decay_slope:
            fates.append("vanishing")
        elif abs(s) <= flat_slope:
            fates.append("flat")
        else:
            fates.append("other")
    ev["loglog_slopes_final"] = tuple(slopes)
    ev["eigenvalue_fates"] = tuple(fates)
    n_van, n_flat = fates.count("vanishing"), fates.count("flat")
    if n_van == r0:
        return Regime("collapse_to_zero", 0,
                      f"all {r0} eigenvalues vanish (log-log slopes ≤ {-decay_slope:g} or below "
                      f"{zero_rtol:g}·max λ)", ev)
    if n_van > 0 and n_flat == r0 - n_van:
        return Regime("collapse_to_subspace", n_flat,
                      f"{n_van} eigenvalue(s) vanish, {n_flat} converge to positive constants", ev)

    # 4. stationary
    cov = np.asarray(traj.cov, dtype=float)
    dS = cov[-1] - cov[-2]
    dt = spec.t[-1] - spec.t[-2]
    norm_end = float(np.linalg.norm(cov[-1]))
    end_rate = float(np.linalg.norm(dS) / dt * tau[-1] / norm_end) if norm_end > 0 else 0.0
    ev["relative_end_rate"] = end_rate
    if status == "converged" or end_rate <= stationary_rtol:
        why = "solver reported convergence" if status == "converged" else (
            f"‖Σ̇‖·τ_end/‖Σ‖ = {end_rate:.3g} ≤ {stationary_rtol:g} at the end")
        return Regime("stationary", int(spec.rank(rank_rtol)[-1]), why, ev)

    # 5. fallback
    return Regime("bounded", None, "no growth, blow-up, collapse or stationarity detected", ev)
