"""Tier 2: the generated NumPy RHS equals the SymPy closure evaluated entrywise.

Truth: ``Closure.explicit(d).evaluate`` — the same index-free SymPy expressions expanded to
entries for a concrete d and evaluated at 40 significant digits with mpmath (inverses and
square roots computed by ``mpmath.inverse`` / ``mpmath.sqrtm``). The generated code uses
float64 matrix products, solves and ``eigh`` square roots, so the two share nothing but
the symbolic expression. Tolerance: rtol 1e-12 relative to the largest entry — float64
round-off of O(10) operations on well-conditioned O(1) data (Σ = LLᵀ + εI, ε ≥ 0.1).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import Layer, layers, random_layer, random_spd, spd_matrices, vectors

import gaussflow as gf

RTOL = 1e-12

#: (name, options) of the closed forms whose generated code is checked
CASES = [
    ("softmax", {}),
    ("multihead", {"heads": 2}),
    ("multihead", {"heads": 3}),
    ("l2", {}),
    ("sinkhorn", {}),
    ("softmax", {"residual": True}),
    ("softmax", {"feedforward": True}),
    ("multihead", {"heads": 2, "residual": True, "feedforward": True}),
    ("l2", {"residual": True, "feedforward": True}),
    ("sinkhorn", {"residual": True}),
    ("sinkhorn", {"residual": True, "feedforward": True}),
]

#: the 40-digit entrywise evaluation grows steeply with d (≈ 1–2 s per example for Sinkhorn
#: and multi-head at d = 4), so the share of the profile's ``max_examples`` shrinks with d
BUDGET = {1: 0.5, 2: 0.5, 3: 0.3, 4: 0.2}


def _examples(d: int) -> int:
    return max(2, int(settings.default.max_examples * BUDGET[d]))


def assert_close(got: np.ndarray, ref: np.ndarray, rtol: float = RTOL, what: str = "") -> None:
    """|got − ref| ≤ rtol · max(max|ref|, 1). The floor 1 is the size of the inputs (entries
    in [−1, 1]): when terms of that size cancel (e.g. −Vα + W_ffα + ... ≈ 0) the result keeps
    an absolute rounding error of the terms', not of the result's, size."""
    got, ref = np.asarray(got, dtype=float), np.asarray(ref, dtype=float)
    assert got.shape == ref.shape, (what, got.shape, ref.shape)
    scale = max(float(np.max(np.abs(ref))), 1.0) if ref.size else 0.0
    err = float(np.max(np.abs(got - ref))) if ref.size else 0.0
    assert err <= rtol * scale, f"{what}: max error {err:.3e} > {rtol:g} × {scale:.3e}"


_EXPLICIT: dict[tuple, gf.ExplicitForm] = {}


def explicit_form(layer: Layer) -> gf.ExplicitForm:
    """``closure.explicit(d)``, built once per (variant, options, d) for all examples."""
    key = (layer.name, layer.residual, layer.feedforward, len(layer.heads), layer.d)
    if key not in _EXPLICIT:
        _EXPLICIT[key] = layer.closure().explicit(layer.d)
    return _EXPLICIT[key]


def check_against_sympy(layer: Layer, alpha: np.ndarray, Sigma: np.ndarray) -> None:
    att = layer.attention()
    ref = explicit_form(layer).evaluate({**layer.symbols(), "alpha": alpha, "Sigma": Sigma})
    a_dot, S_dot = att.moment_rhs(alpha, Sigma)
    assert_close(a_dot, ref["mean_rhs"][:, 0], what="alpha_dot")
    assert_close(S_dot, ref["cov_rhs"], what="Sigma_dot")
    assert_close(att.jacobian(alpha, Sigma), ref["jacobian"], what="J")


@pytest.mark.parametrize("d", [1, 2, 3, 4])
@pytest.mark.parametrize(("name", "options"), CASES, ids=lambda v: str(v) if isinstance(v, str) else
                         "-".join(f"{k}={w}" for k, w in v.items()) or "plain")
def test_generated_rhs_equals_sympy(name: str, options: dict, d: int) -> None:
    if d == 4 and (options.get("residual") or options.get("feedforward") or options.get("heads", 2) > 2):
        pytest.skip("d = 4 only for the plain forms: the add-ons are affine terms covered at d ≤ 3")

    @settings(max_examples=_examples(d))
    @given(layer=layers(name, d, **options), alpha=vectors(d), Sigma=spd_matrices(d))
    def run(layer: Layer, alpha: np.ndarray, Sigma: np.ndarray) -> None:
        check_against_sympy(layer, alpha, Sigma)

    run()


def test_multihead_with_wide_value_space() -> None:
    """Multi-head with k ≠ d and d_v ≠ d (``explicit(d)`` fixes k = d_v = d, so the truth here is
    docs/math.md §3's table): J = Σ_h C_h Σ A_h, α̇ = Σ_h C_h(α + ΣA_h α), C_h = W_h V_h, A_h = β_h K_hᵀQ_h."""
    d = 3
    layer = random_layer("multihead", d, seed=11, heads=3, k=2, d_v=4)
    alpha, Sigma = np.array([0.3, -0.7, 0.2]), random_spd(d, seed=12)
    J = sum(layer.value(i) @ Sigma @ layer.cross(i) for i in range(3))
    a_ref = sum(layer.value(i) @ (alpha + Sigma @ layer.cross(i) @ alpha) for i in range(3))
    a_dot, S_dot = layer.attention().moment_rhs(alpha, Sigma)
    assert_close(a_dot, a_ref, what="alpha_dot")
    assert_close(S_dot, J @ Sigma + Sigma @ J.T, what="Sigma_dot")


@pytest.mark.parametrize("d", [2, 3])
def test_sinkhorn_residual_mean_rhs_has_shape_d(d: int) -> None:
    layer = random_layer("sinkhorn", d, seed=d, residual=True)
    alpha, Sigma = np.linspace(-0.5, 0.5, d), random_spd(d, seed=1)
    a_dot, _ = layer.attention().moment_rhs(alpha, Sigma)
    # Sinkhorn: E_π[Y | X = α] = α exactly (docs/math.md §3), so the residual mean velocity vanishes
    assert a_dot.shape == (d,)
    assert np.max(np.abs(a_dot)) < 1e-14
    check_against_sympy(layer, alpha, Sigma)


# --------------------------------------------------------------------------- consistency


@pytest.mark.parametrize(("name", "options"), CASES[:5] + CASES[7:8] + CASES[-1:])
@given(data=st.data())
def test_mean_rhs_is_velocity_at_alpha_and_cov_rhs_is_J_Sigma(name: str, options: dict, data) -> None:
    """α̇ = Γ(α); J from finite differences of ``velocity`` (exact for affine Γ at any step,
    here h = 1 so there is no truncation and O(ε) rounding); Σ̇ = JΣ + ΣJᵀ."""
    d = data.draw(st.integers(1, 4), label="d")
    layer = data.draw(layers(name, d, **options), label="layer")
    alpha = data.draw(vectors(d), label="alpha")
    Sigma = data.draw(spd_matrices(d), label="Sigma")
    att = layer.attention()
    a_dot, S_dot = att.moment_rhs(alpha, Sigma)
    v_alpha = att.velocity(alpha, alpha, Sigma)
    scale = max(1.0, float(np.max(np.abs(a_dot))))
    assert np.max(np.abs(a_dot - v_alpha)) <= 1e-12 * scale

    E = np.eye(d)
    J_fd = (att.velocity(alpha + E, alpha, Sigma) - att.velocity(alpha - E, alpha, Sigma)).T / 2.0
    J = att.jacobian(alpha, Sigma)
    assert np.max(np.abs(J - J_fd)) <= 1e-11 * max(1.0, float(np.max(np.abs(J))))
    P = J @ Sigma
    assert np.max(np.abs(S_dot - (P + P.T))) <= 1e-12 * max(1.0, float(np.max(np.abs(P))))


@pytest.mark.parametrize("name", ["softmax", "sinkhorn", "sigmoid", "unnormalized"])
def test_A_shortcut_equals_full_parameters(name: str) -> None:
    """``A`` = βKᵀQ (Q = A, K = I, β = 1): every quantity depends on Q, K, β only via A."""
    d = 3
    layer = random_layer(name, d, seed=3)
    kw = {k: v for k, v in layer.kwargs().items() if k not in ("Q", "K", "beta")}
    short = gf.attention(name, A=layer.cross(0), **kw)
    alpha, Sigma = np.array([0.2, -0.4, 0.9]), random_spd(d, seed=4)
    X = np.random.default_rng(5).uniform(-1, 1, (6, d))
    full = layer.attention()
    assert_close(short.velocity(X, alpha, Sigma), full.velocity(X, alpha, Sigma), rtol=1e-12)
    if full.preserves_gaussian:
        for got, ref in zip(short.moment_rhs(alpha, Sigma), full.moment_rhs(alpha, Sigma), strict=True):
            assert_close(got, ref, rtol=1e-12)


def test_multihead_shortcuts_equal_full_parameters() -> None:
    d = 2
    layer = random_layer("multihead", d, seed=8, heads=3)
    A = np.stack([layer.cross(i) for i in range(3)])
    C = np.stack([layer.value(i) for i in range(3)])
    alpha, Sigma = np.array([0.5, -0.1]), random_spd(d, seed=9)
    full = layer.attention().moment_rhs(alpha, Sigma)
    short = gf.attention("multihead", A=A, C=C).moment_rhs(alpha, Sigma)
    for got, ref in zip(short, full, strict=True):
        assert_close(got, ref, rtol=1e-12)
