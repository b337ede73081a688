"""Gaussian-projection closure (gaussflow.projection).

Truths used (independent of the module under test):
* Gaussian moments E[z^k] = (k − 1)!! for the cubature rules;
* the closed moment equations ``Attention.moment_rhs`` for closing variants (affine Γ);
* mpmath quadrature (d = 1) and Monte Carlo / explicit 1-D Gauss–Hermite for sigmoid;
* SymPy ``integrate`` (d = 1) and a Gauss–Hermite sum written here (d = 2) for the
  exp-quadratic rule; scalar formulas of Γ typed from docs/math.md §3 for ``unnormalized``.
"""

from __future__ import annotations

import itertools
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from numpy.polynomial.hermite_e import hermegauss

import gaussflow as gf
from gaussflow.projection import (
    RULES,
    ProjectionDivergence,
    ProjectionInfo,
    cubature_rule,
    divergence_margin,
    projection_closure,
    projection_rhs,
    unnormalized_projection_rhs,
)
from gaussflow.symbolic.projection import derive_exp_quadratic_rule, projection_steps

RNG_SEED = 20240611


def _gauss_moment(k: int) -> int:
    return 0 if k % 2 else math.prod(range(k - 1, 0, -2))


def _spd(rng: np.random.Generator, d: int, eps: float = 0.1) -> np.ndarray:
    L = rng.standard_normal((d, d))
    return L @ L.T / d + eps * np.eye(d)


# --------------------------------------------------------------------------- cubature rules


@pytest.mark.parametrize(
    ("rule", "d", "degree"),
    [("tensor", 1, 9), ("tensor", 2, 7), ("tensor", 3, 5), ("smolyak", 2, 7), ("smolyak", 4, 5),
     ("smolyak", 5, 7), ("unscented", 2, 3), ("unscented", 5, 3), ("symmetric5", 3, 5), ("symmetric5", 9, 5)],
)
def test_rules_integrate_polynomials_exactly(rule: str, d: int, degree: int) -> None:
    Z, W, achieved = cubature_rule(d, rule, degree)
    assert achieved >= degree
    dims = min(d, 3)  # monomials in the first three coordinates (all rules are symmetric in the axes)
    fails_above = False
    for ks in itertools.product(range(achieved + 2), repeat=dims):
        total = sum(ks)
        val = float(W @ np.prod(Z[:, :dims] ** np.array(ks), axis=1))
        exact = math.prod(_gauss_moment(k) for k in ks)
        if total <= achieved:
            assert val == pytest.approx(exact, abs=1e-10 * max(1, exact))
        elif total == achieved + 1 and abs(val - exact) > 1e-8:
            fails_above = True
    assert fails_above, "the stated degree should be sharp"


def test_rule_validation() -> None:
    with pytest.raises(ValueError, match="rule"):
        cubature_rule(2, "simpson")
    with pytest.raises(ValueError, match="degree"):
        cubature_rule(2, "tensor", 0)
    with pytest.raises(ValueError, match="degree"):
        cubature_rule(2, "unscented", 5)
    with pytest.raises(ValueError, match="`d`"):
        cubature_rule(0)
    assert set(RULES) == {"tensor", "smolyak", "unscented", "symmetric5"}


# --------------------------------------------------------------------------- exact for closing variants


def _closing(name: str, d: int, rng: np.random.Generator) -> gf.Attention:
    A = rng.standard_normal((d, d)) / np.sqrt(d)
    V = rng.standard_normal((d, d)) / np.sqrt(d)
    if name == "l2":
        return gf.attention("l2", Q=A, K=rng.standard_normal((d, d)) / np.sqrt(d), V=V, beta=0.7)
    if name == "multihead":
        return gf.attention("multihead", A=np.stack([A, A.T]), C=np.stack([V, -V.T]))
    return gf.attention(name, A=A, V=V)


@pytest.mark.parametrize("name", ["softmax", "l2", "sinkhorn", "multihead"])
@pytest.mark.parametrize("rule", ["auto", "tensor", "smolyak", "unscented", "symmetric5"])
def test_cubature_equals_closed_moments_for_affine_velocities(name: str, rule: str) -> None:
    rng = np.random.default_rng(RNG_SEED)
    for d in (2, 3):
        attn = _closing(name, d, rng)
        deg = {"tensor": 3, "smolyak": 3, "unscented": 3, "symmetric5": 5, "auto": None}[rule]
        rhs = projection_rhs(attn, rule=rule, degree=deg)
        assert rhs.info.exact
        for singular in (False, True):
            a = rng.standard_normal(d)
            S = _spd(rng, d)
            if singular:  # rank one
                u = rng.standard_normal(d)
                S = 0.8 * np.outer(u, u) / (u @ u)
            m_ref, S_ref = attn.moment_rhs(a, S)
            m, Sd = rhs(a, S)
            scale = 1 + np.abs(S_ref).max()
            assert np.abs(m - m_ref).max() <= 1e-12 * (1 + np.abs(m_ref).max())
            assert np.abs(Sd - S_ref).max() <= 1e-12 * scale
            assert np.array_equal(Sd, Sd.T)


# --------------------------------------------------------------------------- sigmoid

# (a, v, b, alpha, sigma²) and the projected moments by nested mpmath quadrature with the exact
# logistic (dps 20, ~3 min), so not recomputed here:
#   gam(x) = quad(lambda y: v*y/(1+exp(-(a*x*y+b)))*npdf(y, al, sqrt(s2)), [-inf, al, inf])
#   m = quad(lambda x: gam(x)*npdf(x, al, sqrt(s2)), [-inf, al, inf])
#   c = quad(lambda x: 2*(x-al)*gam(x)*npdf(x, al, sqrt(s2)), [-inf, al, inf])
SIGMOID_1D = (1.3, 0.8, 0.3, 0.4, 0.6)
SIGMOID_1D_REF = (0.23436326362941361112, 0.16059523221309726405)


def test_sigmoid_d1_converges_to_mpmath_reference() -> None:
    a, v, b, al, s2 = SIGMOID_1D
    attn = gf.attention("sigmoid", A=[[a]], V=[[v]], b=b)
    m_ref, c_ref = SIGMOID_1D_REF
    errs = []
    for deg in (3, 9, 19, None):
        rhs = projection_rhs(attn, degree=deg)
        m, S = rhs(np.array([al]), np.array([[s2]]))
        errs.append(max(abs(m[0] - m_ref), abs(S[0, 0] - c_ref)))
    assert errs[0] > errs[1] > errs[2] > errs[3]
    assert errs[3] < 1e-7  # default degree 79 (measured 5e-8)
    assert errs[0] > 1e-3  # the test can fail: degree 3 is visibly wrong


def test_sigmoid_d1_velocity_quadrature_matches_mpmath_pointwise() -> None:
    """The integrand itself (Γ via 64-point Gauss–Hermite in the closure) against mpmath."""
    a, v, b, al, s2 = SIGMOID_1D
    attn = gf.attention("sigmoid", A=[[a]], V=[[v]], b=b)
    xs = np.array([-2.0, -0.3, 0.0, 0.7, 2.5])
    got = attn.velocity(xs[:, None], [al], [[s2]])[:, 0]
    for x, g in zip(xs, got, strict=True):
        ref = mpmath.quad(lambda y, x=x: v * y / (1 + mpmath.exp(-(a * x * y + b))) * mpmath.npdf(y, al, math.sqrt(s2)),
                          [-mpmath.inf, al, mpmath.inf])
        assert g == pytest.approx(float(ref), abs=1e-6)  # measured 6.4e-8 at x = 2.5 (64-point rule in Λ_j)


def _sigmoid_2d() -> tuple[gf.Attention, np.ndarray, np.ndarray]:
    A = np.array([[0.9, -0.4], [0.3, 0.7]])
    V = np.array([[0.5, 0.2], [-0.3, 0.8]])
    return gf.attention("sigmoid", A=A, V=V, b=-0.2), np.array([0.3, -0.5]), np.array([[0.6, 0.15], [0.15, 0.4]])


def test_sigmoid_d2_fine_rule_matches_monte_carlo() -> None:
    attn, a, S = _sigmoid_2d()
    m_fine, S_fine = projection_rhs(attn, rule="tensor", degree=119)(a, S)
    rng = np.random.default_rng(RNG_SEED)
    X = rng.multivariate_normal(a, S, size=200_000)
    G = attn.velocity(X, a, S)
    D = X - a
    outer = D[:, :, None] * G[:, None, :] + G[:, :, None] * D[:, None, :]
    samples = np.concatenate([G, outer.reshape(len(X), -1)], 1)
    mc, se = samples.mean(0), samples.std(0) / np.sqrt(len(X))
    fine = np.concatenate([m_fine, S_fine.ravel()])
    assert np.all(np.abs(fine - mc) < 5 * se)  # 5 standard errors, seeded


def test_sigmoid_d2_converges_with_degree() -> None:
    attn, a, S = _sigmoid_2d()
    m_fine, S_fine = projection_rhs(attn, rule="tensor", degree=119)(a, S)

    def err(**kw: object) -> float:
        m, Sd = projection_rhs(attn, **kw)(a, S)
        return max(np.abs(m - m_fine).max(), np.abs(Sd - S_fine).max())

    e = [err(rule="tensor", degree=k) for k in (3, 9, 19)] + [err()]
    assert e[0] > e[1] > e[2] > e[3]
    assert e[3] < 1e-7  # default degree 47 (measured 7.4e-9; floor: Γ's own 64-point rule)
    assert err(rule="unscented") < 5e-2 and err(rule="symmetric5") < 5e-2


def test_sigmoid_singular_sigma_reduces_to_one_dimension() -> None:
    attn, a, _ = _sigmoid_2d()
    u = np.array([0.6, 0.8])
    s = 0.7
    S = s**2 * np.outer(u, u)
    m, Sd = projection_rhs(attn)(a, S)
    z, w = hermegauss(80)
    w = w / np.sqrt(2 * np.pi)
    X = a + s * z[:, None] * u
    G = attn.velocity(X, a, S)
    m_ref = w @ G
    P = s * (u[:, None] * ((w * z) @ G)[None, :])
    assert np.abs(m - m_ref).max() < 1e-12
    assert np.abs(Sd - (P + P.T)).max() < 1e-12
    assert np.linalg.matrix_rank(Sd, tol=1e-10) <= 2


# --------------------------------------------------------------------------- exp-quadratic rule


def _explicit(e: sp.Basic, n: int, values: dict[str, sp.Matrix]) -> sp.Basic:
    """The rule (matrix symbols of size d) at d = n with the named matrices replaced."""
    from gaussflow.symbolic.core import d

    e = e.subs(d, n)
    sub = {m: sp.ImmutableMatrix(values[m.name]) for m in e.atoms(sp.MatrixSymbol)}
    out = e.xreplace(sub).doit()
    out = out.replace(lambda z: isinstance(z, sp.Determinant), lambda z: z.arg.as_explicit().det())
    out = out.replace(lambda z: isinstance(z, sp.Trace), lambda z: z.arg.as_explicit().trace())
    return out.as_explicit() if hasattr(out, "as_explicit") else out


def test_exp_quadratic_rule_d1_symbolic_integration() -> None:
    rule = derive_exp_quadratic_rule()
    X, al, h = sp.symbols("X alpha h", real=True)
    s2, c = sp.symbols("sigma2 c", positive=True)
    g = 1 / s2 - c  # G with Σ⁻¹ − G = c > 0
    vals = {"Sigma": [[s2]], "alpha": [[al]], "G": [[g]], "h": [[h]]}
    St = sp.simplify(_explicit(rule.S_tilde, 1, vals)[0, 0])
    mt = sp.simplify(_explicit(rule.m_tilde, 1, vals)[0, 0])
    Z = sp.exp(_explicit(rule.log_Z, 1, vals))
    dens = sp.exp(-(X - al) ** 2 / (2 * s2)) / sp.sqrt(2 * sp.pi * s2)
    for p, moment in ((1, 1), (X, mt), (X**2, mt**2 + St)):
        lhs = sp.integrate(sp.exp(g * X**2 / 2 + h * X) * p * dens, (X, -sp.oo, sp.oo), conds="none")
        ratio = sp.simplify(lhs / (Z * moment))
        for sv, cv, av, hv in ((0.7, 0.3, 0.2, -0.4), (1.9, 2.0, -1.1, 0.5)):
            val = complex(ratio.subs({s2: sv, c: cv, al: av, h: hv}).evalf(30))
            assert abs(val - 1) < 1e-25


def test_exp_quadratic_rule_d2_gauss_hermite() -> None:
    rule = derive_exp_quadratic_rule()
    rng = np.random.default_rng(RNG_SEED)
    a = np.array([0.2, -0.4])
    S = np.array([[0.5, 0.1], [0.1, 0.3]])
    G0 = rng.standard_normal((2, 2))
    G = 0.4 * (G0 + G0.T)
    h = np.array([0.3, -0.2])
    vals = {"Sigma": S, "alpha": a[:, None], "G": G, "h": h[:, None]}
    St = np.array(_explicit(rule.S_tilde, 2, vals).evalf(), dtype=float)
    mt = np.array(_explicit(rule.m_tilde, 2, vals).evalf(), dtype=float).ravel()
    logZ = float(sp.sympify(_explicit(rule.log_Z, 2, vals)).evalf())
    Ssym = np.array(_explicit(rule.S_tilde_sym, 2, {**vals, "H": _sqrtm(S)}).evalf(), dtype=float)
    z, w = hermegauss(60)
    w = w / np.sqrt(2 * np.pi)
    Zg = np.stack(np.meshgrid(z, z, indexing="ij"), -1).reshape(-1, 2)
    Wg = np.outer(w, w).ravel()
    L = np.linalg.cholesky(S)
    X = a + Zg @ L.T
    e = np.exp(0.5 * np.einsum("ni,ij,nj->n", X, G, X) + X @ h)
    assert Wg @ e == pytest.approx(np.exp(logZ), rel=1e-10)
    assert (Wg * e) @ X / (Wg @ e) == pytest.approx(mt, rel=1e-10)
    cov = np.einsum("n,ni,nj->ij", Wg * e, X - mt, X - mt) / (Wg @ e)
    assert np.abs(cov - St).max() < 1e-10
    assert np.abs(Ssym - St).max() < 1e-12


def _sqrtm(S: np.ndarray) -> np.ndarray:
    w, U = np.linalg.eigh(S)
    return (U * np.sqrt(w)) @ U.T


# --------------------------------------------------------------------------- unnormalized closed form


def _unnorm_1d_mpmath(a: float, v: float, al: float, s2: float) -> tuple[float, float]:
    """Γ(x) = v e^{aαx + ½a²σ²x²}(α + σ²a x) (docs/math.md §3, d = 1) integrated against N(α, σ²)."""
    def gam(x: mpmath.mpf) -> mpmath.mpf:
        return v * mpmath.exp(a * al * x + a * a * s2 * x * x / 2) * (al + s2 * a * x)

    with mpmath.workdps(25):
        pdf = lambda x: mpmath.npdf(x, al, mpmath.sqrt(s2))  # noqa: E731
        m = mpmath.quad(lambda x: gam(x) * pdf(x), [-mpmath.inf, al, mpmath.inf])
        c = mpmath.quad(lambda x: 2 * (x - al) * gam(x) * pdf(x), [-mpmath.inf, al, mpmath.inf])
    return float(m), float(c)


@pytest.mark.parametrize(("a", "v", "al", "s2"), [(0.8, 1.0, 0.3, 0.5), (-1.1, 0.7, -0.6, 0.8), (0.5, -1.2, 1.0, 1.5)])
def test_unnormalized_d1_closed_form_matches_mpmath(a: float, v: float, al: float, s2: float) -> None:
    attn = gf.attention("unnormalized", A=[[a]], V=[[v]])
    rhs = unnormalized_projection_rhs(attn)
    m, S = rhs(np.array([al]), np.array([[s2]]))
    m_ref, c_ref = _unnorm_1d_mpmath(a, v, al, s2)
    assert m[0] == pytest.approx(m_ref, rel=1e-12)
    assert S[0, 0] == pytest.approx(c_ref, rel=1e-12)
    assert rhs.divergence_margin([al], [[s2]]) == pytest.approx(1 - a * a * s2 * s2, rel=1e-12)


@pytest.mark.parametrize("singular", [False, True])
def test_unnormalized_d2_closed_form_matches_cubature(singular: bool) -> None:
    rng = np.random.default_rng(RNG_SEED)
    for _ in range(3):
        A = 0.5 * rng.standard_normal((2, 2))
        V = rng.standard_normal((2, 2))
        attn = gf.attention("unnormalized", A=A, V=V)
        a = 0.5 * rng.standard_normal(2)
        S = _spd(rng, 2) * 0.6
        if singular:
            u = rng.standard_normal(2)
            S = 0.5 * np.outer(u, u) / (u @ u)
        closed = unnormalized_projection_rhs(attn)
        assert closed.divergence_margin(a, S) > 0.1
        m, Sd = closed(a, S)
        # degree 319: one draw has margin 0.22, where the tilted integrand needs many nodes (degree 79: 3e-4)
        m_c, S_c = projection_rhs(attn, rule="tensor", degree=319)(a, S)
        assert np.abs(m - m_c).max() < 1e-11 * (1 + np.abs(m_c).max())
        assert np.abs(Sd - S_c).max() < 1e-11 * (1 + np.abs(S_c).max())
        assert np.array_equal(Sd, Sd.T)


def test_unnormalized_finiteness_boundary_d1() -> None:
    """d = 1: the integrand e^{aαx + ½a²σ²x²}N(x; α, σ²) has x²-coefficient ½(a²σ² − 1/σ²);
    it is integrable iff that is negative, i.e. iff the margin 1 − a²σ⁴ is positive."""
    X, al, a = sp.symbols("x alpha a", real=True)
    s2 = sp.Symbol("sigma2", positive=True)
    log_integrand = a * al * X + a**2 * s2 * X**2 / 2 - (X - al) ** 2 / (2 * s2)
    lead = sp.Poly(sp.expand(log_integrand), X).LC()
    assert sp.simplify(lead - (a**2 * s2 - 1 / s2) / 2) == 0
    a_num = 1.5
    attn = gf.attention("unnormalized", A=[[a_num]], V=[[1.0]])
    rhs = projection_closure(attn)
    for s2v in (0.3, 0.6, 1 / a_num - 1e-6, 1 / a_num + 1e-6, 0.8, 2.0):
        finite = float(lead.subs({a: a_num, s2: s2v})) < 0
        margin = divergence_margin(attn, [0.2], [[s2v]])
        assert (margin > 0) == finite
        assert margin == pytest.approx(1 - a_num**2 * s2v**2, abs=1e-12)
        if finite and margin > 1e-3:
            m, S = rhs(np.array([0.2]), np.array([[s2v]]))
            assert np.all(np.isfinite(m)) and np.all(np.isfinite(S))
        elif finite:  # finite but beyond the float range this close to the boundary
            with pytest.raises(ProjectionDivergence, match="overflow"):
                rhs(np.array([0.2]), np.array([[s2v]]))
        else:
            with pytest.raises(ProjectionDivergence) as info:
                rhs(np.array([0.2]), np.array([[s2v]]))
            assert info.value.margin <= 1e-12 and "diverges" in info.value.reason
            assert isinstance(info.value, ValueError)


# --------------------------------------------------------------------------- selection, reports, inputs


def test_projection_closure_selects_rule_and_reports() -> None:
    attn, _, _ = _sigmoid_2d()
    rhs = projection_closure(attn)
    assert rhs is projection_closure(attn)  # cached per Attention
    assert isinstance(rhs.info, ProjectionInfo)
    assert (rhs.info.method, rhs.info.rule, rhs.info.degree, rhs.info.n_points) == ("cubature", "tensor", 47, 576)
    assert "approximation" in str(rhs.info) and "degree 47" in str(rhs.info)
    u = projection_closure(gf.attention("unnormalized", A=np.eye(2) * 0.3, V=np.eye(2)))
    assert u.info.method == "closed-form" and "approximation" in str(u.info)
    assert "def rhs(" in u.source
    s = projection_closure(gf.attention("softmax", A=np.eye(2), V=np.eye(2)))
    assert s.info.exact and "exact closure" in str(s.info)
    big = projection_rhs(gf.attention("softmax", A=np.eye(9), V=np.eye(9)))
    assert big.info.rule == "symmetric5" and big.info.n_points == 2 * 81 + 1


def test_projection_steps() -> None:
    for name in ("unnormalized", "sigmoid", "softmax"):
        steps = projection_steps(gf.derive(name))
        assert steps and all(isinstance(lab, str) and isinstance(tex, str) and tex for lab, tex in steps)
    unn = projection_steps(gf.derive("unnormalized"))
    assert "approximation" in unn[0][0].lower()
    labels = [lab for lab, _ in unn]
    assert {"Completing the square", "Projected mean", "Projected covariance", "Finiteness"} <= set(labels)
    assert "approximation" in projection_steps(gf.derive("sigmoid"))[0][0].lower()
    assert "exact" in projection_steps(gf.derive("softmax"))[0][0].lower()


def test_inputs() -> None:
    attn, a, S = _sigmoid_2d()
    rhs = projection_rhs(attn)
    with pytest.raises(ValueError, match="Sigma"):
        rhs.checked(a, np.array([[1.0, 0.0], [0.0, -1.0]]))
    with pytest.raises(ValueError, match="alpha"):
        rhs.checked(np.zeros(3), S)
    with pytest.raises(ValueError, match="rule"):
        projection_rhs(attn, rule="nope")
    with pytest.raises(ValueError, match="attn"):
        unnormalized_projection_rhs(attn)
    assert rhs.divergence_margin(a, S) == math.inf
    m1, S1 = rhs.checked(a, S)
    m2, S2 = rhs(a, S)
    assert np.array_equal(m1, m2) and np.array_equal(S1, S2)


def test_compiled_moments_of_nonclosing_variants_are_the_cubature_projection() -> None:
    """``derive(name).compile().moments`` for sigmoid / unnormalized is the projection by cubature:
    equal to projection_rhs (same auto rule) and, for unnormalized, to the symbolic closed form."""
    alpha, Sigma = np.array([0.2, -0.1]), np.array([[0.5, 0.1], [0.1, 0.3]])
    A = np.array([[0.4, 0.2], [-0.1, 0.3]])
    for name in ("sigmoid", "unnormalized"):
        att = gf.attention(name, A=A, V=np.eye(2))
        cc = att.closure.compile()
        a_dot, S_dot = cc.moments(alpha[:, None], Sigma, *att.prepared)
        a_ref, S_ref = projection_rhs(att)(alpha, Sigma)
        np.testing.assert_allclose(a_dot.ravel(), a_ref, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(S_dot, S_ref, rtol=1e-12, atol=1e-14)
        if name == "unnormalized":
            a_cf, S_cf = unnormalized_projection_rhs(att)(alpha, Sigma)
            np.testing.assert_allclose(a_dot.ravel(), a_cf, rtol=1e-10)
            np.testing.assert_allclose(S_dot, S_cf, rtol=1e-10)


def test_closed_form_projection_is_decided_by_the_velocity_not_the_name() -> None:
    """A custom unnormalized score with a query bias (an x-only term, which does not cancel without a
    normalization) has velocity e^{q(x)}p(x) too: it gets the closed form, which agrees with high-degree
    cubature; a key bias (constant term in q, not handled by the rule), sigmoid (logistic moments) and
    closing variants do not."""
    import sympy as sp

    from gaussflow.symbolic.projection import closed_form_projection
    from gaussflow.symbols import d, x, y

    assert closed_form_projection(gf.derive("sigmoid")) is None
    assert closed_form_projection(gf.derive("softmax")) is None
    assert closed_form_projection(gf.derive("unnormalized")) is not None
    A_, b_, V_ = sp.MatrixSymbol("A", d, d), sp.MatrixSymbol("b", d, 1), sp.MatrixSymbol("V", d, d)
    keybias = gf.Variant.from_score("none_keybias", score=y.T * A_ * x + b_.T * y, value=V_, normalization="none")
    assert closed_form_projection(gf.derive(keybias)) is None
    var = gf.Variant.from_score("none_querybias", score=y.T * A_ * x + b_.T * x, value=V_, normalization="none")
    assert closed_form_projection(gf.derive(var)) is not None
    attn = gf.attention(var, A=[[0.3, 0.1], [-0.2, 0.25]], b=np.array([0.2, -0.1]), V=[[1.0, 0.4], [-0.3, 0.8]])
    a, S = np.array([0.1, -0.2]), np.array([[0.5, 0.1], [0.1, 0.4]])
    m, Sd = unnormalized_projection_rhs(attn)(a, S)
    m_c, S_c = projection_rhs(attn, rule="tensor", degree=159)(a, S)
    np.testing.assert_allclose(m, m_c, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(Sd, S_c, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="closed-form"):
        unnormalized_projection_rhs(gf.attention("sigmoid", A=[[0.5]], V=[[1.0]]))
