"""The low-temperature model: residual form = the engine's residual softmax, the pure → residual
rescaling z = e^{−tV}x proved with SymPy and checked on particles, the Gaussian closure's T*."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import expm

import gaussflow as gf
from gaussflow.lowtemp import (
    gaussian_blowup_time_1d,
    integrate_tokens,
    prove_rescaling,
    pure_velocity,
    rescaled_score,
    residual_velocity,
    softmax_mean,
)


def test_rescaling_proved_symbolically() -> None:
    for d, n in ((1, 3), (2, 2)):
        proof = prove_rescaling(d, n)
        assert proof.holds, proof.steps
    control = prove_rescaling(1, 2, rescaled=False)  # the unrescaled score must not pass
    assert not control.holds
    assert not control.steps["pure form in z = residual form with A(t)"]


def test_residual_and_pure_velocity_equal_the_particle_engine() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 2))
    Q, K, V = rng.normal(size=(3, 2, 2))
    beta = 0.7
    A = K.T @ Q
    res = gf.attention("softmax", residual=True, Q=Q, K=K, V=V, beta=beta)
    pure = gf.attention("softmax", Q=Q, K=K, V=V, beta=beta)
    assert np.abs(residual_velocity(X, A=A, V=V, beta=beta) - gf.particle_velocity(res, X)).max() < 1e-12
    assert np.abs(pure_velocity(X, A=A, V=V, beta=beta) - gf.particle_velocity(pure, X)).max() < 1e-12


def test_rescaling_checked_numerically_on_particles() -> None:
    """Pure form by the particle engine vs the residual form with the score A(t) = e^{tVᵀ}Ae^{tV},
    integrated separately in z: z(t) = e^{−tV} x(t)."""
    rng = np.random.default_rng(4)
    X0 = rng.uniform(-1, 1, (25, 2))
    Q, K = rng.normal(size=(2, 2, 2))
    V = np.array([[0.6, 0.3], [-0.2, 0.4]])
    beta = 1.5
    A = K.T @ Q
    t = np.linspace(0.0, 1.5, 7)
    x = gf.simulate_particles(gf.attention("softmax", Q=Q, K=K, V=V, beta=beta), X0, t, keep="all", dt=1e-3).X
    z = integrate_tokens(lambda s, Z: residual_velocity(Z, A=rescaled_score(A, V, s), V=V, beta=beta), X0, t, dt=1e-3)
    want = np.einsum("tij,tnj->tni", np.stack([expm(-s * V) for s in t]), x)
    assert np.abs(z - want).max() < 1e-9
    # V = vI: A(t) = e^{2vt}A, i.e. β_eff = β e^{2vt}
    assert np.allclose(rescaled_score(A, 0.7 * np.eye(2), 1.3), np.exp(2 * 0.7 * 1.3) * A, rtol=1e-13)


def test_softmax_mean_of_uniform_is_langevin() -> None:
    """m_β[U[−1, 1]](x) = coth(βx) − 1/(βx) (closed form), by Gauss–Legendre atoms."""
    g, w = np.polynomial.legendre.leggauss(200)
    x = np.array([[-0.9], [-0.1], [0.05], [0.5]])
    for beta in (0.5, 3.0, 20.0):
        m = softmax_mean(x, g[:, None], w, beta=beta)[:, 0]
        z = beta * x[:, 0]
        assert np.abs(m - (1 / np.tanh(z) - 1 / z)).max() < 1e-12


def test_gaussian_closure_blowup_time_closed_form_vs_solver() -> None:
    """d = 1 residual closure: σ̇ = 2v(βσ − 1)σ blows up at T* = ½ ln(βσ₀/(βσ₀ − 1)) (v = 1)."""
    for beta, s0 in ((100.0, 1 / 3), (10.0, 0.5), (1000.0, 0.01)):
        att = gf.attention("softmax", residual=True, A=[[beta]], V=[[1.0]])
        traj = gf.solve(att, gf.Gaussian([0.0], [[s0]]), (0.0, 10.0))
        T = gaussian_blowup_time_1d(beta, s0)
        assert traj.status == "blowup"
        assert abs(traj.t_blowup - T) < 1e-8 * T
        assert abs(T - 0.5 * np.log(beta * s0 / (beta * s0 - 1))) < 1e-15
    assert gaussian_blowup_time_1d(2.0, 0.4) == np.inf  # βσ₀ < 1: relaxes to variance 1/β
    with pytest.raises(ValueError, match="beta"):
        gaussian_blowup_time_1d(-1.0, 0.5)
