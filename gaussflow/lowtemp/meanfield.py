"""Lagrangian quadrature solvers of the residual low-temperature mean-field dynamics for laws with
structure, resolving the O(1/β) layers that finite-N particles blur.

The law is carried by the flow map: μ_t = (X_t)#μ₀, X_t(ξ) the position at time t of the token that
started at ξ. A quadrature (ξⱼ, wⱼ) of μ₀ turns every integral against μ_t into Σⱼ wⱼ f(X_t(ξⱼ)), so
the nodes obey the closed ODE system

    ẋᵢ = v (m_β(xᵢ) − xᵢ),   m_β(xᵢ) = Σⱼ wⱼ yⱼ k(xᵢ, yⱼ) / Σⱼ wⱼ k(xᵢ, yⱼ)

(integrated by DOP853). Nodes sit on graded Gauss–Legendre panels
(:func:`gaussflow.lowtemp.quadrature.graded_panels`).

* :func:`mean_field_1d`: ν₀ = U[−1, 1], score β a x y, value v. The law stays symmetric, so only
  ξ ∈ (0, 1) is carried and each node also stands for its mirror image −xⱼ:
  m_β(x) = Σⱼ wⱼ yⱼ (e^{βaxyⱼ} − e^{−βaxyⱼ}) / Σⱼ wⱼ (e^{βaxyⱼ} + e^{−βaxyⱼ}).
  Flows on the line keep the order of tokens, so the quantile coupling is ξ ↦ (X_t(ξ), P(ξ)) and
  W2²(ν_t, P#ν₀) = ∫ |X_t(ξ) − P(ξ)|² dν₀(ξ) exactly (up to quadrature): P = sign for v > 0 (the
  β = ∞ limit map), P = 0 for v < 0 (the hardmax flow then slides every interior token into 0).
* :func:`mean_field_cube`: product laws on [−1, 1]^d with diagonal A = KᵀQ and V: the score
  β Σₖ aₖ xₖ yₖ factorizes, each coordinate is an independent 1-D problem and W2² adds over them.
* :func:`mean_field_radial`: radial laws on the ball of radius R in ℝ^d, A = aI, V = vI. With
  ν = d/2 − 1 the angular integrals are Bessel functions,
  m_β(x) = x̂ · Σⱼ wⱼ sⱼ z⁻ᵛIᵥ₊₁(z) / Σⱼ wⱼ z⁻ᵛIᵥ(z), z = βa|x|sⱼ,
  and W2(μ_t, P#μ₀) = (∫ (|x| − R)² dμ_t)^{1/2} for the target P(x) = R x/|x| (uniform on the
  sphere): the radial coupling is optimal because |x − y| ≥ ||x| − R| whenever |y| = R.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.integrate import solve_ivp
from scipy.special import i0e, i1e, ive

from .._checks import as_array, check_positive
from .._io import load_npz, package_versions, save_npz
from .quadrature import graded_panels

FORMAT = "gaussflow.lowtemp.MeanFieldResult/1"


@dataclass(frozen=True, eq=False)
class MeanFieldResult:
    """A Lagrangian mean-field run.

    Attributes
    ----------
    t : ndarray, shape (T,)
    w2 : ndarray, shape (T,)
        W2(μ_t, P#μ₀).
    nodes : ndarray, shape (N,)
        Initial positions ξⱼ (1-D: ξ ∈ (0, 1), mirrored; radial: radii).
    weights : ndarray, shape (N,)
        Quadrature masses (sum ½ in 1-D, the mirror carrying the other half; 1 in the radial case).
    X : ndarray, shape (T, N)
        Positions (radii) of the nodes.
    info : Mapping
        Model and solver settings (JSON types): kind, beta, a, v, grid, rtol, nfev, wall time, ...
    """

    t: np.ndarray
    w2: np.ndarray
    nodes: np.ndarray
    weights: np.ndarray
    X: np.ndarray
    info: Mapping[str, Any] = field(default_factory=dict)

    def floor(self) -> tuple[float, float]:
        """(min_t W2, the time it is attained)."""
        i = int(np.argmin(self.w2))
        return float(self.w2[i]), float(self.t[i])

    def save(self, path: str | os.PathLike[str]) -> None:
        """npz + JSON metadata (never pickled)."""
        arrays = {"t": self.t, "w2": self.w2, "nodes": self.nodes, "weights": self.weights, "X": self.X}
        save_npz(path, arrays, {"format": FORMAT, "info": dict(self.info), "versions": package_versions()})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MeanFieldResult:
        arrays, meta = load_npz(path, {"t", "w2", "nodes", "weights", "X"}, "MeanFieldResult")
        if meta.get("format") != FORMAT:
            raise ValueError(f"`path` is not a {FORMAT} file: format {meta.get('format')!r}")
        return cls(arrays["t"], arrays["w2"], arrays["nodes"], arrays["weights"], arrays["X"], meta["info"])


def _t_eval(t_eval: Any) -> np.ndarray:
    t = as_array("t_eval", t_eval)
    t = t.reshape(1) if t.ndim == 0 else t
    if t.ndim != 1 or t.size < 1 or t[0] < 0 or (t.size > 1 and not np.all(np.diff(t) > 0)):
        raise ValueError(f"`t_eval` must be a strictly increasing 1-D array of times ≥ 0; got {t}")
    return t


def _scalar(name: str, value: Any, nonzero: bool = True) -> float:
    try:
        if isinstance(value, bool) or np.ndim(value) != 0:
            raise TypeError
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a real number; got {value!r}") from None
    if not math.isfinite(v) or (nonzero and v == 0):
        raise ValueError(f"`{name}` must be finite and nonzero; got {value!r}")
    return v


#: integrators of the node ODEs: DOP853 (default) or LSODA (stiff: v < 0 contracts at rate ~β|v|)
METHODS: tuple[str, ...] = ("DOP853", "LSODA", "Radau")


def _integrate(rhs: Callable[[float, np.ndarray], np.ndarray], y0: np.ndarray, t: np.ndarray, rtol: float,
               atol: float, method: str = "DOP853") -> tuple[np.ndarray, int, float]:
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}; got {method!r}")
    start = time.perf_counter()
    if t[-1] == t[0]:
        return y0[None, :].copy(), 0, 0.0
    sol = solve_ivp(rhs, (0.0, float(t[-1])), y0, method=method, t_eval=t, rtol=rtol, atol=atol)
    if sol.status != 0:
        raise RuntimeError(f"mean-field integration failed: {sol.message}")
    return sol.y.T.copy(), int(sol.nfev), time.perf_counter() - start


def symmetric_mean(x: np.ndarray, y: np.ndarray, logw: np.ndarray, ba: float) -> np.ndarray:
    """m_β(xᵢ) for the symmetric law Σⱼ wⱼ(δ_{yⱼ} + δ_{−yⱼ}) on the line, score βa x y.

    x (n,), y (m,) ≥ 0, logw (m,) = log wⱼ. Returns (n,):
    Σⱼ wⱼ yⱼ (e^{βaxyⱼ} − e^{−βaxyⱼ}) / Σⱼ wⱼ (e^{βaxyⱼ} + e^{−βaxyⱼ}) (log-sum-exp shifted).
    """
    S = ba * np.outer(x, y)
    shift = np.maximum(S, -S).max(axis=1, keepdims=True) + logw.max()
    Ep = np.exp(S + logw - shift)
    Em = np.exp(-S + logw - shift)
    return ((Ep - Em) @ y) / (Ep + Em).sum(axis=1)


def radial_mean(r: np.ndarray, s: np.ndarray, logw: np.ndarray, ba: float, d: int) -> np.ndarray:
    """|m_β(x)| at |x| = rᵢ for the radial law Σⱼ wⱼ σ_{sⱼ} (σ_s uniform on the sphere of radius s) in ℝ^d.

    With ν = d/2 − 1 and z = βa rᵢ sⱼ: Σⱼ wⱼ sⱼ z^{−ν}I_{ν+1}(z) / Σⱼ wⱼ z^{−ν}I_ν(z); m_β(x) = x̂ · this.
    """
    ra, sa = np.abs(r), np.abs(s)
    logz_w, ratio = _bessel_pair(d / 2 - 1, ba * np.outer(ra, sa))
    L = logz_w + logw
    W = np.exp(L - L.max(axis=1, keepdims=True))
    return ((W * ratio) @ sa) / W.sum(axis=1)


def mean_field_1d(beta: float, t_eval: Any, *, A: float = 1.0, V: float = 1.0, order: int = 8,
                  ratio: float = 0.3, levels0: int = 16, rtol: float = 1e-10, atol: float = 1e-13,
                  method: str | None = None) -> MeanFieldResult:
    """Residual dynamics ẋ = V(m_β[ν_t](x) − x) of ν₀ = U[−1, 1] with score β A x y (module docstring).

    Parameters
    ----------
    beta : float
        Inverse temperature β > 0 (finite).
    t_eval : array_like, shape (T,)
        Increasing output times ≥ 0 (integration starts at 0).
    A : float
        A = KᵀQ > 0.
    V : float
        Value v ≠ 0; v > 0 concentrates on P#ν₀ = ½(δ₋₁ + δ₁), v < 0 on δ₀.
    order, ratio, levels0 : quadrature (:func:`gaussflow.lowtemp.quadrature.graded_panels`); the edge
        is graded down to 1/(50βA).
    rtol, atol : float
        Integrator tolerances.
    method : {"DOP853", "LSODA", "Radau"}, optional
        Default DOP853 for v > 0, LSODA for v < 0 (tokens then contract into 0 at rate ~β|v|: stiff).

    Returns
    -------
    MeanFieldResult
        ``w2`` = W2(ν_t, P#ν₀) by the quantile coupling.
    """
    b = check_positive("beta", beta)
    a = _scalar("A", A)
    v = _scalar("V", V)
    if a <= 0:
        raise ValueError(f"`A` must be positive (P = sign needs A > 0); got {A!r}")
    t = _t_eval(t_eval)
    xi, w = graded_panels(1.0, order=order, ratio=ratio, levels0=levels0, edge_scale=1.0 / (b * a))
    w = 0.5 * w  # ν₀ has density ½ on [−1, 1]; the mirror nodes carry the other half
    lw = np.log(w)
    ba = b * a

    def rhs(_t: float, x: np.ndarray) -> np.ndarray:
        return v * (symmetric_mean(x, x, lw, ba) - x)

    method = method or ("DOP853" if v > 0 else "LSODA")
    X, nfev, wall = _integrate(rhs, xi.copy(), t, rtol, atol, method)
    target = 1.0 if v > 0 else 0.0
    w2 = np.sqrt(2.0 * ((X - target) ** 2) @ w)
    info = {"kind": "interval", "law": "U[-1, 1]", "beta": b, "a": a, "v": v, "target": "sign" if v > 0 else "0",
            "order": order, "ratio": ratio, "levels0": levels0, "nodes": int(xi.size), "rtol": rtol, "atol": atol,
            "method": method, "nfev": nfev, "wall_time": wall}
    return MeanFieldResult(t, w2, xi, w, X, info)


def mean_field_cube(beta: float, t_eval: Any, *, A: Sequence[float] = (1.0, 1.0), V: Sequence[float] = (1.0, 1.0),
                    **options: Any) -> tuple[np.ndarray, list[MeanFieldResult]]:
    """Product law U[−1, 1]^d with A = diag(aₖ), V = diag(vₖ): one 1-D run per coordinate.

    Returns
    -------
    w2 : ndarray, shape (T,)
        W2(μ_t, P#μ₀) = (Σₖ W2ₖ²)^{1/2} (squared W2 adds over the coordinates of product laws
        when the target is a product too).
    runs : list of MeanFieldResult
        One per coordinate (identical coordinates share one run).
    """
    a = [_scalar("A", x) for x in np.atleast_1d(np.asarray(A, dtype=float))]
    v = [_scalar("V", x) for x in np.atleast_1d(np.asarray(V, dtype=float))]
    if len(a) != len(v):
        raise ValueError(f"`A` and `V` must list the same number of coordinates; got {len(a)} and {len(v)}")
    cache: dict[tuple[float, float], MeanFieldResult] = {}
    runs = []
    for ak, vk in zip(a, v, strict=True):
        if (ak, vk) not in cache:
            cache[(ak, vk)] = mean_field_1d(beta, t_eval, A=ak, V=vk, **options)
        runs.append(cache[(ak, vk)])
    w2 = np.sqrt(sum(r.w2**2 for r in runs))
    return w2, runs


def _bessel_pair(nu: float, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log(z^{−ν} I_ν(z)), I_{ν+1}(z)/I_ν(z)) for z ≥ 0, from exponentially scaled Bessel functions."""
    if nu == 0.0:
        e0, e1 = i0e(z), i1e(z)
        return np.log(e0) + z, e1 / e0
    e0, e1 = ive(nu, z), ive(nu + 1.0, z)
    with np.errstate(divide="ignore"):
        logw = np.log(e0) + z - nu * np.log(z)
    small = z < 1e-150  # z^{−ν} I_ν(z) → 1/(2^ν Γ(ν+1)), I_{ν+1}/I_ν → 0
    logw[small] = -nu * math.log(2.0) - math.lgamma(nu + 1.0)
    return logw, np.where(small, 0.0, e1 / np.where(small, 1.0, e0))


def mean_field_radial(beta: float, t_eval: Any, *, d: int = 2, A: float = 1.0, V: float = 1.0, R: float = 1.0,
                      density: Callable[[np.ndarray], np.ndarray] | None = None, order: int = 6, ratio: float = 0.3,
                      levels0: int = 8, rtol: float = 1e-9, atol: float = 1e-12) -> MeanFieldResult:
    """Residual dynamics of a radial law on the ball of radius R in ℝ^d (A = aI, V = vI, v > 0).

    Parameters
    ----------
    beta : float
        β > 0.
    t_eval : array_like, shape (T,)
    d : int
        Dimension ≥ 2.
    A, V : float
        a > 0, v > 0.
    R : float
        Radius of the support; the target is P(x) = R x/|x|.
    density : callable, optional
        Unnormalized density of |x| on [0, R] (vectorized); default ρ^{d−1} (uniform on the ball).
        E.g. a Gaussian N(0, σ²I) truncated to the ball: ρ^{d−1} e^{−ρ²/(2σ²)}.
    order, ratio, levels0, rtol, atol : quadrature and DOP853 settings (defaults: W2 to ~1e−9, measured
        against order 12 / levels0 16 / rtol 1e−11 for β = 10, 10³, 10⁴ up to t = 300).

    Returns
    -------
    MeanFieldResult
        ``X`` holds radii; ``w2`` = (Σⱼ wⱼ (rⱼ − R)²)^{1/2}.
    """
    b = check_positive("beta", beta)
    a = _scalar("A", A)
    v = _scalar("V", V)
    Rr = check_positive("R", R)
    if isinstance(d, bool) or not isinstance(d, int) or d < 2:
        raise ValueError(f"`d` must be an integer ≥ 2; got {d!r}")
    if a <= 0 or v <= 0:
        raise ValueError(f"`A` and `V` must be positive for the radial solver; got A={A!r}, V={V!r}")
    t = _t_eval(t_eval)
    rho, w = graded_panels(Rr, order=order, ratio=ratio, levels0=levels0, edge_scale=1.0 / (b * a * Rr))
    dens = rho ** (d - 1) if density is None else np.asarray(density(rho), dtype=float)
    if dens.shape != rho.shape or np.any(~np.isfinite(dens)) or np.any(dens < 0) or not np.any(dens > 0):
        raise ValueError("`density` must return finite non-negative values, not all zero, of the shape of its input")
    w = w * dens
    keep = w > 0
    rho, w = rho[keep], w[keep] / w[keep].sum()
    lw = np.log(w)
    ba = b * a

    def rhs(_t: float, r: np.ndarray) -> np.ndarray:
        return v * (radial_mean(r, r, lw, ba, d) - r)

    X, nfev, wall = _integrate(rhs, rho.copy(), t, rtol, atol)
    w2 = np.sqrt(((X - Rr) ** 2) @ w)
    info = {"kind": "radial", "d": d, "R": Rr, "law": "uniform ball" if density is None else "radial density",
            "beta": b, "a": a, "v": v, "order": order, "ratio": ratio, "levels0": levels0, "nodes": int(rho.size),
            "rtol": rtol, "atol": atol, "nfev": nfev, "wall_time": wall}
    return MeanFieldResult(t, w2, rho, w, X, info)


__all__ = ["FORMAT", "METHODS", "MeanFieldResult", "mean_field_1d", "mean_field_cube", "mean_field_radial",
           "radial_mean", "symmetric_mean"]
