"""State layouts of the moment ODE: ``full`` y = (α, vec Σ) and ``factor`` y = (α, vec L), Σ = LLᵀ."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..attention import Attention
from .common import drift_and_jacobian, kernels

# --------------------------------------------------------------------------- state layouts


class Full:
    """y = (α, vec Σ), Σ̇ from the generated closure."""

    name = "full"

    def __init__(self, alpha0: np.ndarray, Sigma0: np.ndarray) -> None:
        self.d = alpha0.shape[0]
        self.y0 = np.concatenate([alpha0, Sigma0.ravel()])
        self.rank: int | None = None

    def rhs(self, attn: Attention, y: np.ndarray) -> np.ndarray:
        d = self.d
        a_dot, S_dot = kernels(attn).moments(y[:d], y[d:].reshape(d, d))
        return np.concatenate([a_dot, S_dot.ravel()])

    def alpha(self, y: np.ndarray) -> np.ndarray:
        return y[: self.d]

    def sigma(self, y: np.ndarray) -> np.ndarray:
        return y[self.d:].reshape(self.d, self.d)

    def sigma_dot(self, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
        return dy[self.d:].reshape(self.d, self.d)

    def trace(self, y: np.ndarray) -> float:
        return float(np.trace(self.sigma(y)))

    def trace_dot(self, y: np.ndarray, dy: np.ndarray) -> float:
        return float(np.trace(self.sigma_dot(y, dy)))

    def unpack(self, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Y (m, n_state) → mean (m, d), cov (m, d, d) (symmetrized)."""
        d = self.d
        C = Y[:, d:].reshape(-1, d, d)
        return Y[:, :d].copy(), 0.5 * (C + C.transpose(0, 2, 1))


class Factor:
    """y = (α, vec L), Σ = LLᵀ, L̇ = J(α, LLᵀ) L; PSD and rank r preserved exactly."""

    name = "factor"

    def __init__(self, alpha0: np.ndarray, Sigma0: np.ndarray) -> None:
        self.d = d = alpha0.shape[0]
        w, U = np.linalg.eigh(Sigma0)
        top = max(float(w[-1]), 0.0) if d else 0.0
        keep = (w > max(d, 1) * np.finfo(float).eps * top) & (w > 0)
        self.rank = int(np.count_nonzero(keep))
        L0 = U[:, keep] * np.sqrt(w[keep])
        self.y0 = np.concatenate([alpha0, L0.ravel()])

    def _L(self, y: np.ndarray) -> np.ndarray:
        return y[self.d:].reshape(self.d, self.rank)

    def rhs(self, attn: Attention, y: np.ndarray) -> np.ndarray:
        L = self._L(y)
        g, J = drift_and_jacobian(attn, y[: self.d], L @ L.T)
        return np.concatenate([g, (J @ L).ravel()])

    def alpha(self, y: np.ndarray) -> np.ndarray:
        return y[: self.d]

    def sigma(self, y: np.ndarray) -> np.ndarray:
        L = self._L(y)
        return L @ L.T

    def sigma_dot(self, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
        P = self._L(dy) @ self._L(y).T
        return P + P.T

    def trace(self, y: np.ndarray) -> float:
        return float(np.sum(y[self.d:] ** 2))

    def trace_dot(self, y: np.ndarray, dy: np.ndarray) -> float:
        return float(2.0 * np.dot(y[self.d:], dy[self.d:]))

    def unpack(self, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        L = Y[:, self.d:].reshape(Y.shape[0], self.d, self.rank)
        return Y[:, : self.d].copy(), np.einsum("mir,mjr->mij", L, L)


#: state layouts by name (``form=None`` picks "factor" for singular or ill-conditioned Σ₀, "full" otherwise)
FORMS: dict[str, type[Full] | type[Factor]] = {"full": Full, "factor": Factor}

#: ``form=None`` picks the factor form when λ_max(Σ₀)/λ_min(Σ₀) exceeds this: the full form's
#: integration error (rtol·‖Σ‖) would then be comparable to the smallest eigenvalue and Σ could leave
#: the PSD cone (issue 9: Σ₀ = diag(1, 1e-14))
COND_FACTOR = 1e6


def condition(Sigma: np.ndarray) -> float:
    """λ_max/λ_min of a symmetric PSD matrix (inf when singular)."""
    w = np.linalg.eigvalsh(Sigma)
    with np.errstate(all="ignore"):
        return float(w[-1] / w[0]) if w[0] > 0 else float("inf")


def choose_form(form: Any, rank: int, d: int, cond: float = 1.0) -> str:
    if form is None:
        return "factor" if rank < d or cond > COND_FACTOR else "full"
    if not isinstance(form, str) or form not in FORMS:
        raise ValueError(f"unknown `form` {form!r}; valid: None (automatic), {', '.join(map(repr, FORMS))}")
    return form
