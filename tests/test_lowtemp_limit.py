"""The limit map P of the β = ∞ residual flow against its closed forms."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import gaussflow as gf
from gaussflow.lowtemp import limit_map


def _cube_tokens(rng: np.random.Generator, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    X = rng.uniform(-1, 1, (n, d))
    vertices = np.array(list(itertools.product([-1.0, 1.0], repeat=d)))
    return X, np.vstack([X, vertices])


def test_cube_sign() -> None:
    """[−1, 1]^d with QᵀK = I (vertices in the support): P = sign."""
    rng = np.random.default_rng(5)
    for d in (1, 2, 3):
        X, X0 = _cube_tokens(rng, 80, d)
        att = gf.attention("softmax", residual=True, Q=np.eye(d), K=np.eye(d), V=np.eye(d), beta=2.0)
        P = limit_map(att, X0)
        assert np.array_equal(P[: len(X)], np.sign(X))
        assert np.array_equal(P[len(X):], X0[len(X):])  # vertices are at rest
    # QᵀK = I with Q = K an orthogonal matrix: the same map
    Qo = np.linalg.qr(rng.normal(size=(2, 2)))[0]
    X, X0 = _cube_tokens(rng, 40, 2)
    att = gf.attention("softmax", residual=True, Q=Qo, K=Qo, V=np.diag([1.0, 0.4]))
    assert np.abs(limit_map(att, X0)[:40] - np.sign(X)).max() < 1e-12


def test_ball_normalization() -> None:
    """Ball with the points x/|x| in the support: P(x) = x/|x| (layer normalization), for V = vI."""
    rng = np.random.default_rng(6)
    for d in (2, 3):
        Z = rng.normal(size=(60, d))
        U = Z / np.linalg.norm(Z, axis=1, keepdims=True)
        X = U * rng.uniform(0.05, 1.0, (60, 1)) ** (1 / d)
        for v in (1.0, 2.5):
            att = gf.attention("softmax", residual=True, Q=np.eye(d), K=np.eye(d), V=v * np.eye(d))
            P = limit_map(att, np.vstack([X, U]))
            assert np.abs(P[:60] - U).max() < 1e-12


def test_straight_lines_V_identity() -> None:
    """V = I: x(t) = P(x₀) + e^{−t}(x₀ − P(x₀)) along the hardmax particle flow."""
    rng = np.random.default_rng(7)
    _, X0 = _cube_tokens(rng, 30, 2)
    att = gf.attention("softmax", residual=True, Q=np.eye(2), K=np.eye(2), V=np.eye(2))
    P = limit_map(att, X0)
    t = np.linspace(0, 5, 11)
    tr = gf.simulate_particles(att, X0, t, beta=np.inf, keep="all", dt=0.01)
    want = P[None] + np.exp(-t)[:, None, None] * (X0 - P)[None]
    assert np.abs(tr.X - want).max() < 1e-9
    # on a sample without the vertices the extreme tokens take their place (1-D: max / min)
    x = rng.uniform(-1, 1, (50, 1))
    one = gf.attention("softmax", residual=True, A=[[1.0]], V=[[1.0]])
    assert np.array_equal(limit_map(one, x), np.where(x > 0, x.max(), x.min()))


def test_limit_map_errors() -> None:
    X = np.array([[0.2], [0.9], [-0.4]])
    with pytest.raises(ValueError, match="residual"):
        limit_map(gf.attention("softmax", A=[[1.0]], V=[[1.0]]), X)
    with pytest.raises(ValueError, match="V"):
        limit_map(gf.attention("softmax", residual=True, A=[[1.0]], V=[[-1.0]]), X)
    with pytest.raises(ValueError, match="X0"):
        limit_map(gf.attention("softmax", residual=True, A=[[1.0]], V=[[1.0]]), np.zeros((3, 2)))


def test_limit_map_moving_targets() -> None:
    """A cube sample without its vertices: extreme tokens themselves move (their own argmax is another
    token), so targets are not frozen at once; the limit is a configuration at rest of the β = ∞ flow."""
    rng = np.random.default_rng(8)
    X = rng.uniform(-1, 1, (100, 2))
    att = gf.attention("softmax", residual=True, Q=np.eye(2), K=np.eye(2), V=np.eye(2))
    with pytest.raises(RuntimeError, match="t_max"):
        limit_map(att, X, t_max=0.5)
    P = limit_map(att, X)
    assert np.abs(gf.particle_velocity(att, P, beta=np.inf)).max() < 1e-12
    assert 1 < len(np.unique(P.round(9), axis=0)) < 10  # a few clusters at extreme tokens
