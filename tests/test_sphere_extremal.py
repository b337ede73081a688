"""Certified extremal measures, stationary states and the paper's classification by D (issue 11 item 4)."""

from __future__ import annotations

import numpy as np
import pytest

import gaussflow.sphere as gs
from gaussflow.sphere.cases import classify_extremals, spectral_case
from gaussflow.sphere.extremal import candidates, minimum_energy, simplex_qp
from gaussflow.sphere.stationary import (
    find_stationary,
    riemannian_gradient,
    riemannian_hessian,
)


def _points(n: int, d: int, seed: int = 0) -> np.ndarray:
    X = np.random.default_rng(seed).normal(size=(n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def test_simplex_qp_matches_a_two_point_closed_form() -> None:
    """min over p of (p, 1−p) K (p, 1−p)ᵀ for K = [[a, c], [c, b]]: p* = (b − c)/(a + b − 2c)."""
    K = np.array([[3.0, 1.0], [1.0, 2.0]])
    w, _ = simplex_qp(K)
    assert w[0] == pytest.approx(1.0 / 3.0, abs=1e-10)


def test_identity_minimizer_is_uniform_and_maximizer_a_dirac() -> None:
    c = classify_extremals(np.eye(3), n=500)
    assert c.case == "identity"
    assert c.minimizer.energy == pytest.approx(np.sinh(1.0), abs=1e-9)
    assert c.minimizer.gap > -1e-8
    assert c.maximizer.energy == pytest.approx(np.e, rel=1e-14)
    # uniform weights on the quasi-uniform grid part: no point carries more than a few times 1/N
    assert c.minimizer.weights.max() < 5.0 / len(c.minimizer.weights)


def test_positive_definite_minimizer_beats_uniform_and_the_authors_particles() -> None:
    """Authors' exps/min_on_sphere.py, mode 'PPd' (D = diag(1, 0.25, 1), N = 400, seed 42, τ = 0.5), run at
    2000 iterations (`python run_peer.py minsphere`): printed E = 1.0280 (float32)."""
    D = np.diag([1.0, 0.25, 1.0])
    c = classify_extremals(D, n=500)
    assert c.case == "positive definite"
    mn = c.minimizer
    assert mn.gap > -1e-8 and mn.lower_bound > mn.energy - 1e-7
    assert mn.energy < gs.uniform_energy(D) - 0.05
    assert mn.energy < 1.0280 + 5e-5 and mn.energy > 1.0280 - 1e-3
    assert c.maximizer.energy == pytest.approx(np.e, rel=1e-14)


def test_circle_minimizer_equals_the_authors_exponentiated_gradient() -> None:
    """Authors' tfdy.optim_diracs.optimizer_density_2D (N = 1000 circle points, 1500 iterations; what
    exps/min_density.py runs), `python run_peer.py density`: final loss 1.2365627 (d2 = 0.9),
    1.2660661 (d2 = 1.0), 1.2930375 (d2 = 1.1), 1.3393339 (d2 = 1.3), float32."""
    for d2, peer in ((0.9, 1.2365627), (1.0, 1.2660661), (1.1, 1.2930375), (1.3, 1.3393339)):
        mn = minimum_energy(np.diag([1.0, d2]), n=300)
        assert mn.gap > -1e-9
        assert mn.energy == pytest.approx(peer, abs=3e-7)


def test_singular_psd_minimizer_lives_on_the_kernel() -> None:
    """E = Σ_k β^k/k! ∬(xᵀDy)^k ≥ 1 with equality iff μ(ker D ∩ S) = 1 (D = diag(1, 0, 1): ±e₂)."""
    c = classify_extremals(np.diag([1.0, 0.0, 1.0]), n=400)
    assert c.case == "singular PSD"
    assert c.minimizer.energy == pytest.approx(1.0, abs=1e-8)
    assert c.minimizer.lower_bound > 1.0 - 1e-8
    supp = c.minimizer.support(1e-3)
    assert np.all(np.abs(np.abs(supp[:, 1]) - 1.0) < 1e-6)


def test_negative_definite_dirac_minimizer_and_antipodal_maximizer() -> None:
    """D = diag(−1, −3, −4) (exps/max_on_sphere_nd.py 'NonId'); the authors' ascent (8 of their 100 runs,
    `python run_peer.py nd`) reached E ∈ [26.61, 27.30] < cosh 4 = 27.3082 (unequal antipodal masses)."""
    D = np.diag([-1.0, -3.0, -4.0])
    c = classify_extremals(D)
    assert c.case == "negative definite"
    assert c.minimizer.energy == pytest.approx(np.exp(-4.0), rel=1e-14)
    assert c.maximizer.kind == "maximizer:antipodal"
    assert c.maximizer.energy == pytest.approx(np.cosh(4.0), rel=1e-14)
    assert c.maximizer.gap <= 1e-9
    with pytest.raises(ValueError, match="positive semidefinite"):
        minimum_energy(D)
    # exact ascent from random particles does not beat the certified candidate
    X = gs.simulate(gs.gradient_model(D, sign=1), _points(40, 3, 4), 30.0, 0.05).final
    assert gs.energy(X, D) <= np.cosh(4.0) + 1e-9


@pytest.mark.parametrize("dd", [np.log(np.cosh(1.0)) - 0.02, np.log(np.cosh(1.0)) + 0.02])
def test_indefinite_maximizer_switches_at_ln_cosh_one(dd: float) -> None:
    """D = diag(−1, d) (figure 7): the antipodal pair on e₁ (cosh 1) wins below d* = ln cosh 1, the Dirac
    at e₂ (e^d) above."""
    c = classify_extremals(np.diag([-1.0, dd]))
    assert c.case == "indefinite"
    if dd < np.log(np.cosh(1.0)):
        assert c.maximizer.kind == "maximizer:antipodal"
        assert c.maximizer.energy == pytest.approx(np.cosh(1.0), rel=1e-14)
    else:
        assert c.maximizer.kind == "maximizer:dirac"
        assert c.maximizer.energy == pytest.approx(np.exp(dd), rel=1e-14)
    assert c.minimizer.energy == pytest.approx(np.exp(-1.0), rel=1e-14)  # |λ_min| ≥ λ_max: bound certifies


def test_first_order_condition_rejects_a_negative_eigenvector_dirac() -> None:
    D = np.diag([1.0, -2.0])
    byk = {(c.kind, c.info["index"]): c for c in candidates(D)}
    assert byk[("dirac", 0)].gap > 1.0      # δ at e₂ (λ = −2): k∗δ(x) = e^{−2 x₂} > e^{−2} away from e₂
    assert byk[("dirac", 1)].gap <= 1e-12   # δ at e₁ (λ = 1)


def test_spectral_cases() -> None:
    assert [spectral_case(np.diag(v)) for v in ([2, 2], [1, 3], [0, 1], [-1, -2], [-1, 1])] == [
        "identity", "positive definite", "singular PSD", "negative definite", "indefinite"]


def test_riemannian_hessian_matches_second_differences_along_geodesics() -> None:
    rng = np.random.default_rng(2)
    X = _points(4, 3, 9)
    D = np.diag([1.0, -0.5, 2.0])
    w = np.array([0.1, 0.2, 0.3, 0.4])
    R, B = riemannian_hessian(X, D, 0.7, w)
    xi = rng.normal(size=(4, 2))
    V = np.einsum("iak,ik->ia", B, xi)

    def f(t: float) -> float:
        nv = np.linalg.norm(V, axis=1, keepdims=True)
        Y = np.cos(t * nv) * X + np.sin(t * nv) * V / nv  # geodesics of every sphere
        return gs.energy(Y, D, 0.7, w)

    h = 1e-4
    second = (f(h) - 2 * f(0.0) + f(-h)) / h**2
    assert xi.ravel() @ R @ xi.ravel() == pytest.approx(second, rel=1e-5)
    first = (f(h) - f(-h)) / (2 * h)
    assert np.sum(riemannian_gradient(X, D, 0.7, w) * V) == pytest.approx(first, rel=1e-6)


@pytest.mark.parametrize("dd", [0.2, 0.5, 0.8])
def test_four_particle_stationary_state_satisfies_the_tanh_relation(dd: float) -> None:
    """Figure 4: four particles started at π/4 + kπ/2, descent with D = diag(1, d): at the limit
    tanh(x₁²)/tanh(d x₂²) = d (the authors' Euler run at d = 0.5 printed 0.5000, test_sphere.py)."""
    D = np.diag([1.0, dd])
    ang = np.linspace(-np.pi, np.pi, 5)[:-1] + np.pi / 4
    st = find_stationary(gs.gradient_model(D, sign=-1), np.stack([np.cos(ang), np.sin(ang)], axis=1))
    np.testing.assert_allclose(np.tanh(st.X[:, 0] ** 2) / np.tanh(dd * st.X[:, 1] ** 2), dd, rtol=1e-10)
    assert st.grad_norm < 1e-11
    assert st.type == "local min"


def test_antipodal_pair_is_a_local_max_for_negative_definite_ascent() -> None:
    D = np.diag([-1.0, -3.0, -4.0])
    X0 = np.array([[0.1, 0.1, 1.0], [0.0, -0.1, -1.0]])
    X0 /= np.linalg.norm(X0, axis=1, keepdims=True)
    st = find_stationary(gs.gradient_model(D, sign=1), X0, t_max=1.0)
    assert st.energy == pytest.approx(np.cosh(4.0), rel=1e-12)
    assert st.type == "local max"


def test_minimum_in_dimension_four_is_the_uniform_energy() -> None:
    """S³, D = I: the uniform measure, E = Φ₄(1) = 2 I₁(1) (scipy's Bessel function, independent of the QP)."""
    import scipy.special

    mn = minimum_energy(np.eye(4), n=250)
    assert mn.energy == pytest.approx(2 * scipy.special.iv(1, 1.0), abs=1e-7)
    assert mn.gap > -1e-7
    with pytest.raises(ValueError, match="at most"):
        minimum_energy(np.eye(3), n=10_000)


def test_general_finder_linearization_is_the_scaled_hessian_in_the_gradient_case() -> None:
    """USA descent with weights 1/n: ẋ_i = −grad_i E/(2β w_i), so the flow's Jacobian at a stationary state has
    eigenvalues −n/(2β) × those of the Riemannian Hessian (computed independently: finite differences of the
    velocity vs the analytic Hessian)."""
    from gaussflow.sphere.stationary import find_stationary_general

    D = np.diag([1.0, 0.5])
    ang = np.linspace(-np.pi, np.pi, 5)[:-1] + np.pi / 4
    X0 = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    mdl = gs.gradient_model(D, sign=-1)
    X, ev, kind = find_stationary_general(mdl, X0)
    R, _ = riemannian_hessian(X, D, 1.0, np.full(4, 0.25))
    np.testing.assert_allclose(np.sort(ev.real), np.sort(-4 / 2 * np.linalg.eigvalsh(R)), rtol=1e-6)
    assert kind == "stable"


def test_general_qkv_stationary_state() -> None:
    """General Q, K, V (SA): Newton drives the velocity to rounding; a stable state stays put under the flow."""
    from gaussflow.sphere.stationary import find_stationary_general

    rng = np.random.default_rng(3)
    _, K, V = rng.normal(size=(3, 3, 3))
    mdl = gs.model(np.eye(3), 0.5 * K, V, normalization="softmax")
    X, ev, kind = find_stationary_general(mdl, _points(5, 3, 3), t_max=60.0)
    assert gs.speed(mdl, X, np.full(5, 0.2)) < 1e-10
    assert kind == "stable" and np.all(ev.real < 0)
    Y = X + 1e-3 * rng.normal(size=X.shape)
    Y /= np.linalg.norm(Y, axis=1, keepdims=True)
    assert np.abs(gs.simulate(mdl, Y, 20.0, 0.05).final - X).max() < 1e-5
