"""LaTeX rendering of derivations (structure only; the maths comes from the steps).

Each variant file compiles on its own and can also be ``\\input`` by the master
``gaussflow.tex`` (the preamble is skipped when ``\\gaussflowmaster`` is defined).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: a derived closure (duck-typed: ``steps``, ``variant``, ``preserves_gaussian``, ``latex()``), so that this
#: renderer stays below the closure layer it renders
Closure = Any

PREAMBLE = r"""\documentclass[10pt]{article}
\usepackage[margin=2cm]{geometry}
\usepackage{amsmath,amssymb,amsthm}
\allowdisplaybreaks
\newtheorem{lemma}{Lemma}
\theoremstyle{remark}
\newtheorem{remark}{Remark}
\numberwithin{equation}{section}
"""

#: Section 1 of every document: model, notation, and the lemmas the derivation steps cite
#: (affine velocities preserve Gaussians, exponential tilting, Stein's lemma, non-closure in d = 1).
PRELIMINARIES = r"""\section{Setting, notation and the four lemmas used throughout}\label{sec:setting}

\paragraph{Model.} Tokens are points $x\in\mathbb R^d$; their law at depth (time) $t$ is a probability
measure $\mu_t$ on $\mathbb R^d$. A deep transformer in the mean-field limit is the continuity equation
\cite{sander2022sinkformers,geshkovski2023,castin2025}
\begin{equation}\label{eq:pde}
\partial_t \mu_t + \nabla\cdot\big(\mu_t\,\Gamma[\mu_t]\big) = 0,
\qquad\text{i.e.}\qquad
\frac{d}{dt}\int \varphi\,d\mu_t = \int \nabla\varphi\cdot\Gamma[\mu_t]\,d\mu_t
\quad\text{for every } \varphi\in C_c^\infty(\mathbb R^d),
\end{equation}
where the \emph{velocity} $\Gamma[\mu]:\mathbb R^d\to\mathbb R^d$ is the attention layer evaluated on $\mu$.
For $n$ tokens $x_1,\dots,x_n$ the empirical measure $\mu^n_t = \frac1n\sum_j \delta_{x_j(t)}$ solves
\eqref{eq:pde} exactly when $\dot x_i = \Gamma[\mu^n_t](x_i)$ (the particle system).

\paragraph{Parameters and score.} A head has query and key matrices $Q, K\in\mathbb R^{k\times d}$, a value
matrix $V\in\mathbb R^{d\times d}$ and an inverse temperature $\beta>0$. Its score is
\begin{equation}\label{eq:score}
s(x,y) = \beta\langle Qx, Ky\rangle = y^\top A x,\qquad A := \beta K^\top Q\in\mathbb R^{d\times d}.
\end{equation}
(The code of \cite{castin2025} uses $A = K^\top Q/\sqrt d$, i.e.\ $\beta = 1/\sqrt d$.) Each section below
starts from the score of its variant, which may contain further terms; there the cross term $A$ is
defined as $\partial_y\partial_x s$, the gradient $\nabla_y s = a(x) - By$ defines the vector $a(x)$ and the
symmetric matrix $B$, and $C$ denotes the value (output) map of a head ($C = V$ for one head,
$C_h = W_hV_h$ for head $h$ of a multi-head layer \cite{vaswani2017}). $\top$ is the transpose, $I$ the
identity.

\paragraph{Kernels.} With $\mu$ the token law and $C$ the value map, the variants treated are
\begin{align}
\text{softmax:}\quad & \Gamma(x) = C\,\mathbb E_x[y],\qquad
\mathbb E_x[y] := \frac{\int e^{s(x,y)}\,y\,d\mu(y)}{\int e^{s(x,y)}\,d\mu(y)}; \label{eq:softmax}\\
\text{Sinkhorn \cite{sander2022sinkformers}:}\quad & \Gamma(x) = C\,\mathbb E_{\pi}[Y\mid X=x],\qquad
d\pi(x,y)\propto e^{f(x)+g(y)+s(x,y)}\,d\mu(x)\,d\mu(y); \label{eq:sinkhorn}\\
\text{sigmoid \cite{ramapuram2025}:}\quad & \Gamma(x) = \int \sigma\big(s(x,y)\big)\,C y\,d\mu(y),\qquad
\sigma(z) := \frac{1}{1+e^{-z}}; \label{eq:sigmoid}\\
\text{unnormalized:}\quad & \Gamma(x) = \int e^{s(x,y)}\,C y\,d\mu(y). \label{eq:unnormalized}
\end{align}
In \eqref{eq:sinkhorn} $\pi$ is the entropic self-coupling of $\mu$ \cite{cuturi2013}: both marginals of $\pi$
are $\mu$, and the potentials $f, g$ are fixed by these two constraints.
L2 attention \cite{kim2021} is softmax attention with
the score $-\frac\beta2\|Qx-Ky\|^2$. For the sigmoid kernel, for $j = 0, 1$,
\[
\Lambda_j(m,v) := \mathbb E\big[\sigma^{(j)}(m+\sqrt v\,Z)\big],\qquad Z\sim\mathcal N(0,1);
\]
these Gaussian expectations of the logistic function have no closed form.

\paragraph{Gaussian notation.} For $\alpha\in\mathbb R^d$ and a symmetric positive semi-definite (PSD)
$\Sigma\in\mathbb R^{d\times d}$, $\mathcal N(\alpha,\Sigma)$ is the law of $\alpha+\Sigma^{1/2}Z$,
$Z\sim\mathcal N(0,I)$, where $\Sigma^{1/2}$ is the PSD square root. \emph{$\Sigma$ may be singular}; then
$\mathcal N(\alpha,\Sigma)$ is carried by the affine subspace $\alpha+\operatorname{range}\Sigma$ (its
support). $\mathcal N(y;\alpha,\Sigma)$ denotes the density when $\Sigma\succ0$; every final formula is
written without $\Sigma^{-1}$ and holds for singular $\Sigma$. $\Sigma^{+}$ is the Moore--Penrose
pseudo-inverse, so $\Sigma\Sigma^+$ is the orthogonal projector onto $\operatorname{range}\Sigma$. On
$\mu = \mathcal N(\alpha,\Sigma)$ we write $\Gamma(x)$ for $\Gamma[\mu](x)$ and $J := \partial_x\Gamma$ for its
Jacobian matrix ($J_{ij} = \partial\Gamma_i/\partial x_j$). In $d = 1$, $\Sigma = \sigma^2$.

\paragraph{Gaussian projection.} If $\mu_t = \mathcal N(\alpha,\Sigma)$ at some instant, the test
functions $x_i$ and $(x-\alpha)_i(x-\alpha)_j$ in \eqref{eq:pde} give (when $\Gamma$ has finite second
moments under $\mu_t$) the exact instantaneous rates
\begin{equation}\label{eq:projection}
\dot\alpha = \mathbb E[\Gamma(X)],\qquad
\dot\Sigma = \mathbb E\big[(X-\alpha)\Gamma(X)^\top\big] + \mathbb E\big[\Gamma(X)(X-\alpha)^\top\big],
\qquad X\sim\mathcal N(\alpha,\Sigma).
\end{equation}
Integrating \eqref{eq:projection} with $\Gamma$ always evaluated on the Gaussian of the current moments
is the \emph{Gaussian-projection closure}. By Lemma~\ref{lem:affine} it is exact when $\Gamma$ is affine;
otherwise it is an approximation, whose error \texttt{gaussflow verify} measures against particles.

\begin{lemma}[Affine velocities preserve Gaussians]\label{lem:affine}
Let $t\mapsto(\alpha(t),\Sigma(t))$ be $C^1$ on $[0,T)$ with $\Sigma(t)$ symmetric PSD, and let
$\mu_t := \mathcal N(\alpha(t),\Sigma(t))$ and $\Gamma_t := \Gamma[\mu_t]$. Suppose that (writing $\alpha$ for
$\alpha(t)$) $\Gamma_t$ is affine on the
support of $\mu_t$, $\Gamma_t(x) = \Gamma_t(\alpha) + J_t(x-\alpha)$, with $J_t$ continuous in $t$, and that
\begin{equation}\label{eq:lemma-ode}
\dot\alpha = \Gamma_t(\alpha),\qquad \dot\Sigma = J_t\Sigma + \Sigma J_t^\top .
\end{equation}
Then $(\mu_t)$ is a weak solution of \eqref{eq:pde}: the law stays Gaussian. Moreover
$\Sigma(t) = \Phi(t)\Sigma(0)\Phi(t)^\top$, where $\dot\Phi = J_t\Phi$, $\Phi(0) = I$; hence $\Sigma(t)$ stays
PSD and $\operatorname{rank}\Sigma(t) = \operatorname{rank}\Sigma(0)$.
\end{lemma}

\begin{proof}
The linear equation $\dot\Phi = J_t\Phi$ has a unique $C^1$ solution on $[0,T)$, and
$\det\Phi(t) = \exp\int_0^t \operatorname{tr}J_r\,dr\neq 0$ (Liouville), so $\Phi(t)$ is invertible. With $J_t$
regarded as a given continuous function of $t$, both $\Sigma$ and $\Phi\Sigma(0)\Phi^\top$ solve the linear
equation $\dot S = J_tS + SJ_t^\top$ with the same initial value, so they coincide; PSD-ness and rank
are preserved because $\Phi(t)$ is invertible.

Let $T_t(x) := \alpha(t) + \Phi(t)\big(x-\alpha(0)\big)$. If $X_0 = \alpha(0)+\Sigma(0)^{1/2}Z\sim\mu_0$ then
$T_t(X_0) = \alpha(t) + \Phi(t)\Sigma(0)^{1/2}Z\sim\mathcal N(\alpha(t),\Phi\Sigma(0)\Phi^\top) = \mu_t$, so
$\mu_t = (T_t)_\#\mu_0$, and $T_t$ maps the support of $\mu_0$ onto that of $\mu_t$. For $x$ in the
support of $\mu_0$, by \eqref{eq:lemma-ode} and the affine form of $\Gamma_t$,
\[
\partial_t T_t(x) = \dot\alpha + J_t\Phi(t)\big(x-\alpha(0)\big)
= \Gamma_t(\alpha) + J_t\big(T_t(x)-\alpha\big) = \Gamma_t\big(T_t(x)\big).
\]
For $\varphi\in C_c^\infty(\mathbb R^d)$ the $t$-derivative of $\varphi(T_t(x))$ is bounded by
$c\,(1+|x|)$ locally uniformly in $t$, which is $\mu_0$-integrable, so
\[
\frac{d}{dt}\int\varphi\,d\mu_t = \frac{d}{dt}\int\varphi\big(T_t(x)\big)\,d\mu_0(x)
= \int\nabla\varphi\big(T_t(x)\big)\cdot\Gamma_t\big(T_t(x)\big)\,d\mu_0(x)
= \int\nabla\varphi\cdot\Gamma[\mu_t]\,d\mu_t ,
\]
which is \eqref{eq:pde}. Only the values of $\Gamma_t$ on the support of $\mu_t$ enter, so singular $\Sigma$ is
allowed.
\end{proof}

\begin{remark}
Under the hypotheses of Lemma~\ref{lem:affine}, $\mathbb E_{\mu_t}[\Gamma_t] = \Gamma_t(\alpha)$ and
$\mathbb E[(X-\alpha)\Gamma_t(X)^\top] = \Sigma J_t^\top$, so \eqref{eq:projection} reduces to \eqref{eq:lemma-ode}.
A discrete layer $x\mapsto x+h\Gamma(x)$ maps $\mathcal N(\alpha,\Sigma)$ exactly to
$\mathcal N\big(\alpha+h\Gamma(\alpha),\,(I+hJ)\Sigma(I+hJ)^\top\big)$.
\end{remark}

\begin{lemma}[Exponential tilting]\label{lem:tilt}
Let $Y\sim\mathcal N(\alpha,\Sigma)$, $u\in\mathbb R^d$ and $B$ symmetric with
$I+\Sigma^{1/2}B\Sigma^{1/2}\succ0$. The law with density proportional to $e^{u^\top y-\frac12 y^\top By}$
with respect to $\mathcal N(\alpha,\Sigma)$ is
\begin{equation}\label{eq:tilt}
\mathcal N\big((I+\Sigma B)^{-1}(\alpha+\Sigma u),\ (I+\Sigma B)^{-1}\Sigma\big);
\qquad\text{for } B = 0:\quad \mathcal N(\alpha+\Sigma u,\ \Sigma).
\end{equation}
\end{lemma}

\begin{proof}
Write $Y = \alpha+\Sigma^{1/2}Z$, $Z\sim\mathcal N(0,I)$, and $M := \Sigma^{1/2}B\Sigma^{1/2}$. Up to a constant,
$u^\top Y-\frac12Y^\top BY = w^\top Z - \frac12Z^\top MZ$ with $w := \Sigma^{1/2}(u-B\alpha)$, so the tilted law
of $Z$ has density proportional to $e^{-\frac12 z^\top(I+M)z + w^\top z}$: it is
$\mathcal N\big((I+M)^{-1}w,(I+M)^{-1}\big)$. Hence the tilted $Y$ is Gaussian with covariance
$\Sigma^{1/2}(I+M)^{-1}\Sigma^{1/2}$ and mean $\alpha+\Sigma^{1/2}(I+M)^{-1}\Sigma^{1/2}(u-B\alpha)$. The
push-through identity $(I+\Sigma B)\Sigma^{1/2} = \Sigma^{1/2}(I+M)$ gives
$\Sigma^{1/2}(I+M)^{-1}\Sigma^{1/2} = (I+\Sigma B)^{-1}\Sigma$ ($I+\Sigma B$ is invertible: its eigenvalues are
$1$ and $1+\lambda$ for the nonzero eigenvalues $\lambda>-1$ of $M$), and the mean becomes
$(I+\Sigma B)^{-1}\big((I+\Sigma B)\alpha + \Sigma u - \Sigma B\alpha\big) = (I+\Sigma B)^{-1}(\alpha+\Sigma u)$.
\end{proof}

\begin{lemma}[Stein's lemma \cite{stein1981}]\label{lem:stein}
Let $Y\sim\mathcal N(\alpha,\Sigma)$ and $g:\mathbb R^d\to\mathbb R$ continuously differentiable with
$\mathbb E|g(Y)|\,|Y|<\infty$ and $\mathbb E|\nabla g(Y)|<\infty$. Then
$\mathbb E[(Y-\alpha)\,g(Y)] = \Sigma\,\mathbb E[\nabla g(Y)]$. In particular, for $g = \phi\circ s$ with
$s(y) = c + a^\top y$,
\begin{equation}\label{eq:stein}
\int\phi(s)\,y\,d\mathcal N(y;\alpha,\Sigma) = \alpha\,\mathbb E[\phi(s)] + \Sigma a\,\mathbb E[\phi'(s)],
\qquad s\sim\mathcal N(c+a^\top\alpha,\ a^\top\Sigma a).
\end{equation}
\end{lemma}

\begin{proof}
For $Z\sim\mathcal N(0,I)$ and $h$ continuously differentiable with $\mathbb E|\nabla h(Z)|<\infty$,
$\mathbb E[Z\,h(Z)] = \mathbb E[\nabla h(Z)]$ by integration by
parts in each coordinate against the standard normal density \cite[Lemma~1]{stein1981}. Apply it to
$h(z) := g(\alpha+\Sigma^{1/2}z)$, whose gradient is $\Sigma^{1/2}\nabla g(\alpha+\Sigma^{1/2}z)$:
$\mathbb E[(Y-\alpha)g(Y)] = \Sigma^{1/2}\mathbb E[Zh(Z)] = \Sigma^{1/2}\Sigma^{1/2}\mathbb E[\nabla g(Y)]$.
With $\nabla(\phi\circ s) = \phi'(s)\,a$ this is \eqref{eq:stein}; $s$ is affine in $Y$, hence Gaussian.
\end{proof}

\begin{lemma}[Non-affine velocities leave the Gaussian family; $d=1$]\label{lem:nonclosure}
Let $d=1$ and let $t\mapsto\mu_t = \mathcal N(\alpha(t),\sigma^2(t))$, with $\alpha,\sigma^2$ of class
$C^1$ on $[0,\varepsilon)$
and $\sigma^2(0)>0$, be a weak solution of \eqref{eq:pde} whose velocities $\Gamma_t = \Gamma[\mu_t]$ are continuous in
$(t,x)$. If $\mu_0(x)\Gamma_0(x)\to0$ as $x\to-\infty$, then $\Gamma_0$ is affine. Consequently, if
$\partial_x^2\Gamma_0(x_0)\neq0$ at one point $x_0$, no Gaussian solution starts from $\mu_0$: the law leaves the
Gaussian family at once.
\end{lemma}

\begin{proof}
Write $\alpha,\sigma^2,\mu$ for the values at $t=0$ and $q := \partial_t\log\mu_t|_{t=0}
= \dot\alpha\,(x-\alpha)/\sigma^2 + \dot{(\sigma^2)}\big((x-\alpha)^2-\sigma^2\big)/(2\sigma^4)$,
a polynomial. Differentiating
$\int\varphi\,d\mu_t$ at $t=0$ under the integral ($\varphi\in C_c^\infty$) and using \eqref{eq:pde} gives
$\int\varphi\,q\,\mu\,dx = \int\varphi'\,\Gamma_0\,\mu\,dx$, i.e.\ $(\mu\Gamma_0)' = -q\mu$ in the sense of
distributions. The primitives $\int_{-\infty}^x(y-\alpha)\mu\,dy = -\sigma^2\mu(x)$ and
$\int_{-\infty}^x\big((y-\alpha)^2-\sigma^2\big)\mu\,dy = -\sigma^2(x-\alpha)\mu(x)$ give, for a constant $c$,
\[
\mu(x)\,\Gamma_0(x) = \mu(x)\Big(\dot\alpha + \frac{\dot{(\sigma^2)}}{2\sigma^2}(x-\alpha)\Big) + c .
\]
Letting $x\to-\infty$ gives $c = 0$, so $\Gamma_0(x) = \dot\alpha + \dot{(\sigma^2)}(x-\alpha)/(2\sigma^2)$ is affine.
\end{proof}

\begin{remark}
The non-closure certificates below evaluate $\partial_x^2\Gamma$ exactly in $d=1$ at a stated point
(all parameters and moments equal to $1$). The tail hypothesis holds there: the sigmoid velocity is bounded, and
for the unnormalized kernel $\mu_0(x)\Gamma(x)\propto(1+x)e^{2x}\to0$ as $x\to-\infty$. A variant whose $d=1$
instance leaves the Gaussian family does not close in general.
\end{remark}
"""

#: The references cited by :data:`PRELIMINARIES` and the derivation steps.
BIBLIOGRAPHY = r"""\begin{thebibliography}{99}
\bibitem{castin2025} V.~Castin, P.~Ablin, J.~A.~Carrillo, G.~Peyr\'e.
  A unified perspective on the dynamics of deep transformers. arXiv:2501.18322, 2025.
\bibitem{cuturi2013} M.~Cuturi. Sinkhorn distances: lightspeed computation of optimal transport.
  \emph{Advances in Neural Information Processing Systems} 26, 2013.
\bibitem{geshkovski2023} B.~Geshkovski, C.~Letrouit, Y.~Polyanskiy, P.~Rigollet.
  A mathematical perspective on transformers. arXiv:2312.10794, 2023.
\bibitem{janati2020} H.~Janati, B.~Muzellec, G.~Peyr\'e, M.~Cuturi. Entropic optimal transport between
  unbalanced Gaussian measures has a closed form. \emph{Advances in Neural Information Processing Systems} 33, 2020.
\bibitem{kim2021} H.~Kim, G.~Papamakarios, A.~Mnih. The Lipschitz constant of self-attention.
  \emph{Proceedings of the 38th International Conference on Machine Learning (ICML)}, PMLR 139, 2021.
\bibitem{ramapuram2025} J.~Ramapuram et al. Theory, analysis, and best practices for sigmoid
  self-attention. \emph{International Conference on Learning Representations (ICLR)}, 2025; arXiv:2409.04431.
\bibitem{sander2022sinkformers} M.~E.~Sander, P.~Ablin, M.~Blondel, G.~Peyr\'e. Sinkformers: transformers
  with doubly stochastic attention. \emph{Proceedings of the 25th International Conference on Artificial
  Intelligence and Statistics (AISTATS)}, PMLR 151, 2022.
\bibitem{stein1981} C.~M.~Stein. Estimation of the mean of a multivariate normal distribution.
  \emph{The Annals of Statistics} 9(6):1135--1151, 1981.
\bibitem{stroud1971} A.~H.~Stroud. \emph{Approximate Calculation of Multiple Integrals}. Prentice-Hall, 1971.
\bibitem{vaswani2017} A.~Vaswani, N.~Shazeer, N.~Parmar, J.~Uszkoreit, L.~Jones, A.~N.~Gomez, \L.~Kaiser,
  I.~Polosukhin. Attention is all you need. \emph{Advances in Neural Information Processing Systems} 30, 2017.
\end{thebibliography}
"""

_UNICODE = {
    "α": r"\alpha", "β": r"\beta", "Γ": r"\Gamma", "γ": r"\gamma", "Σ": r"\Sigma", "σ": r"\sigma",
    "μ": r"\mu", "π": r"\pi", "φ": r"\varphi", "λ": r"\lambda", "Λ": r"\Lambda", "Φ": r"\Phi",
    "∂": r"\partial", "∇": r"\nabla", "∫": r"\int", "≠": r"\neq", "≤": r"\leq", "≥": r"\geq",
    "≻": r"\succ", "⪰": r"\succeq", "⊗": r"\otimes", "→": r"\to", "·": r"\cdot", "√": r"\surd",
    "²": r"^2", "ᵀ": r"^\top", "⁻¹": r"^{-1}", "⁺": r"^{+}", "ℝ": r"\mathbb{R}", "∈": r"\in",
    "×": r"\times", "∞": r"\infty", "⟨": r"\langle", "⟩": r"\rangle", "Λ₀": r"\Lambda_0",
    "‖": r"\|", "τ": r"\tau", "ρ": r"\rho", "Δ": r"\Delta", "δ": r"\delta", "ε": r"\varepsilon",
    "₀": r"_0", "₁": r"_1", "ₕ": r"_h", "≈": r"\approx", "⪯": r"\preceq", "≺": r"\prec",
}
_PLAIN = {"~": r"\ensuremath{\sim}", "−": r"\ensuremath{-}",
          "–": "--", "—": "---", "’": "'", "“": "``", "”": "''", "…": r"\ldots{}"}


def _is_subscript(s: str, i: int) -> bool:
    """``s[i] == "_"`` starts a one-character subscript (``W_h``, ``(Vy)_k``), not an identifier
    (``solve_masked``)."""
    nxt = s[i + 1 : i + 2]
    after = s[i + 2 : i + 3]
    return i > 0 and nxt.isalnum() and nxt.isascii() and not (after.isalnum() or after == "_")


def text(s: str) -> str:
    """Plain text with Unicode maths mapped to LaTeX (``\\ensuremath`` so it works in
    both text and math mode); ``_`` and ``%`` outside ``$...$`` are escaped."""
    out: list[str] = []
    in_math = False
    i = 0
    while i < len(s):
        ch = s[i]
        two = s[i : i + 2]
        if ch == "$":
            in_math = not in_math
            out.append(ch)
        elif two in _UNICODE:
            out.append(rf"\ensuremath{{{_UNICODE[two]}}}")
            i += 1
        elif ch in _UNICODE:
            out.append(rf"\ensuremath{{{_UNICODE[ch]}}}")
        elif ch in _PLAIN:
            out.append(_PLAIN[ch])
        elif ch == "_" and not in_math and _is_subscript(s, i):
            out.append(rf"\ensuremath{{_{{{s[i + 1]}}}}}")
            i += 1
        elif ch in "_%&#{}" and not in_math:
            out.append("\\" + ch)
        elif ch == "|" and not in_math:
            out.append(r"\textbar{}")
        elif ch == "^" and not in_math:
            out.append(r"\^{}")
        elif ord(ch) > 127:
            raise ValueError(f"no LaTeX mapping for character {ch!r} in {s!r}")
        else:
            out.append(ch)
        i += 1
    return "".join(out)



#: Where a derivation step's argument comes from: label (after any "Head h: ") -> LaTeX reference.
_REFS = {
    "Tilted law": r"Lemma~\ref{lem:tilt}",
    "Stein's lemma": r"Lemma~\ref{lem:stein}",
    "Moment equations": r"Lemma~\ref{lem:affine}",
    "Gaussian coupling": r"\cite{sander2022sinkformers,janati2020}",
    "Second derivative (d = 1)": r"in $d = 1$ every matrix is a scalar and $\Sigma = \sigma^2$",
    "Non-closure certificate": r"Lemma~\ref{lem:nonclosure}",
    "Gaussian projection (approximation)": r"equation~\eqref{eq:projection}",
    "Cubature": r"\cite{stroud1971}",
}

#: Prose for steps that come without a note (the projection steps of the cubature closure).
_NOTES = {
    "Velocity": "the velocity derived above, evaluated on N(α, Σ)",
    "Cubature": "F stands for Γ and for (x − α)Γ(x)ᵀ; z_k and w_k are the nodes and weights of a rule for"
                " N(0, I), exact for polynomials up to the stated degree",
    "Gaussian projection (approximation)": "the moment equations of the Gaussian with the current first two"
                                           " moments",
}

_KERNEL = {
    "softmax": r"Kernel normalization: softmax, \eqref{eq:softmax}.",
    "sinkhorn": r"Kernel normalization: doubly stochastic (Sinkhorn), \eqref{eq:sinkhorn}.",
    "sigmoid": r"No normalization: kernel $\sigma(s)$, \eqref{eq:sigmoid}.",
    "none": r"No normalization: kernel $e^{s}$, \eqref{eq:unnormalized}.",
}

#: A display longer than this (characters of LaTeX source) without an explicit line break is
#: broken at its top-level ``,\quad`` separators so that it stays inside the margins.
_WRAP_AT = 150


def _wrap(eq: str) -> str:
    """Break a long one-line display at top-level ``,\\quad`` (outside braces and
    ``\\left ... \\right``) into the lines of a ``gathered`` block."""
    if r"\\" in eq or len(eq) <= _WRAP_AT:
        return eq
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    sep = r",\quad"
    while i < len(eq):
        if eq.startswith(r"\left", i) and not eq.startswith(r"\leftarrow", i):
            depth += 1
            i += 5
            continue
        if eq.startswith(r"\right", i) and not eq.startswith(r"\rightarrow", i):
            depth -= 1
            i += 6
            continue
        ch = eq[i]
        if ch == "\\" and i + 1 < len(eq) and eq[i + 1] in "{}":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 0 and eq.startswith(sep, i):
            parts.append(eq[start:i] + ",")
            i += len(sep)
            start = i
            continue
        i += 1
    parts.append(eq[start:])
    return r"\\ ".join(p.strip() for p in parts if p.strip())


def display(eq: str, label: str) -> list[str]:
    """A numbered display: one equation number per derivation step."""
    return [rf"\begin{{equation}}\label{{{label}}}", r"\begin{gathered}", _wrap(eq), r"\end{gathered}",
            r"\end{equation}", ""]


def _step_text(label: str, note: str, projection: bool = True) -> str:
    """The prose of a step: its note, then the lemma or reference the step rests on."""
    note = note or (_NOTES.get(label, "") if projection else "")
    body = text(note).strip() if note else ""
    ref = _REFS.get(label.split(": ")[-1])
    if ref:
        if ref.startswith(r"\cite"):
            body = f"{body} {ref}" if body else ref
        elif body:
            body = f"{body} ({ref})"
        else:
            body = ref[0].upper() + ref[1:]
    if body and not body.endswith("."):
        body += "."
    if re.match(r"[a-z][a-z-]+\b", body):  # a sentence, not a symbol such as "s is affine"
        body = body[0].upper() + body[1:]
    return body


def _intro(c: Closure, stem: str, n_last: int) -> str:
    v = c.variant
    first = text(v.summary) + "." if v.summary else "A user-defined variant, given by its score and value map."
    parts = [first, _KERNEL[v.normalization]]
    if v.residual:
        parts.append(r"Residual form: each head contributes $C(\mathbb E_x[y] - x)$ instead of $C\,\mathbb E_x[y]$.")
    if v.feedforward:
        parts.append(r"An affine feed-forward term $W_{ff}x + b_{ff}$ is added to $\Gamma$.")
    if c.preserves_gaussian:
        parts.append(r"The velocity is affine in $x$ on $\mathcal N(\alpha,\Sigma)$, so by Lemma~\ref{lem:affine} the"
                     rf" Gaussian family is preserved and the moment equations \eqref{{eq:{stem}:{n_last}}} are exact.")
    else:
        parts.append(r"The velocity is not affine in $x$; by the certificate"
                     rf" \eqref{{eq:{stem}:{n_last}}} and Lemma~\ref{{lem:nonclosure}} the Gaussian family is"
                     r" \emph{not} preserved.")
    return " ".join(parts)


def _projection_steps(c: Closure) -> list[tuple[str, str, str]]:
    """(label, LaTeX, note) of the Gaussian-projection closure integrated for a non-closing variant."""
    from .symbolic.projection import closed_form_projection, projection_steps

    closed = closed_form_projection(c)
    if closed is not None:
        return [(s.label, s.latex, s.note) for s in closed.steps]

    return [(label, eq, "") for label, eq in projection_steps(c)]


def closure_latex(c: Closure, standalone: bool = False) -> str:
    """One section: the derivation steps of a closure, in order, one numbered equation each
    (labels ``eq:STEM:i``), citing the lemmas of :data:`PRELIMINARIES` they rest on."""
    v = c.variant
    stem = file_stem(c)
    opts = ", ".join(f"{k}={val}" for k, val in v.options)
    title = f"{v.name} ({opts})" if opts else v.name
    lines = [
        rf"\section{{Variant \texttt{{{text(title)}}}}}\label{{sec:{stem}}}",
        _intro(c, stem, len(c.steps)),
        "",
    ]
    for i, st in enumerate(c.steps, 1):
        note = st.note or ("the value map applied to the previous result" if st.label == "Velocity" else "")
        lines.append(rf"\paragraph{{Step {i}: {text(st.label)}.}} {_step_text(st.label, note, False)}")
        lines += display(st.latex, f"eq:{stem}:{i}")
    if not c.preserves_gaussian:
        lines.append(r"\subsection*{What gaussflow integrates instead: the Gaussian-projection closure}")
        lines.append(r"This is an approximation: the law leaves the Gaussian family (Lemma~\ref{lem:nonclosure}),"
                     r" and gaussflow integrates the Gaussian-projection closure \eqref{eq:projection} instead;"
                     r" its error against particles is measured by \texttt{gaussflow verify}.")
        lines.append("")
        for j, (label, eq, note) in enumerate(_projection_steps(c), len(c.steps) + 1):
            lines.append(rf"\paragraph{{Step {j}: {text(label)}.}} {_step_text(label, note)}")
            lines += display(eq, f"eq:{stem}:{j}")
    body = "\n".join(lines)
    return standalone_document(body) if standalone else body


def closure_ode_latex(c: Closure) -> str:
    """The moment ODEs a closure integrates, as one display for notebooks (``Closure._repr_latex_``).

    A closing variant: its named parameter products and its "Moment equations" step (α̇, Σ̇, exact); a
    non-closing one: the steps of the Gaussian-projection closure gaussflow integrates instead, headed as an
    approximation. The equations are the derivation's own steps (nothing is retyped here).
    """
    if c.preserves_gaussian:
        eqs = [st.latex for st in c.steps if st.label == "Named parameters"] + [c.steps[-1].latex]
        head = rf"\text{{{text(c.variant.name)}: exact closed moment equations}}"
    else:
        eqs = [eq for _label, eq, _note in _projection_steps(c)]
        head = rf"\text{{{text(c.variant.name)}: does not close; Gaussian-projection approximation}}"
    return r"$$\begin{gathered}" + r" \\ ".join([head, *eqs]) + r"\end{gathered}$$"


def standalone_document(body: str) -> str:
    """Wrap a section so it compiles alone (with the notation, lemmas and references) and can
    also be ``\\input`` by the master document (which has them once)."""
    return ("\\ifdefined\\gaussflowmaster\\else\n" + PREAMBLE + "\\begin{document}\n" + PRELIMINARIES + "\\fi\n"
            + body + "\n\\ifdefined\\gaussflowmaster\\else\n" + BIBLIOGRAPHY + "\\end{document}\n\\fi\n")


def master_latex(names: Iterable[str]) -> str:
    """``gaussflow.tex``: notation and lemmas, every variant file, references."""
    parts = [
        "\\def\\gaussflowmaster{}",
        PREAMBLE,
        r"\title{gaussflow: Gaussian closures of attention dynamics}",
        r"\author{generated by \texttt{gaussflow derive --all}}",
        r"\date{}",
        r"\begin{document}",
        r"\maketitle",
        r"Each variant section is produced by the rule engine of gaussflow from the attention score of the"
        r" variant: kernel $\to$ tilted (or coupled) law $\to$ velocity $\to$ Jacobian $\to$ moment equations"
        r" (Lemma~\ref{lem:affine}), or kernel $\to$ Stein's lemma $\to$ non-closure certificate"
        r" (Lemma~\ref{lem:nonclosure}). Section~\ref{sec:setting} fixes the notation and proves the lemmas"
        r" the steps rest on.",
        "",
        PRELIMINARIES,
    ]
    parts += [rf"\input{{{n}}}" for n in names]
    parts.append(BIBLIOGRAPHY + r"\end{document}")
    return "\n".join(parts) + "\n"


def overfull_boxes(log: str) -> list[tuple[float, str]]:
    """``(points too wide, log line)`` of every overfull hbox reported in a pdflatex log."""
    return [(float(m.group(1)), m.group(0))
            for m in re.finditer(r"Overfull \\hbox \(([0-9.]+)pt too wide\)[^\n]*", log)]


def pdflatex() -> str | None:
    """Path of pdflatex, or None when it is not installed."""
    return shutil.which("pdflatex")


def compile_pdf(tex: Path, outdir: Path | None = None, keep_log: bool = False) -> Path:
    """Run pdflatex (twice, non-interactive, so references resolve) on ``tex``; returns the
    PDF path. ``keep_log`` also copies the pdflatex ``.log`` next to the PDF.

    Raises
    ------
    RuntimeError
        pdflatex missing or the document failed to compile (the log tail is included).
    """
    exe = pdflatex()
    if exe is None:
        raise RuntimeError("pdflatex not found; install texlive (Debian: texlive-latex-base)")
    tex = Path(tex).resolve()
    outdir = Path(outdir or tex.parent).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(2):
            proc = subprocess.run(
                [exe, "-interaction=nonstopmode", "-halt-on-error", f"-output-directory={tmp}", tex.name],
                cwd=tex.parent, capture_output=True, text=True, timeout=300,
            )
            if proc.returncode != 0:
                tail = "\n".join(proc.stdout.splitlines()[-25:])
                raise RuntimeError(f"pdflatex failed on {tex.name}:\n{tail}")
        pdf = Path(tmp) / (tex.stem + ".pdf")
        target = outdir / pdf.name
        shutil.copyfile(pdf, target)
        if keep_log:
            shutil.copyfile(Path(tmp) / (tex.stem + ".log"), outdir / (tex.stem + ".log"))
    return target


def write_derivations(closures: Iterable[Closure], outdir: Path, master: bool = True,
                      sections: Mapping[str, str] | None = None) -> list[Path]:
    """Write one ``NAME.tex`` per closure, the extra standalone ``sections`` (stem → LaTeX, e.g.
    ``{"masked": gaussflow.masked.masked_latex()}``) and, with ``master``, ``gaussflow.tex`` that
    inputs them all; returns the paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    names: list[str] = []
    for c in closures:
        stem = file_stem(c)
        p = outdir / f"{stem}.tex"
        p.write_text(c.latex(standalone=True), encoding="utf-8")
        written.append(p)
        names.append(stem)
    for stem, body in (sections or {}).items():
        p = outdir / f"{stem}.tex"
        p.write_text(body, encoding="utf-8")
        written.append(p)
        names.append(stem)
    if master:
        p = outdir / "gaussflow.tex"
        p.write_text(master_latex(names), encoding="utf-8")
        written.append(p)
    return written


def file_stem(c: Closure) -> str:
    """File name (without .tex) of a closure's derivation: the variant name and its options."""
    suffix = "".join(f"_{k}{'' if val is True else val}" for k, val in c.variant.options)
    return c.variant.name + suffix
