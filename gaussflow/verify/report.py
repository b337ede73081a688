"""Verification reports: per-time errors, normality, the convergence study, verdicts and plots."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .metrics import SLOPE_VERDICT, Z_VERDICT


@dataclass(frozen=True)
class ConvergenceStudy:
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

    def to_dict(self) -> dict[str, Any]:
        samples = [[None if not math.isfinite(v) else float(v) for v in row] for row in self.samples]
        return {"ns": self.ns.tolist(), "errors": [float(e) if math.isfinite(e) else None for e in self.errors],
                "samples": samples,
                "slope": self.slope, "intercept": self.intercept, "t_final": self.t_final,
                "metric": "relative covariance error at the final time (RMS over repeats)"}


@dataclass(frozen=True)
class VerificationReport:
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

    def verdict(self) -> str:
        """One line: is the particle/closure error an O(n^{-1/2}) sampling error or a bias?"""
        if self.t.size == 0:
            return "no common times: nothing to compare"
        final = float(self.rel_cov_error[-1])
        cv = self.convergence
        if cv is not None and math.isfinite(cv.slope):
            if cv.slope <= SLOPE_VERDICT:
                return (f"consistent with O(n^-1/2): log-log slope {cv.slope:+.2f} (expected -0.50), "
                        f"final rel. cov error {final:.3g} = {self.ratio:.2f} x c/sqrt(n)")
            return (f"bias visible: error plateaus at {cv.errors[-1]:.3g} (log-log slope {cv.slope:+.2f}, "
                    f"expected -0.50 for pure sampling error)")
        if self.ratio <= Z_VERDICT:
            return (f"consistent with O(n^-1/2): final rel. cov error {final:.3g} = {self.ratio:.2f} x c/sqrt(n) "
                    f"<= {Z_VERDICT:g} (run with ns=... to check the rate)")
        return (f"bias visible: final rel. cov error {final:.3g} = {self.ratio:.1f} x the sampling scale "
                f"c/sqrt(n) = {self.sampling_scale:.3g}")

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
        lines.append(f"verdict: {self.verdict()}")
        return "\n".join(lines)

    def plot(self, ax: Any = None) -> Any:
        """Panels: BW distance vs t; relative errors vs t; with a convergence study, log-log error vs n.

        Parameters
        ----------
        ax : None or sequence of matplotlib Axes
            At least 2 (3 with a convergence study) axes; default: a new figure.

        Returns
        -------
        matplotlib.figure.Figure
        """
        import textwrap

        from .. import style
        from ..plot import describe_params

        k = 3 if self.convergence is not None else 2
        with style.use():
            if ax is None:
                fig, axes = style.figure("double", 3.1 if k == 2 else 3.3, ncols=k)
                axes = list(np.atleast_1d(axes))
            else:
                axes = list(np.ravel(np.asarray(ax, dtype=object)))
                if len(axes) < k:
                    raise ValueError(f"`ax` must hold at least {k} axes for this report; got {len(axes)}")
                fig = axes[0].figure
            a0, a1 = axes[0], axes[1]
            a0.plot(self.t, self.bw, "o-", ms=3, color=style.COLORS["ode"])
            style.label(a0, x="time $t$", y="Bures–Wasserstein distance $W_2$",
                        title="particle moments vs closure")
            # relative errors on a log axis: the exact zero at t₀ (same start) is left out
            for err, mk, lab, col in ((self.rel_mean_error, "o-", "mean", style.CYCLE[0]),
                                      (self.rel_cov_error, "s-", "covariance", style.CYCLE[1])):
                ok = np.isfinite(err) & (err > 0)
                a1.plot(self.t[ok], err[ok], mk, ms=3, color=col, label=f"rel. {lab} error")
            a1.axhline(self.sampling_scale, color=style.COLORS["reference"], ls=":",
                       label=r"sampling scale $c/\sqrt{n}$")
            a1.set_yscale("log")
            style.label(a1, x="time $t$", y="relative error",
                        title=f"n = {self.n} particles, seed {self.seed}")
            style.legend_outside(a1, "right" if k == 2 else "below", ncol=1)
            cv = self.convergence
            if cv is not None:
                a2 = axes[2]
                a2.loglog(cv.ns, cv.errors, "o", color=style.CYCLE[1], label="RMS rel. cov. error")
                nn = np.geomspace(cv.ns.min(), cv.ns.max(), 50)
                if math.isfinite(cv.slope):
                    a2.loglog(nn, np.exp(cv.intercept) * nn**cv.slope, "-", color=style.CYCLE[1],
                              label=f"fit, slope {cv.slope:+.2f}".replace("-", "−"))
                a2.loglog(nn, cv.errors[0] * (nn / cv.ns[0]) ** -0.5, "--", color=style.COLORS["reference"],
                          lw=0.8, label="slope −1/2")
                style.label(a2, x="number of particles $n$", y=f"rel. cov. error at t = {cv.t_final:g}",
                            title="convergence in n")
                style.legend_outside(a2, "below", ncol=1)
            law = (f"α₀ = {style.fmt_matrix(self.closure_mean[0], 2)}, Σ₀ = {style.fmt_matrix(self.closure_cov[0], 2)}"
                   if self.t.size else "")
            ptxt = describe_params(self.params, self.variant, 3)
            t0 = self.t[0] if self.t.size else 0.0
            lines = [f"{self.variant} attention: particles vs the {self.closure_kind} Gaussian closure", ptxt,
                     f"start {law} (empirical moments of the particles at t = {t0:g})"]
            fig.suptitle("\n".join(textwrap.fill(x, 110) for x in lines if x))
        return fig

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable content (arrays as nested lists)."""
        out: dict[str, Any] = {
            "variant": self.variant, "n": self.n, "seed": self.seed, "closed": self.closed,
            "closure_kind": self.closure_kind, "closure_is_approximation": self.closure_kind != "exact",
            "sampling_scale": self.sampling_scale, "particle_status": self.particle_status,
            "closure_status": self.closure_status, "message": self.message, "verdict": self.verdict(),
            "params": self.params,
        }
        for name in ("t", "particle_mean", "particle_cov", "closure_mean", "closure_cov", "bw", "rel_mean_error",
                     "rel_cov_error", "mardia_b1", "mardia_b2", "mardia_skew_p", "mardia_kurt_p"):
            out[name] = getattr(self, name).tolist()
        out["convergence"] = None if self.convergence is None else self.convergence.to_dict()
        return out
