"""Custom variants are first-class: built as data, derived, run through every path.

Truths: the closed form Σ(t) = (Σ₀⁻¹ − 2tI)⁻¹ for s = yᵀx, V = I (any key bias); an independent
scipy integration of the mean ODE; Gauss–Hermite quadrature of the attention integrals; scipy
quadrature of the d = 1 certificate integral.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import quad, solve_ivp

import gaussflow as gf
from gaussflow.symbolic.core import RuleError
from gaussflow.symbols import d, x, y

A = sp.MatrixSymbol("A", d, d)
b = sp.MatrixSymbol("b", d, 1)
V = sp.MatrixSymbol("V", d, d)


def _keybias() -> gf.Variant:
    return gf.Variant.from_score("keybias", score=y.T * A * x + b.T * y, value=V, normalization="softmax")


def test_issue_snippet_verbatim_and_values() -> None:
    # the snippet of the issue, verbatim
    keybias = gf.Variant.from_score("keybias", score=y.T * A * x + b.T * y, value=V, normalization="softmax")
    assert gf.derive(keybias).preserves_gaussian
    att = gf.attention(keybias, A=np.eye(2), b=np.array([0.3, -0.2]), V=np.eye(2))
    traj = gf.solve(att, gf.Gaussian([0.0, 0.0], np.eye(2)), (0.0, 1.0))
    batch = gf.solve_batch(att, np.stack([np.eye(2), 0.5 * np.eye(2)]), (0.0, 1.0), mean0=np.zeros((2, 2)))
    pt = gf.simulate_particles(att, np.random.default_rng(0).standard_normal((500, 2)), [0.0, 0.5])
    # Σ̇ = 2Σ² (the bias tilts the mean only): T* = 1/(2λ_max(Σ₀))
    assert traj.status == "blowup" and abs(traj.t_blowup - 0.5) < 1e-8
    np.testing.assert_allclose(batch.t_blowup, [0.5, 1.0], rtol=1e-6)
    assert pt.status == "ok" and pt.cov.shape == (2, 2, 2) and pt.n == 500


def test_parameters_read_off_the_symbols() -> None:
    v = _keybias()
    assert {p.name: p.shape for p in v.params} == {"A": ("d", "d"), "V": ("d", "d"), "b": ("d",)}
    beta = sp.Symbol("beta", positive=True)
    v2 = gf.Variant.from_score("tempered", score=beta * y.T * A * x, value=V)
    assert v2.param("beta").positive and v2.param("beta").shape == ()
    with pytest.raises(ValueError, match="score"):
        gf.Variant.from_score("bad", score="y.T*x", value=V)
    with pytest.raises(ValueError, match="shape"):
        gf.Variant.from_score("bad", score=y.T * sp.MatrixSymbol("M", d, 3) * sp.MatrixSymbol("N", 3, 1), value=V)


def test_mean_ode_against_scipy() -> None:
    """Σ₀ = I, A = V = I: Σ = I/(1 − 2t) and α̇ = α + Σ(α + b), integrated independently."""
    bias = np.array([0.3, -0.2])
    att = gf.attention(_keybias(), A=np.eye(2), b=bias, V=np.eye(2))
    a0 = np.array([0.5, 0.2])
    traj = gf.solve(att, (a0, np.eye(2)), (0.0, 0.3), t_eval=[0.0, 0.3])

    def rhs(t: float, a: np.ndarray) -> np.ndarray:
        s = 1.0 / (1.0 - 2.0 * t)
        return a + s * (a + bias)

    ref = solve_ivp(rhs, (0.0, 0.3), a0, rtol=1e-12, atol=1e-14).y[:, -1]
    np.testing.assert_allclose(traj.mean[-1], ref, rtol=1e-8)
    res = gf.solve_batch(att, np.eye(2), (0.0, 0.3), mean0=a0, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.mean_final[0], ref, rtol=1e-7)


def test_velocity_against_gauss_hermite() -> None:
    rng = np.random.default_rng(3)
    Am, Vm, bias = rng.standard_normal((2, 2)) * 0.5, rng.standard_normal((2, 2)), rng.standard_normal(2)
    L = rng.standard_normal((2, 2))
    Sig = L @ L.T + 0.2 * np.eye(2)
    alpha = rng.standard_normal(2)
    att = gf.attention(_keybias(), A=Am, b=bias, V=Vm)
    X = rng.standard_normal((4, 2))
    got = att.velocity(X, alpha, Sig)
    z, w = np.polynomial.hermite_e.hermegauss(60)
    Z = np.stack(np.meshgrid(z, z, indexing="ij"), -1).reshape(-1, 2)
    W = np.outer(w, w).reshape(-1)
    Y = alpha + Z @ np.linalg.cholesky(Sig).T
    for i, xi in enumerate(X):
        s = Y @ (Am @ xi) + Y @ bias
        e = W * np.exp(s - s.max())
        want = Vm @ (e @ Y / e.sum())
        np.testing.assert_allclose(got[i], want, rtol=1e-9, atol=1e-10)


def test_every_path_runs() -> None:
    att = gf.attention(_keybias(), A=0.3 * np.eye(2), b=np.array([0.3, -0.2]), V=np.eye(2))
    _, S_dot = att.moment_rhs([0.1, 0.0], np.eye(2))
    np.testing.assert_allclose(S_dot, 0.6 * np.eye(2))  # 2·VΣAΣ = 0.6 I
    law = gf.Gaussian([0.1, 0.0], np.eye(2))
    prop = gf.propagate(att, law, 3, 0.1)
    assert prop.cov.shape == (4, 2, 2)
    tex = gf.derive(att.closure.variant).latex()
    assert "keybias" in tex and r"\Gamma" in tex
    rep = gf.verify(att, law, [0.0, 0.3], n=2000, repeats=1, ns=[500, 2000])
    assert rep.bw[-1] < 0.2


def test_scores_outside_the_rules_raise_one_error() -> None:
    sq = gf.Variant.from_score("squared", score=(y.T * A * x) ** 2, value=V)
    with pytest.raises(NotImplementedError) as info:
        gf.derive(sq)
    err = info.value
    assert isinstance(err, RuleError)
    assert "completing the square" in err.rule and "y.T*A*x" in str(err.term)
    assert "ArrayContraction" not in str(err)
    cubic = gf.Variant.from_score("cubic", score=(y.T * A * x) * (y.T * y), value=V)
    with pytest.raises(RuleError, match="completing the square"):
        gf.derive(cubic)


def test_sigmoid_key_bias_certificate_by_quadrature() -> None:
    """d = 1, every parameter 1, x₀ = 0: ∂²Γ/∂x² = ∫ σ''(y) y³ dN(y; 1, 1)."""
    v = gf.Variant.from_score("sigkb", score=y.T * A * x + b.T * y, value=V, normalization="sigmoid")
    c = gf.derive(v)
    assert not c.preserves_gaussian

    def f(t: float) -> float:
        s = 1.0 / (1.0 + np.exp(-t))
        return s * (1 - s) * (1 - 2 * s) * t**3 * np.exp(-((t - 1.0) ** 2) / 2) / np.sqrt(2 * np.pi)

    want = quad(f, -40, 40, epsabs=1e-13, epsrel=1e-12)[0]
    assert abs(float(c.certificate.value) - want) < 1e-9
    assert abs(want) > 1e-2
