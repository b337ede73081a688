"""Tier 5: contracts every registered variant must satisfy, enrolled automatically.

A new module in ``gaussflow/variants`` is picked up by ``gf.variants()`` and runs through
all of these. Truths are structural (docs/math.md §1, §3):

* Σ̇ is symmetric to the last bit (generated as P + Pᵀ);
* Σ̇ = JΣ + ΣJᵀ with J = ∂Γ/∂x measured on ``velocity`` itself (central differences with
  step 1: exact for an affine Γ, so only O(ε) rounding);
* PSD and rank are preserved: the exact layer map (I + hJ)Σ(I + hJ)ᵀ agrees with Σ + hΣ̇ to
  O(h²), and at singular Σ the ker(Σ)×ker(Σ) block of Σ̇ vanishes (else Σ + hΣ̇ leaves the
  PSD cone at first order);
* rotation equivariance: in coordinates x' = Rx the parameters are QRᵀ, KRᵀ, R V Rᵀ,
  R W_ff Rᵀ, R b_ff (multi-head: V_h Rᵀ, R W_h) and the law is N(Rα, RΣRᵀ); then
  Γ'(Rx) = RΓ(x), α̇' = Rα̇, Σ̇' = RΣ̇Rᵀ.
Tolerances: 1e-10 relative to the largest entry (a handful of well-conditioned float64
operations; Sinkhorn's eigh square root is the least accurate step, still ~1e-14).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import Layer, layers, psd_singular, random_layer, rotations, spd_matrices, vectors

import gaussflow as gf

VARIANTS = gf.variants()
TOL = 1e-10


def closes(name: str) -> bool:
    return gf.derive(name).preserves_gaussian


def variant_layers(name: str, d: int) -> st.SearchStrategy[Layer]:
    return layers(name, d, heads=2) if name == "multihead" else layers(name, d)


def close(got: np.ndarray, ref: np.ndarray, tol: float = TOL) -> bool:
    scale = max(1.0, float(np.max(np.abs(ref))))
    return bool(np.all(np.isfinite(got)) and np.max(np.abs(got - ref)) <= tol * scale)


def fd_jacobian(att: gf.Attention, alpha: np.ndarray, Sigma: np.ndarray) -> np.ndarray:
    E = np.eye(att.d)
    return (att.velocity(alpha + E, alpha, Sigma) - att.velocity(alpha - E, alpha, Sigma)).T / 2.0


@pytest.mark.parametrize("name", VARIANTS)
def test_enrolled(name: str) -> None:
    """Closed variants give moment equations; the others must say why not (a checkable certificate),
    have no exact moment equations, and fall back to the Gaussian-projection closure (an approximation
    whose accuracy is tested in test_projection.py) with an exactly symmetric Σ̇."""
    c = gf.derive(name)
    if c.preserves_gaussian:
        assert c.mean_rhs is not None and c.cov_rhs is not None and c.jacobian is not None
        assert c.certificate is None
    else:
        assert c.certificate is not None and c.certificate.check()
        assert c.mean_rhs is None and c.cov_rhs is None
        _, S_dot = random_layer(name, 2, seed=0).attention().moment_rhs(np.zeros(2), np.eye(2))
        assert np.all(np.isfinite(S_dot)) and np.array_equal(S_dot, S_dot.T)


@pytest.mark.parametrize("name", VARIANTS)
@given(data=st.data())
def test_sigma_dot_symmetric_and_equal_to_J_Sigma(name: str, data: st.DataObject) -> None:
    if not closes(name):
        assert gf.derive(name).certificate is not None
        return
    d = data.draw(st.integers(1, 4), label="d")
    layer = data.draw(variant_layers(name, d), label="layer")
    alpha, Sigma = data.draw(vectors(d), label="alpha"), data.draw(spd_matrices(d), label="Sigma")
    att = layer.attention()
    _, S_dot = att.moment_rhs(alpha, Sigma)
    assert np.array_equal(S_dot, S_dot.T)
    J = fd_jacobian(att, alpha, Sigma)
    assert close(S_dot, J @ Sigma + Sigma @ J.T)


@pytest.mark.parametrize("name", VARIANTS)
@given(data=st.data())
def test_psd_preserved_over_a_short_step(name: str, data: st.DataObject) -> None:
    if not closes(name):
        assert gf.derive(name).certificate is not None
        return
    d = data.draw(st.integers(2, 4), label="d")
    layer = data.draw(variant_layers(name, d), label="layer")
    alpha, Sigma = data.draw(vectors(d), label="alpha"), data.draw(spd_matrices(d), label="Sigma")
    att = layer.attention()
    _, S_dot = att.moment_rhs(alpha, Sigma)
    J = fd_jacobian(att, alpha, Sigma)
    lam_min = float(np.linalg.eigvalsh(Sigma)[0])
    norm_dot = max(float(np.linalg.norm(S_dot, 2)), 1e-300)
    nJ = float(np.linalg.norm(J, 2))
    for h in (1e-2, 1e-3):
        # the exact discrete layer (docs/math.md §3), with J measured on the velocity
        F = np.eye(d) + h * J
        S_exact = F @ Sigma @ F.T
        assert np.linalg.eigvalsh(S_exact)[0] >= 0.0
        # ... agrees with Euler on Σ̇ up to its O(h²) term h² JΣJᵀ
        gap = S_exact - (Sigma + h * S_dot)
        assert np.max(np.abs(gap)) <= h * h * nJ**2 * float(np.linalg.norm(Sigma, 2)) * (1 + 1e-8) + 1e-12
    # Euler on Σ̇ stays PD for steps below λ_min(Σ)/‖Σ̇‖ (Weyl) — check at half that step
    h = 0.5 * lam_min / norm_dot
    assert np.linalg.eigvalsh(Sigma + h * S_dot)[0] > 0.0


@pytest.mark.parametrize("name", VARIANTS)
@given(data=st.data())
def test_rotation_equivariance(name: str, data: st.DataObject) -> None:
    d = data.draw(st.integers(1, 3), label="d")
    layer = data.draw(variant_layers(name, d), label="layer")
    alpha, Sigma = data.draw(vectors(d), label="alpha"), data.draw(spd_matrices(d), label="Sigma")
    R = data.draw(rotations(d), label="R")
    X = np.vstack([data.draw(vectors(d), label="x") for _ in range(3)])
    att, att_R = layer.attention(), layer.rotated(R).attention()
    aR, SR = R @ alpha, R @ Sigma @ R.T
    SR = 0.5 * (SR + SR.T)
    assert close(att_R.velocity(X @ R.T, aR, SR), att.velocity(X, alpha, Sigma) @ R.T)
    if att.preserves_gaussian:
        a_dot, S_dot = att.moment_rhs(alpha, Sigma)
        a_dot_R, S_dot_R = att_R.moment_rhs(aR, SR)
        assert close(a_dot_R, R @ a_dot)
        assert close(S_dot_R, R @ S_dot @ R.T)


@pytest.mark.parametrize("name", VARIANTS)
@given(data=st.data())
def test_singular_sigma(name: str, data: st.DataObject) -> None:
    """Rank-1 Σ = LLᵀ in d = 3 (docs/math.md §1: singular laws are allowed)."""
    d = 3
    layer = data.draw(variant_layers(name, d), label="layer")
    alpha = data.draw(vectors(d), label="alpha")
    Sigma = data.draw(psd_singular(d, 1), label="Sigma")
    lam, U = np.linalg.eigh(Sigma)
    L = U[:, -1:] * np.sqrt(lam[-1])  # Σ = LLᵀ
    ker = U[:, :-1]  # orthonormal basis of ker Σ
    att = layer.attention()
    X = alpha + np.array([[0.0, 0.0, 0.0], [0.5, -0.3, 0.8], [-1.0, 0.2, 0.4]])
    assert np.all(np.isfinite(att.velocity(X, alpha, Sigma)))
    if not att.preserves_gaussian:
        assert gf.derive(name).certificate is not None
        return
    a_dot, S_dot = att.moment_rhs(alpha, Sigma)
    assert np.all(np.isfinite(a_dot)) and np.all(np.isfinite(S_dot))
    assert np.array_equal(S_dot, S_dot.T)
    J = fd_jacobian(att, alpha, Sigma)
    # the factor form: Σ = LLᵀ evolves by L̇ = JL, so Σ̇ = J L Lᵀ + L Lᵀ Jᵀ
    assert close(S_dot, J @ L @ L.T + L @ L.T @ J.T)
    # rank preservation at first order: Σ̇ has no ker(Σ)×ker(Σ) block
    scale = max(1.0, float(np.max(np.abs(S_dot))))
    assert np.max(np.abs(ker.T @ S_dot @ ker)) <= TOL * scale
