"""The closed-form velocity Γ[N(α, Σ)](x) equals its defining integral (docs/math.md §2).

Truth: tensor Gauss–Hermite quadrature (``strategies.gauss_hermite``) of the *defining*
integrals, with the kernel written from docs/math.md §2 in NumPy (``strategies.Layer.score``):

* normalized heads:  E_h[y|x] = ∫ e^{s_h(x,y)} y dN / ∫ e^{s_h(x,y)} dN;
* unnormalized:      ∫ e^{s(x,y)} V y dN;
* sigmoid:           ∫ σ(s(x,y) + b) V y dN;
* Sinkhorn:          the entropic self-coupling of the quadrature measure Σ_j w_j δ_{y_j}
  (a discrete Sinkhorn problem with marginals w), extended off the nodes by its Schrödinger
  potential g: E[Y|X=x] = Σ_j w_j e^{g_j + s(x,y_j)} y_j / Σ_j w_j e^{g_j + s(x,y_j)}.

Tolerances. The integrands e^{yᵀu}·poly(y) and Gaussian·poly(y) are entire with Gaussian
decay, so m-point Gauss–Hermite converges super-geometrically; with |Lᵀu| ≲ 2 (moderate
parameters) 50 nodes per dimension reach round-off, and rtol 1e-8 leaves 6+ digits of
margin. σ(·) has poles at ±iπ, so its rule converges only geometrically and the generated
code itself integrates Λ_j with a 64-point rule: rtol 1e-6 there. The discrete Sinkhorn
problem on the nodes inherits the quadrature accuracy (its potentials are the continuous
quadratic ones up to quadrature error) and is iterated to marginal error < 1e-14.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logsumexp
from strategies import Layer, gauss_hermite, random_layer, random_spd

D = 2
M_NODES = 50
M_SINKHORN = 24
ALPHA = np.array([0.4, -0.3])
SIGMA = random_spd(D, seed=20, eps=0.3)
#: a few evaluation points, including α and points a few standard deviations out
POINTS = np.array([[0.0, 0.0], [0.4, -0.3], [1.2, 0.5], [-1.0, 1.3], [2.0, -1.5]])


def rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))


def normalized_mean(layer: Layer, i: int, X: np.ndarray, Y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """E_h[y | x] = ∫ e^{s} y dN / ∫ e^{s} dN by quadrature, stabilized by the row maximum."""
    logk = layer.score(i, X, Y) + np.log(w)[None, :]
    p = np.exp(logk - logsumexp(logk, axis=1, keepdims=True))
    return p @ Y


def sinkhorn_mean(layer: Layer, X: np.ndarray, Y: np.ndarray, w: np.ndarray, tol: float = 1e-14) -> np.ndarray:
    """E_π[Y | X = x] for the entropic self-coupling π of Σ_j w_j δ_{y_j}, kernel e^{s}.

    Log-domain Sinkhorn on the nodes: f_i = −log Σ_j w_j e^{g_j + s_ij}, g_j likewise, until
    the row marginals (columns are exact after each g-update) match w to ``tol``.
    """
    S = layer.score(0, Y, Y)  # S[i, j] = s(y_i, y_j): row = query token x, column = attended y
    lw = np.log(w)
    g = np.zeros_like(w)
    for _ in range(500):
        f = -logsumexp(S + (g + lw)[None, :], axis=1)
        g = -logsumexp(S + (f + lw)[:, None], axis=0)
        rows = np.exp(f + lw + logsumexp(S + (g + lw)[None, :], axis=1))
        if np.max(np.abs(rows - w)) < tol:
            break
    else:  # pragma: no cover
        raise AssertionError("Sinkhorn on the quadrature nodes did not converge")
    logk = layer.score(0, X, Y) + (g + lw)[None, :]
    p = np.exp(logk - logsumexp(logk, axis=1, keepdims=True))
    return p @ Y


def reference_velocity(layer: Layer, X: np.ndarray, alpha: np.ndarray, Sigma: np.ndarray,
                       m: int | None = None) -> np.ndarray:
    if m is None:  # the n² Sinkhorn iteration is the costly part; it is converged by m = 20
        m = M_SINKHORN if layer.name == "sinkhorn" else M_NODES
    Y, w = gauss_hermite(alpha, Sigma, m)
    if layer.name in ("softmax", "multihead", "l2"):
        return layer.addons(X, lambda i, Xq: normalized_mean(layer, i, Xq, Y, w))
    if layer.name == "sinkhorn":
        return layer.addons(X, lambda i, Xq: sinkhorn_mean(layer, Xq, Y, w))
    V = layer.value(0)
    if layer.name == "unnormalized":
        weights = np.exp(layer.score(0, X, Y)) * w
    elif layer.name == "sigmoid":
        weights = expit(layer.score(0, X, Y) + layer.b) * w
    else:  # pragma: no cover
        raise ValueError(layer.name)
    return (weights @ Y) @ V.T


CLOSED = [
    ("softmax", {}),
    ("softmax", {"residual": True}),
    ("softmax", {"feedforward": True}),
    ("softmax", {"residual": True, "feedforward": True}),
    ("multihead", {"heads": 2}),
    ("multihead", {"heads": 3, "k": 3, "d_v": 3, "residual": True, "feedforward": True}),
    ("l2", {}),
    ("l2", {"k": 3}),
    ("l2", {"residual": True, "feedforward": True}),
    ("sinkhorn", {}),
    ("sinkhorn", {"residual": True, "feedforward": True}),
]


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize(("name", "options"), CLOSED, ids=lambda v: v if isinstance(v, str) else
                         "-".join(f"{k}={w}" for k, w in v.items()) or "plain")
def test_closed_velocity_equals_quadrature(name: str, options: dict, seed: int) -> None:
    layer = random_layer(name, D, seed=seed, **options)
    got = layer.attention().velocity(POINTS, ALPHA, SIGMA)
    ref = reference_velocity(layer, POINTS, ALPHA, SIGMA)
    assert rel_err(got, ref) < 1e-8


def test_quadrature_reference_is_converged_and_discriminating() -> None:
    """The truth is converged (fewer nodes agree to round-off) and sensitive: a 10 %
    change of β moves the velocity far outside the tolerance."""
    for name, m_lo in (("softmax", 30), ("l2", 30), ("sinkhorn", 16)):
        layer = random_layer(name, D, seed=3)
        ref = reference_velocity(layer, POINTS, ALPHA, SIGMA)
        assert rel_err(reference_velocity(layer, POINTS, ALPHA, SIGMA, m=m_lo), ref) < 1e-11
    layer = random_layer("sinkhorn", D, seed=3)
    ref50 = reference_velocity(layer, POINTS, ALPHA, SIGMA)
    (h,) = layer.heads
    other = Layer("sinkhorn", (type(h)(h.Q, h.K, h.V, 1.1 * h.beta),))
    assert rel_err(other.attention().velocity(POINTS, ALPHA, SIGMA), ref50) > 1e-4


@pytest.mark.parametrize("seed", [1, 2])
def test_unnormalized_velocity_equals_quadrature(seed: int) -> None:
    layer = random_layer("unnormalized", D, seed=seed)
    got = layer.attention().velocity(POINTS, ALPHA, SIGMA)
    assert rel_err(got, reference_velocity(layer, POINTS, ALPHA, SIGMA)) < 1e-8


@pytest.mark.parametrize("seed", [1, 2])
def test_sigmoid_velocity_equals_quadrature(seed: int) -> None:
    layer = random_layer("sigmoid", D, seed=seed)
    got = layer.attention().velocity(POINTS, ALPHA, SIGMA)
    ref = reference_velocity(layer, POINTS, ALPHA, SIGMA, m=60)
    assert rel_err(ref, reference_velocity(layer, POINTS, ALPHA, SIGMA, m=40)) < 1e-9  # truth converged
    assert rel_err(got, ref) < 1e-6


# --------------------------------------------------------------------------- singular Σ

U = np.array([0.6, 0.8])
SIGMA_RANK1 = 1.3 * np.outer(U, U)  # rank 1, range = span(u)
#: on the support α + t u and off it (the closed forms extend Γ to all of ℝ^d)
POINTS_RANK1 = np.vstack([ALPHA + t * U for t in (-1.5, 0.0, 0.7, 2.0)] + [POINTS[[0, 3]]])


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("name", ["softmax", "sinkhorn"])
def test_singular_sigma_velocity_equals_1d_quadrature(name: str, seed: int) -> None:
    """N(α, σ²uuᵀ) is the law of α + σ z u, z ~ N(0, 1): ``gauss_hermite`` integrates over the
    range only (one 1-D rule). For Sinkhorn the reference is the coupling of the 1-D measure,
    extended off the line by its potential g (the only extension Γ has)."""
    layer = random_layer(name, D, seed=seed)
    Y, _ = gauss_hermite(ALPHA, SIGMA_RANK1, 8)
    assert Y.shape == (8, D)  # the rule really is one-dimensional
    got = layer.attention().velocity(POINTS_RANK1, ALPHA, SIGMA_RANK1)
    ref = reference_velocity(layer, POINTS_RANK1, ALPHA, SIGMA_RANK1, m=80)
    assert rel_err(got, ref) < 1e-8
