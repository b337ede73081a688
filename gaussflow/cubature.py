"""Cubature for Gaussian expectations E[F(X)], X ~ N(α, Σ) (numeric; no SymPy, no gaussflow layers).

Rules for the standard normal N(0, I_d) (:func:`cubature_rule`) and the Gaussian-projection moments
α̇ = E[Γ(X)], Σ̇ = E[(X − α)Γ(X)ᵀ] + transpose of a velocity field (:func:`cubature_moments`), used by
:mod:`gaussflow.codegen` for variants that do not close and by :mod:`gaussflow.projection`.

References
----------
.. [1] S. A. Smolyak, "Quadrature and interpolation formulas for tensor products of certain classes of
   functions", Soviet Math. Dokl. 4 (1963); T. Gerstner, M. Griebel, Numer. Algorithms 18 (1998).
.. [2] S. J. Julier, J. K. Uhlmann, "Unscented filtering and nonlinear estimation", Proc. IEEE 92 (2004).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

from ._linalg import sqrtm_psd

#: default polynomial degree of exactness of the tensor rule, by dimension (points per axis = (deg + 1)/2;
#: 40, 24, 12, 8, 5, 4, 3, 3 points per axis: at most ~6600 nodes); ``rule="auto"`` uses it for d ≤ 8
TENSOR_DEFAULT_DEGREE = {1: 79, 2: 47, 3: 23, 4: 15, 5: 9, 6: 7, 7: 5, 8: 5}
#: default degree of the Smolyak sparse grid (not used by ``auto``: its large negative weights make it
#: inaccurate for sigmoid-type integrands, e.g. E[σ(3cᵀz + 0.3)] off by 0.1 in d = 5 at degree 13)
SMOLYAK_DEFAULT_DEGREE = 5




@functools.lru_cache(maxsize=64)
def _gh(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n-point probabilists' Gauss–Hermite rule for N(0, 1) (exact to degree 2n − 1)."""
    z, w = hermegauss(n)
    return z, w / math.sqrt(2 * math.pi)


def _points_for(degree: int) -> int:
    return max(1, (degree + 2) // 2)  # smallest n with 2n − 1 ≥ degree


def _tensor(d: int, degree: int) -> tuple[np.ndarray, np.ndarray, int]:
    n = _points_for(degree)
    z, w = _gh(n)
    Z = np.stack(np.meshgrid(*([z] * d), indexing="ij"), axis=-1).reshape(-1, d)
    W = functools.reduce(np.multiply.outer, [w] * d).reshape(-1)
    return Z, W, 2 * n - 1


def _smolyak(d: int, degree: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Smolyak combination A(q, d) = Σ_{q−d+1 ≤ |i| ≤ q} (−1)^{q−|i|} C(d−1, q−|i|) ⊗_j U^{i_j}
    with U^i the i-point Gauss–Hermite rule; exact for total degree 2(q − d) + 1 [1]_."""
    k = degree // 2  # smallest k with 2k + 1 ≥ degree
    q = d + k
    acc: dict[tuple[float, ...], float] = {}
    for idx in itertools.product(range(1, k + 2), repeat=d):
        s = sum(idx)
        if not q - d + 1 <= s <= q:
            continue
        c = (-1) ** (q - s) * math.comb(d - 1, q - s)
        rules = [_gh(i) for i in idx]
        for combo in itertools.product(*[range(i) for i in idx]):
            node = tuple(round(float(r[0][j]), 14) + 0.0 for r, j in zip(rules, combo, strict=True))
            wt = c * math.prod(float(r[1][j]) for r, j in zip(rules, combo, strict=True))
            acc[node] = acc.get(node, 0.0) + wt
    nodes = [(n, w) for n, w in acc.items() if w != 0.0]
    Z = np.array([n for n, _ in nodes], dtype=float).reshape(-1, d)
    W = np.array([w for _, w in nodes], dtype=float)
    return Z, W, 2 * k + 1


def _unscented(d: int, degree: int) -> tuple[np.ndarray, np.ndarray, int]:
    """2d + 1 points: 0 (weight κ/(d + κ)) and ±√(d + κ) e_i (weight 1/(2(d + κ))),
    κ = max(3 − d, 0) (matches E[z_i⁴] = 3 for d ≤ 3, keeps weights ≥ 0) [2]_; degree 3."""
    if degree > 3:
        raise ValueError(f"`degree` must be ≤ 3 for the unscented rule; got {degree}")
    kappa = max(3 - d, 0)
    r = math.sqrt(d + kappa)
    E = np.eye(d)
    Z = np.concatenate([np.zeros((1, d)), r * E, -r * E]) if kappa else np.concatenate([r * E, -r * E])
    w = np.full(2 * d, 1.0 / (2 * (d + kappa)))
    W = np.concatenate([[kappa / (d + kappa)], w]) if kappa else w
    return Z, W, 3


def _symmetric5(d: int, degree: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Fully symmetric degree-5 rule, 2d² + 1 points: 0, ±√3 e_i, ±√3 e_i ± √3 e_j (i < j) with
    weights 1 + (d² − 7d)/18, (4 − d)/18, 1/36 (moment equations E[z_i²] = 1, E[z_i⁴] = 3,
    E[z_i²z_j²] = 1 solved with r² = 3; Stroud 1971, rule E_n^{r²} 5-2 type)."""
    if degree > 5:
        raise ValueError(f"`degree` must be ≤ 5 for the symmetric5 rule; got {degree}")
    r = math.sqrt(3.0)
    E = np.eye(d)
    pts = [np.zeros(d)] + [s * r * E[i] for i in range(d) for s in (1, -1)]
    wts = [1 + (d * d - 7 * d) / 18] + [(4 - d) / 18] * (2 * d)
    for i, j in itertools.combinations(range(d), 2):
        for si, sj in itertools.product((1, -1), repeat=2):
            pts.append(r * (si * E[i] + sj * E[j]))
            wts.append(1 / 36)
    return np.array(pts).reshape(-1, d), np.array(wts), 5


#: name → builder ``(d, degree) -> (nodes (m, d), weights (m,), achieved degree)`` for N(0, I)
RULES: dict[str, Callable[[int, int], tuple[np.ndarray, np.ndarray, int]]] = {
    "tensor": _tensor,
    "smolyak": _smolyak,
    "unscented": _unscented,
    "symmetric5": _symmetric5,
}


def default_rule(d: int, rule: str) -> tuple[str, int]:
    """(rule name, default degree) that ``rule`` (possibly ``"auto"``) means in dimension d."""
    if rule == "auto":
        rule = "tensor" if d in TENSOR_DEFAULT_DEGREE else "symmetric5"
    if rule == "tensor":
        return rule, TENSOR_DEFAULT_DEGREE.get(d, 5)
    if rule == "smolyak":
        return rule, SMOLYAK_DEFAULT_DEGREE
    return rule, 5 if rule == "symmetric5" else 3


def cubature_rule(d: int, rule: str = "auto", degree: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Cubature nodes and weights for the standard normal N(0, I_d).

    Parameters
    ----------
    d : int
        Dimension ≥ 1.
    rule : {"auto", "tensor", "smolyak", "unscented", "symmetric5"}
        ``"auto"``: tensor Gauss–Hermite for d ≤ 8 (:data:`TENSOR_DEFAULT_DEGREE`: degree
        79/47/23/15/9/7/5/5 in d = 1..8), the degree-5 fully symmetric rule (2d² + 1 nodes) beyond.
        ``"smolyak"``: Smolyak sparse grid of Gauss–Hermite rules (degree 2k + 1; default 5);
        ``"unscented"``: 2d + 1 nodes, degree 3.
    degree : int, optional
        Requested polynomial degree of exactness (rounded up to the next odd degree; the fixed
        rules reject a higher degree than theirs).

    Returns
    -------
    nodes : ndarray, shape (m, d)
    weights : ndarray, shape (m,)
        Σ_k w_k p(z_k) = E[p(Z)] for every polynomial p of total degree ≤ ``achieved``
        (tensor: of degree ≤ ``achieved`` in each coordinate). Smolyak weights can be negative.
    achieved : int
    """
    if not isinstance(d, int | np.integer) or d < 1:
        raise ValueError(f"`d` must be a positive integer; got {d!r}")
    if rule != "auto" and rule not in RULES:
        raise ValueError(f"unknown cubature `rule` {rule!r}; valid: auto, {', '.join(RULES)}")
    name, default = default_rule(int(d), rule)
    if degree is None:
        degree = default
    if not isinstance(degree, int | np.integer) or degree < 1:
        raise ValueError(f"`degree` must be a positive integer; got {degree!r}")
    Z, W, achieved = RULES[name](int(d), int(degree))
    return Z, W, achieved


def project(
    gamma: Callable[[np.ndarray], np.ndarray], Z: np.ndarray, W: np.ndarray, a: np.ndarray, S: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """α̇ = Σ_k w_k Γ(x_k), Σ̇ = P + Pᵀ with P = Σ^{1/2} Σ_k w_k z_k Γ(x_k)ᵀ, x_k = α + Σ^{1/2}z_k;
    ``gamma`` maps points (m, d) to Γ values (d, m)."""
    H = sqrtm_psd(S)
    G = gamma(a[None, :] + Z @ H)  # (d, m); H symmetric so the rows of Z @ H are H z_k
    P = H @ ((Z * W[:, None]).T @ G.T)
    return G @ W, P + P.T


def cubature_moments(velocity: Callable[..., np.ndarray]) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """Gaussian-projection moments from a generated ``velocity(x (d,n), alpha (d,1), Sigma, *prepared)``,
    by the ``auto`` cubature rule of :func:`cubature_rule` for the run-time d (tensor Gauss–Hermite of
    degree 79/47/23/15/9/7/5/5 for d = 1..8, the degree-5 symmetric rule beyond): the
    ``CompiledClosure.moments`` of variants that do not close. Returns
    ``moments(alpha (d,1), Sigma (d,d), *prepared) -> (alpha_dot (d,1), Sigma_dot (d,d))``."""
    rules: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def moments(alpha: np.ndarray, Sigma: np.ndarray, *prepared: Any) -> tuple[np.ndarray, np.ndarray]:
        d = Sigma.shape[0]
        if d not in rules:
            rules[d] = cubature_rule(d)[:2]
        Z, W = rules[d]
        a = np.asarray(alpha, dtype=float).reshape(d)

        def gamma(X: np.ndarray) -> np.ndarray:
            out = velocity(X.T, a[:, None], Sigma, *prepared)
            return np.broadcast_to(np.asarray(out, dtype=float), (d, X.shape[0]))

        a_dot, S_dot = project(gamma, Z, W, a, Sigma)
        return a_dot[:, None], S_dot

    return moments



__all__ = ["RULES", "SMOLYAK_DEFAULT_DEGREE", "TENSOR_DEFAULT_DEGREE", "cubature_moments", "cubature_rule",
           "default_rule", "project"]
