"""Hardmax (β = ∞) particle kernel: the zero-temperature limit of the softmax kernel.

For a head with score s(x, y) = β s₁(x, y) (every bilinear β⟨Qx, Ky⟩ and L2 score is of this form),
e^{β s₁(xᵢ, xⱼ)} / Σₖ e^{β s₁(xᵢ, xₖ)} → 1{j ∈ Jᵢ}/|Jᵢ| as β → ∞, Jᵢ = argmaxⱼ s(xᵢ, xⱼ): the head's
mean becomes the barycentre of the maximizing tokens, ties averaged (Filippov's convex combination on a
switching surface). The finite β stored in the attention only scales the scores and drops out.

Two streaming passes over column blocks (memory O(chunk² + n d), like the softmax kernel): the row
maxima (and the largest |sᵢⱼ| for the tie tolerance), then the tie-averaged sums.
"""

from __future__ import annotations

import numpy as np

from .field import Field, NumericHead, augment

#: scores within TIE_RTOL · max(1, maxⱼ |sᵢⱼ|) of the row maximum are tied
TIE_RTOL = 1e-12


def hardmax_kernel(fld: Field, h: int, head: NumericHead, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Returns (barycentre of argmaxⱼ sᵢⱼ (n, d), ones (n,)); ties within :data:`TIE_RTOL` averaged."""
    n, d = X.shape
    c = fld.block(n)
    L, Y = augment(head, X, shift_col=True)
    Yw = Y[:, : d + 1]
    out = np.ones((n, d + 1))
    tri = np.triu(np.ones((c, c), dtype=bool), 1) if fld.causal else None

    def block(i0: int, i1: int, j0: int, j1: int) -> np.ndarray:
        S = L[i0:i1] @ Y[j0:j1].T
        if tri is not None and j0 == i0:
            S[tri[: i1 - i0, : j1 - j0]] = -np.inf
        return S

    for i0 in fld.rows(n):
        i1 = min(i0 + c, n)
        cols = [(j0, min(j0 + c, n)) for j0 in range(0, n, c) if not (fld.causal and j0 >= i1)]
        top = np.full(i1 - i0, -np.inf)
        mag = np.zeros(i1 - i0)
        for j0, j1 in cols:
            S = block(i0, i1, j0, j1)
            top = np.maximum(top, S.max(axis=1))
            finite = np.where(np.isfinite(S), np.abs(S), 0.0)
            mag = np.maximum(mag, finite.max(axis=1))
        cut = top - TIE_RTOL * np.maximum(1.0, mag)
        acc = np.zeros((i1 - i0, d + 1))
        for j0, j1 in cols:
            S = block(i0, i1, j0, j1)
            acc += (S >= cut[:, None]).astype(float) @ Yw[j0:j1]
        out[i0:i1] = acc
    return out[:, :d] / out[:, d : d + 1], np.ones(n)


__all__ = ["TIE_RTOL", "hardmax_kernel"]
