"""Verification reports: per-time errors, normality, the convergence study, verdicts and plots.

Verdicts (``rep.verdict``, a property): ``consistent with O(n^-1/2)`` when the final covariance error is a
sampling error (within ``Z_VERDICT`` × c/√n, or decaying with log-log slope ≤ ``SLOPE_VERDICT`` in a
convergence study); otherwise ``bias visible`` — unless the closure is exact and the run is near a blow-up
(a blow-up status, or tr Σ grown ≥ ``BLOWUP_GROWTH``×), where the verdict is ``closure exact; finite-n effect
near blow-up``: the closure has no bias there, the n-particle system's fluctuations are amplified.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .._tabular import Tabular, columns
from .metrics import BLOWUP_GROWTH, SLOPE_VERDICT, Z_VERDICT

#: verdict heads: key → (plain text, LaTeX) — the one place they are written
VERDICTS: dict[str, tuple[str, str]] = {
    "sampling": ("consistent with O(n^-1/2)", r"\text{consistent with }O(n^{-1/2})"),
    "bias": ("bias visible", r"\text{bias visible}"),
    "finite_n": ("closure exact; finite-n effect near blow-up",
                 r"\text{closure exact; finite-}n\text{ effect near blow-up}"),
    "empty": ("no common times", r"\text{no common times}"),
}


@dataclass(frozen=True)
class ConvergenceStudy(Tabular):
    """Final-time relative covariance error against the number of particles.

    Attributes
    ----------
    ns : ndarray, shape (k,)
        Particle numbers.
    errors : ndarray, shape (k,)
        Root mean square over the seeds of the relative covariance error at the final time.
    samples : ndarray, shape (k, r_max)
        The individual errors (row i: seeds ``seed, seed + 1, ...``; NaN-padded where n_i had fewer seeds).
    slope : float
        Least-squares slope of log(errors) against log(ns) (``np.polyfit``); −½ for pure sampling error.
    intercept : float
        log(errors) ≈ intercept + slope·log(n).
    t_final : float
        Time at which the errors are taken.
    """

    ns: np.ndarray
    errors: np.ndarray
    samples: np.ndarray
    slope: float
    intercept: float
    t_final: float

    def _record(self) -> dict[str, Any]:
        """``to_dict`` keys: the attributes and ``metric`` (what ``errors`` measure); NaN padding → None."""
        return {**super()._record(), "metric": "relative covariance error at the final time (RMS over repeats)"}

    def _columns(self) -> dict[str, np.ndarray]:
        """``to_dataframe``: one row per particle number — ``n``, ``error``, ``seeds``, ``error_x_sqrt_n``."""
        seeds = np.count_nonzero(np.isfinite(self.samples), axis=1)
        return {"n": self.ns, "error": self.errors, "seeds": seeds, "error_x_sqrt_n": self.errors * np.sqrt(self.ns)}

    def __repr__(self) -> str:
        return (f"ConvergenceStudy(ns={self.ns.tolist()}, slope={self.slope:+.3g}, t_final={self.t_final:g})")


@dataclass(frozen=True, repr=False)
class VerificationReport(Tabular):
    """Particles against the Gaussian closure, per time (arrays cover the times both runs reached).

    Attributes
    ----------
    variant : str
    n, seed : int
        Particles of the main run and its seed.
    t : ndarray, shape (T,)
    particle_mean, closure_mean : ndarray, shape (T, d)
    particle_cov, closure_cov : ndarray, shape (T, d, d)
        Empirical moments (1/n normalization) and the closure ODE started from the empirical moments at t[0].
    bw : ndarray, shape (T,)
        Bures–Wasserstein distance between N(particle moments) and N(closure moments).
    rel_mean_error, rel_cov_error : ndarray, shape (T,)
        |m_p − m_c| / max(|m_c|, √tr C_c) and ‖C_p − C_c‖_F / ‖C_c‖_F.
    mardia_b1, mardia_b2 : ndarray, shape (T,)
        Mardia's skewness and kurtosis of the particle cloud.
    mardia_skew_p, mardia_kurt_p : ndarray, shape (T,)
        Their p-values (small: the cloud is not Gaussian).
    closed : bool
        ``attn.preserves_gaussian``.
    closure_kind : str
        ``"exact"``, ``"projection (Gauss–Hermite degree k)"`` or ``"user closure_rhs"``.
    sampling_scale : float
        c/√n of :func:`sampling_scale` at the initial empirical covariance.
    convergence : ConvergenceStudy or None
    particle_status, closure_status : str
    message : str
    params : dict
        Attention parameters (JSON types).

    ``to_dict()``: these attributes plus ``closure_is_approximation``, ``verdict``, ``ratio``;
    ``to_dataframe()``: one row per time — ``t``, ``bw``, the relative errors, Mardia's statistics, and
    ``particle_mean_i``, ``closure_mean_i``, ``particle_cov_i_j``, ``closure_cov_i_j``.
    """

    variant: str
    n: int
    seed: int
    t: np.ndarray
    particle_mean: np.ndarray
    particle_cov: np.ndarray
    closure_mean: np.ndarray
    closure_cov: np.ndarray
    bw: np.ndarray
    rel_mean_error: np.ndarray
    rel_cov_error: np.ndarray
    mardia_b1: np.ndarray
    mardia_b2: np.ndarray
    mardia_skew_p: np.ndarray
    mardia_kurt_p: np.ndarray
    closed: bool
    closure_kind: str
    sampling_scale: float
    convergence: ConvergenceStudy | None
    particle_status: str
    closure_status: str
    message: str
    params: dict[str, Any]

    def __post_init__(self) -> None:
        T = self.t.shape[0]
        for name in ("bw", "rel_mean_error", "rel_cov_error", "mardia_b1", "mardia_b2", "mardia_skew_p",
                     "mardia_kurt_p"):
            if getattr(self, name).shape != (T,):
                raise ValueError(f"`{name}` must have shape ({T},); got {getattr(self, name).shape}")
        for name in ("t", "particle_mean", "particle_cov", "closure_mean", "closure_cov", "bw", "rel_mean_error",
                     "rel_cov_error", "mardia_b1", "mardia_b2", "mardia_skew_p", "mardia_kurt_p"):
            a = np.array(getattr(self, name), dtype=float, copy=True)
            a.setflags(write=False)
            object.__setattr__(self, name, a)

    @property
    def ratio(self) -> float:
        """Final relative covariance error in units of the sampling scale c/√n."""
        if self.t.size == 0:
            return math.nan
        return float(self.rel_cov_error[-1] / self.sampling_scale)

    @property
    def exact(self) -> bool:
        """Whether the compared closure is the exact one (the variant closes and no user closure was given)."""
        return bool(self.closed) and self.closure_kind == "exact"

    @property
    def growth(self) -> float:
        """tr Σ of the closure at the last compared time over its value at the first (NaN without times)."""
        if self.t.size == 0:
            return math.nan
        tr = np.trace(self.closure_cov, axis1=1, axis2=2)
        return float(tr[-1] / tr[0]) if tr[0] > 0 else math.inf

    @property
    def near_blowup(self) -> bool:
        """A blow-up status on either side, or tr Σ grown by ≥ ``BLOWUP_GROWTH`` over the compared times."""
        return "blowup" in (self.particle_status, self.closure_status) or self.growth >= BLOWUP_GROWTH

    def _verdict(self) -> tuple[str, str]:
        """(key of :data:`VERDICTS`, detail)."""
        if self.t.size == 0:
            return "empty", "nothing to compare"
        final = float(self.rel_cov_error[-1])
        cv = self.convergence
        if cv is not None and math.isfinite(cv.slope):
            if cv.slope <= SLOPE_VERDICT:
                return "sampling", (f"log-log slope {cv.slope:+.2f} (expected -0.50), final rel. cov error "
                                    f"{final:.3g} = {self.ratio:.2f} x c/sqrt(n)")
            detail = (f"error plateaus at {cv.errors[-1]:.3g} (log-log slope {cv.slope:+.2f}, expected -0.50 for "
                      "pure sampling error)")
        elif self.ratio <= Z_VERDICT:
            return "sampling", (f"final rel. cov error {final:.3g} = {self.ratio:.2f} x c/sqrt(n) <= {Z_VERDICT:g} "
                                "(run with ns=... to check the rate)")
        else:
            detail = (f"final rel. cov error {final:.3g} = {self.ratio:.1f} x the sampling scale c/sqrt(n) = "
                      f"{self.sampling_scale:.3g}")
        if self.exact and self.near_blowup:
            return "finite_n", (f"{detail}, while tr Sigma grew x{self.growth:.3g}: the n-particle fluctuations "
                                "are amplified near the singularity (more particles, or stop earlier)")
        return "bias", detail

    @property
    def verdict(self) -> str:
        """One line: is the particle/closure error an O(n^{-1/2}) sampling error, a bias of the closure, or (exact
        closure near a blow-up) a finite-n effect? (module docstring)"""
        key, detail = self._verdict()
        return f"{VERDICTS[key][0]}: {detail}"

    def summary(self, max_rows: int = 11) -> str:
        """Readable text table: header, per-time metrics (at most ``max_rows`` rows), convergence, verdict."""
        kind = self.closure_kind + ("" if self.closure_kind == "exact" else " -- an approximation")
        lines = [
            f"gaussflow verify: variant={self.variant}  n={self.n}  seed={self.seed}  closure={kind}",
            f"  closed={self.closed}  particles: {self.particle_status}  closure: {self.closure_status}"
            f"  sampling scale c/sqrt(n)={self.sampling_scale:.3g}",
        ]
        T = self.t.size
        rows = np.unique(np.linspace(0, T - 1, min(T, max_rows)).round().astype(int)) if T else np.array([], int)
        head = f"  {'t':>8} {'W2(BW)':>10} {'rel_mean':>10} {'rel_cov':>10} {'skew_b1':>10} {'p_skew':>9} " \
               f"{'kurt_b2':>9} {'p_kurt':>9}"
        lines.append(head)
        for i in rows:
            lines.append(
                f"  {self.t[i]:8.4g} {self.bw[i]:10.3e} {self.rel_mean_error[i]:10.3e} {self.rel_cov_error[i]:10.3e} "
                f"{self.mardia_b1[i]:10.3e} {self.mardia_skew_p[i]:9.2e} {self.mardia_b2[i]:9.4f} "
                f"{self.mardia_kurt_p[i]:9.2e}"
            )
        cv = self.convergence
        if cv is not None:
            lines.append(f"  convergence at t={cv.t_final:g}:")
            lines.append(f"  {'n':>8} {'seeds':>6} {'rel_cov (RMS)':>14} {'x sqrt(n)':>10}")
            for k, e, row in zip(cv.ns, cv.errors, cv.samples, strict=True):
                lines.append(f"  {int(k):8d} {int(np.count_nonzero(np.isfinite(row))):6d} {e:14.3e} "
                             f"{e * math.sqrt(k):10.3f}")
            lines.append(f"  fitted slope d log(err)/d log(n) = {cv.slope:+.3f}")
        lines.append(f"verdict: {self.verdict}")
        return "\n".join(lines)

    def plot(self, ax: Any = None, **kwargs: Any) -> np.ndarray:
        """Panels: BW distance vs t; relative errors vs t; with a convergence study, log-log error vs n.

        Parameters
        ----------
        ax : None or sequence of matplotlib Axes
            The ``ax=`` of every gaussflow plot; a multi-panel plot takes one Axes per panel: exactly 2 axes
            (3 with a convergence study), e.g. ``plt.subplots(1, 2)[1]``; default: a new
            full-width figure, whose title states the variant, its parameters and the initial law.
        **kwargs
            Passed to every ``Axes.plot`` / ``Axes.loglog`` call that draws data (e.g. ``lw=2``, ``alpha=0.7``).

        Returns
        -------
        ndarray of matplotlib Axes, shape (2,) or (3,)
            The panels drawn on (like :mod:`gaussflow.plot`, which returns the Axes; ``ax[0].figure`` is the
            figure).
        """
        import textwrap

        from .. import style
        from ..plot import describe_params

        k = 3 if self.convergence is not None else 2
        with style.use():
            fig, out = style.panels(ax, k, "double", 3.1 if k == 2 else 3.3,
                                    f"for this report ({'with' if k == 3 else 'without'} a convergence study)")
            a0, a1 = out[0], out[1]
            a0.plot(self.t, self.bw, "o-", **{"ms": 3, "color": style.COLORS["ode"], **kwargs})
            style.label(a0, x="time $t$", y="Bures–Wasserstein distance $W_2$",
                        title="particle moments vs closure")
            # relative errors on a log axis: the exact zero at t₀ (same start) is left out
            for err, mk, lab, col in ((self.rel_mean_error, "o-", "mean", style.CYCLE[0]),
                                      (self.rel_cov_error, "s-", "covariance", style.CYCLE[1])):
                ok = np.isfinite(err) & (err > 0)
                a1.plot(self.t[ok], err[ok], mk, **{"ms": 3, "color": col, "label": f"rel. {lab} error", **kwargs})
            a1.axhline(self.sampling_scale, color=style.COLORS["reference"], ls=":",
                       label=r"sampling scale $c/\sqrt{n}$")
            a1.set_yscale("log")
            style.label(a1, x="time $t$", y="relative error",
                        title=f"n = {self.n} particles, seed {self.seed}")
            style.legend_outside(a1, "right" if k == 2 else "below", ncol=1)
            cv = self.convergence
            if cv is not None:
                a2 = out[2]
                a2.loglog(cv.ns, cv.errors, "o", **{"color": style.CYCLE[1], "label": "RMS rel. cov. error", **kwargs})
                nn = np.geomspace(cv.ns.min(), cv.ns.max(), 50)
                if math.isfinite(cv.slope):
                    a2.loglog(nn, np.exp(cv.intercept) * nn**cv.slope, "-", color=style.CYCLE[1],
                              label=f"fit, slope {cv.slope:+.2f}".replace("-", "−"))
                a2.loglog(nn, cv.errors[0] * (nn / cv.ns[0]) ** -0.5, "--", color=style.COLORS["reference"],
                          lw=0.8, label="slope −1/2")
                style.label(a2, x="number of particles $n$", y=f"rel. cov. error at t = {cv.t_final:g}",
                            title="convergence in n")
                style.legend_outside(a2, "below", ncol=1)
            if fig is not None:  # a figure of our own: say what it shows
                law = (f"α₀ = {style.fmt_matrix(self.closure_mean[0], 2)}, "
                       f"Σ₀ = {style.fmt_matrix(self.closure_cov[0], 2)}" if self.t.size else "")
                ptxt = describe_params(self.params, self.variant, 3)
                t0 = self.t[0] if self.t.size else 0.0
                lines = [f"{self.variant} attention: particles vs the {self.closure_kind} Gaussian closure", ptxt,
                         f"start {law} (empirical moments of the particles at t = {t0:g})"]
                fig.suptitle("\n".join(textwrap.fill(x, 110) for x in lines if x))
        return out

    _ARRAYS: ClassVar[tuple[str, ...]] = ("t", "particle_mean", "particle_cov", "closure_mean", "closure_cov", "bw",
                                "rel_mean_error", "rel_cov_error", "mardia_b1", "mardia_b2", "mardia_skew_p",
                                "mardia_kurt_p")

    def _record(self) -> dict[str, Any]:
        return {**super()._record(), "closure_is_approximation": not self.exact, "verdict": self.verdict,
                "ratio": self.ratio}

    def _columns(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for name in self._ARRAYS:
            out |= columns(name, getattr(self, name))
        return out

    def __repr__(self) -> str:
        key, _ = self._verdict()
        return (f"VerificationReport({self.variant!r}, n={self.n}, T={self.t.size}, closure={self.closure_kind!r}, "
                f"ratio={self.ratio:.3g}, verdict={VERDICTS[key][0]!r})")

    def _repr_latex_(self) -> str:
        """A small table for notebooks: variant, closure, n, final W₂ and errors, ratio, verdict."""
        key, _ = self._verdict()
        last = (lambda a: f"{float(a[-1]):.3g}") if self.t.size else (lambda a: "-")
        rows = [(r"\text{variant}", rf"\texttt{{{_tex(self.variant)}}}"),
                (r"\text{closure}", rf"\text{{{_tex(self.closure_kind)}}}"),
                (r"n\ \text{(seed)}", f"{self.n}\\ ({self.seed})"),
                (r"t_{\text{final}}", last(self.t)),
                (r"W_2\ \text{(Bures-Wasserstein)}", last(self.bw)),
                (r"\text{rel. mean error}", last(self.rel_mean_error)),
                (r"\text{rel. cov error}", last(self.rel_cov_error)),
                (r"\text{rel. cov error} / (c/\sqrt n)", f"{self.ratio:.3g}"),
                (r"\text{verdict}", VERDICTS[key][1])]
        body = r" \\ ".join(f"{a} & {b}" for a, b in rows)
        return rf"$\begin{{array}}{{l|l}} {body} \end{{array}}$"


def _tex(s: str) -> str:
    """Plain text for ``\\text{}`` in MathJax/LaTeX: braces, ``_ % & # $`` escaped."""
    return "".join("\\" + ch if ch in "_%&#${}" else ch for ch in s)
