"""Lagrangian mean-field solvers: quadrature against closed forms, a refinement study, the β = ∞
limit, particles, the disk's Bessel mean against a brute-force 2-D quadrature, save/load."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.polynomial.legendre import leggauss

import gaussflow as gf
from gaussflow.lowtemp import MeanFieldResult, graded_panels, mean_field_1d, mean_field_cube, mean_field_radial
from gaussflow.lowtemp.meanfield import radial_mean, symmetric_mean


def test_graded_panels_integrate_layers() -> None:
    s, w = graded_panels(1.0, order=8, ratio=0.3, levels0=16, edge_scale=1e-4)
    assert abs(w.sum() - 1.0) < 1e-15 and s.min() > 0 and s.max() < 1
    assert abs(w @ s**7 - 1 / 8) < 1e-15
    beta = 1e4  # the edge layer e^{β(s − 1)}: ∫₀¹ = (1 − e^{−β})/β
    assert abs(w @ np.exp(beta * (s - 1)) * beta - 1.0) < 1e-8  # measured 4.2e-9 (8 nodes, ratio 0.3)
    with pytest.raises(ValueError, match="ratio"):
        graded_panels(1.0, ratio=1.5)


def test_interval_mean_is_langevin_and_initial_w2() -> None:
    """At t = 0 the node velocity uses m_β[U[−1, 1]](x) = coth(βx) − 1/(βx); W2(ν₀, ½(δ₋₁ + δ₁)) = 1/√3."""
    for beta in (10.0, 1e3, 1e4):
        s, w = graded_panels(1.0, order=8, levels0=16, edge_scale=1 / beta)
        x = np.array([1e-3, 0.01, 0.3, 0.999])
        m = symmetric_mean(x, s, np.log(0.5 * w), beta)
        z = beta * x
        assert np.abs(m - (1 / np.tanh(z) - 1 / z)).max() < 1e-10  # measured ≤ 4.6e-11
    r = mean_field_1d(100.0, [0.0])
    assert abs(r.w2[0] - 1 / np.sqrt(3)) < 1e-14


def test_disk_bessel_mean_vs_brute_force_quadrature() -> None:
    """m_β for the uniform disk at x = (r, 0), by a polar tensor grid (Gauss–Legendre in radius,
    trapezoid in angle) — independent of the Bessel-function formula of the radial solver."""
    beta = 20.0
    g, gw = leggauss(400)
    rad, rw = 0.5 * (g + 1), 0.5 * gw * 2 * 0.5 * (g + 1)  # density 2ρ on [0, 1]
    phi = np.linspace(0, 2 * np.pi, 800, endpoint=False)
    s, w = graded_panels(1.0, order=8, levels0=8, edge_scale=1 / beta)
    lw = np.log(w * 2 * s)
    for r in (0.05, 0.4, 0.9):
        E = np.exp(beta * r * rad[:, None] * np.cos(phi)[None, :])
        num = (rw[:, None] * rad[:, None] * np.cos(phi)[None, :] * E).sum()
        den = (rw[:, None] * E).sum()
        assert abs(radial_mean(np.array([r]), s, lw, beta, 2)[0] - num / den) < 1e-10
    r0 = mean_field_radial(10.0, [0.0])
    assert abs(r0.w2[0] - np.sqrt(1 / 6)) < 1e-12  # ∫₀¹ (1 − ρ)² 2ρ dρ = 1/6


def test_refinement_study_interval() -> None:
    """W2(t) converges under refinement of the panels and the tolerance (β = 10³, t ≤ 10)."""
    t = np.concatenate([[0.0], np.logspace(-2, 1.0, 30)])
    grids = [dict(order=4, ratio=0.5, levels0=6, rtol=1e-6), dict(order=6, ratio=0.4, levels0=10, rtol=1e-8),
             dict(order=8, ratio=0.3, levels0=16, rtol=1e-10), dict(order=10, ratio=0.3, levels0=20, rtol=1e-11)]
    w2 = [mean_field_1d(1e3, t, **g).w2 for g in grids]
    diffs = [np.abs(a - b).max() for a, b in itertools.pairwise(w2)]
    assert diffs[0] > diffs[1] > diffs[2]
    assert diffs[2] < 1e-9 and diffs[1] < 1e-6


def test_large_beta_follows_the_hardmax_flow_and_floor() -> None:
    """β = 10⁴: W2(t) ≈ e^{−t}/√3 (the β = ∞ flow) until the floor; the floor is O(ln β/β)."""
    beta = 1e4
    t = np.array([0.0, 0.5, 1.0, 2.0, 60.0])
    r = mean_field_1d(beta, t)
    assert np.abs(r.w2[:4] - np.exp(-t[:4]) / np.sqrt(3)).max() < 2 * np.log(beta) / beta
    assert 0.5 * np.log(beta) / beta < r.w2[-1] < 2 * np.log(beta) / beta


def test_particles_vs_mean_field() -> None:
    """N = 400 quantile particles (N ≫ β = 10): their W2 (sorted coupling) within ~1/N of the solver's."""
    beta, N = 10.0, 400
    x0 = (-1 + (2 * np.arange(1, N + 1) - 1) / N)[:, None]
    att = gf.attention("softmax", residual=True, A=[[beta]], V=[[1.0]])
    t = np.array([0.0, 1.0, 3.0])
    tr = gf.simulate_particles(att, x0, t, keep="all", dt=0.01)
    xs = np.sort(tr.X[:, :, 0], axis=1)
    w2p = np.sqrt(np.mean((xs - np.sign(np.arange(N) - (N - 1) / 2)) ** 2, axis=1))
    mf = mean_field_1d(beta, t)
    assert np.abs(w2p - mf.w2).max() < 2.0 / N


def test_cube_product_and_save_load(tmp_path) -> None:
    t = np.array([0.0, 1.0, 4.0])
    w2, runs = mean_field_cube(30.0, t, A=(1.0, 1.0, 1.0), V=(1.0, 0.5, 1.0))
    assert runs[0] is runs[2] and runs[0] is not runs[1]
    assert np.allclose(w2**2, 2 * runs[0].w2**2 + runs[1].w2**2)
    # V = v is a time change: W2(t; v) = W2(vt; 1)
    half = mean_field_1d(30.0, 0.5 * t)
    assert np.abs(runs[1].w2 - half.w2).max() < 1e-8
    path = tmp_path / "run.npz"
    runs[1].save(path)
    back = MeanFieldResult.load(path)
    assert np.array_equal(back.w2, runs[1].w2) and back.info["v"] == 0.5
    with pytest.raises(ValueError, match="beta"):
        mean_field_1d(0.0, t)
    with pytest.raises(ValueError, match="t_eval"):
        mean_field_1d(1.0, [1.0, 0.5])


def test_disk_solver_vs_particles() -> None:
    """β = 10, t ≤ 2: N = 500 sunflower particles (engine) vs the radial solver; distance to the circle and
    mean radius agree to 1e−3 (measured 3.1e−4; 3.7e−5 at N = 2000)."""
    N = 500
    k = np.arange(1, N + 1)
    r = np.sqrt((k - 0.5) / N)
    ang = k * np.pi * (3 - np.sqrt(5))
    X0 = np.stack([r * np.cos(ang), r * np.sin(ang)], axis=1)
    att = gf.attention("softmax", residual=True, Q=np.eye(2), K=np.eye(2), V=np.eye(2), beta=10.0)
    t = np.array([0.0, 0.5, 1.0, 2.0])
    tr = gf.simulate_particles(att, X0, t, method="adaptive", rtol=1e-8, atol=1e-10, keep="all")
    rad = np.linalg.norm(tr.X, axis=2)
    mf = mean_field_radial(10.0, t)
    assert np.abs(np.sqrt(np.mean((rad - 1) ** 2, axis=1)) - mf.w2).max() < 1e-3
    assert np.abs(rad.mean(axis=1) - mf.X @ mf.weights).max() < 1e-3
