"""Hardmax (β = ∞) particles: the engine's ``beta=np.inf`` against brute force, the softmax limit,
closed-form straight lines, and the three-point example where β = ∞ solutions are not unique."""

from __future__ import annotations

import numpy as np
import pytest

import gaussflow as gf
from gaussflow.lowtemp.model import hardmax_mean, softmax_mean


def _brute_hardmax(X: np.ndarray, A: np.ndarray, causal: bool = False) -> np.ndarray:
    out = np.empty_like(X)
    for i, x in enumerate(X):
        Y = X[: i + 1] if causal else X
        s = np.array([y @ A @ x for y in Y])
        out[i] = Y[np.isclose(s, s.max(), rtol=0, atol=1e-12)].mean(axis=0)
    return out


def test_hardmax_engine_equals_brute_force_and_softmax_limit() -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (60, 2))
    Q, K = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
    V = np.array([[1.0, 0.2], [0.0, 0.7]])
    att = gf.attention("softmax", residual=True, Q=Q, K=K, V=V, beta=0.3)
    A = K.T @ Q
    want = (_brute_hardmax(X, A) - X) @ V.T
    got = gf.particle_velocity(att, X, beta=np.inf)
    assert np.abs(got - want).max() < 1e-13
    assert np.abs(gf.particle_velocity(att, X, beta=np.inf, chunk=7) - want).max() < 1e-13
    # the β → ∞ limit of the softmax kernel (the engine's finite-β path) approaches it on the rows
    # whose top-two score gap g has βg > 40 (error ≲ n e^{−βg})
    beta = 3e4
    S = np.sort(X @ A.T @ X.T, axis=1)
    clear = beta * (S[:, -1] - S[:, -2]) > 40
    assert clear.sum() > 50
    far = gf.attention("softmax", residual=True, Q=Q, K=K, V=V, beta=beta)
    assert np.abs(gf.particle_velocity(far, X) - want)[clear].max() < 1e-12
    # the weighted-atom hardmax of gaussflow.lowtemp agrees, and its softmax tends to it
    assert np.abs(hardmax_mean(X, X, A=A) - _brute_hardmax(X, A)).max() < 1e-13
    assert np.abs(softmax_mean(X, X, A=A, beta=beta) - _brute_hardmax(X, A))[clear].max() < 1e-12


def test_hardmax_causal_and_ties_averaged() -> None:
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (40, 2))
    att = gf.attention("softmax", Q=np.eye(2), K=np.eye(2), V=np.eye(2))
    got = gf.particle_velocity(att, X, beta=np.inf, causal=True, chunk=16)
    assert np.abs(got - _brute_hardmax(X, np.eye(2), causal=True)).max() < 1e-13
    # a token at the origin sees every score equal to 0: the barycentre of all tokens (Filippov)
    Xt = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.5], [0.0, 0.0]])
    m = gf.particle_velocity(att, Xt, beta=np.inf)
    assert np.allclose(m[3], Xt.mean(axis=0), atol=1e-15)
    # two tokens tied for the max are averaged
    Xs = np.array([[1.0, 1.0], [1.0, -1.0], [1.0, 0.0]])  # x = (1, 0): scores 1, 1, 1
    assert np.allclose(gf.particle_velocity(att, Xs, beta=np.inf)[2], Xs.mean(axis=0))


def test_hardmax_straight_lines_closed_form() -> None:
    """V = I, d = 1: every token runs straight to the extreme token on its side,
    x(t) = P(x₀) + e^{−t}(x₀ − P(x₀)), P(x₀) = max X₀ (x₀ > 0) or min X₀ (x₀ < 0)."""
    rng = np.random.default_rng(2)
    x0 = rng.uniform(-1, 1, (50, 1))
    att = gf.attention("softmax", residual=True, A=[[1.0]], V=[[1.0]])
    t = np.linspace(0, 3, 7)
    tr = gf.simulate_particles(att, x0, t, beta=np.inf, keep="all", dt=0.01)
    P = np.where(x0 > 0, x0.max(), x0.min())
    want = P[None] + np.exp(-t)[:, None, None] * (x0 - P)[None]
    assert tr.status == "ok" and tr.solver["beta"] == "inf"
    assert np.abs(tr.X - want).max() < 1e-9


def test_three_point_example_nonuniqueness() -> None:
    """μ₀ = (δ₋₁ + δ₀ + δ₁)/3, A = V = 1. At x = 0 all three scores tie. The Filippov solution the engine
    follows keeps the middle token at rest, but x(t) = ±(1 − e^{−t}) solve the same β = ∞ ODE from the
    same initial state (the outer tokens are at rest in all three): solutions are not unique."""
    att = gf.attention("softmax", residual=True, A=[[1.0]], V=[[1.0]])
    X0 = np.array([[-1.0], [0.0], [1.0]])
    t = np.linspace(0, 4, 9)
    tr = gf.simulate_particles(att, X0, t, beta=np.inf, keep="all", dt=0.01)
    assert np.abs(tr.X[:, 1, 0]).max() == 0.0 and np.abs(tr.X[:, [0, 2], 0] - [-1.0, 1.0]).max() == 0.0
    for sign in (1.0, -1.0):
        for s in np.linspace(0.05, 4.0, 20):
            x = sign * (1.0 - np.exp(-s))
            v = gf.particle_velocity(att, np.array([[-1.0], [x], [1.0]]), beta=np.inf)
            assert abs(v[1, 0] - sign * np.exp(-s)) < 1e-15  # ẋ = ±e^{−t}: a solution
            assert np.abs(v[[0, 2], 0]).max() == 0.0
    # any perturbation selects one branch: ε > 0 runs to 1 along 1 − (1 − ε)e^{−t}
    eps = 1e-9
    tr = gf.simulate_particles(att, X0 + [[0.0], [eps], [0.0]], t, beta=np.inf, keep="all", dt=0.01)
    assert np.abs(tr.X[:, 1, 0] - (1 - (1 - eps) * np.exp(-t))).max() < 1e-9


def test_hardmax_beta_errors() -> None:
    att = gf.attention("softmax", residual=True, A=[[1.0]], V=[[1.0]])
    X = np.array([[0.1], [0.5]])
    with pytest.raises(ValueError, match="beta"):
        gf.particle_velocity(att, X, beta=10.0)
    with pytest.raises(ValueError, match="beta"):
        gf.simulate_particles(att, X, [0.0, 1.0], beta="hot")
    sig = gf.attention("sigmoid", Q=[[1.0]], K=[[1.0]], V=[[1.0]])
    with pytest.raises(ValueError, match="softmax"):
        gf.particle_velocity(sig, X, beta=np.inf)


def test_hardmax_l2_and_multihead() -> None:
    """Other softmax-normalized variants: L2 (argmax of −‖Qx − Ky‖²) and multi-head (per head)."""
    rng = np.random.default_rng(9)
    X = rng.normal(size=(30, 2))
    Q, K = rng.normal(size=(2, 2, 2))
    l2 = gf.attention("l2", Q=Q, K=K, V=np.eye(2))
    want = np.empty_like(X)
    for i, x in enumerate(X):
        s = -np.sum((x @ Q.T - X @ K.T) ** 2, axis=1)
        want[i] = X[np.argmax(s)]
    assert np.abs(gf.particle_velocity(l2, X, beta=np.inf) - want).max() < 1e-13
    A = rng.normal(size=(2, 2, 2))
    C = rng.normal(size=(2, 2, 2))
    mh = gf.attention("multihead", A=A, C=C)
    want = sum(_brute_hardmax(X, A[h]) @ C[h].T for h in range(2))  # head h: score yᵀA_h x, value C_h
    assert np.abs(gf.particle_velocity(mh, X, beta=np.inf) - want).max() < 1e-13
