"""The recipes of docs/architecture.md, exercised so that they cannot go stale.

Each recipe adds a toy piece inside the test, through the documented extension point only, and runs it
through the pipeline; the values are checked against closed forms.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import sympy as sp

import gaussflow as gf
from gaussflow import closures
from gaussflow.symbols import d, x, y
from gaussflow.variants import REGISTRY, SUMMARIES, Head, Param, Variant


def _toy_build(*, residual: bool = False, feedforward: bool = False) -> Variant:
    """Recipe "add a variant": score s = yᵀAx − ½ yᵀBy (softmax), value V — data only."""
    A = sp.MatrixSymbol("A", d, d)
    B = sp.MatrixSymbol("B", d, d)
    V = sp.MatrixSymbol("V", d, d)
    params = (Param("A", ("d", "d"), "cross term"), Param("B", ("d", "d"), "curvature", symmetric=True),
              Param("V", ("d", "d"), "value matrix"))
    score = y.T * A * x - sp.Rational(1, 2) * y.T * B * y
    return Variant("toyquad", "softmax", (Head(score, V),), params, "toy quadratic score")


def test_recipe_add_a_variant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "toyquad", _toy_build)   # the registry line
    monkeypatch.setitem(SUMMARIES, "toyquad", "toy quadratic score")
    assert "toyquad" in gf.variants()
    c = gf.derive("toyquad")
    assert c.preserves_gaussian
    att = gf.attention("toyquad", A=np.eye(2), B=np.zeros((2, 2)), V=np.eye(2))   # B = 0: plain softmax
    traj = gf.solve(att, gf.Gaussian([0.0, 0.0], np.eye(2)), (0.0, 1.0))
    assert traj.status == "blowup" and abs(traj.t_blowup - 0.5) < 1e-8           # Σ = I/(1 − 2t)
    res = gf.solve_batch(att, np.stack([np.eye(2), 0.25 * np.eye(2)]), (0.0, 3.0))
    np.testing.assert_allclose(res.t_blowup, [0.5, 2.0], rtol=1e-6)
    # B = I: E[y|x] = (I + Σ)⁻¹(α + Σx); with Σ₀ = I, Σ̇ = 2Σ(I+Σ)⁻¹Σ → σ̇ = 2σ²/(1+σ)
    att_b = gf.attention("toyquad", A=np.eye(2), B=np.eye(2), V=np.eye(2))
    _, S_dot = att_b.moment_rhs(np.zeros(2), np.eye(2))
    np.testing.assert_allclose(S_dot, np.eye(2))
    pt = gf.simulate_particles(att_b, np.random.default_rng(1).standard_normal((400, 2)), [0.0, 0.1])
    assert pt.status == "ok"


class _Counting(closures.ExactAffine):
    """Recipe "add a closure kind": a kind (here the exact closure that counts its evaluations)."""

    name = "exact (counted)"
    calls = 0

    def rhs(self, attn: Any) -> closures.MomentRHS:
        inner = super().rhs(attn)

        def f(alpha: np.ndarray, Sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            type(self).calls += 1
            return inner(alpha, Sigma)

        return f


def test_recipe_add_a_closure_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(closures, "KINDS", [_Counting, *closures.KINDS])   # the registry line
    att = gf.attention("softmax", A=np.eye(2), V=np.eye(2))
    assert isinstance(att.kind, _Counting)
    traj = gf.solve(att, gf.Gaussian([0.0, 0.0], np.eye(2)), (0.0, 0.4))
    assert traj.solver["closure"] == "exact (counted)" and _Counting.calls > 0
    np.testing.assert_allclose(traj.cov[-1], np.eye(2) / (1 - 0.8), rtol=1e-8)
    n = _Counting.calls
    prop = gf.propagate(att, gf.Gaussian([0.0, 0.0], np.eye(2)), 2, 0.1)
    assert prop.cov.shape == (3, 2, 2)
    att.moment_rhs(np.zeros(2), np.eye(2))
    assert _Counting.calls > n


def test_kinds_are_chosen_from_the_closure_data() -> None:
    assert isinstance(closures.kind_of(gf.derive("l2")), closures.ExactAffine)
    k = closures.kind_of(gf.derive("sigmoid"))
    assert isinstance(k, closures.GaussianProjection) and not k.exact and not k.factor_form
    with pytest.raises(ValueError, match="no closure kind"):
        original = closures.KINDS
        try:
            closures.KINDS = []
            closures.kind_of(gf.derive("softmax"))
        finally:
            closures.KINDS = original


def test_recipe_add_a_normalization(monkeypatch: pytest.MonkeyPatch) -> None:
    """Recipe "add a normalization": a toy normalization (the softmax rule and particle kernel under a new
    name) registered by one line; a variant naming it runs through derive, solve, solve_batch and particles."""
    from gaussflow.kernels import NORMALIZATIONS, Normalization
    from gaussflow.kernels.softmax import NORMALIZATION as SOFTMAX

    toy = Normalization(name="toy", summary="toy copy of softmax", rule="exponential tilting",
                        expectation=SOFTMAX.expectation, phi=None, particle_kernel=SOFTMAX.particle_kernel)
    monkeypatch.setitem(NORMALIZATIONS, "toy", toy)   # the registry line
    A, V = sp.MatrixSymbol("A", d, d), sp.MatrixSymbol("V", d, d)
    v = gf.Variant.from_score("toynorm", score=y.T * A * x, value=V, normalization="toy")
    assert gf.derive(v).preserves_gaussian
    att = gf.attention(v, A=np.eye(2), V=np.eye(2))
    traj = gf.solve(att, gf.Gaussian([0.0, 0.0], np.eye(2)), (0.0, 1.0))
    assert traj.status == "blowup" and abs(traj.t_blowup - 0.5) < 1e-8
    res = gf.solve_batch(att, 0.5 * np.eye(2), (0.0, 2.0))
    assert abs(res.t_blowup[0] - 1.0) < 1e-6
    X = np.random.default_rng(2).standard_normal((300, 2))
    ref = gf.particle_velocity(gf.attention("softmax", A=np.eye(2), V=np.eye(2)), X)
    np.testing.assert_allclose(gf.particle_velocity(att, X), ref, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="normalization"):
        gf.Variant.from_score("bad", score=y.T * A * x, value=V, normalization="nope")
