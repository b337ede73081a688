"""The sphere model of attention with layer normalization (Burger, Kabri, Korolev, Roith, Weigand 2025).

Tokens x_i ∈ S^{d−1} with weights w_i (Σ w_i = 1) move by

    ẋ_i = sign · P⊥_{x_i} F_i,   P⊥_x = I − x xᵀ,
    F_i = Σ_j w_j e^{s_ij} V x_j / Z_i,   s_ij = β⟨Q x_i, K x_j⟩ = x_jᵀ A x_i,  A = β KᵀQ,

with Z_i = Σ_k w_k e^{s_ik} for the ``softmax`` normalization (SA) and Z_i = 1 for ``none`` (USA). The
normalization is looked up in the kernel registry :data:`gaussflow.kernels.NORMALIZATIONS` and read by its
data (a normalized exponential tilting kernel, or the unnormalized kernel φ = exp), never by its name.
The gradient case QᵀK = V = D symmetric is :func:`gradient_model`.

Row sums are streamed in row × column blocks with a running log-sum-exp (memory O(block² + n d), never an
n × n matrix), with the weights entering as log w_j on the columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from .._checks import as_array, check_shape
from ..kernels import NORMALIZATIONS

#: default row/column block of the streaming sums
DEFAULT_BLOCK = 512


def normalized_kernel(normalization: str) -> bool:
    """Whether the registered normalization divides by Z (softmax) or not (φ = exp); ValueError otherwise."""
    if not isinstance(normalization, str) or normalization not in NORMALIZATIONS:
        raise ValueError(f"`normalization` must be one of {sorted(NORMALIZATIONS)}; got {normalization!r}")
    norm = NORMALIZATIONS[normalization]
    if norm.phi is None and norm.rule == "exponential tilting":
        return True
    if norm.phi is sp.exp:
        return False
    raise ValueError(f"`normalization` {normalization!r} has no sphere model: the sphere kernel needs the "
                     "exponential tilting (softmax) or the unnormalized exponential (none)")


@dataclass(frozen=True)
class SphereModel:
    """Numbers of one sphere attention layer.

    Attributes
    ----------
    A : ndarray (d, d)
        Score matrix, s(x, y) = yᵀ A x = β⟨Qx, Ky⟩ (A = βKᵀQ).
    V : ndarray (d, d)
        Value matrix.
    normalization : str
        A registered normalization with a sphere kernel ("softmax" = SA, "none" = USA).
    sign : int
        +1 or −1 (in the gradient case +1 increases the energy, −1 decreases it).
    beta : float
        The temperature the score was built with (only reported; it is inside ``A``).
    D : ndarray (d, d) or None
        The symmetric matrix of the gradient case (QᵀK = V = D), else None.
    """

    A: np.ndarray
    V: np.ndarray
    normalization: str = "none"
    sign: int = 1
    beta: float = 1.0
    D: np.ndarray | None = None

    def __post_init__(self) -> None:
        A = as_array("A", self.A, 2)
        d = A.shape[0]
        check_shape("A", A, (d, d))
        check_shape("V", as_array("V", self.V, 2), (d, d))
        normalized_kernel(self.normalization)
        if self.sign not in (1, -1):
            raise ValueError(f"`sign` must be +1 or -1; got {self.sign!r}")

    @property
    def d(self) -> int:
        return int(np.shape(self.A)[0])

    @property
    def normalized(self) -> bool:
        return normalized_kernel(self.normalization)

    @property
    def gradient(self) -> bool:
        """QᵀK = V = D symmetric (the flow is a weighted gradient flow of ±E)."""
        return self.D is not None

    def with_sign(self, sign: int) -> SphereModel:
        return SphereModel(self.A, self.V, self.normalization, sign, self.beta, self.D)


def model(Q: Any, K: Any, V: Any, *, beta: float = 1.0, normalization: str = "softmax", sign: int = 1) -> SphereModel:
    """General Q, K, V: s = β⟨Qx, Ky⟩, value V (all (d, d))."""
    Qa, Ka, Va = as_array("Q", Q, 2), as_array("K", K, 2), as_array("V", V, 2)
    if Qa.shape != Ka.shape:
        raise ValueError(f"`Q` and `K` must have the same shape; got {Qa.shape} and {Ka.shape}")
    return SphereModel(float(beta) * Ka.T @ Qa, Va, normalization, sign, float(beta))


def gradient_model(D: Any, *, beta: float = 1.0, normalization: str = "none", sign: int = 1) -> SphereModel:
    """Gradient case QᵀK = V = D (D symmetric (d, d)): ±E(μ) = ±∬ e^{β xᵀDy} dμ dμ."""
    Da = as_array("D", D, 2)
    check_shape("D", Da, (Da.shape[0], Da.shape[0]))
    if not np.allclose(Da, Da.T, rtol=1e-12, atol=1e-14):
        raise ValueError(f"`D` must be symmetric; got {Da}")
    Da = 0.5 * (Da + Da.T)
    return SphereModel(float(beta) * Da, Da.copy(), normalization, sign, float(beta), Da)


def from_attention(attn: Any, *, sign: int = 1) -> SphereModel:
    """The sphere model of a registered bilinear one-head attention (``gf.attention('softmax', Q=, K=, V=)``
    or ``'unnormalized'``): its score matrix and value map read from the variant's numbers."""
    from ..kernels.field import numeric_heads

    heads = numeric_heads(attn)
    if len(heads) != 1:
        raise ValueError(f"`attn` must have one head; got {len(heads)}")
    h = heads[0]
    if any(np.any(m) for m in (h.R, h.w, h.P, h.u)) or h.c != 0.0:
        raise ValueError("`attn` must have a bilinear score β⟨Qx, Ky⟩ (no x-only or y-only terms)")
    return SphereModel(h.A, h.C, attn.closure.variant.normalization, sign, float(attn.params.get("beta", 1.0)))


def check_points(X: Any, d: int | None = None, *, name: str = "X", tol: float = 1e-8) -> np.ndarray:
    """Points on the sphere, shape (n, d), |x_i| = 1 within ``tol``."""
    Xa = as_array(name, X, 2)
    if d is not None:
        check_shape(name, Xa, (None, d))
    if Xa.shape[0] == 0:
        raise ValueError(f"`{name}` must hold at least one point")
    err = np.max(np.abs(np.linalg.norm(Xa, axis=1) - 1.0))
    if err > tol:
        raise ValueError(f"`{name}` must hold unit vectors (rows on the sphere); max | |x| - 1 | = {err:.3g}")
    return Xa


def check_weights(weights: Any, n: int) -> np.ndarray:
    """Weights (n,), nonnegative, summing to 1; None → uniform 1/n."""
    if weights is None:
        return np.full(n, 1.0 / n)
    w = as_array("weights", weights, 1)
    check_shape("weights", w, (n,))
    if np.any(w < 0) or abs(w.sum() - 1.0) > 1e-10:
        raise ValueError(f"`weights` must be nonnegative and sum to 1; got sum {w.sum()!r}, min {w.min()!r}")
    return w


def row_sums(X: np.ndarray, A: np.ndarray, weights: np.ndarray, Y: np.ndarray | None = None,
             block: int = DEFAULT_BLOCK) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Streaming weighted exponential sums over the columns Y (default X).

    X may also be a batch (R, n, d) of independent systems with shared weights (dense, for small n).
    Returns ``(m, S1, Sx)`` with shapes (n,), (n,), (n, d) (batch: leading R) such that
    Σ_j w_j e^{s_ij} = e^{m_i} S1_i and Σ_j w_j e^{s_ij} y_j = e^{m_i} Sx_i, s_ij = y_jᵀ A x_i
    (a running log-sum-exp shift m_i, so no exponential overflows).
    """
    Y = X if Y is None else Y
    if X.ndim == 3:  # a batch of independent systems (R, n, d), small n: one dense product per system
        with np.errstate(divide="ignore"):
            S = (X @ A.T) @ np.swapaxes(Y, 1, 2)
            S += np.log(weights)
        mb = S.max(axis=2)
        S -= mb[..., None]
        np.exp(S, out=S)
        return mb, S.sum(axis=2), S @ Y
    n, d = X.shape
    L = X @ A.T
    with np.errstate(divide="ignore"):
        logw = np.log(weights)
    m = np.full(n, -np.inf)
    acc = np.zeros((n, d + 1))
    Yw = np.concatenate([Y, np.ones((Y.shape[0], 1))], axis=1)
    for j0 in range(0, Y.shape[0], block):
        j1 = min(j0 + block, Y.shape[0])
        for i0 in range(0, n, block):
            i1 = min(i0 + block, n)
            S = L[i0:i1] @ Y[j0:j1].T + logw[None, j0:j1]
            mnew = np.maximum(m[i0:i1], S.max(axis=1))
            scale = np.exp(m[i0:i1] - mnew)
            S -= mnew[:, None]
            np.exp(S, out=S)
            acc[i0:i1] = acc[i0:i1] * scale[:, None] + S @ Yw[j0:j1]
            m[i0:i1] = mnew
    return m, acc[:, d], acc[:, :d]


def field(mdl: SphereModel, X: np.ndarray, weights: np.ndarray,
          block: int = DEFAULT_BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """F_i (n, d) and log Z_i (n,): F_i = Σ_j w_j e^{s_ij} V x_j / Z_i, Z_i = Σ_j w_j e^{s_ij} (softmax) or
    F_i = Σ_j w_j e^{s_ij} V x_j (none). Overflow of the unnormalized sum raises FloatingPointError."""
    m, S1, Sx = row_sums(X, mdl.A, weights, block=block)
    logZ = m + np.log(S1)
    if mdl.normalized:
        M = Sx / S1[..., None]
    else:
        with np.errstate(over="raise"):
            try:
                M = Sx * np.exp(m)[..., None]
            except FloatingPointError:
                raise FloatingPointError("unnormalized sphere attention overflowed: e^{s_ij} beyond float64") from None
    return M @ mdl.V.T, logZ


def tangent(X: np.ndarray, F: np.ndarray) -> np.ndarray:
    """P⊥_x F = F − (x·F) x, row-wise ((..., n, d))."""
    return F - np.sum(X * F, axis=-1, keepdims=True) * X


def velocity(mdl: SphereModel, X: Any, weights: Any = None, block: int = DEFAULT_BLOCK) -> np.ndarray:
    """ẋ_i = sign · P⊥_{x_i} F_i for all rows of X (n, d) → (n, d)."""
    Xa = check_points(X, mdl.d)
    w = check_weights(weights, Xa.shape[0])
    F, _ = field(mdl, Xa, w, block)
    return mdl.sign * tangent(Xa, F)


__all__ = ["DEFAULT_BLOCK", "SphereModel", "check_points", "check_weights", "field", "from_attention",
           "gradient_model", "model", "normalized_kernel", "row_sums", "tangent", "velocity"]
