"""Runtime helpers of the generated code (each written for stacks of matrices, shape (..., d, d)).

``RUNTIME`` is the namespace the generated source is executed in.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _sqrtm_psd(M: np.ndarray) -> np.ndarray:
    """Principal square root of symmetric PSD matrices (..., d, d) via ``eigh`` (negative rounding
    eigenvalues clipped to 0, so singular Σ is fine)."""
    w, U = np.linalg.eigh(M)
    return (U * np.sqrt(np.clip(w, 0.0, None))[..., None, :]) @ U.mT


def _solve_one_plus_sqrt(Y: np.ndarray, R: np.ndarray) -> np.ndarray:
    """(I + Y^{1/2})⁻¹R for symmetric PSD Y (..., d, d) from one ``eigh``: U diag(1/(1 + √w)) UᵀR."""
    w, U = np.linalg.eigh(Y)
    return U @ ((U.mT @ R) / (1.0 + np.sqrt(np.clip(w, 0.0, None)))[..., :, None])


def _add_eye(M: np.ndarray, c: float) -> np.ndarray:
    """M + cI on a copy (M may be a named array still in use); M of shape (..., d, d)."""
    out = np.array(M, dtype=float, copy=True)
    np.einsum("...ii->...i", out)[...] += c
    return out


def _add_eye_(M: np.ndarray, c: float) -> np.ndarray:
    """M + cI in place, for a freshly computed temporary M of shape (..., d, d)."""
    if M.ndim == 2:
        M.flat[:: M.shape[0] + 1] += c
    else:
        np.einsum("...ii->...i", M)[...] += c
    return M


def _colsum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Column-wise inner products aᵢᵀbᵢ as a (..., 1, n) row (batched quadratic forms)."""
    if a.shape != b.shape:  # e.g. (d, n) against a (d, 1) column: einsum does not broadcast core axes
        a, b = np.broadcast_arrays(a, b)
    return np.einsum("...ij,...ij->...j", a, b)[..., None, :]


def _flat_heads(R: np.ndarray) -> np.ndarray:
    """Stacked head blocks (..., H, r, n) → (..., H·r, n), so Σ_h L_h R_h = [L_1 ⋯ L_H] · R."""
    return R.reshape(*R.shape[:-3], R.shape[-3] * R.shape[-2], R.shape[-1])


def _stack_matmul(S: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Stacked heads S (..., H, r, n) times X (..., n, m) shared by the heads, as one product on the
    H·r rows: (..., H, r, m)."""
    H, r, n = S.shape[-3:]
    out = S.reshape(*S.shape[:-3], H * r, n) @ X
    return out.reshape(*out.shape[:-2], H, r, X.shape[-1])


def _trace(M: np.ndarray) -> np.ndarray:
    """Trace over the last two axes, kept as a (..., 1, 1) array so it broadcasts like a scalar."""
    return np.trace(M, axis1=-2, axis2=-1)[..., None, None]


_GH_Z, _GH_W = np.polynomial.hermite_e.hermegauss(64)
_GH_W = _GH_W / np.sqrt(2 * np.pi)


def _logistic_moment(m: Any, v: Any, order: int) -> np.ndarray:
    """Λ_j(m, v) = E[σ^{(j)}(m + √v Z)] by 64-point Gauss–Hermite (probabilists')."""
    m = np.asarray(m, dtype=float)
    z = m[..., None] + np.sqrt(np.clip(np.asarray(v, dtype=float), 0, None))[..., None] * _GH_Z
    s = 0.5 * (1 + np.tanh(0.5 * z))
    f = s if order == 0 else s * (1 - s)
    return f @ _GH_W


def _full(J: Any, Sigma: np.ndarray) -> np.ndarray:
    """A Jacobian that simplified to a multiple of I (or 0) as a dense (d, d) array."""
    J = np.asarray(J, dtype=float)
    if J.ndim >= 2:
        return J
    return np.broadcast_to(J[..., None, None] * np.eye(Sigma.shape[-1]), Sigma.shape).copy()


def _solve(X: np.ndarray, R: np.ndarray) -> np.ndarray:
    """X⁻¹R; 2 × 2 matrices and stacks of them (shape (..., 2, 2)) by the adjugate, X⁻¹ = adj X / det X,
    elementwise over a stack (LAPACK's per-matrix call overhead dominates at that size); else LAPACK."""
    if X.shape == (2, 2):  # one 2 × 2 matrix: the adjugate beats LAPACK's call overhead (3.8 vs 5.8 µs)
        det = X[0, 0] * X[1, 1] - X[0, 1] * X[1, 0]
        if det != 0:
            return (np.array(((X[1, 1], -X[0, 1]), (-X[1, 0], X[0, 0]))) @ R) / det
        return np.linalg.solve(X, R)  # singular: LAPACK's LinAlgError, as before
    if X.ndim > 2 and X.shape[-2:] == (2, 2):
        a, b, c, e = X[..., 0, 0], X[..., 0, 1], X[..., 1, 0], X[..., 1, 1]
        det = (a * e - b * c)[..., None]
        r0, r1 = R[..., 0, :], R[..., 1, :]
        return np.stack([(e[..., None] * r0 - b[..., None] * r1) / det,
                         (a[..., None] * r1 - c[..., None] * r0) / det], axis=-2)
    return np.linalg.solve(X, R)


def _solve_many(X: np.ndarray, *rhs: np.ndarray) -> tuple[np.ndarray, ...]:
    """One LU factorization of X for several right-hand sides; returns X⁻¹R_i each."""
    if X.ndim > 2:  # batched (X holds Σ): give every right-hand side the batch axes
        lead = np.broadcast_shapes(X.shape[:-2], *(r.shape[:-2] for r in rhs))
        rhs = tuple(np.broadcast_to(r, lead + r.shape[-2:]) for r in rhs)
    sol = _solve(X, np.concatenate(rhs, axis=-1))
    if len(rhs) == 2:
        w = rhs[0].shape[-1]
        return sol[..., :w], sol[..., w:]
    out = []
    i = 0
    for r in rhs:
        j = i + r.shape[-1]
        out.append(sol[..., i:j])
        i = j
    return tuple(out)


RUNTIME: dict[str, Any] = {
    "_solve_many": _solve_many,
    "_solve": _solve,
    "_full": _full,
    "np": np,
    "_sqrtm_psd": _sqrtm_psd,
    "_add_eye": _add_eye,
    "_solve_one_plus_sqrt": _solve_one_plus_sqrt,
    "_add_eye_": _add_eye_,
    "_colsum": _colsum,
    "_trace": _trace,
    "_stack_matmul": _stack_matmul,
    "_flat_heads": _flat_heads,
    "_logistic_moment": _logistic_moment,
}


__all__ = ["RUNTIME"]
