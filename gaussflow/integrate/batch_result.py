"""The outcome of :func:`gaussflow.solve_batch`: per-member status, times and final moments."""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from .._tabular import Tabular, columns
from ..status import STATUSES

# --------------------------------------------------------------------------- result


@dataclass(frozen=True, eq=False)
class BatchResult(Tabular):
    """Outcome of :func:`solve_batch` for B members.

    ``to_dict()`` holds the attributes below as plain lists (NaN → None); ``to_dataframe()`` has one row per
    member and sample of :meth:`member` (the recorded times before ``t_final``, then ``t_final``): columns
    ``member``, ``t``, ``status``, ``t_blowup``, ``Sigma_i_j`` and, with a mean, ``alpha_i``.

    Attributes
    ----------
    t_final : ndarray, shape (B,)
        Time at which each member stopped (t_span[1] for ``"ok"``).
    Sigma_final : ndarray, shape (B, d, d)
        Σ at ``t_final`` (the last accepted, finite state).
    status : ndarray of str, shape (B,)
        ``"ok"``, ``"blowup"``, ``"converged"`` or ``"failed"``.
    t_blowup : ndarray, shape (B,)
        Extrapolated blow-up time T*; NaN where no finite-time blow-up was detected.
    nsteps : ndarray of int, shape (B,)
        Accepted steps per member.
    nrejected : ndarray of int, shape (B,)
        Rejected steps per member.
    t_eval : ndarray, shape (n,) or None
        Shared sample times of ``history``.
    history : ndarray, shape (B, n, d, d) or None
        Σ(t_eval[k]) per member; NaN for samples after the member stopped.
    variant : str
    t_span : (float, float)
    mean_final : ndarray, shape (B, d) or None
        α at ``t_final`` when the mean was evolved (``mean0`` given or Σ̇ depends on α).
    mean_history : ndarray, shape (B, n, d) or None
        α(t_eval[k]) per member, as ``history``.
    """

    t_final: np.ndarray
    Sigma_final: np.ndarray
    status: np.ndarray
    t_blowup: np.ndarray
    nsteps: np.ndarray
    nrejected: np.ndarray
    t_eval: np.ndarray | None
    history: np.ndarray | None
    variant: str
    t_span: tuple[float, float]
    mean_final: np.ndarray | None = None
    mean_history: np.ndarray | None = None

    def __post_init__(self) -> None:
        B = self.t_final.shape[0]
        for name in ("Sigma_final", "status", "t_blowup", "nsteps", "nrejected"):
            if getattr(self, name).shape[0] != B:
                raise ValueError(f"`{name}` must have {B} members; got shape {getattr(self, name).shape}")
        bad = set(np.unique(self.status)) - set(STATUSES)
        if bad:
            raise ValueError(f"`status` entries must be in {STATUSES}; got {sorted(bad)}")
        for name in ("t_final", "Sigma_final", "t_blowup", "nsteps", "nrejected", "t_eval", "history",
                     "mean_final", "mean_history"):
            arr = getattr(self, name)
            if arr is not None:
                arr.setflags(write=False)

    def __len__(self) -> int:
        return int(self.t_final.shape[0])

    def __repr__(self) -> str:
        st, cnt = np.unique(self.status, return_counts=True)
        counts = ", ".join(f"{s} {c}" for s, c in zip(st.tolist(), cnt.tolist(), strict=True))
        mean = ", with mean" if self.mean_final is not None else ""
        return (f"BatchResult({self.variant!r}, B={len(self)}, d={self.d}, t_span={self.t_span}, "
                f"{counts}{mean})")

    @property
    def d(self) -> int:
        return int(self.Sigma_final.shape[-1])

    def _columns(self) -> dict[str, np.ndarray]:
        parts = [self.member(i) for i in range(len(self))]
        idx = np.concatenate([np.full(p.t.size, i) for i, p in enumerate(parts)])
        cols: dict[str, np.ndarray] = {
            "member": idx, "t": np.concatenate([p.t for p in parts]), "status": self.status[idx],
            "t_blowup": self.t_blowup[idx], **columns("Sigma", np.concatenate([p.cov for p in parts])),
        }
        if self.mean_final is not None:
            cols |= columns("alpha", np.concatenate([p.mean for p in parts]))
        return cols

    def member(self, i: int) -> SimpleNamespace:
        """Member ``i`` as a trajectory-like object for :func:`gaussflow.diagnostics.spectrum.classify`.

        ``t`` (n,) are the recorded samples strictly before ``t_final`` followed by ``t_final``, ``cov``
        (n, d, d) the matching Σ, ``mean`` (n, d) the matching α (None without a mean), plus ``status``
        and ``t_blowup`` (None when NaN).
        """
        B = len(self)
        if not (isinstance(i, int | np.integer) and -B <= i < B):
            raise ValueError(f"`i` must be an integer index in [-{B}, {B}); got {i!r}")
        tf = float(self.t_final[i])
        mean = None
        if self.history is not None and self.t_eval is not None:
            keep = (self.t_eval < tf) & np.all(np.isfinite(self.history[i]), axis=(1, 2))
            t = np.append(self.t_eval[keep], tf)
            cov = np.concatenate([self.history[i][keep], self.Sigma_final[i][None]])
            if self.mean_history is not None and self.mean_final is not None:
                mean = np.concatenate([self.mean_history[i][keep], self.mean_final[i][None]])
        else:
            t = np.array([tf])
            cov = self.Sigma_final[i][None].copy()
            if self.mean_final is not None:
                mean = self.mean_final[i][None].copy()
        tb = float(self.t_blowup[i])
        return SimpleNamespace(t=t, cov=cov, mean=mean, status=str(self.status[i]),
                               t_blowup=None if math.isnan(tb) else tb)


__all__ = ["BatchResult"]
