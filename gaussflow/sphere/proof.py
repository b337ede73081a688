"""Symbolic proof that projected-linear fields preserve the projected-normal family (SymPy).

Claim. If ż = Mz (M constant), then x = z/|z| solves ẋ = P⊥_x(Mx) = Mx − (xᵀMx)x. Hence the flow of
P⊥_x(Mx) on S^{d−1} maps x₀ = z₀/|z₀| to e^{tM}z₀/|e^{tM}z₀|, and the law PN(m, Σ) of z₀/|z₀|, z₀ ~ N(m, Σ),
to PN(e^{tM}m, e^{tM}Σe^{tMᵀ}) — the sphere analogue of "affine velocities preserve Gaussians".

:func:`prove` checks, for a symbolic M (d × d) and z (d entries), that d/dt (z/|z|) along ż = Mz minus
P⊥_x(Mx) simplifies to zero, and that (m, Σ)(t) = (e^{tM}m, e^{tM}Σe^{tMᵀ}) solves ṁ = Mm, Σ̇ = MΣ + ΣMᵀ;
:func:`latex_section` writes the steps as a LaTeX section for the derivations PDF.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp


@dataclass(frozen=True)
class Proof:
    d: int
    velocity_residual: sp.Matrix
    moment_residual: sp.Matrix
    holds: bool


def prove(d: int = 3) -> Proof:
    """The two identities of the module docstring in dimension d (symbolic entries; d ≤ 4 is quick)."""
    if not (isinstance(d, int) and 2 <= d <= 5):
        raise ValueError(f"`d` must be an int in [2, 5]; got {d!r}")
    z = sp.Matrix(sp.symbols(f"z1:{d + 1}", real=True))
    M = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"M{i + 1}{j + 1}", real=True))
    r = sp.sqrt((z.T * z)[0])
    zdot = M * z
    # d/dt (z / |z|) by the chain rule through z(t)
    J = (z / r).jacobian(z)
    xdot = J * zdot
    x = z / r
    field = M * x - (x.T * M * x)[0] * x
    vres = sp.simplify(xdot - field)
    # moments: Σ(t) = E Σ0 Eᵀ, m(t) = E m0 with E = e^{tM}, whose defining property is Ė = M E
    Msym = sp.MatrixSymbol("M", d, d)
    S0 = sp.MatrixSymbol("Sigma_0", d, d)
    m0 = sp.MatrixSymbol("m_0", d, 1)
    E = sp.MatrixSymbol("E", d, d)
    Edot = Msym * E
    Sigma = E * S0 * E.T
    Sigma_dot = Edot * S0 * E.T + E * S0 * Edot.T  # product rule
    mres = sp.expand(Sigma_dot - (Msym * Sigma + Sigma * Msym.T))
    mean_res = sp.expand(Edot * m0 - Msym * (E * m0))
    moment = sp.Matrix(mres.as_explicit()).reshape(d * d, 1).col_join(sp.Matrix(mean_res.as_explicit()))
    moment = sp.simplify(moment)
    holds = vres == sp.zeros(d, 1) and moment == sp.zeros(d * d + d, 1)
    return Proof(d, vres, moment, bool(holds))


def latex_document(d: int = 3) -> str:
    """:func:`latex_section` wrapped by ``gaussflow.latex.standalone_document`` (compiles alone, or is
    ``\\input`` by the master derivations document)."""
    from ..latex import standalone_document

    return standalone_document(latex_section(d))


def latex_section(d: int = 3) -> str:
    """A LaTeX section with the statement, the computation and the SymPy verdict."""
    p = prove(d)
    verdict = r"\texttt{True}" if p.holds else r"\texttt{False}"
    return rf"""\section{{Tokens on the sphere: projected-linear fields preserve projected normals}}
Let $P^\perp_x = I - xx^\top$. If $\dot z = Mz$ then $x = z/|z|$ satisfies
\[
  \dot x = \frac{{\dot z}}{{|z|}} - \frac{{z\, z^\top \dot z}}{{|z|^3}} = Mx - (x^\top M x)\,x = P^\perp_x (Mx).
\]
Hence the flow of $P^\perp_x(Mx)$ on $S^{{d-1}}$ is $x_0 \mapsto e^{{tM}}z_0/|e^{{tM}}z_0|$, and the projected
normal $\mathrm{{PN}}(m,\Sigma)$ (law of $z/|z|$, $z\sim\mathcal N(m,\Sigma)$) is carried to
$\mathrm{{PN}}(e^{{tM}}m,\ e^{{tM}}\Sigma e^{{tM^\top}})$, i.e.\ $\dot m = Mm$, $\dot\Sigma = M\Sigma + \Sigma M^\top$.
SymPy, with symbolic $M\in\mathbb R^{{{d}\times {d}}}$ and $z\in\mathbb R^{{{d}}}$:
$\frac{{d}}{{dt}}(z/|z|) - P^\perp_x(Mx)$
simplifies to $0$ and the moment equations hold: {verdict}.

\paragraph{{Energy identity.}} For $Q^\top K = V = D$ symmetric, $E(\mu) = \iint e^{{\beta x^\top D y}}\,d\mu\,d\mu$ and
$\partial_{{x_i}} E = 2\beta w_i G_i$, $G_i = \sum_j w_j e^{{\beta x_i^\top D x_j}} D x_j$, so along
$\dot x_i = s\,P^\perp_{{x_i}} F_i$:
\[
  \tfrac{{d}}{{dt}}E = 2\beta s \sum_i w_i\,|P^\perp_{{x_i}} G_i|^2 \ \text{{(USA, }}F_i = G_i\text{{)}},\qquad
  \tfrac{{d}}{{dt}}E = 2\beta s \sum_i w_i Z_i\,|P^\perp_{{x_i}} F_i|^2 \ \text{{(SA, }}F_i = G_i/Z_i\text{{)}}.
\]

\paragraph{{Closure.}} Attention on the sphere is not projected-linear. The projected-normal closure replaces the
velocity $v$ at $\mu=\mathrm{{PN}}(m,\Sigma)$ by its $L^2(\mu)$ projection $P^\perp_x(Mx)$,
$M = \arg\min_M \mathbb E_\mu|P^\perp_x(Mx) - v(x)|^2$, and evolves $(m,\Sigma)$ as above (an approximation).
"""


__all__ = ["Proof", "latex_document", "latex_section", "prove"]
