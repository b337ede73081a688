"""The sphere model: velocity, the exact-on-the-sphere integrator, the energy identity (issue 11 items 1–3)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special

import gaussflow as gf
import gaussflow.sphere as gs
from gaussflow.sphere.integrate import step_rkmk4


def _points(n: int, d: int, seed: int = 0) -> np.ndarray:
    X = np.random.default_rng(seed).normal(size=(n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def _naive_velocity(X, Q, K, V, beta, w, normalized, sign):
    """Direct n × n evaluation of ẋ_i = sign P⊥(Σ_j w_j e^{β<Qx_i, Kx_j>} V x_j / Z_i)."""
    S = beta * (X @ Q.T) @ (X @ K.T).T
    E = np.exp(S) * w[None, :]
    F = E @ X @ V.T
    if normalized:
        F = F / E.sum(axis=1, keepdims=True)
    P = F - np.sum(F * X, axis=1, keepdims=True) * X
    return sign * P


@pytest.mark.parametrize("normalization", ["softmax", "none"])
@pytest.mark.parametrize("sign", [1, -1])
def test_velocity_matches_direct_sum_with_weights_and_blocks(normalization: str, sign: int) -> None:
    rng = np.random.default_rng(3)
    d, n = 4, 37
    Q, K, V = rng.normal(size=(3, d, d))
    X = _points(n, d, 1)
    w = rng.random(n)
    w /= w.sum()
    mdl = gs.model(Q, K, V, beta=0.8, normalization=normalization, sign=sign)
    ref = _naive_velocity(X, Q, K, V, 0.8, w, normalization == "softmax", sign)
    for block in (5, 512):
        got = gs.velocity(mdl, X, w, block=block)
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_velocity_is_the_projection_of_the_registered_attention_field() -> None:
    """Uniform weights: P⊥ of gf.particle_velocity of the registered softmax / unnormalized variants."""
    rng = np.random.default_rng(5)
    d = 3
    Q, K, V = rng.normal(size=(3, d, d))
    X = _points(50, d, 2)
    for variant in ("softmax", "unnormalized"):
        attn = gf.attention(variant, Q=Q, K=K, V=V, beta=0.6)
        G = gf.particle_velocity(attn, X)
        ref = G - np.sum(G * X, axis=1, keepdims=True) * X
        np.testing.assert_allclose(gs.velocity(gs.from_attention(attn), X), ref, rtol=1e-11, atol=1e-12)


def test_bad_input_is_one_clear_error() -> None:
    mdl = gs.gradient_model(np.eye(3))
    with pytest.raises(ValueError, match="unit vectors"):
        gs.velocity(mdl, np.ones((2, 3)))
    with pytest.raises(ValueError, match="weights"):
        gs.velocity(mdl, _points(3, 3), [0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="normalization"):
        gs.gradient_model(np.eye(3), normalization="sinkhorn")
    with pytest.raises(ValueError, match="sign"):
        gs.gradient_model(np.eye(3), sign=2)
    with pytest.raises(ValueError, match="symmetric"):
        gs.gradient_model(np.triu(np.ones((3, 3))))
    with pytest.raises(ValueError, match="method"):
        gs.simulate(mdl, _points(3, 3), 1.0, 0.1, method="rk4")


def _order(mdl, X, w, method, ns, t_end=1.0):
    ref = gs.simulate(mdl, X, t_end, t_end / 1024, weights=w).final
    errs = np.array([np.abs(gs.simulate(mdl, X, t_end, t_end / k, weights=w, method=method).final - ref).max()
                     for k in ns])
    return np.polyfit(np.log(ns), -np.log(errs), 1)[0], errs


@pytest.mark.parametrize("d", [2, 3, 4])
def test_rkmk4_has_order_four_and_euler_order_one(d: int) -> None:
    rng = np.random.default_rng(d)
    X = _points(12, d, d)
    w = rng.random(12)
    w /= w.sum()
    mdl = gs.model(np.eye(d), rng.normal(size=(d, d)), rng.normal(size=(d, d)), normalization="softmax")
    p4, _ = _order(mdl, X, w, "rkmk4", [8, 16, 32])
    p1, _ = _order(mdl, X, w, "euler", [32, 64, 128])
    assert 3.8 < p4 < 4.3, p4
    assert 0.9 < p1 < 1.1, p1


def test_rkmk4_stays_on_the_sphere_to_rounding() -> None:
    mdl = gs.gradient_model(np.diag([1.0, 0.25, 1.0]), sign=-1)
    tr = gs.simulate(mdl, _points(60, 3), 200.0, 0.5, every=40)
    assert tr.norm_drift() < 5e-15


def test_trajectory_saves_and_loads(tmp_path) -> None:
    mdl = gs.gradient_model(np.eye(2), normalization="softmax")
    tr = gs.simulate(mdl, _points(5, 2), 1.0, 0.1)
    tr2 = gs.SphereTrajectory.load(tr.save(tmp_path / "run.npz"))
    np.testing.assert_array_equal(tr2.X, tr.X)
    assert tr2.meta["method"] == "rkmk4" and tr2.meta["normalization"] == "softmax"


def test_euler_reproduces_the_authors_four_particle_run() -> None:
    """Authors' exps/four_part_system.py (torch float32), run unchanged:
    `python run_peer.py four` (exec of the script) printed tanh_mean = 0.5000 and
    x = [[-0.4401, -0.8979], [0.4401, -0.8979], [0.4401, 0.8979], [-0.4401, 0.8979]], hist[-1] = 1.1027
    (D = diag(1, 0.5), τ = 0.05, 10000 iterations, their sgn = +1 = our descent sign −1)."""
    D = np.diag([1.0, 0.5])
    ang = np.linspace(-np.pi, np.pi, 5)[:-1] + np.pi / 4
    X0 = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    tr = gs.simulate(gs.gradient_model(D, sign=-1), X0, 500.0, 0.05, method="euler", every=10000)
    np.testing.assert_allclose(np.abs(tr.final), [[0.4401, 0.8979]] * 4, atol=1e-4)
    assert abs(gs.energy(tr.final, D) - 1.1027) < 1e-4


# ---------------------------------------------------------------- energy


def test_energy_closed_values() -> None:
    D = np.diag([1.3, -0.7, 0.2])
    for k, lam in enumerate(np.diag(D)):
        v = np.eye(3)[k]
        assert gs.energy(v[None], D, beta=0.9) == pytest.approx(np.exp(0.9 * lam), rel=1e-14)
        p = 0.3
        X = np.stack([v, -v])
        closed = (p * p + (1 - p) ** 2) * np.exp(0.9 * lam) + 2 * p * (1 - p) * np.exp(-0.9 * lam)
        assert gs.energy(X, D, beta=0.9, weights=[p, 1 - p]) == pytest.approx(closed, rel=1e-14)
        assert gs.antipodal_energy(D, v, p, beta=0.9) == pytest.approx(closed, rel=1e-14)


def test_uniform_energy_closed_values_and_monte_carlo() -> None:
    assert gs.uniform_energy(np.eye(3)) == pytest.approx(np.sinh(1.0), rel=1e-13)
    assert gs.uniform_energy(-np.eye(3)) == pytest.approx(np.sinh(1.0), rel=1e-13)
    assert gs.uniform_energy(np.eye(2), beta=2.0) == pytest.approx(scipy.special.i0(2.0) ** 1, rel=1e-13)
    # D = diag(1, 0.25, 1): Monte Carlo over independent pairs (x, y)
    D = np.diag([1.0, 0.25, 1.0])
    rng = np.random.default_rng(11)
    X, Y = _points(400_000, 3, 12), _points(400_000, 3, 13)
    vals = np.exp(np.sum((X @ D) * Y, axis=1))
    mc, se = vals.mean(), vals.std() / np.sqrt(len(vals))
    assert abs(gs.uniform_energy(D) - mc) < 4 * se
    del rng


@pytest.mark.parametrize("normalization", ["none", "softmax"])
@pytest.mark.parametrize("sign", [1, -1])
def test_energy_rate_equals_finite_differences_along_the_flow(normalization: str, sign: int) -> None:
    rng = np.random.default_rng(7)
    D = np.array([[1.0, 0.3, 0.0], [0.3, -0.5, 0.2], [0.0, 0.2, 0.8]])
    w = rng.random(30)
    w /= w.sum()
    mdl = gs.gradient_model(D, beta=1.3, normalization=normalization, sign=sign)
    X = gs.simulate(mdl, _points(30, 3, 8), 0.5, 0.05, weights=w).final  # a point along a path
    h = 1e-3
    Xp = step_rkmk4(mdl, X, w, h)
    Xm = step_rkmk4(mdl, X, w, -h)
    fd = (gs.energy(Xp, D, 1.3, w) - gs.energy(Xm, D, 1.3, w)) / (2 * h)
    rate = gs.energy_rate(X, D, 1.3, normalization, sign, weights=w)
    assert rate == pytest.approx(fd, rel=1e-6)
    assert np.sign(rate) == sign


@pytest.mark.parametrize("d", [2, 3, 5])
def test_exponential_of_rotation_generators_matches_scipy_expm(d: int) -> None:
    import scipy.linalg

    from gaussflow.sphere.integrate import expm_skew_apply

    rng = np.random.default_rng(d)
    U = rng.normal(size=(6, d, d))
    U = U - np.swapaxes(U, 1, 2)
    U[0] *= 1e-9  # the small-angle branch
    X = rng.normal(size=(6, d))
    ref = np.einsum("nij,nj->ni", scipy.linalg.expm(U), X)
    np.testing.assert_allclose(expm_skew_apply(U, X), ref, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("method", ["rkmk4", "euler"])
def test_batched_systems_equal_separate_runs(method: str) -> None:
    mdl = gs.gradient_model(np.diag([1.0, -2.0, 0.5]), normalization="softmax", sign=1)
    X0 = np.stack([_points(7, 3, s) for s in range(3)])
    _, Xb = gs.simulate_batch(mdl, X0, 1.0, 0.05, method=method)
    for r in range(3):
        np.testing.assert_allclose(Xb[-1, r], gs.simulate(mdl, X0[r], 1.0, 0.05, method=method).final,
                                   rtol=1e-12, atol=1e-13)


def test_figure7_energies_equal_the_authors_table() -> None:
    """Authors' exps/max_on_sphere_id.py (unchanged, `python run_peer.py maxid`) printed, at
    d = ds[[0, 50, 99]] = (−1, 0.0101, 1) of linspace(−1, 1, 100), D = diag(−1, d):
    single cluster at e₂ [0.3679, 1.0102, 2.7183], pair on e₁ [1.5431] * 3, pair on e₂ [1.5431, 1.0001, 1.5431]."""
    ds = np.linspace(-1, 1, 100)[[0, 50, 99]]
    e1, e2 = np.eye(2)
    table = [[gs.energy(e2[None], np.diag([-1.0, d])) for d in ds],
             [gs.energy(np.stack([e1, -e1]), np.diag([-1.0, d])) for d in ds],
             [gs.energy(np.stack([e2, -e2]), np.diag([-1.0, d])) for d in ds]]
    np.testing.assert_allclose(table, [[0.3679, 1.0102, 2.7183], [1.5431] * 3, [1.5431, 1.0001, 1.5431]],
                               atol=6e-5)
