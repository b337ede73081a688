"""Gaussian-expectation rules: the only place closures come from.

Each rule takes a head's score s(x, y) (as data) and the Gaussian N(α, Σ) and returns
E_h[y | x] (normalized kernels) or ∫ φ(s) y dN (unnormalized kernels) in closed form,
together with the derivation steps that justify it.

* :func:`analyze_score` — completing the square: ∇_y s = a(x) − B y, cross term A.
* :func:`tilt` — exponential tilting e^{yᵀa − ½yᵀBy} N(y; α, Σ) ∝ N(y; m(x), S).
* :func:`tilt_log_partition` — log ∫ e^{s} dN(α, Σ), the log-normalizer of the tilt (B = 0).
* :func:`couple` — the Gaussian entropic coupling (Sinkhorn) with off-diagonal
  precision block −Aᵀ, solved by whitening.
* :func:`stein` — Stein's lemma E[φ(s) y] = α E[φ(s)] + Σ a E[φ'(s)] for scores linear in y.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.matrices.expressions import MatrixExpr

from .core import I, NotAffineError, Sigma, alpha, d, is_zero, mdiff, scalar, sqrtm, symmetrize, x, y
from .functions import LogisticMoment0, LogisticMoment1
from .steps import Step, tex


@dataclass(frozen=True)
class QuadraticScore:
    """s(x, y) = c(x) + yᵀa(x) − ½ yᵀBy, cross term A = ∂²s/∂y∂x (yᵀAx)."""

    a: MatrixExpr
    B: MatrixExpr | None
    c: MatrixExpr
    A: MatrixExpr | None


def analyze_score(s: MatrixExpr, symmetric: frozenset[sp.Basic]) -> tuple[QuadraticScore, list[Step]]:
    """Complete the square in y: read a(x), B and the cross term off the derivatives."""
    g = symmetrize(mdiff(s, y), symmetric)
    hess = mdiff(g, y)
    if hess.has(y):
        raise NotAffineError("score is not quadratic in y: ∇²_y s depends on y")
    B = symmetrize(sp.MatMul(-1, sp.Transpose(hess)).doit(), symmetric)
    B = None if is_zero(B) else B
    zero = sp.ZeroMatrix(d, 1)
    a = symmetrize(g.subs(y, zero).doit(), symmetric)
    c = s.subs(y, zero).doit()
    A = symmetrize(sp.Transpose(mdiff(a, x)).doit(), symmetric)
    A = None if (A.has(x) or A.has(y)) else A
    steps = [
        Step("Score", rf"s(x, y) = {tex(s)}", "the attention score as declared by the variant"),
        Step(
            "Completing the square",
            rf"\nabla_y s = a(x) - B y,\quad a(x) = {tex(a)}"
            + ("" if B is not None and tex(B) == "B" else rf",\quad B = {tex(B) if B is not None else '0'}"),
            "the y-Hessian is constant, so the score is quadratic in y",
        ),
    ]
    if A is not None:
        steps.append(Step("Cross term",
                          r"\partial_y \partial_x s = A" if tex(A) == "A" else rf"\partial_y \partial_x s = A := {tex(A)}",
                          r"$s$ contains $y^\top A x$"))
    return QuadraticScore(a, B, c, A), steps


def tilt(q: QuadraticScore) -> tuple[MatrixExpr, list[Step]]:
    """Exponential tilting: e^{yᵀa − ½yᵀBy} N(y; α, Σ) ∝ N(y; m, S) with
    S = (I + ΣB)⁻¹Σ and m(x) = (I + ΣB)⁻¹(α + Σa(x)); Σ⁻¹-free, valid for singular Σ."""
    if q.B is None:
        m = alpha + Sigma * q.a
        law = rf"\mathcal N\big(y;\ {tex(m)},\ \Sigma\big)"
        note = r"exponential tilting: $e^{y^\top u}\mathcal N(y;\alpha,\Sigma)\propto\mathcal N(y;\alpha+\Sigma u,\Sigma)$ with $u=a(x)$"
    else:
        N = sp.Inverse(I + Sigma * q.B)
        m = N * (alpha + Sigma * q.a)
        S = N * Sigma
        law = rf"\mathcal N\big(y;\ {tex(m)},\ {tex(S)}\big)"
        note = r"completing the square: precision $\Sigma^{-1}+B$, written without $\Sigma^{-1}$ so that it holds for singular $\Sigma$"
    steps = [
        Step("Tilted law", rf"e^{{s(x,y)}}\,\mathcal N(y;\alpha,\Sigma) \propto {law}", note),
        Step("Conditional mean", rf"\mathbb E_x[y] = m(x) = {tex(m)}", "mean of the normalized kernel"),
    ]
    return m, steps


def tilt_log_partition(q: QuadraticScore) -> MatrixExpr | None:
    """log ∫ e^{s(x,y)} N(y; α, Σ) dy = c(x) + a(x)ᵀα + ½ a(x)ᵀΣa(x) (the Gaussian MGF) for scores
    linear in y (B = 0), shape 1 × 1; ``None`` when B ≠ 0 (not needed yet; it would bring log det)."""
    if q.B is not None:
        return None
    return q.c + q.a.T * alpha + sp.Rational(1, 2) * q.a.T * Sigma * q.a


def couple(q: QuadraticScore) -> tuple[MatrixExpr, list[Step]]:
    """Sinkhorn: the entropic self-coupling of N(α, Σ) with kernel e^{s}, s jointly quadratic.

    π ∝ e^{f(x) + g(y) + yᵀAx} μ⊗μ is Gaussian with both marginals N(α, Σ) and off-diagonal
    precision block −Aᵀ (quadratic terms in x or y alone are absorbed by the potentials).
    Whitening C = Cov(X, Y) = Σ^{1/2}FΣ^{1/2}, G = Σ^{1/2}AᵀΣ^{1/2}, the block-inverse
    condition is F(I − FᵀF)⁻¹ = G, solved on singular values by f(λ) = 2λ/(1 + √(1 + 4λ²)).
    Then E[Y | X = x] = α + M(x − α), M = CᵀΣ⁺ = 2Σ^{1/2}(I + R)⁻¹Σ^{1/2}A,
    R = (I + 4Σ^{1/2}AΣAᵀΣ^{1/2})^{1/2} (on the support of N(α, Σ); no Σ⁻¹).
    """
    if q.A is None:
        raise NotAffineError("Sinkhorn rule needs a score jointly quadratic in (x, y)")
    A = q.A
    lam = sp.Symbol("lambda", positive=True)
    f = 2 * lam / (1 + sp.sqrt(1 + 4 * lam**2))
    residual_eq = sp.simplify(f / (1 - f**2) - lam)
    if residual_eq != 0:  # pragma: no cover - a SymPy regression would land here
        raise AssertionError(f"singular-value solution failed: residual {residual_eq}")
    h = sqrtm(Sigma)
    R = sqrtm(I + 4 * h * A * Sigma * A.T * h)
    M = 2 * h * sp.Inverse(I + R) * h * A
    m = alpha + M * (x - alpha)
    steps = [
        Step(
            "Gaussian coupling",
            r"\pi(x, y) \propto e^{f(x) + g(y) + y^\top A x}\,\mu(x)\mu(y)"
            r" = \mathcal N\!\left(\begin{pmatrix}\alpha\\ \alpha\end{pmatrix},"
            r" \begin{pmatrix}\Sigma & C\\ C^\top & \Sigma\end{pmatrix}\right),"
            r"\quad \left[\begin{pmatrix}\Sigma & C\\ C^\top & \Sigma\end{pmatrix}^{-1}\right]_{12} = -A^\top",
            r"$C := \mathrm{Cov}_\pi(X, Y)$ is the cross-covariance of the coupling; the potentials $f, g$"
            " absorb every term in x or y alone, and both marginals are fixed to N(α, Σ)",
        ),
        Step(
            "Whitening",
            r"C = \Sigma^{1/2} F \Sigma^{1/2},\ G := \Sigma^{1/2}A^\top\Sigma^{1/2}:\quad F\,(I - F^\top F)^{-1} = G",
            r"$F$ is the whitened cross-covariance (the cross-covariance of $\Sigma^{-1/2}X$ and $\Sigma^{-1/2}Y$,"
            r" on range Σ); the joint covariance of the whitened pair is"
            r" $\left(\begin{smallmatrix} I & F\\ F^\top & I\end{smallmatrix}\right)$, whose inverse has"
            r" off-diagonal block $-F(I - F^\top F)^{-1}$, and the whitened precision block is $-G$",
        ),
        Step(
            "Singular values",
            rf"f(\lambda) = {sp.latex(f)},\quad \frac{{f}}{{1-f^2}} - \lambda = {sp.latex(residual_eq)}"
            r"\ \Rightarrow\ F^\top = 2(I + R)^{-1}G^\top",
            r"$f$ acts on the singular values $\lambda$ of $G$ (same singular vectors); it is the root in $[0, 1)$ of"
            r" $\lambda f^2 + f - \lambda = 0$, checked symbolically by the engine;"
            r" $R := (I + 4G^\top G)^{1/2}$",
        ),
        Step(
            "Conditional mean",
            rf"\mathbb E_\pi[Y\mid X=x] = \alpha + C^\top\Sigma^{{+}}(x-\alpha) = {tex(m)},\\ R = {tex(R)}",
            r"$\Sigma\Sigma^{+}$ is the identity on the support of N(α, Σ), where $x - \alpha$ lies;"
            " no inverse of Σ is needed, so singular Σ is allowed",
        ),
    ]
    return m, steps


def stein(q: QuadraticScore, phi: str) -> tuple[MatrixExpr, list[Step]]:
    """Unnormalized kernels φ(s) with s linear in y: s ~ N(m_s, v_s) under y ~ N(α, Σ) and
    Stein's lemma gives ∫ φ(s) y dN = α E[φ(s)] + Σ a(x) E[φ'(s)]."""
    if q.B is not None:
        raise NotAffineError("Stein rule needs a score linear in y")
    m_s = scalar(alpha.T * q.a + q.c)
    v_s = scalar(q.a.T * Sigma * q.a)
    if phi == "exp":
        w = sp.exp(m_s + v_s / 2)
        out = w * (alpha + Sigma * q.a)
        moments = rf"\mathbb E[e^{{s}}] = \mathbb E[(e^{{s}})'] = {tex(w)}"
    elif phi == "sigmoid":
        out = LogisticMoment0(m_s, v_s) * alpha + LogisticMoment1(m_s, v_s) * (Sigma * q.a)
        moments = r"\mathbb E[\sigma^{(j)}(s)] = \Lambda_j(m_s, v_s)\ \text{(no closed form)}"
    else:  # pragma: no cover
        raise ValueError(f"unknown kernel {phi!r}")
    steps = [
        Step(
            "Law of the score",
            rf"s \sim \mathcal N(m_s, v_s),\quad m_s = {tex(m_s)},\quad v_s = {tex(v_s)}",
            "s is affine in y ~ N(α, Σ)",
        ),
        Step(
            "Stein's lemma",
            r"\int \phi(s)\, y \, d\mathcal N(y;\alpha,\Sigma) = \alpha\,\mathbb E[\phi(s)] + \Sigma a(x)\, \mathbb E[\phi'(s)],\quad "
            + moments,
            r"$\mathbb E[(y-\alpha) g(y)] = \Sigma\,\mathbb E[\nabla g(y)]$ with $g = \phi\circ s$,"
            + (r" $\phi = \exp$" if phi == "exp" else r" $\phi = \sigma$ the logistic function"),
        ),
        Step("Integral", rf"\int \phi(s)\, y\, d\mathcal N = {tex(out)}", ""),
    ]
    return out, steps
