"""Extremal measures of E(μ) = ∬ e^{β xᵀDy} dμ dμ on S^{d−1}, with certificates.

Minimum for D ⪰ 0. The kernel k(x, y) = e^{β xᵀDy} = Σ_k β^k (xᵀDy)^k / k! is positive semidefinite, so E is
convex on probability measures and, for any ν,

    E(ν) ≥ E(μ) + 2 ∫ (k∗μ − E(μ)) dν ≥ E(μ) + 2 · gap,   gap = min_x (k∗μ)(x) − E(μ).

So gap ≥ −tol certifies μ as a minimizer up to 2·tol in energy. :func:`minimum_energy` solves the convex QP
min wᵀKw over the simplex on a grid of the sphere (quasi-uniform points plus ±the eigenvectors of D) by a
primal–dual interior-point method, then evaluates the gap on the grid and on a finer test set.

Maxima. Extreme points of the measures are Diracs; :func:`maximum_energy` compares the candidates of the
paper (Diracs at eigenvectors, e^{βλ}; antipodal pairs ½(δ_v + δ_{−v}), cosh βλ) and checks the
first-order condition k∗μ ≤ E(μ) on the sphere (necessary for a maximizer; for D ⪰ 0, where E is convex,
the maximum over measures is attained at a Dirac, so the top-eigenvector Dirac is the maximizer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg

from .energy import check_D
from .quadrature import sphere_grid

#: largest grid of the dense interior-point QP (an n × n Cholesky per iteration)
MAX_GRID = 6000


@dataclass
class ExtremalMeasure:
    """A discrete measure Σ w_i δ_{x_i} with its energy and first-order certificate.

    ``gap``: min_x (k∗μ)(x) − E (minimizer; ≥ −tol certifies) or max_x (k∗μ)(x) − E (maximizer candidate;
    ≤ tol is the necessary first-order condition) on the test set; ``lower_bound`` E + 2 min(gap, 0) for minima.
    """

    points: np.ndarray
    weights: np.ndarray
    energy: float
    gap: float
    kind: str
    lower_bound: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def support(self, tol: float = 1e-6) -> np.ndarray:
        return self.points[self.weights > tol * self.weights.max()]


def kernel_matrix(X: np.ndarray, Y: np.ndarray, D: np.ndarray, beta: float) -> np.ndarray:
    """k(x_i, y_j) = e^{β x_iᵀ D y_j}, shape (len X, len Y)."""
    return np.exp(beta * (X @ D) @ Y.T)


def potential(X: np.ndarray, points: np.ndarray, weights: np.ndarray, D: np.ndarray, beta: float,
              block: int = 4096) -> np.ndarray:
    """(k∗μ)(x) = Σ_j w_j e^{β xᵀD x_j} at the rows of X, in blocks."""
    out = np.empty(X.shape[0])
    for i0 in range(0, X.shape[0], block):
        out[i0:i0 + block] = kernel_matrix(X[i0:i0 + block], points, D, beta) @ weights
    return out


def _newton_direction(cf: Any, h1: np.ndarray, w: np.ndarray, s: np.ndarray, rd: np.ndarray, rp: float,
                      sig_mu: float, corr: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """(dw, dλ, ds) of the KKT Newton system with H = 2K + diag(s/w) factored in ``cf``, h1 = H⁻¹1."""
    r = -rd + (sig_mu - corr) / w - s
    a = scipy.linalg.cho_solve(cf, r, check_finite=False)
    dlam = (-rp - a.sum()) / h1.sum()
    dw = a + dlam * h1
    ds = (sig_mu - corr) / w - s - (s / w) * dw
    return dw, float(dlam), ds


def _steplen(v: np.ndarray, dv: np.ndarray) -> float:
    """Largest a with v + a dv ≥ 0 (inf when dv ≥ 0)."""
    neg = dv < 0
    return float(np.min(-v[neg] / dv[neg])) if np.any(neg) else np.inf


def simplex_qp(K: np.ndarray, tol: float = 1e-12, max_iter: int = 200) -> tuple[np.ndarray, int]:
    """min wᵀKw s.t. Σw = 1, w ≥ 0 (K PSD) by a primal–dual interior-point method (Mehrotra-type σ).

    KKT: 2Kw − λ1 − s = 0, 1ᵀw = 1, w∘s = 0 (at the optimum λ = 2E and s = 2(Kw − E) ≥ 0).
    """
    n = K.shape[0]
    w = np.full(n, 1.0 / n)
    g = 2.0 * K @ w
    lam = g.min() - 1.0
    s = g - lam
    one = np.ones(n)
    for it in range(1, max_iter + 1):
        rd = 2.0 * K @ w - lam - s
        rp = w.sum() - 1.0
        mu = w @ s / n
        if mu < tol and np.max(np.abs(rd)) < 1e-10 * max(1.0, abs(lam)) and abs(rp) < 1e-13:
            return w, it
        H = 2.0 * K + np.diag(s / w)
        try:
            cf = scipy.linalg.cho_factor(H, check_finite=False)
        except np.linalg.LinAlgError:
            H += 1e-14 * np.trace(H) / n * np.eye(n)
            cf = scipy.linalg.cho_factor(H, check_finite=False)
        h1 = scipy.linalg.cho_solve(cf, one, check_finite=False)
        dw, dlam, ds = _newton_direction(cf, h1, w, s, rd, rp, 0.0, np.zeros(n))
        a_aff = min(1.0, _steplen(w, dw), _steplen(s, ds))
        mu_aff = (w + a_aff * dw) @ (s + a_aff * ds) / n
        sigma = min(1.0, (mu_aff / mu) ** 3)
        dw, dlam, ds = _newton_direction(cf, h1, w, s, rd, rp, sigma * mu, dw * ds)
        a = min(1.0, 0.99 * _steplen(w, dw), 0.99 * _steplen(s, ds))
        w = w + a * dw
        lam = lam + a * dlam
        s = s + a * ds
    return w, max_iter


def _grid(D: np.ndarray, n: int | None, eigenvectors: bool = True) -> np.ndarray:
    d = D.shape[0]
    n = n if n is not None else {2: 720, 3: 1500}.get(d, 2000)
    P = sphere_grid(d, n)
    if not eigenvectors:
        return P
    V = np.linalg.eigh(D)[1].T
    return np.concatenate([P, V, -V], axis=0)


def _test_set(D: np.ndarray, n: int) -> np.ndarray:
    return sphere_grid(D.shape[0], n)


def minimum_energy(D: Any, beta: float = 1.0, n: int | None = None, n_test: int | None = None,
                   tol: float = 1e-12, eigenvectors: bool = True) -> ExtremalMeasure:
    """The minimizer of E over probability measures on S^{d−1} for D ⪰ 0, on a grid, with its certificate.

    Parameters
    ----------
    D : (d, d) symmetric positive semidefinite
    n : grid size (default 720 on S¹ (equispaced from angle 0), 1500 on S² (Fibonacci))
    eigenvectors : add ±v_k (the eigenvectors of D) to the grid (where singular minimizers live)
    n_test : size of the finer test set of the gap (default 4n)

    Returns
    -------
    ExtremalMeasure with ``gap`` = min over grid ∪ test set of (k∗μ)(x) − E and ``lower_bound`` E + 2 min(gap, 0);
    ``info["gap_grid"]`` is the gap on the grid (the QP's own optimality).
    """
    Da = check_D(D)
    ev = np.linalg.eigvalsh(Da)
    if ev.min() < -1e-12 * max(1.0, abs(ev).max()):
        raise ValueError(f"`D` must be positive semidefinite for the convex problem; eigenvalues {ev}")
    P = _grid(Da, n, eigenvectors)
    if len(P) > MAX_GRID:
        raise ValueError(f"`n` gives a grid of {len(P)} points; the dense QP allows at most {MAX_GRID}")
    K = kernel_matrix(P, P, Da, beta)
    K = 0.5 * (K + K.T)
    w, iters = simplex_qp(K, tol=tol)
    w = np.where(w < 1e-14, 0.0, w)
    w /= w.sum()
    kw = K @ w
    E = float(w @ kw)
    gap_grid = float(kw.min() - E)
    T = _test_set(Da, n_test if n_test is not None else 4 * len(P))
    gap = min(gap_grid, float(potential(T, P, w, Da, beta).min() - E))
    return ExtremalMeasure(P, w, E, gap, "minimizer", E + 2.0 * min(gap, 0.0),
                           {"gap_grid": gap_grid, "iterations": iters, "grid": len(P), "test": len(T)})


def candidates(D: Any, beta: float = 1.0) -> list[ExtremalMeasure]:
    """The paper's candidate extremal measures: per eigenpair (λ, v) the Dirac δ_v (E = e^{βλ}) and the
    antipodal pair ½(δ_v + δ_{−v}) (E = cosh βλ); ``gap`` = max_x (k∗μ)(x) − E on a test grid."""
    Da = check_D(D)
    lam, V = np.linalg.eigh(Da)
    T = np.concatenate([_test_set(Da, 4000), V.T, -V.T])
    out = []
    for k in range(len(lam)):
        v = V[:, k]
        for kind, pts, wts in (("dirac", v[None], np.ones(1)), ("antipodal", np.stack([v, -v]), np.full(2, 0.5))):
            K = kernel_matrix(pts, pts, Da, beta)
            E = float(wts @ K @ wts)
            gap = float(potential(T, pts, wts, Da, beta).max() - E)
            out.append(ExtremalMeasure(pts, wts, E, gap, kind, info={"eigenvalue": float(lam[k]), "index": k}))
    return out


def maximum_energy(D: Any, beta: float = 1.0, tol: float = 1e-9) -> ExtremalMeasure:
    """The best candidate of :func:`candidates` that satisfies the first-order condition (gap ≤ tol)."""
    ok = [c for c in candidates(D, beta) if c.gap <= tol]
    best = max(ok, key=lambda c: c.energy)
    best.kind = "maximizer:" + best.kind
    return best


def minimum_dirac_bound(D: Any, beta: float = 1.0) -> ExtremalMeasure | None:
    """For λ_min(D) = −‖D‖ (e.g. D ≺ 0 with its largest |λ| negative): x ᵀDy ≥ −‖D‖ on the sphere, so
    E ≥ e^{−β‖D‖}, attained by the Dirac at the eigenvector of λ_min — a certified minimizer. None otherwise."""
    Da = check_D(D)
    lam, V = np.linalg.eigh(Da)
    if lam[0] > -abs(lam).max() * (1 - 1e-12):
        return None
    v = V[:, 0]
    E = float(np.exp(beta * lam[0]))
    return ExtremalMeasure(v[None], np.ones(1), E, 0.0, "minimizer:dirac", E, {"bound": "xᵀDy ≥ −‖D‖"})


__all__ = ["ExtremalMeasure", "candidates", "kernel_matrix", "maximum_energy", "minimum_dirac_bound",
           "minimum_energy", "potential", "simplex_qp"]
