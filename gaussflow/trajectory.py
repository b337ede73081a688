"""``Trajectory``: the result of integrating (or layering) the Gaussian moment dynamics.

A trajectory is data: sampled times, means and covariances, the outcome of the run
(``status`` ∈ {ok, blowup, converged, failed} with an actionable ``message``, diffrax ``RESULTS``
style), the estimated blow-up time, the cost, and the metadata needed to reproduce it (variant,
parameters, solver settings, package versions). ``save`` / ``load`` round-trip it through one
``.npz`` file holding the arrays plus a JSON metadata string, written atomically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ._checks import frozen_array
from ._io import jsonable, package_versions
from .results import MomentSeries, params_from_json
from .status import STATUSES, Status

if TYPE_CHECKING:  # pragma: no cover
    from .diagnostics.regimes import Regime

#: identifies the on-disk layout written by :meth:`Trajectory.save`
FORMAT = "gaussflow.Trajectory/1"


class TrajectoryError(RuntimeError):
    """Raised by :meth:`Trajectory.raise_for_status` for an unwanted outcome."""




def _frozen_param(value: Any) -> float | np.ndarray:
    if np.ndim(value) == 0:
        return float(value)
    arr = np.array(value, dtype=float, copy=True)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Trajectory(MomentSeries):
    """Sampled Gaussian moment trajectory N(mean[i], cov[i]) at times t[i].

    Attributes
    ----------
    t : ndarray, shape (n,)
        Strictly increasing sample times (n ≥ 1).
    mean : ndarray, shape (n, d)
        α(t_i).
    cov : ndarray, shape (n, d, d)
        Σ(t_i), symmetric (PSD exactly up to rounding in the factor form).
    status : str
        ``"ok"`` (reached the end of ``t_span``), ``"blowup"`` (tr Σ or ‖α‖ left the representable
        range; the arrays stop at the last finite state), ``"converged"`` (a stationary state was
        reached, the run stopped there) or ``"failed"`` (the ODE solver gave up).
    message : str
        What happened and what to do about it.
    t_blowup : float or None
        Estimated finite blow-up time T* (``None`` when none was detected).
    nfev : int
        Number of moment right-hand-side evaluations (including event checks).
    variant : str
        Attention variant name.
    params : Mapping[str, float | ndarray]
        Numeric parameters of the attention (at t₀ for time-dependent attention; keys prefixed by
        ``layer{i}:`` for per-layer attentions in :func:`gaussflow.integrate.propagate`).
    solver : Mapping[str, Any]
        Solver settings (JSON types): method, tolerances, form, thresholds, ``t_span``, ...
    versions : Mapping[str, str]
        Package versions of gaussflow / numpy / scipy / sympy that produced the data.

    All arrays are read-only copies; every entry is finite (checked).
    """

    FORMAT: ClassVar[str] = FORMAT
    ERROR: ClassVar[type[Exception]] = TrajectoryError
    OK: ClassVar[tuple[str, ...]] = ("ok", "converged")

    t: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    status: str
    message: str = ""
    t_blowup: float | None = None
    nfev: int = 0
    variant: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    solver: Mapping[str, Any] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=package_versions)

    def __post_init__(self) -> None:
        t = frozen_array("t", self.t, 1)
        mean = frozen_array("mean", self.mean, 2)
        cov = frozen_array("cov", self.cov, 3)
        n = t.shape[0]
        if n < 1:
            raise ValueError("`t` must hold at least one time")
        if n > 1 and not np.all(np.diff(t) > 0):
            raise ValueError(f"`t` must be strictly increasing; got {t}")
        d = mean.shape[1]
        if mean.shape[0] != n:
            raise ValueError(f"`mean` must have shape ({n}, d); got shape {mean.shape}")
        if cov.shape != (n, d, d):
            raise ValueError(f"`cov` must have shape ({n}, {d}, {d}); got shape {cov.shape}")
        if self.status not in STATUSES:
            raise ValueError(f"`status` must be one of {STATUSES}; got {self.status!r}")
        object.__setattr__(self, "status", Status(self.status))
        tb = self.t_blowup
        if tb is not None:
            tb = float(tb)
            if math.isnan(tb):
                raise ValueError("`t_blowup` must be a number or None; got nan")
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "cov", cov)
        object.__setattr__(self, "t_blowup", tb)
        object.__setattr__(self, "nfev", int(self.nfev))
        object.__setattr__(self, "message", str(self.message))
        object.__setattr__(self, "variant", str(self.variant))
        params = {str(k): _frozen_param(v) for k, v in self.params.items()}
        object.__setattr__(self, "params", MappingProxyType(params))
        object.__setattr__(self, "solver", MappingProxyType(dict(self.solver)))
        object.__setattr__(self, "versions", MappingProxyType({str(k): str(v) for k, v in self.versions.items()}))

    # ------------------------------------------------------------------ views

    def raise_for_status(self, allowed: tuple[str, ...] | None = None) -> Trajectory:
        """Opt-in raise: :class:`TrajectoryError` with :attr:`message` unless ``status`` is allowed
        (default ``("ok", "converged")``). Returns ``self``: ``traj = solve(...).raise_for_status()``."""
        return super().raise_for_status(allowed)

    def classify(self) -> Regime:
        """Asymptotic regime of this trajectory: ``gaussflow.diagnostics.spectrum.classify(self)``."""
        from .diagnostics.regimes import classify

        return classify(self)

    # ------------------------------------------------------------------ persistence

    def metadata(self) -> dict[str, Any]:
        """Everything but the arrays, as plain JSON types (parameters as nested lists)."""
        return {
            "format": FORMAT,
            "status": self.status,
            "message": self.message,
            "t_blowup": self.t_blowup,
            "nfev": self.nfev,
            "variant": self.variant,
            "params": jsonable(dict(self.params)),
            "solver": jsonable(dict(self.solver)),
            "versions": dict(self.versions),
        }

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Trajectory:
        """Read a file written by :meth:`save` (no pickle is ever loaded).

        Raises :class:`gaussflow._io.FileFormatError` (a ``ValueError``) naming ``path`` for a missing,
        truncated or garbage file, missing arrays or metadata, wrong types, or a non-PSD covariance."""
        return cls._load_checked(path, lambda arrays, meta: cls(
            t=arrays["t"], mean=arrays["mean"], cov=arrays["cov"], status=meta["status"], message=meta["message"],
            t_blowup=meta["t_blowup"], nfev=meta["nfev"], variant=meta["variant"],
            params=params_from_json(meta["params"]), solver=meta["solver"], versions=meta["versions"],
        ))

    def __repr__(self) -> str:
        tb = "" if self.t_blowup is None else f", t_blowup={self.t_blowup:.10g}"
        return (f"Trajectory({self.variant!r}, d={self.d}, n={len(self)}, "
                f"t=[{self.t[0]:g}, {self.t[-1]:g}], status={self.status!r}{tb})")


__all__ = ["FORMAT", "STATUSES", "Trajectory", "TrajectoryError", "package_versions"]
