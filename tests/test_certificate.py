"""Non-closure certificates: ∂²Γ/∂x² ≠ 0 in d = 1 for sigmoid and unnormalized attention.

Truth: the defining 1-D integral Γ(x) = ∫ φ(βQKxy [+ b]) V y dN(y; α, σ²) (φ = e^· or the
logistic σ, docs/math.md §2) by 120-point Gauss–Hermite quadrature (converged to ~1e-15 for these
entire / pole-free-near-the-axis integrands at O(1) parameters), differentiated by a
Richardson-extrapolated central difference
    D(h) = (Γ(x₀+h) − 2Γ(x₀) + Γ(x₀−h)) / h²,  D* = (4D(h/2) − D(h)) / 3,
whose truncation error is O(h⁴ Γ⁽⁶⁾) ≈ 1e-8 at h = 1e-2 and whose round-off is
≈ ε|Γ|/h² ≈ 1e-12. rtol 1e-5 leaves three orders of margin.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import expit

import gaussflow as gf

NON_CLOSED = ["sigmoid", "unnormalized"]
RTOL = 1e-5


def gamma_1d(name: str, x: float, p: dict[str, float], m: int = 120) -> float:
    z, w = hermegauss(m)
    w = w / np.sqrt(2 * np.pi)
    y = p["alpha"] + np.sqrt(p["sigma2"]) * z
    s = p["beta"] * (p["Q"] * x) * (p["K"] * y)
    if name == "unnormalized":
        kern = np.exp(s)
    elif name == "sigmoid":
        kern = expit(s + p["b"])
    elif name == "softmax":
        e = np.exp(s)
        return float(p["V"] * np.sum(w * e * y) / np.sum(w * e))
    else:  # pragma: no cover
        raise ValueError(name)
    return float(p["V"] * np.sum(w * kern * y))


def second_derivative_fd(name: str, x0: float, p: dict[str, float], h: float = 1e-2) -> float:
    def D(step: float) -> float:
        return (gamma_1d(name, x0 + step, p) - 2 * gamma_1d(name, x0, p) + gamma_1d(name, x0 - step, p)) / step**2

    return (4 * D(h / 2) - D(h)) / 3


def numeric_point(cert: gf.Certificate) -> dict[str, float]:
    """The certificate's point with the d = 1 variance under the name 'sigma2'."""
    p = {k: float(v) for k, v in cert.point.items()}
    p["sigma2"] = p.pop("Sigma")
    return p


@pytest.mark.parametrize("name", NON_CLOSED)
def test_non_closed_variants_carry_a_valid_certificate(name: str) -> None:
    c = gf.derive(name)
    assert c.preserves_gaussian is False
    assert c.certificate is not None
    assert c.certificate.check() is True
    assert c.mean_rhs is None and c.cov_rhs is None


@pytest.mark.parametrize("name", NON_CLOSED)
def test_certificate_point_is_the_documented_one(name: str) -> None:
    """All parameters 1, α = 1, σ² = 1 (and b = 1 for sigmoid)."""
    cert = gf.derive(name).certificate
    p = numeric_point(cert)
    x0 = p.pop("x")
    assert np.isfinite(x0)
    expected = {"alpha", "sigma2", "Q", "K", "V", "beta"} | ({"b"} if name == "sigmoid" else set())
    assert set(p) == expected
    assert all(v == 1.0 for v in p.values())


@pytest.mark.parametrize("name", NON_CLOSED)
def test_certificate_value_matches_finite_difference(name: str) -> None:
    cert = gf.derive(name).certificate
    p = numeric_point(cert)
    fd = second_derivative_fd(name, p["x"], p)
    value = float(cert.value)
    assert abs(value - fd) <= RTOL * abs(fd)
    # and it is a real certificate: nonzero far beyond the finite-difference error
    assert abs(fd) > 1e-3


SECOND_POINT = {"alpha": 0.4, "sigma2": 1.7, "Q": 0.7, "K": 1.3, "V": -0.8, "beta": 0.6, "b": -0.5}


@pytest.mark.parametrize("name", NON_CLOSED)
def test_symbolic_second_derivative_at_another_point(name: str) -> None:
    """``second_derivative`` is the general formula (x = x₀, every other scalar free): check it
    at a point where no parameter is 1."""
    cert = gf.derive(name).certificate
    x0 = float(cert.point["x"])
    names = {"Sigma": "sigma2"}
    values = {k: SECOND_POINT[names.get(k, k)] for k in cert.point if k != "x"}
    sub = {cert.symbols[k]: sp.Float(v, 30) for k, v in values.items()}
    expr = cert.second_derivative
    assert expr.free_symbols <= set(sub), expr.free_symbols - set(sub)
    got = float(sp.N(expr.xreplace(sub), 30))
    p = {names.get(k, k): v for k, v in values.items()}
    fd = second_derivative_fd(name, x0, p)
    assert abs(got - fd) <= RTOL * abs(fd)


def test_finite_difference_sees_affine_velocity_as_flat() -> None:
    """Control: the same machinery gives Γ'' ≈ 0 for softmax (affine on a Gaussian), so a
    nonzero value above is a property of the variant, not of the differencing."""
    p = dict(SECOND_POINT)
    fd_soft = second_derivative_fd("softmax", 0.3, p)
    fd_sig = second_derivative_fd("sigmoid", 0.3, p)
    assert abs(fd_soft) < 1e-7
    assert abs(fd_sig) > 1e-3


def test_odd_score_without_bias_is_certified_away_from_zero() -> None:
    """σ(yᵀAx) with no bias: ∂²Γ/∂x²(0) = 0 by symmetry, so the certificate must move to another point — and
    its value must be the true second derivative there (finite differences of 120-point Gauss–Hermite)."""
    from gaussflow.symbols import d, x, y

    A = sp.MatrixSymbol("A", d, d)
    V = sp.MatrixSymbol("V", d, d)
    v = gf.Variant.from_score("odd_sigmoid", score=y.T * A * x, value=V, normalization="sigmoid")
    cert = gf.derive(v).certificate
    x0 = cert.point["x"]
    assert x0 != 0.0 and "= 0 ≠ 0" not in cert.statement
    assert all(cert.point[k] == 1.0 for k in cert.point if k != "x")

    nodes, weights = hermegauss(120)  # ∫ f(y) N(y; 1, 1) dy = Σ w f(1 + node) / √(2π)
    yq = 1.0 + nodes

    def gamma(xv: float) -> float:
        return float(np.sum(weights * yq * expit(xv * yq)) / np.sqrt(2 * np.pi))

    h = 1e-3
    fd = (gamma(x0 + h) - 2 * gamma(x0) + gamma(x0 - h)) / h**2
    assert abs(float(cert.value) - fd) < 1e-5 * max(1.0, abs(fd))
    assert abs(fd) > 1e-3


def test_certificate_refuses_an_affine_field() -> None:
    """At a fixed point where ∂²Γ/∂x² = 0 the builder raises instead of stating '0 ≠ 0'."""
    from gaussflow.symbolic.certificate import nonclosure_certificate
    from gaussflow.symbols import d, x, y

    A = sp.MatrixSymbol("A", d, d)
    V = sp.MatrixSymbol("V", d, d)
    v = gf.Variant.from_score("odd_sigmoid0", score=y.T * A * x, value=V, normalization="sigmoid")
    with pytest.raises(RuntimeError, match="vanishes at every candidate point"):
        nonclosure_certificate(v, x0=0.0)
