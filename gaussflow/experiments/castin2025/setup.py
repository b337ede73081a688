"""The experiments of Castin et al. (2025) as data: the authors' draws (legacy ``np.random``, same seeds and
order as their ``2d_plots.py``), the mapping of their conventions onto gaussflow's, the grids of initial Σ₀ and
the counts their code prints (:data:`AUTHORS_2D`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

#: experiment keys in docs/math.md §6 order
EXPERIMENT_KEYS: tuple[str, ...] = ("a", "b", "c", "d", "e", "f", "ranks")
SCHEMES: tuple[str, ...] = ("both", "exact", "euler")
#: eigenvalue floor of the authors' PSD projection
PSD_FLOOR = 1e-14
#: relative eigenvalue threshold (λ_i/λ_max) for the rank of a final Σ in the grid experiments
RANK_RTOL = 1e-3
#: absolute eigenvalue threshold of the authors' rank histograms
HIST_THRESHOLD = 0.1
#: exact-solver settings shared by every run
EXACT_RTOL, EXACT_ATOL, EXACT_MAX_NFEV = 1e-8, 1e-12, 20_000
#: quick mode (tests): grid side, Euler step cap, rank samples
QUICK_GRID, QUICK_MAX_ITER, QUICK_SAMPLES, QUICK_N_MAX = 4, 800, 3, 12


# --------------------------------------------------------------------------------------------------------
# run descriptions
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """One variant of one experiment: an attention layer plus the authors' Euler settings.

    ``params`` are the keyword arguments of :func:`gaussflow.attention` (our convention, already
    mapped from the authors'); ``t_exact`` is the horizon of the exact runs.
    """

    label: str
    variant: str
    params: dict[str, Any]
    step: float
    tol: float
    tol_high: float = 1e3
    max_iter: int = 50_000
    t_exact: float | None = None
    exact_rtol: float = 1e-8
    exact_form: str | None = None

    @property
    def horizon(self) -> float:
        """Exact-run horizon: ``t_exact`` or the Euler budget max_iter·step."""
        return float(self.t_exact) if self.t_exact is not None else self.max_iter * self.step


@dataclass(frozen=True)
class Experiment:
    key: str
    title: str
    draws: dict[str, Any]
    runs: tuple[Run, ...]
    grid: int
    half_width: float


def softmax_params(Q: np.ndarray, K: np.ndarray, V: np.ndarray) -> dict[str, Any]:
    """Authors' softmax (A = KᵀQ/√d) as :func:`gaussflow.attention` keywords (``A=`` shortcut)."""
    d = Q.shape[1]
    return {"A": K.T @ Q / math.sqrt(d), "V": V}


def l2_params(Q: np.ndarray, K: np.ndarray, V: np.ndarray) -> dict[str, Any]:
    """Authors' L2, Σ̇ = 2VΣ(I + 2KᵀKΣ)⁻¹AΣ + t. with A = KᵀQ/√d: ours with β = 2 and Q/√d."""
    d = Q.shape[1]
    return {"Q": Q / math.sqrt(d), "K": K, "V": V, "beta": 2.0}


def multihead_params(Q: np.ndarray, K: np.ndarray, V: np.ndarray, heads: int) -> dict[str, Any]:
    """Authors' multi-head with W = I as stacked ``A`` (H, d, d), ``C`` (H, d, d).

    Head h takes rows [hk, (h+1)k) of Q, K, V with k = d/H (NumPy slicing: a block beyond the last row
    is empty and gives a zero head), A_h = K_hᵀQ_h/√k and C_h = W_h V_h with W_h = I[:, block] the
    output columns of the block, i.e. C_h = E_h V, E_h = Σ_{i∈block} e_i e_iᵀ.
    """
    d = Q.shape[1]
    if d % heads:
        raise ValueError(f"`heads` must divide d = {d}; got heads={heads}")
    k = d // heads
    W = np.eye(d)
    A, C = [], []
    for h in range(heads):
        blk = slice(h * k, (h + 1) * k)
        Qh, Kh, Vh = Q[blk], K[blk], V[blk]
        A.append(Kh.T @ Qh / math.sqrt(k))
        C.append(W[:, blk][:, : Vh.shape[0]] @ Vh)
    return {"A": np.stack(A), "C": np.stack(C)}


def sinkhorn_params(Q: np.ndarray, K: np.ndarray, V: np.ndarray) -> dict[str, Any]:
    """Authors' Sinkhorn: A = KᵀQ unscaled, ε = 1."""
    return {"A": K.T @ Q, "V": V}


def _redraw_indefinite(seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """seed; redraw Q, K = randn(2, 2) until A + Aᵀ (A = KᵀQ/√2) has eigenvalues of opposite signs."""
    np.random.seed(seed)
    tries = 0
    while True:
        tries += 1
        Q = np.random.randn(2, 2)
        K = np.random.randn(2, 2)
        A = K.T @ Q / math.sqrt(2)
        w = np.linalg.eigvalsh(A + A.T)
        if w[0] < 0 < w[1]:
            return Q, K, tries


def draws(key: str) -> dict[str, Any]:
    """The random matrices of experiment ``key`` ∈ {a, …, f}, drawn as docs/math.md §6 says with NumPy's
    legacy global generator (which this function reseeds)."""
    if key == "a":
        np.random.seed(35)
        Q = np.random.rand(2, 2)
        M = np.random.randn(2, 2)
        return {"seed": 35, "Q": Q, "K": -Q, "V": M @ M.T}
    if key in ("b", "c"):
        np.random.seed(36)
        q = np.random.randn(1, 2)
        q = q / np.linalg.norm(q)
        return {"seed": 36, "Q": q, "K": -q, "V": np.eye(2)}
    if key == "d":
        Q, K, tries = _redraw_indefinite(36)
        np.random.seed(32)
        return {"seed": 36, "seed_V": 32, "tries": tries, "Q": Q, "K": K, "V": np.random.randn(2, 2)}
    if key == "e":
        np.random.seed(33)
        tries = 0
        while True:
            tries += 1
            Q = np.random.randn(2, 2)
            K = np.random.randn(2, 2)
            A = K.T @ Q / math.sqrt(2)
            if np.linalg.eigvalsh(A + A.T)[0] > 0:
                break
        return {"seed": 33, "tries": tries, "Q": Q, "K": K, "V": np.eye(2)}
    if key == "f":
        Q, K, tries = _redraw_indefinite(36)
        np.random.seed(35)
        np.random.randn(8, 7)  # the authors' dummy draw
        return {"seed": 36, "seed_V": 35, "tries": tries, "Q": Q, "K": K, "V": np.random.randn(2, 2)}
    raise ValueError(f"unknown experiment {key!r}; valid: a, b, c, d, e, f")


def experiment(key: str) -> Experiment:
    """Experiment ``key`` of docs/math.md §6 with its runs (variants, Euler steps, tolerances)."""
    D = draws(key)
    Q, K, V = D["Q"], D["K"], D["V"]
    sm, l2 = softmax_params(Q, K, V), l2_params(Q, K, V)
    sk = sinkhorn_params(Q, K, V)
    if key == "a":
        runs = (Run("softmax", "softmax", sm, 0.3, 1e-5), Run("L2", "l2", l2, 0.3, 1e-5),
                Run("multi-head H=2", "multihead", multihead_params(Q, K, V, 2), 0.3, 1e-5),
                Run("Sinkhorn", "sinkhorn", sk, 0.5, 1e-5))
        return Experiment(key, "convergence to zero", D, runs, 10, 0.5)
    if key == "b":
        runs = (Run("softmax", "softmax", sm, 0.5, 1e-4), Run("L2", "l2", l2, 0.5, 1e-4))
        return Experiment(key, "convergence to a line", D, runs, 10, 0.5)
    if key == "c":
        runs = (Run("multi-head H=2", "multihead", multihead_params(Q, K, V, 2), 0.5, 1e-4),)
        return Experiment(key, "convergence to a plane", D, runs, 10, 0.5)
    if key == "d":
        runs = (Run("softmax", "softmax", sm, 0.01, 1e-7), Run("L2", "l2", l2, 0.01, 1e-7))
        return Experiment(key, "convergence to two lines", D, runs, 20, 1.0)
    if key == "e":
        # exponential growth (L2, Sinkhorn) is followed to t = 20 / 8 only (rtol 1e-6: growth is benign):
        # beyond, tr Σ / λ_min > 1e12 and the double-precision RHS loses the small eigenvalue (L2: the
        # solver's step size collapses; Sinkhorn: the full-form error makes λ_min < 0 from t ≈ 9.9, and
        # the factor form Σ = LLᵀ is ~10× slower and exhausts max_nfev)
        runs = (Run("softmax", "softmax", sm, 0.01, 1e-4, max_iter=100_000),
                Run("multi-head H=2", "multihead", multihead_params(Q, K, V, 2), 0.002, 1e-4, max_iter=100_000),
                Run("L2", "l2", l2, 0.001, 1e-5, tol_high=1e4, t_exact=20.0, exact_rtol=1e-6),
                Run("Sinkhorn", "sinkhorn", sk, 0.01, 1e-5, tol_high=1e4, t_exact=8.0, exact_rtol=1e-6))
        return Experiment(key, "blow-up vs divergence", D, runs, 40, 1.0)
    if key == "f":
        runs = (Run("softmax", "softmax", sm, 0.003, 1e-4),
                Run("L2", "l2", l2, 0.002, 1e-4, t_exact=40.0),
                Run("multi-head H=1", "multihead", multihead_params(Q, K, V, 1), 0.002, 1e-4))
        return Experiment(key, "convergence or blow-up depending on Σ₀", D, runs, 30, 1.0)
    raise ValueError(f"unknown experiment {key!r}; valid: a, b, c, d, e, f")


def initial_grid(n: int, half_width: float) -> np.ndarray:
    """Trace-one Σ₀ with (a − b, 2c) on an n × n grid over [−L, L]², kept iff strictly PD.

    Returns
    -------
    ndarray, shape (m, 2, 2)
        Σ₀ = [[(1 + x)/2, y/2], [y/2, (1 − x)/2]] for grid points with x² + y² < 1, row-major order
        (x fastest).
    """
    g = np.linspace(-half_width, half_width, n)
    X, Y = np.meshgrid(g, g)
    x, y = X.ravel(), Y.ravel()
    keep = x**2 + y**2 < 1.0
    x, y = x[keep], y[keep]
    S = np.empty((x.size, 2, 2))
    S[:, 0, 0] = 0.5 * (1 + x)
    S[:, 1, 1] = 0.5 * (1 - x)
    S[:, 0, 1] = S[:, 1, 0] = 0.5 * y
    return S




#: Counts printed by the authors' code (github vcastin/2025-transformers-PDEs, ``2d_plots.py`` and
#: ``histograms.py`` run unchanged with plotting stubbed; see tests/test_reproduce.py for the command):
#: per grid run "key/label" → Euler outcome counts and the top three limiting directions (degrees of the
#: top eigenvector of the last Σ, rounded, with counts); per rank cell → histogram, exceptions, attempts.
AUTHORS_2D: dict[str, dict[str, Any]] = {
    "a/softmax": {"counts": {"converged": 100}, "directions_deg": [(128, 100)]},
    "a/L2": {"counts": {"converged": 100}, "directions_deg": [(128, 100)]},
    "a/multi-head H=2": {"counts": {"converged": 100}, "directions_deg": [(130, 100)]},
    "a/Sinkhorn": {"counts": {"converged": 100}, "directions_deg": [(128, 100)]},
    "b/softmax": {"counts": {"converged": 100}, "directions_deg": [(156, 81), (157, 11), (155, 8)]},
    "b/L2": {"counts": {"converged": 100}, "directions_deg": [(156, 91), (157, 6), (155, 3)]},
    "c/multi-head H=2": {"counts": {"converged": 100}, "directions_deg": [(107, 5), (114, 5), (100, 4)]},
    "d/softmax": {"counts": {"converged": 263, "max_iter": 13}, "directions_deg": [(172, 146), (122, 126), (173, 3)]},
    "d/L2": {"counts": {"converged": 270, "max_iter": 6}, "directions_deg": [(172, 148), (122, 127), (173, 1)]},
    "e/softmax": {"counts": {"diverged": 1184}, "directions_deg": [(62, 21), (68, 15), (72, 15)]},
    "e/multi-head H=2": {"counts": {"diverged": 1184}, "directions_deg": [(87, 155), (88, 146), (86, 141)]},
    "e/L2": {"counts": {"diverged": 1184}, "directions_deg": [(140, 37), (144, 36), (139, 35)]},
    "e/Sinkhorn": {"counts": {"diverged": 1184}, "directions_deg": [(62, 21), (68, 15), (72, 15)]},
    "f/softmax": {"counts": {"converged": 591, "diverged": 57}, "directions_deg": [(172, 591), (79, 57)]},
    "f/L2": {"counts": {"converged": 642, "diverged": 6}, "directions_deg": [(172, 643), (79, 2), (147, 1)]},
    "f/multi-head H=1": {"counts": {"converged": 590, "diverged": 57, "max_iter": 1},
        "directions_deg": [(172, 591), (79, 57)]},
}
