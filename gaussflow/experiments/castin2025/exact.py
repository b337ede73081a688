"""Scheme 2, the exact adaptive moment solver, member by member in a process pool."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from .setup import EXACT_ATOL, EXACT_MAX_NFEV, EXACT_RTOL

# --------------------------------------------------------------------------------------------------------
# scheme 2: the exact adaptive solver, per member (process pool)
# --------------------------------------------------------------------------------------------------------
_ATTN_CACHE: dict[tuple[Any, ...], Any] = {}


def _subsample(t: np.ndarray, cov: np.ndarray, n: int = 120) -> np.ndarray:
    if t.size <= n:
        return cov
    k = np.unique(np.concatenate([np.round(np.linspace(0, t.size - 1, n)).astype(int), [t.size - 1]]))
    return cov[k]


def exact_member(attn: Any, Sigma0: np.ndarray, horizon: float, keep_path: bool = True,
                 rtol: float = EXACT_RTOL, form: str | None = None) -> dict[str, Any]:
    """Exact run of one member from N(0, Σ₀) to ``horizon``: status, T*, regime, final Σ, sampled path.

    ``kind`` is :func:`gaussflow.diagnostics.spectrum.classify`'s regime, except that a "bounded" run whose trace grew
    by more than 1e3 without a finite-time singularity is reported as "exponential_growth" (its log-rate
    had not settled within the horizon).
    """
    from ...diagnostics.regimes import classify
    from ...integrate.solve import solve

    d = Sigma0.shape[0]
    traj = solve(attn, (np.zeros(d), Sigma0), (0.0, horizon), rtol=rtol, atol=EXACT_ATOL, form=form,
                 max_nfev=EXACT_MAX_NFEV, blowup_threshold=1e6)
    note = ""
    try:
        reg = classify(traj)
        kind, rank = reg.kind, reg.rank
    except ValueError as exc:  # fewer than 3 samples: stationary from the start
        kind, rank = ("stationary", None) if traj.status == "converged" else ("unclassified", None)
        note = str(exc)
    tr = np.trace(traj.cov, axis1=1, axis2=2)
    if kind == "bounded" and traj.t_blowup is None and tr[-1] > 1e3 * tr[0]:
        kind, note = "exponential_growth", "classify said bounded; tr Σ grew ×1e3+ without finite-time signature"
    out = {"status": traj.status, "t_blowup": traj.t_blowup, "t_end": float(traj.t[-1]), "kind": kind,
           "rank": rank, "final": np.array(traj.cov[-1]), "nfev": traj.nfev, "message": traj.message,
           "note": note}
    if keep_path:
        out["path"] = _subsample(traj.t, np.asarray(traj.cov))
    return out


def exact_chunk(variant: str, params: dict[str, Any], Sigma0s: np.ndarray, horizon: float,
                 keep_path: bool, rtol: float, form: str | None = None) -> list[dict[str, Any]]:
    import gaussflow as gf

    ckey = (variant,) + tuple((k, np.shape(v), np.asarray(v, dtype=float).tobytes()) for k, v in sorted(params.items()))
    attn = _ATTN_CACHE.get(ckey)
    if attn is None:
        attn = _ATTN_CACHE[ckey] = gf.attention(variant, **params)
    return [exact_member(attn, S0, horizon, keep_path, rtol, form) for S0 in Sigma0s]


class Pool:
    """A ProcessPoolExecutor(max_workers=workers), or in-process execution for workers ≤ 1."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.ex = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None

    def map_members(self, variant: str, params: dict[str, Any], Sigma0s: np.ndarray, horizon: float,
                    keep_path: bool = True, rtol: float = EXACT_RTOL, form: str | None = None
                    ) -> Callable[[], list[dict[str, Any]]]:
        """Submit the exact runs of a batch; call the returned function to collect them in order."""
        n = len(Sigma0s)
        if self.ex is None:
            res = exact_chunk(variant, params, Sigma0s, horizon, keep_path, rtol, form)
            return lambda: res
        size = max(8, -(-n // (4 * self.workers)))
        futs = [self.ex.submit(exact_chunk, variant, params, Sigma0s[i:i + size], horizon, keep_path,
                               rtol, form) for i in range(0, n, size)]
        return lambda: [r for f in futs for r in f.result()]

    def submit(self, fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
        """Run ``fn(*args)`` in a worker (in-process for workers ≤ 1); call the returned function for its result."""
        if self.ex is None:
            res = fn(*args)
            return lambda: res
        fut = self.ex.submit(fn, *args)
        return fut.result

    def close(self) -> None:
        if self.ex is not None:
            self.ex.shutdown()
