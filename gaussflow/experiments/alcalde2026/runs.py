"""The computations of ``gaussflow reproduce alcalde2026`` (numbers only; figures and report elsewhere).

Settings (docs/lowtemp.md): residual form ẋ = V(m_β[μ](x) − x), QᵀK = I.
* interval / cube: ν₀ = U[−1, 1] (per coordinate), V = 1: P = sign, P#ν₀ = ½(δ₋₁ + δ₁);
* disk: μ₀ uniform on the unit disk, V = I: P(x) = x/|x|, P#μ₀ uniform on the circle.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...attention import attention
from ...gaussian import Gaussian
from ...integrate import solve
from ...lowtemp import (
    gaussian_blowup_time_1d,
    mean_field_1d,
    mean_field_cube,
    mean_field_radial,
    truncated_gaussian_density,
)
from ...particles import simulate_particles

BETAS_ALL: tuple[float, ...] = (10.0, 30.0, 100.0, 300.0, 1000.0, 1e4)


@dataclass(frozen=True)
class Size:
    """How much to run."""

    betas: tuple[float, ...]
    t_max: float
    n_t: int
    particle_N: tuple[int, ...]
    particle_betas: tuple[float, ...]
    particle_t_max: float
    disk_N: int
    disk_t_max: float
    long_N: int
    long_t_max: float
    grid1d: dict[str, Any]
    grid_radial: dict[str, Any]


SIZES: dict[str, Size] = {
    "quick": Size((10.0, 100.0), 30.0, 60, (100,), (10.0, 100.0), 10.0, 150, 20.0, 100, 300.0,
                  {"order": 6, "levels0": 10, "rtol": 1e-8}, {"order": 6, "levels0": 6, "rtol": 1e-8}),
    "default": Size(BETAS_ALL, 300.0, 240, (100, 1000), (10.0, 100.0, 1000.0), 30.0, 500, 150.0, 300, 3000.0,
                    {}, {}),
    "full": Size(BETAS_ALL, 1000.0, 400, (100, 1000, 10000), (10.0, 100.0, 1000.0, 1e4), 30.0, 2000, 300.0, 1000,
                 3000.0,
                 {"order": 10, "levels0": 20, "rtol": 1e-11}, {"order": 8, "levels0": 12, "rtol": 1e-10}),
}


def time_grid(t_max: float, n: int) -> np.ndarray:
    """0 and n log-spaced times in [10⁻³, t_max]."""
    return np.concatenate([[0.0], np.logspace(-3, math.log10(t_max), n)])


def window(t: np.ndarray, w2: np.ndarray, *, reach: float = 1.1, rise: float = 2.0) -> dict[str, Any]:
    """The metastable window of a W2(t) curve.

    floor = min W2; t_reach = first t with W2 ≤ reach·floor; t_leave = first t after the minimum with
    W2 ≥ rise·floor (None: not within the horizon t_max).
    """
    i = int(np.argmin(w2))
    floor = float(w2[i])
    t_reach = float(t[np.argmax(w2 <= reach * floor)])
    after = np.nonzero((t > t[i]) & (w2 >= rise * floor))[0]
    t_leave = float(t[after[0]]) if after.size else None
    return {"floor": floor, "t_min": float(t[i]), "t_reach": t_reach, "t_leave": t_leave, "t_max": float(t[-1]),
            "reach": reach, "rise": rise}


def fit_power(beta: np.ndarray, y: np.ndarray) -> float:
    """Least-squares exponent p of y ∝ β^{−p}."""
    return float(-np.polyfit(np.log(beta), np.log(y), 1)[0])


def concentration(size: Size) -> dict[str, Any]:
    """W2(μ_t, P#μ₀) vs t on the interval and the disk for every β; windows and fits."""
    t = time_grid(size.t_max, size.n_t)
    out: dict[str, Any] = {"t": t, "interval": {}, "disk": {}}
    for geom, run in (("interval", lambda b: mean_field_1d(b, t, **size.grid1d)),
                      ("disk", lambda b: mean_field_radial(b, t, **size.grid_radial))):
        for b in size.betas:
            r = run(b)
            out[geom][b] = {"w2": r.w2, "window": window(t, r.w2), "nodes": r.info["nodes"], "nfev": r.info["nfev"],
                            "wall_time": r.info["wall_time"]}
    betas = np.array(size.betas)
    bound = np.sqrt(np.log(betas + 1) / betas)
    fits: dict[str, Any] = {"bound_exponent": fit_power(betas, bound)}
    for geom in ("interval", "disk"):
        floors = np.array([out[geom][b]["window"]["floor"] for b in size.betas])
        reach = np.array([out[geom][b]["window"]["t_reach"] for b in size.betas])
        C = float(np.sum(floors * np.log(betas) / betas) / np.sum((np.log(betas) / betas) ** 2))
        fits[geom] = {
            "floor_exponent": fit_power(betas, floors),
            "floor_over_bound": (floors / bound).tolist(),
            "floor_times_beta_over_log_beta": (floors * betas / np.log(betas)).tolist(),
            "C_log_beta_over_beta": C,
            "t_reach_slope_in_log_beta": float(np.polyfit(np.log(betas), reach, 1)[0]),
            # tight = floor/bound bounded below over the range; here it falls by more than a factor 2
            "bound_tight": bool(floors[-1] / bound[-1] > 0.5 * floors[0] / bound[0]),
        }
        leave = [out[geom][b]["window"]["t_leave"] for b in size.betas]
        known = [(b, tl) for b, tl in zip(size.betas, leave, strict=True) if tl is not None]
        if len(known) >= 2:
            kb, kt = np.array([k[0] for k in known]), np.array([k[1] for k in known])
            fits[geom]["t_leave_slope_in_log_beta"] = float(np.polyfit(np.log(kb), kt, 1)[0])
    out["fits"] = fits
    return out


def terminal_cube(size: Size, beta: float = 100.0) -> dict[str, Any]:
    """Product law on [−1, 1]² with V = diag(v₁, v₂): W2² adds over coordinates, each coordinate its own
    clock v t; the per-coordinate cluster positions show what the law does after the window."""
    t = time_grid(size.t_max, size.n_t)
    cases = {"V = I": (1.0, 1.0), "V = diag(1, 0.5)": (1.0, 0.5), "V = diag(1, 0.1)": (1.0, 0.1)}
    out: dict[str, Any] = {"t": t, "beta": beta, "cases": {}}
    for name, v in cases.items():
        w2, runs = mean_field_cube(beta, t, A=(1.0, 1.0), V=v, **size.grid1d)
        out["cases"][name] = {"v": v, "w2": w2, "coordinate_w2": [r.w2 for r in runs], "window": window(t, w2)}
    return out


def _sunflower(N: int) -> np.ndarray:
    """N quasi-uniform points in the unit disk (Vogel spiral: radius √((k − ½)/N), golden-angle steps)."""
    k = np.arange(1, N + 1)
    golden = math.pi * (3 - math.sqrt(5))
    r = np.sqrt((k - 0.5) / N)
    return np.stack([r * np.cos(k * golden), r * np.sin(k * golden)], axis=1)


def clusters(X: np.ndarray, radius: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Single-linkage groups of a cloud (points closer than ``radius`` chain together): centres (m, d), masses (m,)."""
    from scipy.cluster.hierarchy import fcluster, linkage

    if len(X) == 1:
        return X.copy(), np.ones(1)
    lab = fcluster(linkage(X, "single"), radius, "distance")
    ids = np.unique(lab)
    return np.array([X[lab == i].mean(axis=0) for i in ids]), np.array([np.mean(lab == i) for i in ids])


#: value matrices of the long-time disk runs (spectra {1, 1}, {1, 0.5}, {1, 0.1}, 1 ± 0.5i)
TERMINAL_V: dict[str, np.ndarray] = {
    "V = I": np.eye(2), "V = diag(1, 0.5)": np.diag([1.0, 0.5]), "V = diag(1, 0.1)": np.diag([1.0, 0.1]),
    "V = [[1, -0.5], [0.5, 1]]": np.array([[1.0, -0.5], [0.5, 1.0]]),
}


def terminal_disk(size: Size) -> dict[str, Any]:
    """The disk after the window.

    * β = 100: the exact (rotation-symmetric) mean-field ring and its late law r² ≈ r*² − (t − t*)/β (from
      I₁/I₀(z) ≈ 1 − 1/(2z)), beside N particles with V = I (which break the symmetry);
    * β = 30, long times: particles for the four :data:`TERMINAL_V`; cluster counts, and the direction of
      the final law against the eigenvector of V's smallest eigenvalue.
    """
    beta = 100.0
    t = np.concatenate([[0.0], np.linspace(0.5, size.disk_t_max, 60)])
    mf = mean_field_radial(beta, t, **size.grid_radial)
    r_mean = mf.X @ mf.weights
    i = int(np.argmax(r_mean))  # the ring is formed: from (t_*, r_*) on, r² ≈ r_*² − (t − t_*)/β
    pred = np.where(t >= t[i], np.sqrt(np.maximum(r_mean[i] ** 2 - (t - t[i]) / beta, 0.0)), np.nan)
    att = attention("softmax", residual=True, Q=np.eye(2), K=np.eye(2), V=np.eye(2), beta=beta)
    tr = simulate_particles(att, _sunflower(size.disk_N), t, method="adaptive", rtol=1e-7, atol=1e-10, keep="all")
    rad = np.linalg.norm(tr.X, axis=2)
    ring = {"beta": beta, "t": t, "N": size.disk_N, "mean_field_w2": mf.w2, "mean_field_mean_radius": r_mean,
            "ring_t_star": float(t[i]), "ring_r_star": float(r_mean[i]), "ring_prediction": pred,
            "particles_mean_radius": rad.mean(axis=1), "particles_dist_to_circle": np.sqrt(np.mean((rad - 1) ** 2, 1)),
            "particles_clusters": [len(clusters(X)[1]) for X in tr.X]}
    beta_long = 30.0
    tl = np.concatenate([[0.0], np.logspace(-1, math.log10(size.long_t_max), 30)])
    X0 = _sunflower(size.long_N)
    long: dict[str, Any] = {}
    for name, V in TERMINAL_V.items():
        att = attention("softmax", residual=True, Q=np.eye(2), K=np.eye(2), V=V, beta=beta_long)
        start = time.perf_counter()
        tr = simulate_particles(att, X0, tl, method="adaptive", rtol=1e-7, atol=1e-10, keep="all")
        centres, masses = clusters(tr.X[-1])
        lam, U = np.linalg.eig(V)
        e_min = np.real(U[:, int(np.argmin(np.real(lam)))])
        cw, cU = np.linalg.eigh(tr.cov[-1])
        long[name] = {
            "V": V, "spectrum": lam, "clusters": [len(clusters(X)[1]) for X in tr.X], "final": tr.X[-1],
            "centres": centres, "masses": masses, "cov_eigenvalues": cw, "top_direction": cU[:, -1],
            "alignment_with_smallest_eigenvector": float(abs(cU[:, -1] @ e_min) / np.linalg.norm(e_min))
            if np.all(np.isreal(lam)) and not np.allclose(lam, lam[0]) else None,
            "wall_time": time.perf_counter() - start, "status": str(tr.status)}
    return {"ring": ring, "long": {"beta": beta_long, "N": size.long_N, "t": tl, "runs": long}}


def particles_vs_mean_field(size: Size) -> dict[str, Any]:
    """N quantile particles x_i = −1 + (2i − 1)/N on the interval (engine, adaptive RK45) beside the
    mean-field solver: W2 to ½(δ₋₁ + δ₁) by the sorted (quantile) coupling."""
    t = time_grid(size.particle_t_max, 60)
    out: dict[str, Any] = {"t": t, "runs": {}}
    for b in size.particle_betas:
        mf = mean_field_1d(b, t, **size.grid1d)
        row: dict[str, Any] = {"mean_field": mf.w2, "particles": {}}
        for N in size.particle_N:
            x0 = (-1 + (2 * np.arange(1, N + 1) - 1) / N)[:, None]
            att = attention("softmax", residual=True, A=[[b]], V=[[1.0]])
            start = time.perf_counter()
            tr = simulate_particles(att, x0, t, method="adaptive", rtol=1e-7, atol=1e-10, keep="all")
            xs = np.sort(tr.X[:, :, 0], axis=1)
            w2 = np.sqrt(np.mean((xs - np.sign(np.arange(N) - (N - 1) / 2)) ** 2, axis=1))
            row["particles"][N] = {"w2": w2, "floor": float(w2.min()), "wall_time": time.perf_counter() - start,
                                   "max_rel_err": float(np.max(np.abs(w2 - mf.w2) / mf.w2))}
        row["mean_field_floor"] = float(mf.w2.min())
        out["runs"][b] = row
    return out


def gaussian_section(size: Size) -> dict[str, Any]:
    """The Gaussian residual closure at low temperature (closed-form T* vs the solver) and a Gaussian
    truncated to the unit disk (radial solver: it concentrates on the circle, P = R x/|x|)."""
    sigma0 = 1.0 / 3.0  # the variance of U[−1, 1]
    rows = []
    for b in size.betas:
        att = attention("softmax", residual=True, A=[[b]], V=[[1.0]])
        traj = solve(att, Gaussian([0.0], [[sigma0]]), (0.0, 10.0))
        rows.append({"beta": b, "T_closed_form": gaussian_blowup_time_1d(b, sigma0),
                     "T_solver": float(traj.t_blowup) if traj.t_blowup is not None else None,
                     "status": str(traj.status)})
    t = time_grid(min(size.t_max, 100.0), size.n_t // 2)
    trunc: dict[float, Any] = {}
    for b in size.betas[:: max(1, len(size.betas) // 3)]:
        r = mean_field_radial(b, t, density=truncated_gaussian_density(0.5, 2), **size.grid_radial)
        trunc[b] = {"w2": r.w2, "window": window(t, r.w2)}
    return {"sigma0": sigma0, "blowup": rows, "t": t, "truncated": trunc, "truncated_sigma": 0.5, "R": 1.0}


__all__ = ["BETAS_ALL", "SIZES", "TERMINAL_V", "Size", "clusters", "concentration", "fit_power", "gaussian_section",
           "particles_vs_mean_field", "terminal_cube", "terminal_disk", "time_grid", "window"]
