"""Closure kind for masked (causal) attention with position-dependent laws: per-position groups.

The state is P groups of Gaussian moments (α_p, Σ_p) (positions τ ∈ ((p−1)/P, p/P]), not one (α, Σ), so the
kind is not a candidate of :func:`gaussflow.closures.kind_of` (a single law has no positions); it is chosen
explicitly by :func:`gaussflow.solve_masked` / :func:`gaussflow.masked_closure`. It applies to closures with a
log-partition (softmax-normalized, single head): a token attends to the mixture of the group laws with
weights w_pq Z_q(x), and the velocity of that mixture is the π-weighted generated velocity of its components
(docs/math.md and :mod:`gaussflow.masked`). Contract items 1–4 of :class:`~gaussflow.closures.ClosureKind`
hold with the state of item "State layout" replaced by (alphas (P, d), Sigmas (P, d, d)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .._linalg import sqrtm_psd
from ..cubature import cubature_rule, default_rule
from .base import ClosureKind


def group_weights(P: int) -> np.ndarray:
    """Group attention weights w (P, P): w_pq = 1 (q < p), ½ (q = p), 0 (q > p).

    ½ is the average over positions r ∈ (0, 1] inside group p of the fraction r of the own group seen.
    """
    if isinstance(P, bool) or not isinstance(P, int | np.integer) or P < 1:
        raise ValueError(f"`P` must be a positive integer; got {P!r}")
    return np.tril(np.ones((P, P)), -1) + 0.5 * np.eye(P)


def _check_attn(attn: Any) -> Any:
    if not hasattr(attn, "compiled") or not hasattr(attn, "prepared"):
        raise ValueError(f"`attn` must be an Attention (gf.attention(...)); got {type(attn).__name__}")
    if attn.compiled.log_partition is None:
        raise ValueError(f"`attn` ({attn.name!r}) has no log-partition rule: the masked closure needs a single-head "
                         "variant whose normalization gives log ∫ k(s) dN(α, Σ) in closed form (softmax with a "
                         "score linear in y, e.g. 'softmax' with or without residual / feed-forward)")
    return attn


@dataclass(frozen=True, eq=False)
class MaskedClosure:
    """Per-position Gaussian(-projection) closure of masked attention, on the closure's generated code.

    ``closure(alphas (P, d), Sigmas (P, d, d)) -> (alpha_dots (P, d), Sigma_dots (P, d, d))`` with

        Γ_p(x) = Σ_q π_pq(x) Γ[N(α_q, Σ_q)](x),   π_pq(x) ∝ w_pq Z_q(x),   log Z_q = log ∫ e^{s(x,y)} dN(α_q, Σ_q),
        α̇_p = E[Γ_p(X)],   Σ̇_p = E[(X − α_p)Γ_p(X)ᵀ] + transpose,   X ~ N(α_p, Σ_p),

    where Γ[N(α_q, Σ_q)] and log Z_q are the closure's generated ``velocity`` and ``log_partition``
    (for softmax: V(α_q + Σ_q A x) and xᵀAᵀα_q + ½xᵀAᵀΣ_qAx). A mixture of the group laws is attended
    to with weights w_pq Z_q; the velocity of a mixture is the π-weighted velocity of its components
    because Σ_q π_pq = 1 and Γ is affine in E[y | x] (also with residual and feed-forward add-ons).
    Expectations by the cubature rule ``(nodes, weights)`` (nodes α_p + Σ_p^{1/2} z: singular Σ_p
    allowed). Build with :func:`masked_closure`. Calling does not validate (integrators own their state).

    Attributes
    ----------
    attn : Attention
        The layer (its compiled closure and prepared parameters are used).
    w : ndarray, shape (P, P)
        Group weights (:func:`group_weights`, or any nonnegative matrix with positive rows).
    nodes, weights : ndarray, shapes (m, d), (m,)
        Standard-normal cubature rule.
    rule : str
    degree : int
        Polynomial degree of exactness of the rule.
    """

    attn: Any
    w: np.ndarray
    nodes: np.ndarray
    weights: np.ndarray
    rule: str
    degree: int

    @property
    def P(self) -> int:
        return self.w.shape[0]

    @property
    def d(self) -> int:
        return self.attn.d

    def velocity(self, X: np.ndarray, alphas: np.ndarray, Sigmas: np.ndarray) -> np.ndarray:
        """Γ_p at points X (P, m, d) (row block p evaluated with group p's weights) → (P, m, d)."""
        cc, prep = self.attn.compiled, self.attn.prepared
        xs = np.swapaxes(X, -1, -2)[:, None]  # (P, 1, d, m): every group q at every block p
        al, Sg = alphas[None, :, :, None], Sigmas[None]  # (1, Q, d, 1), (1, Q, d, d)
        G = np.asarray(cc.velocity(xs, al, Sg, *prep))  # (P, Q, d, m)
        logZ = np.asarray(cc.log_partition(xs, al, Sg, *prep))[..., 0, :]  # (P, Q, m)
        with np.errstate(divide="ignore"):
            logZ = logZ + np.log(self.w)[:, :, None]
        logZ -= logZ.max(axis=1, keepdims=True)
        pi = np.exp(logZ)
        pi /= pi.sum(axis=1, keepdims=True)
        return np.einsum("pqm,pqdm->pmd", pi, np.broadcast_to(G, pi.shape[:2] + G.shape[-2:]))

    def __call__(self, alphas: np.ndarray, Sigmas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        H = np.stack([sqrtm_psd(S) for S in Sigmas])
        X = alphas[:, None, :] + np.einsum("kd,pde->pke", self.nodes, H)  # H symmetric
        G = self.velocity(X, alphas, Sigmas)  # (P, m, d)
        adot = np.einsum("k,pkd->pd", self.weights, G)
        Pm = np.einsum("pde,k,ke,pkf->pdf", H, self.weights, self.nodes, G)
        return adot, Pm + np.swapaxes(Pm, 1, 2)


def masked_closure(attn: Any, P: int, *, rule: str = "tensor", degree: int | None = None,
                   weights: Any = None) -> MaskedClosure:
    """Per-position Gaussian closure of masked attention with P position groups.

    Parameters
    ----------
    attn : Attention
        A single-head layer whose closure has a log-partition (softmax, with or without residual /
        feed-forward add-ons).
    P : int
        Number of position groups (group p: τ ∈ ((p−1)/P, p/P]).
    rule, degree
        Cubature rule for N(0, I_d) (:func:`gaussflow.cubature.cubature_rule`; default tensor
        Gauss–Hermite of degree 79/47/23/15/... in d = 1/2/3/4/...).
    weights : array_like, shape (P, P), optional
        Group weights; default :func:`group_weights` (1 below the diagonal, ½ on it).

    Returns
    -------
    MaskedClosure

    Raises
    ------
    ValueError
        ``attn`` is not an Attention or its closure has no log-partition; bad ``P`` or ``weights``.
    """
    attn = _check_attn(attn)
    w = group_weights(P) if weights is None else np.array(weights, dtype=float)
    if w.shape != (P, P) or not np.all(np.isfinite(w)) or np.any(w < 0) or np.any(w.sum(axis=1) <= 0):
        raise ValueError(f"`weights` must be a nonnegative ({P}, {P}) array with positive row sums; "
                         f"got shape {w.shape}")
    name, default = default_rule(attn.d, rule)
    Z, W, achieved = cubature_rule(attn.d, rule, default if degree is None else degree)
    return MaskedClosure(attn, w, Z, W, name, achieved)


class MaskedPerPosition(ClosureKind):
    """Per-position groups of Gaussian moments for masked attention (an approximation: the projection of a
    mixture onto one Gaussian per group). ``rhs(attn)`` is the one-group case (P = 1, which equals the
    unmasked closure); :meth:`groups` gives the P-group right-hand side."""

    name: ClassVar[str] = "masked per-position (Gaussian projection per group)"
    exact: ClassVar[bool] = False

    @classmethod
    def applies(cls, closure: Any) -> bool:
        return getattr(closure, "log_partition", None) is not None

    def rhs(self, attn: Any) -> Any:
        one = masked_closure(attn, 1)
        return lambda alpha, Sigma: tuple(a[0] for a in one(alpha[None], Sigma[None]))

    def groups(self, attn: Any, P: int, **kwargs: Any) -> MaskedClosure:
        """The P-group right-hand side (:func:`masked_closure`)."""
        return masked_closure(attn, P, **kwargs)

    def describe(self, attn: Any) -> str:
        return self.name


__all__ = ["MaskedClosure", "MaskedPerPosition", "group_weights", "masked_closure"]
