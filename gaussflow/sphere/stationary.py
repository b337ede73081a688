"""Stationary particle configurations of the gradient case and their Riemannian Hessian.

E(X) = Σ_ij w_i w_j e_ij, e_ij = e^{β x_iᵀ D x_j}, on (S^{d−1})^n. Euclidean gradient and Hessian blocks:

    g_i = 2β w_i Σ_j w_j e_ij D x_j,
    H_ij = 2β w_i w_j e_ij (D + β D x_j x_iᵀ D) + δ_ij 2β² w_i Σ_k w_k e_ik D x_k x_kᵀ D.

Riemannian gradient P⊥_i g_i; Riemannian Hessian (embedded sphere) Hess[ξ]_i = P⊥_i Σ_j H_ij ξ_j − (x_iᵀ g_i) ξ_i,
written in an orthonormal tangent basis B_i (d × (d−1)) of every particle. Along ẋ_i = sign·P⊥F_i the field is
sign·grad_i E / (2β w_i) (USA) or / (2β w_i Z_i) (SA): a positive rescaling of ±grad E, so a stationary
state is stable for the ascent (sign +1) iff it is a local maximum of E (Hessian ≤ 0), for the descent iff
a local minimum (Sylvester's law of inertia: the signs do not depend on the positive scaling).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg

from .energy import check_D
from .integrate import simulate, speed
from .model import SphereModel, check_points, check_weights


def gradient(X: np.ndarray, D: np.ndarray, beta: float, w: np.ndarray) -> np.ndarray:
    """Euclidean gradient g (n, d) of E (module docstring)."""
    Ek = np.exp(beta * (X @ D) @ X.T)
    return 2.0 * beta * w[:, None] * ((Ek * w[None, :]) @ X) @ D.T


def hessian(X: np.ndarray, D: np.ndarray, beta: float, w: np.ndarray) -> np.ndarray:
    """Euclidean Hessian of E as (n, d, n, d) (module docstring)."""
    n = X.shape[0]
    Ek = np.exp(beta * (X @ D) @ X.T)
    DX = X @ D.T
    W = 2.0 * beta * np.outer(w, w) * Ek
    # H[i, a, j, b] = W_ij (D_ab + β (D x_j)_a (D x_i)_b)
    H = W[:, None, :, None] * (D[None, :, None, :] + beta * DX.T[None, :, :, None] * DX[:, None, None, :])
    diag = 2.0 * beta**2 * w[:, None, None] * np.einsum("ik,ka,kb->iab", Ek * w[None, :], DX, DX)
    H[np.arange(n), :, np.arange(n), :] += diag
    return H


def tangent_basis(X: np.ndarray) -> np.ndarray:
    """Orthonormal bases B (n, d, d−1) of the tangent spaces x_i^⊥."""
    n, d = X.shape
    B = np.empty((n, d, d - 1))
    for i in range(n):
        Qm = scipy.linalg.null_space(X[i][None, :])
        B[i] = Qm
    return B


def riemannian_gradient(X: np.ndarray, D: np.ndarray, beta: float, w: np.ndarray) -> np.ndarray:
    g = gradient(X, D, beta, w)
    return g - np.sum(X * g, axis=1)[:, None] * X


def riemannian_hessian(X: np.ndarray, D: np.ndarray, beta: float, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R, B): the Riemannian Hessian of E in the tangent bases B, R of shape (n(d−1), n(d−1))."""
    n, d = X.shape
    g = gradient(X, D, beta, w)
    H = hessian(X, D, beta, w)
    B = tangent_basis(X)
    R = np.einsum("iak,iajb,jbl->ikjl", B, H, B).reshape(n * (d - 1), n * (d - 1))
    R -= np.diag(np.repeat(np.sum(X * g, axis=1), d - 1))
    return 0.5 * (R + R.T), B


@dataclass
class Stationary:
    """A stationary configuration: points (n, d), weights, energy, |grad|, Hessian eigenvalues, type."""

    X: np.ndarray
    weights: np.ndarray
    energy: float
    grad_norm: float
    eigenvalues: np.ndarray
    type: str
    newton_steps: int


def classify_hessian(eig: np.ndarray, rtol: float = 1e-7) -> str:
    """"local max" (no positive eigenvalue), "local min" (no negative), "saddle"; "(degenerate)" if zero modes."""
    scale = max(np.max(np.abs(eig)), 1e-300)
    pos, neg = np.sum(eig > rtol * scale), np.sum(eig < -rtol * scale)
    zero = len(eig) - pos - neg
    t = "local max" if pos == 0 else "local min" if neg == 0 else "saddle"
    return t + (f" (degenerate: {zero} zero modes)" if zero else "")


def newton(X: np.ndarray, D: np.ndarray, beta: float, w: np.ndarray, tol: float = 1e-12,
           max_steps: int = 30) -> tuple[np.ndarray, int]:
    """Riemannian Newton on grad E = 0 (least-squares steps for zero modes, retraction x ← (x + ξ)/|x + ξ|)."""
    n, d = X.shape
    for k in range(max_steps):
        G = riemannian_gradient(X, D, beta, w)
        if np.max(np.abs(G)) < tol:
            return X, k
        R, B = riemannian_hessian(X, D, beta, w)
        rhs = np.einsum("iak,ia->ik", B, G).ravel()
        xi = np.linalg.lstsq(R, -rhs, rcond=1e-10)[0].reshape(n, d - 1)
        Y = X + np.einsum("iak,ik->ia", B, xi)
        X = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    return X, max_steps


def stable_step(mdl: SphereModel, c: float = 0.5) -> float:
    """A step below the explicit stability limit: c / L with L = ‖V‖(1 + ‖A‖) e^{‖A‖} (a bound on the
    Lipschitz constant of the unnormalized field on the sphere; the softmax one is smaller)."""
    a = float(np.linalg.norm(mdl.A, 2))
    return c / (float(np.linalg.norm(mdl.V, 2)) * (1.0 + a) * np.exp(a))


def find_stationary(mdl: SphereModel, X0: Any, weights: Any = None, *, t_max: float = 200.0, dt: float = 0.1,
                    flow_tol: float = 1e-5, tol: float = 1e-12) -> Stationary:
    """Flow (RKMK4 with step min(dt, :func:`stable_step`), in chunks of 10 time units until max|P⊥F| < flow_tol
    or t_max), then Newton, then classify.

    Needs the gradient case (``mdl.D`` set, e.g. :func:`gaussflow.sphere.gradient_model`).
    """
    if mdl.D is None:
        raise ValueError("`mdl` must be a gradient model (QᵀK = V = D); build it with gradient_model")
    D = check_D(mdl.D)
    beta = mdl.beta
    X = check_points(X0, mdl.d, name="X0")
    w = check_weights(weights, X.shape[0])
    h = min(dt, stable_step(mdl))
    t = 0.0
    while t < t_max and speed(mdl, X, w) > flow_tol:
        X = simulate(mdl, X, min(10.0, t_max - t), h, weights=w).final
        t += 10.0
    X, k = newton(X, D, beta, w, tol=tol)
    R, _ = riemannian_hessian(X, D, beta, w)
    eig = np.linalg.eigvalsh(R)
    Ek = np.exp(beta * (X @ D) @ X.T)
    return Stationary(X, w, float(w @ Ek @ w), float(np.max(np.abs(riemannian_gradient(X, D, beta, w)))), eig,
                      classify_hessian(eig), k)


def field_jacobian(mdl: SphereModel, X: np.ndarray, w: np.ndarray, h: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """(J, c): the velocity in tangent coordinates c_i = B_iᵀ v_i at X and its Jacobian J (central
    differences through the retraction x ← (x + B ξ)/|x + B ξ|), shape (n(d−1), n(d−1)). Any model (general
    Q, K, V); at a stationary point J is the linearization of the flow."""
    from .model import velocity

    n, d = X.shape
    B = tangent_basis(X)

    def coords(xi: np.ndarray) -> np.ndarray:
        Y = X + np.einsum("iak,ik->ia", B, xi.reshape(n, d - 1))
        Y /= np.linalg.norm(Y, axis=1, keepdims=True)
        return np.einsum("iak,ia->ik", B, velocity(mdl, Y, w)).ravel()

    m = n * (d - 1)
    J = np.empty((m, m))
    for k in range(m):
        e = np.zeros(m)
        e[k] = h
        J[:, k] = (coords(e) - coords(-e)) / (2 * h)
    return J, coords(np.zeros(m))


def find_stationary_general(mdl: SphereModel, X0: Any, weights: Any = None, *, t_max: float = 100.0,
                            dt: float = 0.05, flow_tol: float = 1e-5, tol: float = 1e-11,
                            max_steps: int = 30) -> tuple[np.ndarray, np.ndarray, str]:
    """Any model: flow (RKMK4) until max|v| < flow_tol, then Newton on v = 0 with :func:`field_jacobian`;
    returns (X, eigenvalues of J, "stable" | "unstable" | "saddle" | "degenerate ...") by the real parts."""
    X = check_points(X0, mdl.d, name="X0")
    w = check_weights(weights, X.shape[0])
    n, d = X.shape
    t = 0.0
    while t < t_max and speed(mdl, X, w) > flow_tol:
        X = simulate(mdl, X, min(10.0, t_max - t), min(dt, stable_step(mdl)), weights=w).final
        t += 10.0
    for _ in range(max_steps):
        J, c = field_jacobian(mdl, X, w)
        if np.max(np.abs(c)) < tol:
            break
        xi = np.linalg.lstsq(J, -c, rcond=1e-10)[0].reshape(n, d - 1)
        Y = X + np.einsum("iak,ik->ia", tangent_basis(X), xi)
        X = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    J, _ = field_jacobian(mdl, X, w)
    ev = np.linalg.eigvals(J)
    re = ev.real
    scale = max(np.max(np.abs(ev)), 1e-300)
    pos, neg = np.sum(re > 1e-6 * scale), np.sum(re < -1e-6 * scale)
    kind = "stable" if pos == 0 else "unstable" if neg == 0 else "saddle"
    zero = len(ev) - pos - neg
    return X, ev, kind + (f" (degenerate: {zero} zero modes)" if zero else "")


__all__ = [
    "Stationary",
    "classify_hessian",
    "field_jacobian",
    "find_stationary",
    "find_stationary_general",
    "gradient",
    "hessian",
    "newton",
    "riemannian_gradient",
    "riemannian_hessian",
    "stable_step",
    "tangent_basis",
]
