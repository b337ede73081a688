"""End-to-end regimes: solve() + classify() on the cases docs/math.md §4 describes in closed form."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import gaussflow as gf

SIGMA0 = np.array([[1.0, 0.3], [0.3, 0.5]])


def _solve(att: gf.Attention, cov: np.ndarray, t_end: float) -> gf.Trajectory:
    return gf.solve(att, gf.Gaussian(np.zeros(len(cov)), cov), (0.0, t_end), rtol=1e-9, atol=1e-12)


def test_softmax_positive_direction_blows_up_to_rank_one_along_the_predicted_direction() -> None:
    A = np.array([[0.6, 0.2], [0.1, -0.9]])  # S = A + Aᵀ indefinite, λ_max(N) > 0 ⇒ blow-up
    traj = _solve(gf.attention("softmax", A=A, V=np.eye(2)), SIGMA0, 10.0)
    h = scipy.linalg.sqrtm(SIGMA0).real
    lam, U = np.linalg.eigh(h @ (A + A.T) @ h)
    assert traj.status == "blowup" and traj.t_blowup == pytest.approx(1 / lam[-1], rel=1e-6)
    regime = traj.classify()
    assert regime.kind == "blowup_rank_one"
    u = h @ U[:, -1]  # Σ/trΣ → rank one along Σ₀^{1/2}u₁
    top = np.linalg.eigh(traj.cov[-1])[1][:, -1]
    assert abs(abs(top @ u) / np.linalg.norm(u) - 1) < 1e-4


def test_softmax_negative_definite_collapses_to_zero_like_one_over_t() -> None:
    A = np.array([[-1.0, 0.4], [-0.4, -0.5]])  # S ≺ 0
    traj = _solve(gf.attention("softmax", A=A, V=np.eye(2)), SIGMA0, 200.0)
    exact = np.linalg.inv(np.linalg.inv(SIGMA0) - traj.t[-1] * (A + A.T))
    assert np.allclose(traj.cov[-1], exact, rtol=1e-6, atol=1e-12)
    assert traj.classify().kind == "collapse_to_zero"


def test_softmax_semidefinite_collapses_to_the_kernel_subspace() -> None:
    q = np.array([[0.6, 0.8]])
    A = -q.T @ q  # S = −2qᵀq ⪯ 0 with kernel spanned by z ⟂ q
    traj = _solve(gf.attention("softmax", A=A, V=np.eye(2)), SIGMA0, 400.0)
    z = np.array([[0.8], [-0.6]])
    limit = z @ np.linalg.inv(z.T @ np.linalg.inv(SIGMA0) @ z) @ z.T
    assert np.allclose(traj.cov[-1], limit, atol=5e-3)
    regime = traj.classify()
    assert regime.kind == "collapse_to_subspace" and regime.rank == 1


@pytest.mark.parametrize("name", ["l2", "sinkhorn"])
def test_l2_and_sinkhorn_grow_exponentially_without_finite_time_blowup(name: str) -> None:
    Q = np.array([[0.8, 0.1], [0.0, 0.6]])
    att = gf.attention(name, Q=Q, K=Q, V=np.eye(2), beta=1.0)  # symmetric positive A = KᵀQ
    traj = _solve(att, SIGMA0, 12.0)
    assert traj.t_blowup is None
    rate = np.gradient(np.log(np.trace(traj.cov, axis1=1, axis2=2)), traj.t)
    if name == "sinkhorn":  # docs/math.md §4: V = I ⇒ d/dt log trΣ → 2 (checked here for symmetric A)
        assert rate[-1] == pytest.approx(2.0, abs=2e-2)
    assert traj.classify().kind == "exponential_growth"


def test_rank_one_line_with_uAu_zero_is_stationary() -> None:
    A = np.array([[1.0, 0.0], [0.0, -1.0]])  # indefinite: uᵀAu = 0 for u = (1, ±1)/√2
    u = np.array([1.0, 1.0]) / np.sqrt(2)
    V = np.array([[0.3, -1.2], [0.7, 0.4]])
    Sigma = 2.0 * np.outer(u, u)
    att = gf.attention("softmax", A=A, V=V)
    _, Sdot = att.moment_rhs(np.zeros(2), Sigma)
    assert np.max(np.abs(Sdot)) < 1e-14  # Σ̇ = VΣAΣ + ΣAᵀΣVᵀ = 2λ² uᵀAu (...) = 0
    traj = _solve(att, Sigma, 5.0)
    assert np.allclose(traj.cov[-1], Sigma, atol=1e-12)
    assert traj.classify().kind == "stationary"
    v = np.array([1.0, 0.2]) / np.hypot(1.0, 0.2)  # control: uᵀAu ≠ 0 is not stationary
    _, Sdot = att.moment_rhs(np.zeros(2), np.outer(v, v))
    assert np.max(np.abs(Sdot)) > 1e-2
