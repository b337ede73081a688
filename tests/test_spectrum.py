"""Spectral diagnostics and regime classification against closed-form covariance trajectories.

Oracles (docs/math.md §4): softmax with V = I has Σ(t) = (Σ₀⁻¹ − t S)⁻¹, S = A + Aᵀ, whose three regimes are
blow-up at T* = 1/λ_max(Σ₀^{1/2} S Σ₀^{1/2}) towards the rank-one direction Σ₀^{1/2}u₁ (λ_max > 0),
Σ ~ (−tS)⁻¹ → 0 (S ≺ 0) and Σ → Z(ZᵀΣ₀⁻¹Z)⁻¹Zᵀ, Z a basis of ker S (S ⪯ 0 singular). Linear flows
Σ̇ = MΣ + ΣMᵀ give Σ(t) = e^{tM}Σ₀e^{tMᵀ} (exponential growth, rate 2·max Re eig M). Rank-one λuuᵀ is a
softmax stationary point iff uᵀAu = 0 or Vu = 0. Tolerances are named where they are used.
"""

from __future__ import annotations

import hypothesis.strategies as st
import numpy as np
import pytest
import scipy.linalg as sla
from hypothesis import given
from strategies import Traj

from gaussflow.diagnostics.regimes import KINDS, Regime, classify
from gaussflow.diagnostics.spectrum import Spectrum, spectrum

RTOL = 1e-10  # exact linear algebra on small matrices




def make_traj(t, cov, status="ok", t_blowup=None) -> Traj:
    t, cov = np.asarray(t, float), np.asarray(cov, float)
    return Traj(t, np.zeros(cov.shape[:2]), cov, status, t_blowup)


def softmax_vI(Sigma0: np.ndarray, A: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Σ(t) = (Σ₀⁻¹ − t(A + Aᵀ))⁻¹, shape (n, d, d) (docs/math.md §4, v = 1)."""
    P = np.linalg.inv(Sigma0)[None] - t[:, None, None] * (A + A.T)[None]
    S = np.linalg.inv(P)
    return 0.5 * (S + S.transpose(0, 2, 1))


def linear_flow(Sigma0: np.ndarray, M: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Σ(t) = e^{tM} Σ₀ e^{tMᵀ}, the solution of Σ̇ = MΣ + ΣMᵀ."""
    out = []
    for s in t:
        E = sla.expm(s * M)
        X = E @ Sigma0 @ E.T
        out.append(0.5 * (X + X.T))
    return np.array(out)


def spd(rng: np.random.Generator, d: int, eps: float = 0.3) -> np.ndarray:
    L = rng.standard_normal((d, d))
    return L @ L.T + eps * np.eye(d)


def rot(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]])


def psd_sqrt(S: np.ndarray) -> np.ndarray:
    w, U = np.linalg.eigh(S)
    return (U * np.sqrt(w)) @ U.T


# ---------------------------------------------------------------------------------------------- metrics
def test_metrics_hand_values_diagonal():
    cov = [np.diag([4.0, 2.0, 2.0, 0.0]), np.diag([2.0, 4.0, 1.0, 2.0])]
    s = spectrum([0.0, 1.0], cov)
    np.testing.assert_allclose(s.eigenvalues, [[4, 2, 2, 0], [4, 2, 2, 1]], rtol=RTOL)
    np.testing.assert_allclose(s.trace, [8, 9], rtol=RTOL)
    assert s.anisotropy[0] == np.inf
    np.testing.assert_allclose(s.anisotropy[1], 4.0, rtol=RTOL)
    np.testing.assert_allclose(s.stable_rank, [2.0, 9 / 4], rtol=RTOL)
    # p = (1/2, 1/4, 1/4, 0): H = ½ ln 2 + ½ ln 4 = (3/2) ln 2  →  exp H = 2^{3/2}
    np.testing.assert_allclose(s.effective_rank[0], 2**1.5, rtol=RTOL)
    # ‖Σ/trΣ − rank one‖_F = (Σ_{i≥2} p_i²)^{1/2}: √(1/16 + 1/16) and √(4 + 4 + 1)/9 = 1/3
    np.testing.assert_allclose(s.rank_one_distance, [np.sqrt(2) / 4, 1 / 3], rtol=RTOL)
    np.testing.assert_array_equal(s.rank(), [3, 4])
    assert s.clusters(0.1, index=0) == ((0,), (1, 2), (3,))
    assert s.clusters(0.1) == ((0,), (1, 2), (3,))
    assert s.clusters(0.6) == ((0, 1, 2, 3),)
    assert s.clusters(0.0, index=0) == ((0,), (1, 2), (3,))


def test_rank_one_distance_is_eckart_young_minimum():
    # independent truth: minimise ‖Σ/trΣ − c vvᵀ‖_F over unit v on a fine circle grid (c optimal = vᵀXv)
    X = np.array([[3.0, 1.0], [1.0, 1.0]])
    Xn = X / np.trace(X)
    th = np.linspace(0, np.pi, 200001)
    V = np.stack([np.cos(th), np.sin(th)], axis=1)
    c = np.einsum("ki,ij,kj->k", V, Xn, V)
    dist = np.sqrt(np.sum(Xn**2) - c**2)  # ‖X − c vvᵀ‖² = ‖X‖² − 2c² + c² for unit v
    s = spectrum([0.0], [X])
    np.testing.assert_allclose(s.rank_one_distance[0], dist.min(), rtol=1e-8)


@pytest.mark.parametrize("d", [1, 2, 5])
def test_isotropic_and_zero(d):
    s = spectrum([0.0, 1.0], [3.0 * np.eye(d), np.zeros((d, d))])
    np.testing.assert_allclose(s.anisotropy[0], 1.0, rtol=RTOL)
    np.testing.assert_allclose(s.effective_rank[0], d, rtol=RTOL)
    np.testing.assert_allclose(s.stable_rank[0], d, rtol=RTOL)
    np.testing.assert_allclose(s.rank_one_distance[0], np.sqrt(d - 1) / d, atol=1e-15)
    assert np.isnan(s.anisotropy[1]) and np.isnan(s.effective_rank[1]) and np.isnan(s.stable_rank[1])
    assert s.rank()[1] == 0


# ---------------------------------------------------------------------------------------------- tracking
@pytest.mark.parametrize("n", [11, 10])  # 11 samples hit the crossing t = 0.5 exactly, 10 straddle it
def test_tracking_through_crossing_2d(n):
    R = rot(0.3)
    t = np.linspace(0.0, 1.0, n)
    cov = np.array([R @ np.diag([1 + s, 2 - s]) @ R.T for s in t])
    s = spectrum(t, cov)
    # branches are the straight lines 2 − t (starts largest) and 1 + t, not the sorted kinked ones
    np.testing.assert_allclose(s.tracked_eigenvalues, np.stack([2 - t, 1 + t], axis=1), atol=1e-12)
    np.testing.assert_allclose(s.eigenvalues, np.stack([np.maximum(1 + t, 2 - t),
                                                         np.minimum(1 + t, 2 - t)], axis=1), atol=1e-12)
    # eigenvectors constant (R e2, R e1) with one sign throughout
    for j, col in ((0, 1), (1, 0)):
        u = s.eigenvectors[:, :, j]
        sign = np.sign(u[0] @ R[:, col])
        np.testing.assert_allclose(u, np.broadcast_to(sign * R[:, col], u.shape), atol=1e-12)


def test_tracking_through_triple_crossing_3d():
    Q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((3, 3)))
    t = np.linspace(0.0, 1.0, 21)  # all three eigenvalues equal 1.5 at t = 0.5
    lam = np.stack([2 - t, 1.5 + 0 * t, 1 + t], axis=1)
    cov = np.array([Q @ np.diag(row) @ Q.T for row in lam])
    s = spectrum(t, cov)
    np.testing.assert_allclose(s.tracked_eigenvalues, lam, atol=1e-12)
    overlap = np.abs(np.einsum("kij,il->klj", s.eigenvectors, Q))  # |⟨u_j(t_k), q_l⟩|
    np.testing.assert_allclose(overlap, np.broadcast_to(np.eye(3), overlap.shape), atol=1e-10)


def test_sign_continuity_and_alignment_rotating_ellipse():
    theta = np.linspace(0.0, 1.5 * np.pi, 151)
    cov = np.array([rot(a) @ np.diag([2.0, 1.0]) @ rot(a).T for a in theta])
    s = spectrum(theta, cov)
    u = s.eigenvectors[:, :, 0]
    truth = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    sign = np.sign(u[0] @ truth[0])
    np.testing.assert_allclose(u, sign * truth, atol=1e-12)  # no sign flips over 3π/2 of rotation
    np.testing.assert_allclose(s.alignment, np.abs(np.cos(theta - theta[-1])), atol=1e-12)
    np.testing.assert_allclose(s.top_eigenvector, u, atol=1e-15)


@given(d=st.integers(1, 4), seed=st.integers(0, 2**31 - 1))
def test_tracking_reconstructs_and_is_continuous(d, seed):
    rng = np.random.default_rng(seed)
    L0, L1 = rng.standard_normal((2, d, d))
    t = np.linspace(0.0, 2.0, 40)
    cov = np.array([(L0 + s * L1) @ (L0 + s * L1).T + 0.1 * np.eye(d) for s in t])
    s = spectrum(t, cov)
    U, lam = s.eigenvectors, s.tracked_eigenvalues
    recon = np.einsum("kij,kj,klj->kil", U, lam, U)
    np.testing.assert_allclose(recon, cov, atol=1e-10 * np.abs(cov).max())
    np.testing.assert_allclose(np.einsum("kji,kjl->kil", U, U), np.broadcast_to(np.eye(d), U.shape),
                               atol=1e-12)
    np.testing.assert_allclose(np.sort(lam, axis=1)[:, ::-1], s.eigenvalues, rtol=1e-12)
    assert np.all(np.einsum("kij,kij->kj", U[1:], U[:-1]) > 0)  # sign-consistent steps


# ---------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("t", "cov", "name"),
    [
        ([0.0, 1.0], np.stack([np.eye(2)] * 3), "`cov`"),  # n mismatch
        ([0.0, 1.0], np.ones((2, 2, 3)), "`cov`"),  # not square
        ([0.0, 1.0], np.eye(2), "`cov`"),  # wrong ndim
        ([0.0, np.nan], np.stack([np.eye(2)] * 2), "`t`"),
        ([0.0, 0.0], np.stack([np.eye(2)] * 2), "`t`"),  # not strictly increasing
        ([[0.0, 1.0]], np.stack([np.eye(2)] * 2), "`t`"),
        ([0.0, 1.0], np.stack([np.eye(2), [[1.0, np.inf], [np.inf, 1.0]]]), "`cov`"),
        ([0.0, 1.0], np.stack([np.eye(2), [[1.0, 0.5], [0.0, 1.0]]]), "symmetric"),
        ([0.0, 1.0], np.stack([np.eye(2), np.diag([1.0, -0.1])]), "positive semi-definite"),
    ],
)
def test_spectrum_validates_inputs(t, cov, name):
    with pytest.raises(ValueError, match=name):
        spectrum(t, cov)


def test_spectrum_tolerates_roundoff_and_is_readonly():
    cov = np.stack([np.diag([1.0, -1e-13]), np.array([[1.0, 1e-14], [0.0, 1.0]])])
    s = spectrum([0.0, 1.0], cov)
    assert s.eigenvalues.min() == 0.0
    with pytest.raises(ValueError):
        s.eigenvalues[0, 0] = 5.0
    assert isinstance(s, Spectrum) and "n=2" in repr(s)


def test_spectrum_postinit_checks_shapes():
    with pytest.raises(ValueError, match="`eigenvectors`"):
        Spectrum(np.zeros(2), np.zeros((2, 2)), np.zeros((2, 3, 3)), np.zeros((2, 2)))


# ---------------------------------------------------------------------------------------------- regimes
def test_blowup_rank_one_softmax():
    rng = np.random.default_rng(7)
    d = 3
    Sigma0 = spd(rng, d)
    A = rng.standard_normal((d, d))
    S = A + A.T
    R0 = psd_sqrt(Sigma0)
    nu, W = np.linalg.eigh(R0 @ S @ R0)
    assert nu[-1] > 0
    T_star = 1.0 / nu[-1]
    t = T_star * (1.0 - np.geomspace(1.0, 1e-7, 300))
    traj = make_traj(t, softmax_vI(Sigma0, A, t), "blowup", T_star)
    reg = classify(traj)
    assert reg.kind == "blowup_rank_one" and reg.rank == 1, str(reg)
    assert reg.evidence["rank_one_distance_final"] < 1e-5 < reg.evidence["rank_one_distance_initial"]
    # blow-up direction Σ₀^{1/2}u₁ (docs/math.md §4), measured by the tracked top eigenvector
    u_star = R0 @ W[:, -1]
    u_star /= np.linalg.norm(u_star)
    s = spectrum(traj.t, traj.cov)
    np.testing.assert_allclose(abs(s.top_eigenvector[-1] @ u_star), 1.0, atol=1e-10)
    assert s.rank_one_distance[-1] < s.rank_one_distance[len(t) // 2]


def test_isotropic_blowup_is_not_rank_one():
    t = 0.5 * (1.0 - np.geomspace(1.0, 1e-7, 200))  # Σ = I/(1 − 2t), T* = 1/2
    reg = classify(make_traj(t, softmax_vI(np.eye(2), np.eye(2), t), "blowup", 0.5))
    assert reg.kind == "blowup" and reg.rank == 2, str(reg)


@pytest.mark.parametrize("status", ["ok", "converged"])
def test_collapse_to_zero_softmax(status):
    rng = np.random.default_rng(11)
    d = 3
    B, C = rng.standard_normal((2, d, d))
    A = -(B @ B.T + np.eye(d)) + (C - C.T)  # S = A + Aᵀ ≺ 0
    Sigma0 = spd(rng, d)
    t = np.concatenate([[0.0], np.geomspace(1e-3, 1e4, 300)])
    cov = softmax_vI(Sigma0, A, t)
    # oracle: tΣ(t) → (−S)⁻¹ with error O(1/t)
    np.testing.assert_allclose(t[-1] * cov[-1], np.linalg.inv(-(A + A.T)), rtol=1e-2)
    reg = classify(make_traj(t, cov, status))
    assert reg.kind == "collapse_to_zero" and reg.rank == 0, str(reg)
    np.testing.assert_allclose(reg.evidence["loglog_slopes_final"], -1.0, atol=1e-2)


@pytest.mark.parametrize("d,ker", [(2, 1), (3, 2), (3, 1)])
def test_collapse_to_subspace_softmax(d, ker):
    rng = np.random.default_rng(100 * d + ker)
    q = rng.standard_normal((d - ker, d))
    C = rng.standard_normal((d, d))
    A = -q.T @ q + (C - C.T)  # S = −2qᵀq ⪯ 0, ker S of dimension `ker`
    Sigma0 = spd(rng, d)
    t = np.concatenate([[0.0], np.geomspace(1e-3, 1e5, 300)])
    cov = softmax_vI(Sigma0, A, t)
    Z = sla.null_space(A + A.T)
    assert Z.shape[1] == ker
    limit = Z @ np.linalg.inv(Z.T @ np.linalg.inv(Sigma0) @ Z) @ Z.T
    np.testing.assert_allclose(cov[-1], limit, atol=1e-3 * np.abs(limit).max())
    reg = classify(make_traj(t, cov))
    assert reg.kind == "collapse_to_subspace" and reg.rank == ker, str(reg)
    assert reg.evidence["eigenvalue_fates"] == ("flat",) * ker + ("vanishing",) * (d - ker)


@pytest.mark.parametrize("status", ["ok", "blowup"])
def test_exponential_growth_linear_flow(status):
    # Sinkhorn V = I asymptotics: Σ̇ ≈ Σ + Σ  →  d/dt log trΣ = 2
    rng = np.random.default_rng(5)
    t = np.linspace(0.0, 10.0, 201)
    reg = classify(make_traj(t, linear_flow(spd(rng, 2), np.eye(2), t), status))
    assert reg.kind == "exponential_growth" and reg.rank is None, str(reg)
    np.testing.assert_allclose(reg.evidence["log_trace_rate_late"], 2.0, rtol=1e-10)


def test_exponential_growth_nonnormal_rate():
    rng = np.random.default_rng(6)
    P = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    M = P @ np.diag([0.7, 0.2, -0.5]) @ np.linalg.inv(P)
    t = np.linspace(0.0, 20.0, 401)
    reg = classify(make_traj(t, linear_flow(spd(rng, 3), M, t)))
    assert reg.kind == "exponential_growth", str(reg)
    np.testing.assert_allclose(reg.evidence["log_trace_rate_late"], 2 * 0.7, rtol=1e-3)


def softmax_rhs(Sigma: np.ndarray, A: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Σ̇ = VΣAΣ + (VΣAΣ)ᵀ (docs/math.md §3, softmax)."""
    X = V @ Sigma @ A @ Sigma
    return X + X.T


def test_rank_one_stationary_lines_and_classification():
    A = np.array([[1.0, 2.0], [0.0, -1.0]])  # symmetric part [[1, 1], [1, −1]]: indefinite
    V = np.array([[0.3, -1.2], [0.8, 0.5]])
    # uᵀAu = cos 2θ + sin 2θ = 0 at θ = −π/8
    u = np.array([np.cos(-np.pi / 8), np.sin(-np.pi / 8)])
    assert abs(u @ A @ u) < 1e-15
    lam = 2.5
    Sig = lam * np.outer(u, u)
    assert np.abs(softmax_rhs(Sig, A, V)).max() < 1e-14
    e1 = np.array([1.0, 0.0])  # e1ᵀAe1 = 1 ≠ 0 and Ve1 ≠ 0: not stationary
    assert np.abs(softmax_rhs(lam * np.outer(e1, e1), A, V)).max() > 1.0
    Vk = np.outer([1.0, 2.0], [-u[1], u[0]])  # Vu = 0 makes any line stationary
    assert np.abs(softmax_rhs(lam * np.outer(e1, e1), A, Vk)).max() > 1.0
    assert np.abs(softmax_rhs(Sig, A, Vk)).max() < 1e-14
    t = np.linspace(0.0, 10.0, 50)
    reg = classify(make_traj(t, np.broadcast_to(Sig, (50, 2, 2))))
    assert reg.kind == "stationary" and reg.rank == 1, str(reg)
    s = spectrum(t, np.broadcast_to(Sig, (50, 2, 2)))
    assert np.all(s.anisotropy == np.inf) and np.all(s.rank_one_distance < 1e-15)


def test_stationary_full_rank_limit_and_converged_status():
    t = np.linspace(0.0, 40.0, 200)
    limit = np.array([[2.0, 0.5], [0.5, 1.0]])
    cov = limit + np.exp(-t)[:, None, None] * np.diag([1.0, 0.5])
    reg = classify(make_traj(t, cov))
    assert reg.kind == "stationary" and reg.rank == 2, str(reg)
    t2 = np.linspace(0.0, 2.0, 50)  # still moving, but the solver said converged
    reg2 = classify(make_traj(t2, limit + np.exp(-t2)[:, None, None] * np.eye(2), "converged"))
    assert reg2.kind == "stationary"
    assert classify(make_traj(t2, limit + np.exp(-t2)[:, None, None] * np.eye(2))).kind == "bounded"


def test_rotation_is_bounded():
    t = np.linspace(0.0, 10.0, 300)
    cov = np.array([rot(s) @ np.diag([3.0, 1.0]) @ rot(s).T for s in t])
    reg = classify(make_traj(t, cov))
    assert reg.kind == "bounded" and reg.rank is None, str(reg)


def test_zero_initial_covariance_is_stationary():
    reg = classify(make_traj([0.0, 1.0, 2.0], np.zeros((3, 2, 2))))
    assert reg.kind == "stationary" and reg.rank == 0


def test_regime_value_object():
    reg = Regime("collapse_to_subspace", 2, "two flat", {"trace_final": 1.5, "slopes": (0.0, -1.0)})
    text = str(reg)
    assert text.startswith("collapse_to_subspace (rank 2): two flat")
    assert "trace_final = 1.5" in text and "slopes = (0, -1)" in text
    with pytest.raises(TypeError):
        reg.evidence["x"] = 1  # read-only
    with pytest.raises(ValueError, match="`kind`"):
        Regime("exploding")
    with pytest.raises(ValueError, match="`rank`"):
        Regime("stationary", -1)
    assert set(KINDS) >= {"collapse_to_zero", "collapse_to_subspace", "blowup_rank_one",
                          "exponential_growth", "stationary", "bounded"}


def test_classify_validates():
    good = make_traj(np.linspace(0, 1, 5), np.broadcast_to(np.eye(2), (5, 2, 2)))
    with pytest.raises(ValueError, match="`traj`"):
        classify(object())
    with pytest.raises(ValueError, match="at least 3"):
        classify(make_traj([0.0, 1.0], np.stack([np.eye(2)] * 2)))
    with pytest.raises(ValueError, match=r"`traj\.status`"):
        classify(Traj(good.t, good.mean, good.cov, "exploded"))
    with pytest.raises(ValueError, match="`tail`"):
        classify(good, tail=1.5)
    with pytest.raises(ValueError, match="`zero_rtol`"):
        classify(good, zero_rtol=-1.0)
