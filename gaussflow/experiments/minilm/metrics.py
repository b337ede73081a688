"""Statistics of a token cloud or a Gaussian law used to compare the network with the closures.

* effective rank (Roy & Vetterli 2007): erank(Σ) = exp(−Σ_i p_i log p_i), p_i = λ_i / tr Σ (1 ≤ erank ≤ d);
* anisotropy: λ_max(Σ) / tr Σ (the share of the variance on the top direction) and, for the token
  vectors themselves, the mean-dominance ‖α‖² / (‖α‖² + tr Σ) (the expected squared cosine-type
  offset that makes raw token vectors of trained models look "anisotropic");
* alignment of the top-k eigenvectors: ‖U_aᵀU_b‖²_F / k ∈ [0, 1] (1: the same top-k subspace);
* Bures–Wasserstein distance: :func:`gaussflow.bures_wasserstein`;
* normality of a cloud: Mardia's skewness and kurtosis (:func:`gaussflow.mardia`) of its coordinates on
  the top ``k`` principal axes (the full 384-dim third-moment tensor costs O(n d³)).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ...verify import bures_wasserstein, mardia


def fit(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian fit (mean, population covariance) of a cloud X (n, d)."""
    m = X.mean(axis=0)
    Z = X - m
    return m, (Z.T @ Z) / X.shape[0]


def effective_rank(S: np.ndarray) -> float:
    """exp of the Shannon entropy of the normalized eigenvalues of Σ (d, d)."""
    return _erank_of(np.linalg.eigvalsh(0.5 * (S + S.T)))


def top_alignment(S1: np.ndarray, S2: np.ndarray, k: int = 5) -> float:
    """‖U₁ᵀU₂‖²_F / k for the top-k eigenvectors U₁, U₂ of S1, S2."""
    return _overlap(np.linalg.eigh(S1)[1], np.linalg.eigh(S2)[1], k)


def _overlap(U1: np.ndarray, U2: np.ndarray, k: int) -> float:
    return float(np.sum((U1[:, -k:].T @ U2[:, -k:]) ** 2) / k)


def _erank_of(w: np.ndarray) -> float:
    w = np.clip(w, 0.0, None)
    if w.sum() <= 0:
        return 0.0
    p = w / w.sum()
    p = p[p > 0]
    return float(math.exp(-float(np.sum(p * np.log(p)))))


@dataclass(frozen=True)
class LawStats:
    """Per-layer statistics of one Gaussian law (closure) or Gaussian fit (network)."""

    trace: float
    erank: float
    anisotropy: float
    mean_dominance: float
    bw_to_network: float | None = None
    rel_bw: float | None = None
    alignment_top5: float | None = None
    alignment_top1: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def law_stats(a: np.ndarray, S: np.ndarray, ref: tuple[np.ndarray, np.ndarray] | None = None) -> LawStats:
    """Statistics of N(a, S), and its distances to the network's fit ``ref`` = (α_net, Σ_net)."""
    S = 0.5 * (S + S.T)
    tr = float(np.trace(S))
    finite = bool(np.all(np.isfinite(S)) and np.all(np.isfinite(a)))
    if not finite:
        return LawStats(math.nan, math.nan, math.nan, math.nan)
    w, U = np.linalg.eigh(S)
    aniso = float(w[-1] / tr) if tr > 0 else math.nan
    dom = float(a @ a / (a @ a + tr)) if tr > 0 else math.nan
    if ref is None:
        return LawStats(tr, _erank_of(w), aniso, dom)
    bw = bures_wasserstein(a, S, ref[0], ref[1])
    scale = math.sqrt(float(ref[0] @ ref[0] + np.trace(ref[1])))
    Ur = _eigvecs(ref[1])
    return LawStats(tr, _erank_of(w), aniso, dom, bw, bw / scale, _overlap(U, Ur, 5), _overlap(U, Ur, 1))


_EIG_CACHE: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _eigvecs(S: np.ndarray) -> np.ndarray:
    """Eigenvectors of a reference covariance, memoized on the array object (the same fit is the reference
    of every path at a layer)."""
    hit = _EIG_CACHE.get(id(S))
    if hit is None or hit[0] is not S:
        if len(_EIG_CACHE) > 64:
            _EIG_CACHE.clear()
        hit = (S, np.linalg.eigh(0.5 * (S + S.T))[1])
        _EIG_CACHE[id(S)] = hit
    return hit[1]


def normality(X: np.ndarray, k: int = 10) -> dict[str, float]:
    """Mardia's skewness/kurtosis statistics of X (n, d) on its top-k principal coordinates.

    Returns a dict with ``skewness_stat`` (n b₁/6, χ² with k(k+1)(k+2)/6 dof under normality: 220 for
    k = 10), ``skewness_p``, ``kurtosis_z`` (≈ N(0, 1) under normality), ``kurtosis_p``, ``k``.
    """
    m, S = fit(X)
    U = np.linalg.eigh(S)[1][:, -k:]
    r = mardia((X - m) @ U)
    return {"skewness_stat": r.skewness_stat, "skewness_p": r.skewness_p, "kurtosis_z": r.kurtosis_stat,
            "kurtosis_p": r.kurtosis_p, "k": k}


__all__ = ["LawStats", "effective_rank", "fit", "law_stats", "normality", "top_alignment"]
