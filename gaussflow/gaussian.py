"""Gaussian laws N(α, Σ) as frozen, validated values (singular Σ allowed)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import check_cov, check_mean


@dataclass(frozen=True, eq=False)
class Gaussian:
    """N(mean, cov) on ℝ^d.

    Parameters
    ----------
    mean : array_like, shape (d,)
    cov : array_like, shape (d, d)
        Symmetric positive semi-definite; singular covariances are valid (the rank is
        invariant under the closed dynamics).
    """

    mean: np.ndarray
    cov: np.ndarray

    def __post_init__(self) -> None:
        m = check_mean("mean", self.mean)
        c = check_cov("cov", self.cov, m.shape[0])
        m.setflags(write=False)
        c.setflags(write=False)
        object.__setattr__(self, "mean", m)
        object.__setattr__(self, "cov", c)

    @property
    def d(self) -> int:
        return int(self.mean.shape[0])

    def sample(self, n: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
        """``n`` i.i.d. samples, shape (n, d) (via a PSD square root, so singular Σ works)."""
        rng = np.random.default_rng(seed)
        w, U = np.linalg.eigh(self.cov)
        L = U * np.sqrt(np.clip(w, 0, None))
        return self.mean + rng.standard_normal((n, self.d)) @ L.T

    def __repr__(self) -> str:
        return f"Gaussian(d={self.d}, mean={self.mean.tolist()!r}, cov={self.cov.tolist()!r})"
