"""Streaming softmax particle kernel: E[y | xᵢ] = Σⱼ e^{sᵢⱼ} xⱼ / Σⱼ e^{sᵢⱼ} in row × column blocks with a
running log-sum-exp (memory O(chunk² + n d), never an n × n matrix)."""

from __future__ import annotations

import numpy as np

from .field import Field, NumericHead, augment


def softmax_kernel(fld: Field, h: int, head: NumericHead, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Streaming log-sum-exp: returns (E[y|xᵢ] (n, d), ones (n,))."""
    n, d = X.shape
    c = fld.block(n)
    L, Y = augment(head, X, shift_col=True)
    Yw = Y[:, : d + 1]  # [xⱼ, 1]: weighted sums and normalizer from one product
    out = np.ones((n, d + 1))
    buf = np.empty(c * c)
    tri = np.triu(np.ones((c, c), dtype=bool), 1) if fld.causal else None
    for i0 in fld.rows(n):
        i1 = min(i0 + c, n)
        Li = L[i0:i1].copy()
        acc = np.zeros((i1 - i0, d + 1))
        first = True
        for j0 in range(0, n, c):
            if fld.causal and j0 >= i1:
                break
            j1 = min(j0 + c, n)
            S = buf[: (i1 - i0) * (j1 - j0)].reshape(i1 - i0, j1 - j0)
            np.matmul(Li, Y[j0:j1].T, out=S)  # sᵢⱼ − mᵢ (m = 0 on the first block)
            diag = tri is not None and j0 == i0
            if diag:
                S[tri[: i1 - i0, : j1 - j0]] = -np.inf
            if first:
                m = S.max(axis=1)
                S -= m[:, None]
                Li[:, d] = -m
                first = False
            with np.errstate(over="ignore", invalid="ignore"):
                np.exp(S, out=S)
                new = acc + S @ Yw[j0:j1]
            if not np.all(np.isfinite(new)):
                # a score exceeded the running shift by > ~709: re-shift these rows exactly
                np.matmul(Li, Y[j0:j1].T, out=S)
                if diag:
                    S[tri[: i1 - i0, : j1 - j0]] = -np.inf
                with np.errstate(divide="ignore"):
                    delta = np.maximum(S.max(axis=1), np.log(acc[:, d]))
                acc *= np.exp(-delta)[:, None]
                S -= delta[:, None]
                Li[:, d] -= delta
                np.exp(S, out=S)
                new = acc + S @ Yw[j0:j1]
            acc = new
        out[i0:i1] = acc
    return out[:, :d] / out[:, d : d + 1], np.ones(n)


__all__ = ["softmax_kernel"]
