"""Shared test data: Hypothesis strategies, seeded parameter sets and the reference rule.

* Covariances are *constructed*, never filtered: SPD as ``L Lᵀ + εI`` (λ_min ≥ ε), PSD of
  rank r as ``U diag(s²) Uᵀ`` with U (d, r) orthonormal (the L Lᵀ form with L = U diag(s) of
  full column rank, so the rank is exactly r).
* :class:`Layer` holds one attention layer's raw arrays and re-implements the conventions
  of docs/math.md §2 (score, value map, add-ons) in plain NumPy, independently of gaussflow. It
  also knows how to hand itself to gaussflow, both as the stacked user arguments of
  :func:`gaussflow.attention` and as the per-symbol names of ``ExplicitForm.evaluate``.
* :func:`gauss_hermite` is the tensor Gauss–Hermite rule for ∫ f dN(α, Σ) used as the
  independent quadrature truth (singular Σ allowed: it integrates over range(Σ) only).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import strategies as st
from numpy.polynomial.hermite_e import hermegauss

import gaussflow as gf

#: variants whose single head has the bilinear score β⟨Qx, Ky⟩
BILINEAR = ("softmax", "sinkhorn", "sigmoid", "unnormalized")
#: variants accepting the ``residual`` / ``feedforward`` add-ons
WITH_ADDONS = ("softmax", "multihead", "l2", "sinkhorn")


# --------------------------------------------------------------------------- strategies


def entries(lo: float = -1.0, hi: float = 1.0) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=64)


def matrices(rows: int, cols: int, lo: float = -1.0, hi: float = 1.0) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float64, (rows, cols), elements=entries(lo, hi))


def vectors(d: int, lo: float = -1.0, hi: float = 1.0) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float64, (d,), elements=entries(lo, hi))


def betas() -> st.SearchStrategy[float]:
    return entries(0.1, 1.0)


@st.composite
def spd_matrices(draw: st.DrawFn, d: int, eps_min: float = 0.1, eps_max: float = 1.0) -> np.ndarray:
    """Σ = L Lᵀ + εI, L entries in [−1, 1]: symmetric positive definite with λ_min ≥ ε."""
    L = draw(matrices(d, d))
    eps = draw(entries(eps_min, eps_max))
    S = L @ L.T + eps * np.eye(d)
    return 0.5 * (S + S.T)


@st.composite
def orthonormal_columns(draw: st.DrawFn, d: int, r: int) -> np.ndarray:
    """U (d, r) with UᵀU = I (QR of a drawn matrix; Householder QR is orthonormal for any input)."""
    G = draw(matrices(d, d))
    U, _ = np.linalg.qr(G + 2.0 * np.eye(d))
    return U[:, :r]


@st.composite
def psd_singular(draw: st.DrawFn, d: int, r: int) -> np.ndarray:
    """Σ = L Lᵀ with L = U diag(s) (d, r), U orthonormal, s ∈ [0.4, 1.2]: PSD of rank exactly r < d."""
    U = draw(orthonormal_columns(d, r))
    s = np.array([draw(entries(0.4, 1.2)) for _ in range(r)])
    L = U * s
    return L @ L.T


@st.composite
def rotations(draw: st.DrawFn, d: int) -> np.ndarray:
    """An orthogonal matrix R (det ±1)."""
    return draw(orthonormal_columns(d, d))


# --------------------------------------------------------------------------- layers


@dataclass(frozen=True)
class HeadArrays:
    Q: np.ndarray  # (k, d)
    K: np.ndarray  # (k, d)
    V: np.ndarray  # (d, d) single head; (d_v, d) multi-head
    beta: float
    W: np.ndarray | None = None  # (d, d_v) multi-head output map


@dataclass(frozen=True)
class Layer:
    """Raw arrays of one attention layer and the docs/math.md §2 conventions in NumPy."""

    name: str
    heads: tuple[HeadArrays, ...]
    residual: bool = False
    feedforward: bool = False
    b: float = 0.0  # sigmoid bias
    W_ff: np.ndarray | None = None
    b_ff: np.ndarray | None = None

    @property
    def d(self) -> int:
        return int(self.heads[0].Q.shape[1])

    # ---- gaussflow's two input conventions

    def kwargs(self) -> dict[str, object]:
        """Arguments of :func:`gaussflow.attention` (stacked per head for multi-head)."""
        kw: dict[str, object] = {}
        if self.name == "multihead":
            kw.update(
                Q=np.stack([h.Q for h in self.heads]),
                K=np.stack([h.K for h in self.heads]),
                V=np.stack([h.V for h in self.heads]),
                W=np.stack([h.W for h in self.heads]),
                beta=np.array([h.beta for h in self.heads]),
            )
        else:
            (h,) = self.heads
            kw.update(Q=h.Q, K=h.K, V=h.V, beta=h.beta)
        if self.name == "sigmoid":
            kw["b"] = self.b
        if self.feedforward:
            kw.update(W_ff=self.W_ff, b_ff=self.b_ff)
        return kw

    def attention(self) -> gf.Attention:
        return gf.attention(self.name, residual=self.residual, feedforward=self.feedforward, **self.kwargs())

    def closure(self) -> gf.Closure:
        opts: dict[str, object] = {}
        if self.residual:
            opts["residual"] = True
        if self.feedforward:
            opts["feedforward"] = True
        if self.name == "multihead":
            opts["heads"] = len(self.heads)
        return gf.derive(self.name, **opts)

    def symbols(self) -> dict[str, object]:
        """Per-symbol values (``Q``, ``beta`` or ``Q_1``, ``beta_1``, ...) for ``ExplicitForm.evaluate``."""
        out: dict[str, object] = {}
        if self.name == "multihead":
            for i, h in enumerate(self.heads, start=1):
                out.update({f"Q_{i}": h.Q, f"K_{i}": h.K, f"V_{i}": h.V, f"W_{i}": h.W, f"beta_{i}": h.beta})
        else:
            (h,) = self.heads
            out.update(Q=h.Q, K=h.K, V=h.V, beta=h.beta)
        if self.name == "sigmoid":
            out["b"] = self.b
        if self.feedforward:
            out.update(W_ff=self.W_ff, b_ff=self.b_ff)
        return out

    # ---- independent NumPy conventions (docs/math.md §2)

    def value(self, i: int) -> np.ndarray:
        """C_h: V (single head) or W_h V_h (multi-head)."""
        h = self.heads[i]
        return h.V if h.W is None else h.W @ h.V

    def score(self, i: int, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """s_h(x_a, y_b) for X (n, d), Y (m, d) -> (n, m); the sigmoid bias b is *not* included."""
        h = self.heads[i]
        QX, KY = X @ h.Q.T, Y @ h.K.T
        if self.name == "l2":
            diff = QX[:, None, :] - KY[None, :, :]
            return -0.5 * h.beta * np.einsum("nmk,nmk->nm", diff, diff)
        return h.beta * QX @ KY.T

    def cross(self, i: int) -> np.ndarray:
        """A_h = β_h K_hᵀQ_h (bilinear scores: s = yᵀAx)."""
        h = self.heads[i]
        return h.beta * h.K.T @ h.Q

    def addons(self, X: np.ndarray, inner: Callable[[int, np.ndarray], np.ndarray]) -> np.ndarray:
        """Γ(X) = Σ_h C_h(E_h(X) − X·[residual]) + W_ff X + b_ff, with ``inner(h, X)`` → E_h (n, d)."""
        out = np.zeros_like(X, dtype=float)
        for i in range(len(self.heads)):
            m = inner(i, X)
            if self.residual:
                m = m - X
            out += m @ self.value(i).T
        if self.feedforward:
            out += X @ self.W_ff.T + self.b_ff
        return out

    def rotated(self, R: np.ndarray) -> Layer:
        """Parameters seen in coordinates x' = R x: Q→QRᵀ, K→KRᵀ, V→RVRᵀ (V_h→V_hRᵀ, W_h→RW_h),
        W_ff→R W_ff Rᵀ, b_ff→R b_ff."""
        hs = []
        for h in self.heads:
            if h.W is None:
                hs.append(replace(h, Q=h.Q @ R.T, K=h.K @ R.T, V=R @ h.V @ R.T))
            else:
                hs.append(replace(h, Q=h.Q @ R.T, K=h.K @ R.T, V=h.V @ R.T, W=R @ h.W))
        kw: dict[str, object] = {"heads": tuple(hs)}
        if self.feedforward:
            kw.update(W_ff=R @ self.W_ff @ R.T, b_ff=R @ self.b_ff)
        return replace(self, **kw)


def _build(
    name: str,
    d: int,
    mat: Callable[[int, int], np.ndarray],
    beta: Callable[[], float],
    num: Callable[[], float],
    *,
    heads: int = 2,
    k: int | None = None,
    d_v: int | None = None,
    residual: bool = False,
    feedforward: bool = False,
) -> Layer:
    k = d if k is None else k
    if name == "multihead":
        dv = d if d_v is None else d_v
        hs = tuple(HeadArrays(mat(k, d), mat(k, d), mat(dv, d), beta(), mat(d, dv)) for _ in range(heads))
    else:
        hs = (HeadArrays(mat(k, d), mat(k, d), mat(d, d), beta()),)
    kw: dict[str, object] = {}
    if name == "sigmoid":
        kw["b"] = num()
    if feedforward:
        kw.update(W_ff=mat(d, d), b_ff=mat(d, 1)[:, 0])
    return Layer(name, hs, residual=residual, feedforward=feedforward, **kw)


@st.composite
def layers(draw: st.DrawFn, name: str, d: int, **options: object) -> Layer:
    """Hypothesis parameter sets: entries in [−1, 1], β ∈ [0.1, 1], b ∈ [−1, 1].

    ``options``: ``heads``, ``k``, ``d_v`` (multi-head), ``residual``, ``feedforward``."""
    return _build(
        name, d,
        lambda r, c: draw(matrices(r, c)),
        lambda: draw(betas()),
        lambda: draw(entries()),
        **options,  # type: ignore[arg-type]
    )


def random_layer(name: str, d: int, seed: int, scale: float = 1.0, **options: object) -> Layer:
    """Seeded parameter set (same ranges as :func:`layers`, matrices scaled by ``scale``)."""
    rng = np.random.default_rng(seed)
    return _build(
        name, d,
        lambda r, c: scale * rng.uniform(-1, 1, (r, c)),
        lambda: float(rng.uniform(0.1, 1.0)),
        lambda: float(rng.uniform(-1, 1)),
        **options,  # type: ignore[arg-type]
    )


def random_spd(d: int, seed: int, eps: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    L = rng.uniform(-1, 1, (d, d))
    S = L @ L.T + eps * np.eye(d)
    return 0.5 * (S + S.T)


def random_orthogonal(d: int, seed: int) -> np.ndarray:
    Rm, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return Rm


# --------------------------------------------------------------------------- reference rule


def gauss_hermite(alpha: np.ndarray, Sigma: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes Y (N, d) and weights w (N,) with Σ_j w_j f(Y_j) ≈ ∫ f dN(α, Σ).

    Tensor product of the m-point probabilists' Gauss–Hermite rule (weight e^{−z²/2}) in the
    r = rank(Σ) directions of range(Σ), mapped through the factor L = U_r Λ_r^{1/2} of
    ``eigh`` (Σ = L Lᵀ): y = α + L z, z ~ N(0, I_r). Exact for polynomials of degree
    ≤ 2m − 1 in each coordinate; spectrally accurate for the entire integrands used here.
    """
    lam, U = np.linalg.eigh(Sigma)
    keep = lam > 1e-12 * max(1.0, float(lam.max()))
    L = U[:, keep] * np.sqrt(lam[keep])
    r = L.shape[1]
    z, w = hermegauss(m)
    w = w / np.sqrt(2 * np.pi)
    Z = np.stack(np.meshgrid(*([z] * r), indexing="ij"), axis=-1).reshape(-1, r)
    W = np.ones(1)
    for _ in range(r):
        W = np.multiply.outer(W, w).ravel()
    return alpha + Z @ L.T, W


@dataclass(frozen=True)
class Traj:
    """Stand-in for gaussflow.trajectory.Trajectory (only the fields the diagnostics and plots read)."""

    t: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    status: str = "ok"
    t_blowup: float | None = None


# --------------------------------------------------------------------------- time bound


class Hung(Exception):
    """Raised by :func:`bounded` when a block runs past its limit."""


@contextlib.contextmanager
def bounded(seconds: float) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the block runs longer than ``seconds`` (SIGALRM, main thread)."""

    def alarm(signum: int, frame: object) -> None:
        raise Hung(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
