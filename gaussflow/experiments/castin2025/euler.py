"""Scheme 1, the authors' explicit Euler + PSD projection, batched over members: Σ ← Π(Σ + hΣ̇(Σ)) with
their stopping rules. Σ̇ comes from the generated code of the closure (:mod:`gaussflow.codegen`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...attention import attention
from ...integrate.batch import BatchedClosure
from .setup import PSD_FLOOR

# --------------------------------------------------------------------------------------------------------
# Σ right-hand sides from the generated code (any closed variant, any d; Σ has shape (N, d, d))
# --------------------------------------------------------------------------------------------------------
Params = Mapping[str, Any]


class SigmaRHS:
    """Σ̇(Σ) = JΣ + ΣJᵀ of one closed variant, evaluated by its generated code on a stack of Σ.

    The right-hand side is the closure's own (``gaussflow.codegen`` through
    :class:`gaussflow.integrate.batch.BatchedClosure`): nothing here knows a variant's formula.

    Parameters
    ----------
    variant : str
        A registered variant whose Σ̇ does not depend on the mean (softmax, multi-head, L2, Sinkhorn …).
    params : mapping or sequence of mappings
        Keyword arguments of :func:`gaussflow.attention` (our convention): one set shared by every member,
        or one set per member of a list (then :meth:`__call__` takes the member indices).

    Raises
    ------
    ValueError
        The variant does not close, or its Σ̇ depends on the mean.
    """

    def __init__(self, variant: str, params: Params | Sequence[Params]) -> None:
        if isinstance(params, Mapping):
            self.shared = True
            bc = BatchedClosure(attention(variant, **params))
        else:
            self.shared = False
            bc = BatchedClosure([attention(variant, **p) for p in params])
        if bc.closure.cov_depends_on_mean:
            raise ValueError(f"`variant` {variant!r}: Σ̇ depends on the mean; the authors' scheme evolves Σ only")
        self.variant, self.closure = variant, bc
        self._members: np.ndarray | None = None
        self._prep: tuple[Any, ...] = ()
        self._zeros: np.ndarray | None = None

    def __call__(self, Sigma: np.ndarray, members: np.ndarray | None = None) -> np.ndarray:
        """Σ̇ at ``Sigma`` (N, d, d); ``members`` (N,) indexes the per-member parameter sets."""
        bc = self.closure
        if self.shared:
            prep = bc.prepared
        elif members is None:
            raise ValueError("`members` is required when the parameters are per member")
        elif self._members is not None and members.shape == self._members.shape and np.array_equal(
                members, self._members):
            prep = self._prep  # the same members as last step: reuse their prepared parameters
        else:
            prep = bc.take(np.asarray(members))
            self._members, self._prep = np.array(members), prep
        # Σ̇ = JΣ + ΣJᵀ from the generated Jacobian (J does not depend on α here): the α̇ half of the
        # generated moments is not needed by a Σ-only scheme
        J = bc.jacobian(self._alpha0(Sigma), Sigma, prep)
        P = J @ Sigma
        return P + np.swapaxes(P, -1, -2)

    def _alpha0(self, Sigma: np.ndarray) -> np.ndarray:
        if self._zeros is None or self._zeros.shape != Sigma.shape[:-1] + (1,):
            self._zeros = np.zeros(Sigma.shape[:-1] + (1,))
        return self._zeros


def sigma_rhs(variant: str, params: Params | Sequence[Params], Sigma: np.ndarray) -> np.ndarray:
    """Σ̇ = JΣ + ΣJᵀ at each Σ of a stack (shape (N, d, d)); ``params`` shared or one mapping per member.

    Convenience wrapper of :class:`SigmaRHS` (which callers in a loop should build once).
    """
    members = None if isinstance(params, Mapping) else np.arange(len(params))
    return SigmaRHS(variant, params)(Sigma, members)

# --------------------------------------------------------------------------------------------------------
# scheme 1: the authors' Euler + PSD projection, batched
# --------------------------------------------------------------------------------------------------------
@dataclass
class EulerResult:
    """Batched Euler outcome: per member ``status`` (converged / diverged / max_iter), ``iters``,
    ``final`` Σ (N, d, d), ``clipped`` (any PSD projection happened), and sampled ``paths``."""

    status: np.ndarray
    iters: np.ndarray
    final: np.ndarray
    clipped: np.ndarray
    frames: np.ndarray = field(repr=False)  # (n_frames, N, d, d), NaN once stopped
    frame_iters: np.ndarray = field(repr=False)

    def path(self, m: int) -> np.ndarray:
        """Sampled Σ path of member m, ending at its final state, shape (n, d, d)."""
        P = self.frames[:, m]
        P = P[np.all(np.isfinite(P), axis=(1, 2))]
        return np.concatenate([P, self.final[m][None]])


def _frame_set(max_iter: int, n: int = 160) -> np.ndarray:
    head = np.arange(min(40, max_iter + 1))
    tail = np.unique(np.round(np.geomspace(40, max(max_iter, 41), n)).astype(int))
    return np.unique(np.concatenate([head, tail[tail <= max_iter]]))


def psd_project(Sigma: np.ndarray, floor: float = PSD_FLOOR, exact_rounding: bool = False
                ) -> tuple[np.ndarray, np.ndarray]:
    """The authors' projection: Σ ↦ U diag(λ') Uᵀ with λ'_i = floor where λ_i < 0, else λ_i.

    Their ``psd_projection`` rebuilds every member from its eigendecomposition, which changes Σ only
    by rounding when no eigenvalue is negative. For d ≥ 3 (or ``exact_rounding``) we do the same; for
    2 × 2 stacks only the members with a negative eigenvalue (closed-form λ_min) are rebuilt, the
    others are returned as they are (the same counts, tested against their code, ~10× faster).

    Parameters
    ----------
    Sigma : ndarray, shape (N, d, d)
    floor : float
        Value given to negative eigenvalues.
    exact_rounding : bool
        Rebuild every member also for d = 2.

    Returns
    -------
    Sigma : ndarray, shape (N, d, d)
    clipped : ndarray of bool, shape (N,)
        Which members had a negative eigenvalue.
    """
    if Sigma.shape[-1] == 2 and not exact_rounding:
        a, b, c = Sigma[..., 0, 0], Sigma[..., 1, 1], Sigma[..., 0, 1]
        clipped = 0.5 * (a + b) - np.hypot(0.5 * (a - b), c) < 0
        if not np.any(clipped):
            return Sigma, clipped
        out = Sigma.copy()
        out[clipped] = psd_project(Sigma[clipped], floor, exact_rounding=True)[0]
        return out, clipped
    w, U = np.linalg.eigh(Sigma)
    neg = w < 0
    w = np.where(neg, floor, w)
    return U @ (w[..., :, None] * np.swapaxes(U, -1, -2)), neg.any(axis=-1)


def euler_step(rhs: SigmaRHS, S: np.ndarray, step: float, members: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One step of the authors' ``evolution`` loop on a batch S (N, d, d) (``members``: see :class:`SigmaRHS`).

    Returns ‖Σ̇(Σ)‖_F, Π(Σ + hΣ̇), tr Π(Σ + hΣ̇) and whether the projection clipped.
    """
    D = rhs(S, members)
    nrm = np.sqrt(np.einsum("nij,nij->n", D, D))
    S_new, clip = psd_project(S + step * D)
    return nrm, S_new, np.trace(S_new, axis1=1, axis2=2), clip


def euler_sigma(variant: str, params: Params | Sequence[Params], Sigma0: np.ndarray, *, step: float, tol: float,
                tol_high: float = 1e3, max_iter: int = 50_000) -> EulerResult:
    """The authors' ``evolution()`` on a batch: Σ ← Π(Σ + hΣ̇), stopping per member.

    Iteration i = 0, 1, …, max_iter − 1 computes Σ̇(Σ_i), steps and projects; the member stops with
    "converged" if ‖Σ̇(Σ_i)‖_F < tol (checked first), else with "diverged" if tr Σ_{i+1} > tol_high,
    and with "max_iter" when the loop ends. ``iters`` is that i (the number the authors print) or
    max_iter; ``final`` is Σ_i, the last entry of their returned list. A member whose trace is not
    finite can satisfy neither test and is reported as "max_iter" (so would theirs, after max_iter
    steps on NaN).

    Parameters
    ----------
    variant, params : see :class:`SigmaRHS` (a sequence of N mappings: one set of weights per member)
    Sigma0 : ndarray, shape (N, d, d)
    step, tol, tol_high : float
    max_iter : int

    Returns
    -------
    EulerResult
    """
    S = np.array(Sigma0, dtype=float)
    N = S.shape[0]
    status = np.full(N, "max_iter", dtype=object)
    iters = np.full(N, max_iter, dtype=int)
    final = S.copy()
    clipped = np.zeros(N, dtype=bool)
    fi = _frame_set(max_iter)
    frames = np.full((fi.size,) + S.shape, np.nan)
    slot = {int(v): k for k, v in enumerate(fi)}
    idx = np.arange(N)
    rhs = SigmaRHS(variant, params)
    with np.errstate(all="ignore"):
        for it in range(max_iter):
            k = slot.get(it)
            if k is not None:
                frames[k, idx] = S
            nrm, S_new, tr, clip = euler_step(rhs, S, step, idx)
            conv = nrm < tol
            div = ~conv & (tr > tol_high)
            nan = ~conv & ~div & ~np.isfinite(tr)
            clipped[idx[clip]] = True
            stop = conv | div | nan
            if it == max_iter - 1:
                final[idx] = S
            if np.any(stop):
                final[idx[stop]] = S[stop]
                status[idx[conv]], iters[idx[conv]] = "converged", it
                status[idx[div]], iters[idx[div]] = "diverged", it
                go = ~stop
                idx, S = idx[go], S_new[go]
                if idx.size == 0:
                    break
            else:
                S = S_new
    return EulerResult(status, iters, final, clipped, frames, fi)
