"""SymPy proof that z = e^{−tV} x turns the pure form ẋ = V m_β(x) into the residual form
ż = V(m̃_t(z) − z) with the time-dependent score matrix A(t) = e^{tVᵀ} A e^{tV}.

The proof is carried out on an empirical measure μ = Σⱼ wⱼ δ_{xⱼ} of ``n`` tokens in dimension ``d``
with every entry symbolic (masses wⱼ, token coordinates, A = KᵀQ, β) and a generic diagonalizable
value matrix V = S Λ S⁻¹ (S and Λ symbolic), for which e^{tV} = S e^{tΛ} S⁻¹:

1. e^{tV} solves Ė = V E, commutes with V and e^{−tV} e^{tV} = I (checked entrywise);
2. with x = e^{tV} z and ẋ = V m_β[μ](x), the chain rule gives ż = −V z + e^{−tV} V m_β[μ](x);
3. the softmax weights of x and of z with A(t) have the same exponents, and e^{−tV} m_β[μ](x) =
   m̃_t[ν](z) (ν the law of z), so ż − V(m̃_t[ν](z) − z) simplifies to 0 entrywise;
4. V = vI: A(t) = e^{2vt} A, i.e. β_eff = β e^{2vt}.

Because the identity is linear in the masses and holds for every finite configuration, it holds for
the mean-field law (weak limits of empirical measures).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp


@dataclass(frozen=True)
class RescalingProof:
    """Outcome of :func:`prove_rescaling`: ``holds`` is True when every step simplified to 0."""

    d: int
    n: int
    steps: dict[str, bool] = field(default_factory=dict)

    @property
    def holds(self) -> bool:
        return bool(self.steps) and all(self.steps.values())


def _zero(M: sp.Matrix, rat: dict[sp.Expr, sp.Expr]) -> bool:
    return all(sp.cancel(sp.expand(e).xreplace(rat)) == 0 for e in M)


def prove_rescaling(d: int = 2, n: int = 2, *, rescaled: bool = True) -> RescalingProof:
    """Prove the pure → residual rescaling symbolically for ``n`` tokens in dimension ``d``.

    Parameters
    ----------
    d : int
        Dimension (1 or 2; 2 takes a few seconds).
    n : int
        Number of tokens (≥ 1).
    rescaled : bool
        Use A(t) = e^{tVᵀ} A e^{tV} in the z-form (the claim). ``False`` is the control: with the
        unrescaled A the exponents and the identity fail (``holds`` is False).

    Returns
    -------
    RescalingProof
        ``steps`` maps each step of the module docstring to whether it reduced to 0.
    """
    if d not in (1, 2):
        raise ValueError(f"`d` must be 1 or 2; got {d!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"`n` must be a positive integer; got {n!r}")
    t, beta, v = sp.symbols("t beta v", real=True)
    lam = sp.symbols(f"lambda1:{d + 1}", real=True)
    S = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"s{i}{j}", real=True))
    A = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"a{i}{j}", real=True))
    Sinv = S.inv()
    V = S * sp.diag(*lam) * Sinv

    def E(tt: sp.Expr) -> sp.Matrix:
        return S * sp.diag(*[sp.exp(lk * tt) for lk in lam]) * Sinv

    # e^{±λₖt} -> rational symbols pₖ^{±1}: every check below is then a rational identity (``cancel``)
    p = sp.symbols(f"p1:{d + 1}", positive=True)
    rat = {sp.exp(lk * t): pk for lk, pk in zip(lam, p, strict=True)}
    rat.update({sp.exp(-lk * t): 1 / pk for lk, pk in zip(lam, p, strict=True)})
    steps: dict[str, bool] = {}
    Et, Emt = E(t), E(-t)
    steps["dE/dt = V E"] = _zero(Et.diff(t) - V * Et, rat)
    steps["V E = E V"] = _zero(V * Et - Et * V, rat)
    steps["E(-t) E(t) = I"] = _zero(Emt * Et - sp.eye(d), rat)

    w = sp.symbols(f"w1:{n + 1}", positive=True)
    Z = [sp.Matrix(d, 1, lambda i, _j, k=k: sp.Symbol(f"z{k}_{i}", real=True)) for k in range(n)]
    X = [Et * z for z in Z]
    At = Et.T * A * Et if rescaled else A

    def exponents(points: list[sp.Matrix], M: sp.Matrix, q: sp.Matrix) -> list[sp.Expr]:
        return [sp.expand((beta * p.T * M * q)[0, 0]) for p in points]

    def mean(points: list[sp.Matrix], u: list[sp.Expr]) -> sp.Matrix:
        num = sp.zeros(d, 1)
        for wk, uk, p in zip(w, u, points, strict=True):
            num += wk * uk * p
        return num / sum(wk * uk for wk, uk in zip(w, u, strict=True))

    # the weights e^{(exponent)} -> symbols uₖ once the exponents are shown equal
    dEmt = Emt.diff(t)
    same_exponents = True
    chain_ok = True
    for i in range(n):
        ex = exponents(X, A, X[i])
        ez = exponents(Z, At, Z[i])
        same_exponents &= all(sp.cancel(sp.expand(a - b).xreplace(rat)) == 0 for a, b in zip(ex, ez, strict=True))
        u = list(sp.symbols(f"u1:{n + 1}", positive=True))
        m_x = mean(X, u)  # m_β[μ](x_i): weights e^{ex_k} = u_k
        m_z = mean(Z, u)  # m̃_t[ν](z_i): weights e^{ez_k} = u_k (same exponents)
        # ż = d/dt(e^{-tV}) x + e^{-tV} ẋ with ẋ = V m_β(x)
        resid = dEmt * X[i] + Emt * (V * m_x) - V * (m_z - Z[i])
        chain_ok &= same_exponents and _zero(resid, rat)
    steps["same softmax exponents under A(t)"] = bool(same_exponents)
    steps["pure form in z = residual form with A(t)"] = bool(chain_ok)
    Ev = sp.exp(v * t) * sp.eye(d)  # e^{t vI}
    steps["V = vI: A(t) = e^{2vt} A"] = _zero(Ev.T * A * Ev - sp.exp(2 * v * t) * A, {})
    return RescalingProof(d=d, n=n, steps=steps)


__all__ = ["RescalingProof", "prove_rescaling"]
