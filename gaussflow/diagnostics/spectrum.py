"""Spectral diagnostics of covariance trajectories and a rule-based regime classifier.

``spectrum(t, cov)`` turns a sampled trajectory Σ(t_k) into eigenvalues (sorted and tracked through
crossings), continuously tracked eigenvectors and scalar shape measures (anisotropy, effective / stable
rank, distance of Σ/trΣ to rank one, alignment of the top direction). ``classify(traj)`` reads those
numbers and names the asymptotic regime (collapse to zero or to a subspace, finite-time blow-up,
exponential growth, stationary, bounded), keeping the numbers that decided it as evidence.

Both work on anything with the fields of :class:`gaussflow.trajectory.Trajectory` (``t``, ``cov`` and,
for ``classify``, optionally ``status`` and ``t_blowup``); neither integrates anything.

References
----------
docs/math.md §4 (the softmax V = vI closed form Σ(t) = (Σ₀⁻¹ − vt(A + Aᵀ))⁻¹ and its three regimes, rank-one
stationary lines, exponential growth of L2 / Sinkhorn).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from .._checks import as_array
from .._tabular import Tabular, columns

__all__ = ["Spectrum", "spectrum"]

#: relative tolerance (w.r.t. the largest |entry| at the same time) for asymmetry of Σ(t_k)
SYM_RTOL = 1e-8
#: negative eigenvalues down to −PSD_RTOL·λ_max(t_k) are rounding noise and are clipped to 0
PSD_RTOL = 1e-8
#: eigenvalues closer than DEGENERATE_RTOL·λ_max(t_k) are treated as one (degenerate) eigenspace
DEGENERATE_RTOL = 1e-8



# --------------------------------------------------------------------------------------------------------
# Spectrum
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Spectrum(Tabular):
    """Eigen-decomposition of a sampled covariance trajectory Σ(t_k) = U_k diag(λ_k) U_kᵀ.

    Attributes
    ----------
    t : ndarray, shape (n,)
        Strictly increasing sample times.
    eigenvalues : ndarray, shape (n, d)
        λ_1(t_k) ≥ … ≥ λ_d(t_k), sorted descending at each time (round-off negatives clipped to 0).
    eigenvectors : ndarray, shape (n, d, d)
        Continuously tracked orthonormal eigenvectors: column ``eigenvectors[k][:, j]`` belongs to
        ``tracked_eigenvalues[k, j]``, so Σ(t_k) = U_k diag(tracked_eigenvalues[k]) U_kᵀ with
        U_k = ``eigenvectors[k]``. Branch j is continued from t_{k−1} to t_k by the assignment that
        maximises Σ_j |⟨u_j(t_{k−1}), u_{π(j)}(t_k)⟩| (Hungarian algorithm), inside a degenerate
        eigenspace the basis closest to the previous vectors is chosen (orthogonal Procrustes), and
        signs are flipped so that ⟨u_j(t_{k−1}), u_j(t_k)⟩ > 0.
    tracked_eigenvalues : ndarray, shape (n, d)
        Eigenvalue branches following the tracked eigenvectors, so they pass through crossings
        (``tracked_eigenvalues[0] == eigenvalues[0]``).
    """

    t: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    tracked_eigenvalues: np.ndarray

    def __post_init__(self) -> None:
        n, d = self.eigenvalues.shape
        shapes = {
            "t": (self.t.shape, (n,)),
            "eigenvectors": (self.eigenvectors.shape, (n, d, d)),
            "tracked_eigenvalues": (self.tracked_eigenvalues.shape, (n, d)),
        }
        for name, (got, want) in shapes.items():
            if got != want:
                raise ValueError(f"`{name}` must have shape {want} to match `eigenvalues`; got {got}")
        for name in ("t", "eigenvalues", "eigenvectors", "tracked_eigenvalues"):
            arr = np.array(getattr(self, name), dtype=float)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @property
    def n(self) -> int:
        """Number of time samples."""
        return int(self.eigenvalues.shape[0])

    @property
    def d(self) -> int:
        """Dimension of the covariance matrices."""
        return int(self.eigenvalues.shape[1])

    @property
    def trace(self) -> np.ndarray:
        """trΣ(t_k) = Σ_i λ_i(t_k), shape (n,)."""
        return self.eigenvalues.sum(axis=1)

    @property
    def normalized_eigenvalues(self) -> np.ndarray:
        """p_i = λ_i / trΣ, the spectrum of Σ/trΣ, shape (n, d) (NaN where trΣ = 0)."""
        tr = self.trace[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(tr > 0, self.eigenvalues / np.where(tr > 0, tr, 1.0), np.nan)

    @property
    def anisotropy(self) -> np.ndarray:
        """λ_max / λ_min, shape (n,); ``inf`` for singular Σ (λ_min ≤ d·ε·λ_max), NaN for Σ = 0."""
        lmax, lmin = self.eigenvalues[:, 0], self.eigenvalues[:, -1]
        singular = lmin <= self.d * np.finfo(float).eps * lmax
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(singular, np.inf, lmax / np.where(singular, 1.0, lmin))
        return np.where(lmax > 0, out, np.nan)

    @property
    def effective_rank(self) -> np.ndarray:
        """exp(H(p)), H(p) = −Σ p_i log p_i (0 log 0 = 0), p = λ/trλ; shape (n,), in [1, d].

        References: Roy & Vetterli, "The effective rank", EUSIPCO 2007.
        """
        p = self.normalized_eigenvalues
        with np.errstate(invalid="ignore", divide="ignore"):
            plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
        return np.where(np.isnan(p[:, 0]), np.nan, np.exp(-plogp.sum(axis=1)))

    @property
    def stable_rank(self) -> np.ndarray:
        """trΣ / λ_max, shape (n,), in [1, rank Σ] (NaN for Σ = 0)."""
        lmax = self.eigenvalues[:, 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(lmax > 0, self.trace / np.where(lmax > 0, lmax, 1.0), np.nan)

    @property
    def rank_one_distance(self) -> np.ndarray:
        """‖Σ/trΣ − p_1 u_1u_1ᵀ‖_F = (Σ_{i≥2} p_i²)^{1/2}, shape (n,), in [0, 1).

        Distance of the normalized covariance to its nearest rank-one matrix (Eckart–Young); in [0, ½],
        0 iff Σ has rank one, √(d − 1)/d for Σ ∝ I.
        """
        p = self.normalized_eigenvalues
        return np.sqrt(np.sum(p[:, 1:] ** 2, axis=1))

    @property
    def top_eigenvector(self) -> np.ndarray:
        """Unit eigenvector of λ_max(t_k) (sign-tracked), shape (n, d)."""
        j = np.argmax(self.tracked_eigenvalues, axis=1)
        return self.eigenvectors[np.arange(self.n), :, j]

    @property
    def alignment(self) -> np.ndarray:
        """|⟨u_top(t_k), u_top(t_final)⟩| ∈ [0, 1], shape (n,) (1 at the final time)."""
        u = self.top_eigenvector
        return np.abs(u @ u[-1])

    def rank(self, rtol: float = 1e-8) -> np.ndarray:
        """Numerical rank #{i : λ_i(t_k) > rtol·λ_max(t_k)}, shape (n,) (0 for Σ = 0)."""
        lmax = self.eigenvalues[:, :1]
        return np.sum((self.eigenvalues > rtol * lmax) & (lmax > 0), axis=1)

    def clusters(self, rtol: float = 1e-2, index: int = -1) -> tuple[tuple[int, ...], ...]:
        """Group the sorted eigenvalues at time ``t[index]`` (default: final time) into clusters.

        Consecutive sorted eigenvalues λ_i ≥ λ_{i+1} belong to the same cluster iff their gap is at most
        ``rtol`` times the spectral scale: λ_i − λ_{i+1} ≤ rtol·λ_max(t). Eigenvalues that all went to
        zero therefore form one cluster, as do the directions that blow up together.

        Parameters
        ----------
        rtol : float
            Relative gap threshold (w.r.t. λ_max at that time).
        index : int
            Time index (any valid index into ``t``).

        Returns
        -------
        tuple of tuple of int
            Indices into ``eigenvalues[index]`` (descending order), e.g. ``((0,), (1, 2))``.
        """
        if not (np.isfinite(rtol) and rtol >= 0):
            raise ValueError(f"`rtol` must be a finite number ≥ 0; got {rtol!r}")
        if not -self.n <= index < self.n:
            raise ValueError(f"`index` must be in [-{self.n}, {self.n}); got {index}")
        lam = self.eigenvalues[index]
        groups: list[list[int]] = [[0]]
        for i in range(1, self.d):
            if lam[i - 1] - lam[i] <= rtol * lam[0]:
                groups[-1].append(i)
            else:
                groups.append([i])
        return tuple(tuple(g) for g in groups)

    def _columns(self) -> dict[str, np.ndarray]:
        """``to_dataframe`` columns: ``t``, ``lambda_j`` (descending eigenvalues), ``trace``, ``anisotropy``,
        ``effective_rank``, ``stable_rank``; ``to_dict`` keys: ``t``, ``eigenvalues``, ``eigenvectors``,
        ``tracked_eigenvalues``."""
        return {"t": self.t, **columns("lambda", self.eigenvalues), "trace": self.trace,
                "anisotropy": self.anisotropy, "effective_rank": self.effective_rank, "stable_rank": self.stable_rank}

    def __repr__(self) -> str:
        return f"Spectrum(n={self.n}, d={self.d}, t=[{self.t[0]:.4g}, {self.t[-1]:.4g}])"


def _check_times(name: str, t: Any) -> np.ndarray:
    arr = as_array(name, t, 1)
    if arr.size == 0:
        raise ValueError(f"`{name}` must contain at least one time; got shape {arr.shape}")
    if np.any(np.diff(arr) <= 0):
        k = int(np.argmax(np.diff(arr) <= 0))
        raise ValueError(f"`{name}` must be strictly increasing; got t[{k}] = {arr[k]!r} ≥ t[{k + 1}] = "
                         f"{arr[k + 1]!r}")
    return arr


def _check_cov_path(name: str, cov: Any, n: int) -> np.ndarray:
    arr = as_array(name, cov, 3)
    if arr.shape[0] != n or arr.shape[1] != arr.shape[2] or arr.shape[1] == 0:
        raise ValueError(f"`{name}` must have shape (n, d, d) with n = len(t) = {n}; got shape {arr.shape}")
    scale = np.max(np.abs(arr), axis=(1, 2))
    asym = np.max(np.abs(arr - arr.transpose(0, 2, 1)), axis=(1, 2))
    bad = np.flatnonzero(asym > SYM_RTOL * scale)
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"`{name}` must be symmetric at every time; max |Σ − Σᵀ| = {asym[k]:.3g} at index {k}")
    return 0.5 * (arr + arr.transpose(0, 2, 1))


def _groups(w: np.ndarray, rtol: float) -> list[np.ndarray]:
    """Index blocks of (descending) ``w`` whose consecutive gaps are ≤ rtol·max|w|."""
    tol = rtol * max(float(np.max(np.abs(w))), np.finfo(float).tiny)
    cuts = np.flatnonzero(w[:-1] - w[1:] > tol) + 1
    return np.split(np.arange(w.size), cuts)


def _track(w: np.ndarray, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Continue eigenpairs (w descending, U columns) from each time to the next; see ``Spectrum``."""
    n, d = w.shape
    vecs = np.empty_like(U)
    vals = np.empty_like(w)
    vecs[0], vals[0] = U[0], w[0]
    for k in range(1, n):
        prev = vecs[k - 1]
        Uk = U[k].copy()
        for g in _groups(w[k], DEGENERATE_RTOL):
            if g.size > 1:
                # the basis of a degenerate eigenspace is arbitrary: rotate it onto the previous vectors
                P = Uk[:, g].T @ prev
                c = np.argsort(-np.linalg.norm(P, axis=0), kind="stable")[: g.size]
                W, _, Zt = np.linalg.svd(P[:, c])
                Uk[:, g] = Uk[:, g] @ (W @ Zt)
        O = prev.T @ Uk  # O[j, i] = ⟨u_j(t_{k−1}), u_i(t_k)⟩
        _, perm = linear_sum_assignment(np.abs(O), maximize=True)
        s = np.sign(O[np.arange(d), perm])
        s[s == 0] = 1.0
        vecs[k] = Uk[:, perm] * s
        vals[k] = w[k][perm]
    return vals, vecs


def spectrum(t: Any, cov: Any) -> Spectrum:
    """Sorted and tracked eigen-decomposition of a covariance trajectory.

    Parameters
    ----------
    t : array_like, shape (n,)
        Strictly increasing sample times.
    cov : array_like, shape (n, d, d)
        Symmetric PSD Σ(t_k) (singular allowed). Asymmetry up to ``SYM_RTOL`` and negative eigenvalues
        down to −``PSD_RTOL``·λ_max are treated as round-off (symmetrized / clipped to 0).

    Returns
    -------
    Spectrum
        Eigenvalues sorted descending, tracked eigenvectors / eigenvalue branches and the derived
        shape measures (``anisotropy``, ``effective_rank``, ``stable_rank``, ``rank_one_distance``,
        ``alignment``, ``clusters``).

    Raises
    ------
    ValueError
        If ``t`` is not a finite strictly increasing 1-D array, or ``cov`` is not a finite symmetric PSD
        array of shape (len(t), d, d); the message names the argument.

    Examples
    --------
    >>> import numpy as np
    >>> s = spectrum([0.0, 1.0], [np.diag([1.0, 2.0]), np.diag([2.0, 1.0])])
    >>> s.eigenvalues.tolist(), s.tracked_eigenvalues.tolist()
    ([[2.0, 1.0], [2.0, 1.0]], [[2.0, 1.0], [1.0, 2.0]])
    """
    tt = _check_times("t", t)
    S = _check_cov_path("cov", cov, tt.size)
    w, U = np.linalg.eigh(S)
    w, U = w[:, ::-1], U[:, :, ::-1]
    lmax = np.max(np.abs(w), axis=1)
    neg = np.flatnonzero(w[:, -1] < -PSD_RTOL * lmax)
    if neg.size:
        k = int(neg[0])
        raise ValueError(f"`cov` must be positive semi-definite at every time; smallest eigenvalue "
                         f"{w[k, -1]:.3g} at index {k} (t = {tt[k]:.6g})")
    w = np.clip(w, 0.0, None)
    vals, vecs = _track(w, U)
    return Spectrum(t=tt, eigenvalues=w, eigenvectors=vecs, tracked_eigenvalues=vals)
