"""Particles on the sphere: a Lie-group integrator that stays on S^{d−1} exactly, and the authors' scheme.

``rkmk4`` is the Runge–Kutta–Munthe-Kaas method of order 4 for ẋ_i = Ω_i(X) x_i with the rotation
generators Ω_i = f_i x_iᵀ − x_i f_iᵀ ∈ so(d), f_i = sign · F_i (so Ω_i x_i = sign · P⊥_{x_i} F_i on the sphere):

    k1 = h Ω(X0),  k2 = h dexp⁻¹_{k1/2} Ω(e^{k1/2}X0),  k3 = h dexp⁻¹_{k2/2} Ω(e^{k2/2}X0),
    k4 = h dexp⁻¹_{k3} Ω(e^{k3}X0),  X1 = exp((k1 + 2k2 + 2k3 + k4)/6) X0,

dexp⁻¹_u(k) = k − ½[u, k] + (1/12)[u, [u, k]] (per particle). Every update is a rotation, so |x_i| = 1 up to
rounding at every step. ``euler`` is the authors' explicit Euler + renormalization (order 1):
x ← (x + h·sign·F)/|x + h·sign·F| (their F is not projected before the step).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import FileFormatError, jsonable, package_versions, read_npz, write_atomic
from .._progress import progress_bar
from .._tabular import Tabular, columns
from .model import DEFAULT_BLOCK, SphereModel, check_points, check_weights, tangent
from .model import field as _field

METHODS = ("rkmk4", "euler")
FORMAT = "gaussflow.sphere.trajectory/1"


def generators(mdl: SphereModel, X: np.ndarray, w: np.ndarray, block: int = DEFAULT_BLOCK) -> np.ndarray:
    """Ω_i = f_i x_iᵀ − x_i f_iᵀ with f_i = sign·F_i, shape (n, d, d) (skew)."""
    F, _ = _field(mdl, X, w, block)
    f = mdl.sign * F
    G = f[..., :, None] * X[..., None, :]
    return G - np.swapaxes(G, -1, -2)


def expm_skew_apply(U: np.ndarray, X: np.ndarray) -> np.ndarray:
    """exp(U_i) x_i for skew U (n, d, d) and X (n, d): closed forms for d = 2, 3 (rotation, Rodrigues),
    the batched Hermitian eigendecomposition of −iU otherwise (unitary to rounding)."""
    d = X.shape[-1]
    if d == 2:
        a = U[..., 1, 0]
        c, s = np.cos(a), np.sin(a)
        return np.stack([c * X[..., 0] - s * X[..., 1], s * X[..., 0] + c * X[..., 1]], axis=-1)
    if d == 3:
        wv = np.stack([U[..., 2, 1], U[..., 0, 2], U[..., 1, 0]], axis=-1)
        th = np.linalg.norm(wv, axis=-1)
        small = th < 1e-6
        ths = np.where(small, 1.0, th)
        a = np.where(small, 1.0 - th**2 / 6.0 + th**4 / 120.0, np.sin(ths) / ths)
        b = np.where(small, 0.5 - th**2 / 24.0 + th**4 / 720.0, (1.0 - np.cos(ths)) / ths**2)
        wx = np.cross(wv, X)
        return X + a[..., None] * wx + b[..., None] * np.cross(wv, wx)
    lam, W = np.linalg.eigh(-1j * U)  # U = i·H with H = −iU Hermitian: exp(U) = W diag(e^{iλ}) Wᴴ
    c = np.einsum("...ji,...j->...i", W.conj(), X) * np.exp(1j * lam)
    return np.einsum("...ij,...j->...i", W, c).real


def _bracket(U: np.ndarray, K: np.ndarray) -> np.ndarray:
    return U @ K - K @ U


def dexpinv(U: np.ndarray, K: np.ndarray) -> np.ndarray:
    """dexp⁻¹_U(K) ≈ K − ½[U, K] + (1/12)[U, [U, K]] (enough for order 4); so(2) is abelian: K."""
    if U.shape[-1] == 2:
        return K
    c = _bracket(U, K)
    return K - 0.5 * c + _bracket(U, c) / 12.0


def step_rkmk4(mdl: SphereModel, X: np.ndarray, w: np.ndarray, h: float, block: int = DEFAULT_BLOCK) -> np.ndarray:
    """One RKMK4 step of size h (module docstring)."""
    k1 = h * generators(mdl, X, w, block)
    u = 0.5 * k1
    k2 = h * dexpinv(u, generators(mdl, expm_skew_apply(u, X), w, block))
    u = 0.5 * k2
    k3 = h * dexpinv(u, generators(mdl, expm_skew_apply(u, X), w, block))
    k4 = h * dexpinv(k3, generators(mdl, expm_skew_apply(k3, X), w, block))
    return expm_skew_apply((k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0, X)


def step_euler(mdl: SphereModel, X: np.ndarray, w: np.ndarray, h: float, block: int = DEFAULT_BLOCK) -> np.ndarray:
    """The authors' step: x ← (x + h·sign·F)/|x + h·sign·F|."""
    F, _ = _field(mdl, X, w, block)
    Y = X + h * mdl.sign * F
    return Y / np.linalg.norm(Y, axis=-1, keepdims=True)


_STEPS = {"rkmk4": step_rkmk4, "euler": step_euler}


@dataclass
class SphereTrajectory(Tabular):
    """Samples of a particle run: ``t`` (nt,), ``X`` (nt, n, d), ``weights`` (n,), ``meta`` (JSON-safe).

    ``to_dict()`` gives every field as plain lists; ``to_dataframe()`` one row per time with the weighted mean
    m(t) = Σ_i w_i x_i(t) in columns ``mean_0 … mean_{d-1}`` and its length ``order`` = |m(t)| (1 exactly when the
    tokens have collapsed to one point of the sphere).
    """

    t: np.ndarray
    X: np.ndarray
    weights: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def _columns(self) -> dict[str, np.ndarray]:
        m = np.einsum("i,tid->td", self.weights / self.weights.sum(), self.X)
        return {"t": self.t, **columns("mean", m), "order": np.linalg.norm(m, axis=1)}

    @property
    def final(self) -> np.ndarray:
        return self.X[-1]

    def norm_drift(self) -> float:
        """max_{t, i} | |x_i(t)| − 1 |."""
        return float(np.max(np.abs(np.linalg.norm(self.X, axis=2) - 1.0)))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """npz arrays + JSON metadata (no pickle), written atomically."""
        meta = json.dumps(jsonable({"format": FORMAT, "versions": package_versions(), **self.meta}))

        def write(fh: Any) -> None:
            np.savez(fh, t=self.t, X=self.X, weights=self.weights, meta=np.array(meta))

        return write_atomic(path, write)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SphereTrajectory:
        """Read a file written by :meth:`save` (never unpickles); damage raises ``FileFormatError`` (a ValueError)."""
        z = read_npz(path, "SphereTrajectory")
        missing = {"t", "X", "weights", "meta"} - set(z)
        if missing:
            raise FileFormatError(path, f"is not a saved SphereTrajectory: missing {sorted(missing)}")
        try:
            meta = json.loads(str(z["meta"]))
        except ValueError:
            raise FileFormatError(path, "has unreadable metadata (not JSON)") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            fmt = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
            raise FileFormatError(path, f"is not a sphere trajectory ({FORMAT}); got format {fmt!r}")
        return cls(z["t"].copy(), z["X"].copy(), z["weights"].copy(), meta)


def simulate(mdl: SphereModel, X0: Any, t_end: float, dt: float, *, weights: Any = None, method: str = "rkmk4",
             every: int = 1, block: int = DEFAULT_BLOCK, progress: bool | None = None) -> SphereTrajectory:
    """Integrate the particles with fixed steps.

    Parameters
    ----------
    mdl : SphereModel
    X0 : array_like (n, d), unit rows
    t_end, dt : float
        Final time and step (the number of steps is round(t_end / dt); the last step is shortened to land on t_end).
    weights : array_like (n,) or None (uniform)
    method : "rkmk4" (order 4, on the sphere to rounding) or "euler" (the authors' Euler + renormalize)
    every : int
        Keep every ``every``-th step (and the last).
    progress : bool, optional
        Progress bar over time on stderr; default: only when stderr is a terminal (``gaussflow._progress``).
    """
    if method not in _STEPS:
        raise ValueError(f"`method` must be one of {METHODS}; got {method!r}")
    X = check_points(X0, mdl.d, name="X0").copy()
    w = check_weights(weights, X.shape[0])
    if not (np.isfinite(t_end) and t_end >= 0):
        raise ValueError(f"`t_end` must be a finite number >= 0; got {t_end!r}")
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"`dt` must be a positive number; got {dt!r}")
    if not (isinstance(every, int) and every >= 1):
        raise ValueError(f"`every` must be a positive int; got {every!r}")
    nsteps = max(round(t_end / dt), 1) if t_end > 0 else 0
    h = t_end / nsteps if nsteps else 0.0
    step = _STEPS[method]
    ts, Xs = [0.0], [X.copy()]
    with progress_bar(t_end, "sphere particles", progress, unit="t") as bar:
        for k in range(1, nsteps + 1):
            X = step(mdl, X, w, h, block)
            if k % every == 0 or k == nsteps:
                ts.append(k * h)
                Xs.append(X.copy())
            bar.set(k * h)
    meta = {"method": method, "dt": h, "steps": nsteps, "normalization": mdl.normalization, "sign": mdl.sign,
            "beta": mdl.beta, "A": mdl.A, "V": mdl.V, "D": mdl.D}
    return SphereTrajectory(np.array(ts), np.array(Xs), w, meta)


def speed(mdl: SphereModel, X: np.ndarray, w: np.ndarray, block: int = DEFAULT_BLOCK) -> float:
    """max_i |P⊥F_i| (the size of the velocity; zero at stationary states)."""
    F, _ = _field(mdl, X, w, block)
    return float(np.max(np.linalg.norm(tangent(X, F), axis=-1)))


def simulate_batch(mdl: SphereModel, X0: Any, t_end: float, dt: float, *, weights: Any = None,
                   method: str = "rkmk4", every: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """R independent particle systems at once (same model and weights, small n: dense sums).

    X0 : (R, n, d) unit rows. Returns ``(t (nt,), X (nt, R, n, d))``; ``every = 0`` keeps only the ends.
    """
    if method not in _STEPS:
        raise ValueError(f"`method` must be one of {METHODS}; got {method!r}")
    X = np.array(X0, dtype=float)
    if X.ndim != 3 or X.shape[2] != mdl.d:
        raise ValueError(f"`X0` must have shape (R, n, {mdl.d}); got {X.shape}")
    check_points(X.reshape(-1, mdl.d), mdl.d, name="X0")
    w = check_weights(weights, X.shape[1])
    if not (np.isfinite(dt) and dt > 0 and np.isfinite(t_end) and t_end >= 0):
        raise ValueError(f"`dt` must be > 0 and `t_end` >= 0; got {dt!r}, {t_end!r}")
    nsteps = max(round(t_end / dt), 1) if t_end > 0 else 0
    h = t_end / nsteps if nsteps else 0.0
    step = _STEPS[method]
    ts, Xs = [0.0], [X.copy()]
    for k in range(1, nsteps + 1):
        X = step(mdl, X, w, h)
        if (every and k % every == 0) or k == nsteps:
            ts.append(k * h)
            Xs.append(X.copy())
    return np.array(ts), np.array(Xs)


__all__ = ["METHODS", "SphereTrajectory", "dexpinv", "expm_skew_apply", "generators", "simulate", "simulate_batch",
           "speed",
           "step_euler", "step_rkmk4"]
