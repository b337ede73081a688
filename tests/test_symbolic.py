"""Tier 1: the symbolic closures against independent truths.

* An unregistered score (completing-the-square case) derived by the generic engine, checked
  against the closed form of the tilted Gaussian and against quadrature of its integral.
* Registered closures against docs/math.md §3 formulas: entrywise polynomial identities expanded
  with ``sympy.expand`` at d = 2, and, where inverses/roots make that impractical, numeric
  evaluation with SymPy's own ``lambdify`` (not gaussflow's code printer) at random values.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from scipy.linalg import sqrtm
from scipy.special import logsumexp
from strategies import gauss_hermite, random_layer, random_spd

import gaussflow as gf
from gaussflow.symbolic.core import Sigma, alpha, d, d_v, k, x, y

DIMS = (d, k, d_v)


def expanded(c: gf.Closure, e: sp.Basic) -> sp.Basic:
    """The closure's expression with any named parameter products (A := βKᵀQ, ...) substituted
    back, so it is written in the variant's own parameters."""
    return c.expand(e) if hasattr(c, "expand") else e


def at_dim(e: sp.Basic, n: int, kdim: int | None = None) -> sp.Basic:
    return e.subs({d: n, d_v: n, k: n if kdim is None else kdim})


def entrywise(e: sp.Basic, n: int) -> sp.Matrix:
    """Explicit SymPy matrix of a polynomial matrix expression at dimension n (entries Q[i, j])."""
    return sp.Matrix(at_dim(e, n).as_explicit()).applyfunc(sp.expand)


def lambdified(e: sp.Basic, values: dict[str, np.ndarray | float], n: int, kdim: int | None = None) -> np.ndarray:
    """Evaluate a matrix expression with SymPy's NumPy printer (independent of gaussflow.codegen)."""
    e = at_dim(e, n, kdim)
    syms = sorted(e.free_symbols - set(DIMS), key=str)
    f = sp.lambdify(syms, e, modules="numpy")
    args = [np.asarray(values[s.name], dtype=float).reshape(s.shape) if hasattr(s, "shape") else values[s.name]
            for s in syms]
    return np.asarray(f(*args), dtype=float)


def rel(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(got - ref)) / max(np.max(np.abs(ref)), 1e-300))


# --------------------------------------------------------------------------- (a) custom score

A_P = gf.Param("A", ("d", "d"), "cross term")
B_P = gf.Param("B", ("d", "d"), "curvature in y (symmetric PSD)", symmetric=True)
V_P = gf.Param("V", ("d", "d"), "value matrix")


def custom_variant() -> gf.Variant:
    A, B, V = A_P.symbol, B_P.symbol, V_P.symbol
    score = (y.T * A * x) - sp.Rational(1, 2) * (y.T * B * y)
    return gf.Variant(name="custom", normalization="softmax", heads=(gf.Head(score, V),), params=(A_P, B_P, V_P))


def custom_values(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    G = rng.uniform(-1, 1, (n, n))
    return {
        "A": rng.uniform(-1, 1, (n, n)),
        "B": 0.5 * G @ G.T,  # PSD, so Σ⁻¹ + B ≻ 0 and the tilted law is a proper Gaussian
        "V": rng.uniform(-1, 1, (n, n)),
        "alpha": rng.uniform(-1, 1, n),
        "Sigma": random_spd(n, seed + 1),
    }


def custom_truth(v: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Completing the square: precision Σ⁻¹ + B, mean (Σ⁻¹ + B)⁻¹(Σ⁻¹α + Ax), so
    Γ(x) = V(I + ΣB)⁻¹(α + ΣAx), J = V(I + ΣB)⁻¹ΣA."""
    n = len(v["alpha"])
    N = np.linalg.inv(np.eye(n) + v["Sigma"] @ v["B"])
    J = v["V"] @ N @ v["Sigma"] @ v["A"]
    return J, v["V"] @ N @ v["alpha"]  # Γ(x) = Jx + (the second term)


def test_custom_score_closes() -> None:
    c = gf.derive(custom_variant())
    assert c.preserves_gaussian is True
    assert c.certificate is None
    assert not c.jacobian.has(x)


@pytest.mark.parametrize("n", [2, 3])
def test_custom_score_jacobian_matches_completing_the_square(n: int) -> None:
    c = gf.derive(custom_variant())
    v = custom_values(n, seed=10 + n)
    J, g0 = custom_truth(v)
    a, S = v["alpha"], v["Sigma"]

    ref = c.explicit(n).evaluate(v)
    assert rel(ref["jacobian"], J) < 1e-12
    assert rel(ref["mean_rhs"][:, 0], J @ a + g0) < 1e-12

    assert rel(lambdified(expanded(c, c.jacobian), v, n), J) < 1e-12

    cc = c.compile()
    prepared = cc.prepare(A=v["A"], B=v["B"], V=v["V"])
    a_dot, S_dot = cc.moments(a[:, None], S, *prepared)
    assert rel(np.asarray(a_dot).ravel(), J @ a + g0) < 1e-12
    assert rel(S_dot, J @ S + S @ J.T) < 1e-12


def test_custom_score_velocity_matches_quadrature() -> None:
    """Γ(x) = ∫ e^{s(x,y)} V y dN / ∫ e^{s(x,y)} dN, s = yᵀAx − ½yᵀBy, by 50² Gauss–Hermite
    nodes (entire Gaussian-type integrand: converged to round-off, rtol 1e-8)."""
    n = 2
    c = gf.derive(custom_variant())
    v = custom_values(n, seed=4)
    X = np.array([[0.0, 0.0], [0.7, -0.2], [-1.1, 1.4], [1.5, 1.0]])
    Y, w = gauss_hermite(v["alpha"], v["Sigma"], 50)
    s = X @ v["A"].T @ Y.T - 0.5 * np.einsum("mi,ij,mj->m", Y, v["B"], Y)[None, :]
    logk = s + np.log(w)[None, :]
    p = np.exp(logk - logsumexp(logk, axis=1, keepdims=True))
    ref = p @ Y @ v["V"].T

    cc = c.compile()
    prepared = cc.prepare(A=v["A"], B=v["B"], V=v["V"])
    got = np.asarray(cc.velocity(X.T, v["alpha"][:, None], v["Sigma"], *prepared)).T
    assert rel(got, ref) < 1e-8
    J, g0 = custom_truth(v)
    assert rel(ref, X @ J.T + g0) < 1e-8  # the quadrature agrees with the closed form too


# --------------------------------------------------------------------------- (b) registered closures

Q2, K2, V2 = sp.MatrixSymbol("Q", k, d), sp.MatrixSymbol("K", k, d), sp.MatrixSymbol("V", d, d)
BETA = sp.Symbol("beta", positive=True)


def test_softmax_jacobian_is_beta_V_Sigma_Kt_Q() -> None:
    c = gf.derive("softmax")
    diff = expanded(c, c.jacobian) - BETA * V2 * Sigma * K2.T * Q2
    assert entrywise(diff, 2) == sp.zeros(2, 2)
    # docs/math.md §3: α̇ = V(α + ΣAα)
    mean_diff = expanded(c, c.mean_rhs) - V2 * (alpha + BETA * Sigma * K2.T * Q2 * alpha)
    assert entrywise(mean_diff, 2) == sp.zeros(2, 1)
    # Σ̇ = VΣAΣ + ΣAᵀΣVᵀ, Σ symmetric: compare with Σ's entries tied (Σ_10 = Σ_01)
    Amat = BETA * K2.T * Q2
    cov_diff = expanded(c, c.cov_rhs) - (V2 * Sigma * Amat * Sigma + Sigma * Amat.T * Sigma * V2.T)
    m = entrywise(cov_diff, 2)
    S = sp.MatrixSymbol("Sigma", 2, 2)
    tie = {S[1, 0]: S[0, 1]}
    assert m.xreplace(tie).applyfunc(sp.expand) == sp.zeros(2, 2)


def test_softmax_residual_feedforward_jacobian() -> None:
    """docs/math.md §3: residual gives V(ΣA − I), feed-forward adds W_ff."""
    c = gf.derive("softmax", residual=True, feedforward=True)
    W = sp.MatrixSymbol("W_ff", d, d)
    ref = V2 * (BETA * Sigma * K2.T * Q2 - sp.Identity(d)) + W
    assert entrywise(expanded(c, c.jacobian) - ref, 2) == sp.zeros(2, 2)


def test_sinkhorn_mean_rhs_is_V_alpha() -> None:
    c = gf.derive("sinkhorn")
    diff = expanded(c, c.mean_rhs) - V2 * alpha
    assert entrywise(diff, 2) == sp.zeros(2, 1)


def test_sinkhorn_jacobian_matches_math_formula() -> None:
    """docs/math.md §3: JΣ = V(MΣ), MΣ = 2ΣAΣ^{1/2}(I + R)⁻¹Σ^{1/2}, R = (I + 4Σ^{1/2}AᵀΣAΣ^{1/2})^{1/2}.
    gaussflow writes M with AΣAᵀ inside the root instead (push-through identity); numeric
    comparison with SciPy's ``sqrtm``."""
    for seed in (1, 2, 3):
        layer = random_layer("sinkhorn", 3, seed=seed)
        Sg = random_spd(3, seed + 10)
        A = layer.cross(0)
        h = np.real(sqrtm(Sg))
        R = np.real(sqrtm(np.eye(3) + 4 * h @ A.T @ Sg @ A @ h))
        MS = 2 * Sg @ A @ h @ np.linalg.inv(np.eye(3) + R) @ h
        J = layer.attention().jacobian(np.zeros(3), Sg)
        assert rel(J @ Sg, layer.heads[0].V @ MS) < 1e-12


@pytest.mark.parametrize("kdim", [2, 3])
def test_l2_jacobian_matches_math_formula(kdim: int) -> None:
    """docs/math.md §3: J = βVΣ(I + βKᵀKΣ)⁻¹KᵀQ, evaluated from the SymPy closure by ``lambdify`` at
    random values (d = 2, k = 2 and k = 3)."""
    c = gf.derive("l2")
    J_expr = expanded(c, c.jacobian)
    rng = np.random.default_rng(kdim)
    for _ in range(3):
        vals = {"Q": rng.uniform(-1, 1, (kdim, 2)), "K": rng.uniform(-1, 1, (kdim, 2)),
                "V": rng.uniform(-1, 1, (2, 2)), "beta": float(rng.uniform(0.1, 1)),
                "Sigma": random_spd(2, int(rng.integers(1000)))}
        Q, K, V, b, S = (vals[n] for n in ("Q", "K", "V", "beta", "Sigma"))
        ref = b * V @ S @ np.linalg.inv(np.eye(2) + b * K.T @ K @ S) @ K.T @ Q
        assert rel(lambdified(J_expr, vals, 2, kdim), ref) < 1e-12


# --------------------------------------------------------------------------- (c) many heads


def test_multihead_with_12_heads_sums_12_heads() -> None:
    H = 12
    c = gf.derive("multihead", heads=H)
    assert c.preserves_gaussian
    mean = expanded(c, c.mean_rhs)
    assert isinstance(mean, sp.MatAdd) and len(mean.args) == H
    names = [{s.name for s in term.free_symbols} for term in mean.args]
    for h in range(1, H + 1):
        owners = [i for i, ns in enumerate(names) if f"Q_{h}" in ns]
        assert len(owners) == 1  # head h appears in exactly one term
        assert {f"K_{h}", f"V_{h}", f"W_{h}", f"beta_{h}"} <= names[owners[0]]
    # numerically: Σ_h W_hV_h(α + β_hΣK_hᵀQ_hα) at d = 2
    layer = random_layer("multihead", 2, seed=5, heads=H)
    a, S = np.array([0.3, -0.6]), random_spd(2, seed=6)
    vals = {**layer.symbols(), "alpha": a, "Sigma": S}
    ref = sum(layer.value(i) @ (a + S @ layer.cross(i) @ a) for i in range(H))
    assert rel(lambdified(mean, vals, 2).ravel(), ref) < 1e-12
    assert rel(layer.attention().moment_rhs(a, S)[0], ref) < 1e-12


# --------------------------------------------------------------------------- (d) steps


@pytest.mark.parametrize("name", gf.variants())
def test_steps_are_recorded(name: str) -> None:
    c = gf.derive(name)
    assert len(c.steps) > 0
    labels = [s.label for s in c.steps]
    assert all(isinstance(s.latex, str) and s.latex for s in c.steps)
    if c.preserves_gaussian:
        assert "Velocity" in labels and "Moment equations" in labels
        assert labels.index("Velocity") < labels.index("Moment equations")
    else:
        assert "Non-closure certificate" in labels


def test_custom_variant_steps() -> None:
    labels = [s.label for s in gf.derive(custom_variant()).steps]
    assert "Velocity" in labels and "Moment equations" in labels
