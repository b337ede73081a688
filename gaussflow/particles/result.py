"""Particle-run results: :class:`ParticleTrajectory` (empirical moments, optional positions) on the
shared :class:`~gaussflow.results.MomentSeries` base; saved as npz + JSON, never pickled."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from .._checks import frozen_array
from .._io import jsonable, package_versions
from ..results import MomentSeries, params_from_json
from ..status import Status

#: outcomes of a particle run (a subset of the one vocabulary, :class:`gaussflow.status.Status`)
STATUSES: tuple[str, ...] = (Status.OK.value, Status.BLOWUP.value, Status.FAILED.value)

#: identifies the on-disk layout written by :meth:`ParticleTrajectory.save`
FORMAT = "gaussflow.ParticleTrajectory/1"


class ParticleTrajectoryError(RuntimeError):
    """Raised by :meth:`ParticleTrajectory.raise_for_status` for an unwanted outcome."""


@dataclass(frozen=True, eq=False)
class ParticleTrajectory(MomentSeries):
    """Empirical moments (and optionally positions) of a particle cloud at the requested times.

    Attributes
    ----------
    t : ndarray, shape (T,)
        Times reached (all of ``t_eval`` when ``status == "ok"``; a prefix otherwise).
    mean : ndarray, shape (T, d)
        Empirical mean (1/n) Σᵢ xᵢ(t).
    cov : ndarray, shape (T, d, d)
        Empirical covariance with 1/n normalization, (1/n) Σᵢ (xᵢ − mean)(xᵢ − mean)ᵀ: the covariance
        of the empirical measure μⁿ itself (the quantity the moment ODE of μⁿ describes), not the
        unbiased 1/(n−1) estimator of the law the particles were drawn from.
    n : int
        Number of particles.
    X : ndarray, shape (T, n, d), or None
        Positions, only with ``keep="all"``.
    status : str
        ``"ok"``, ``"blowup"`` (unnormalized kernel overflow or non-finite state; arrays stop at the
        last finite sample) or ``"failed"`` (the adaptive integrator gave up, or a Sinkhorn plan
        missed its tolerance).
    message : str
    nfev : int
        Velocity evaluations (each is one pass over all n² pairs).
    steps : int
        Time steps taken (accepted steps for ``method="adaptive"``).
    variant : str
    params : Mapping[str, float | ndarray]
        Numeric attention parameters.
    solver : Mapping[str, Any]
        Settings and diagnostics (JSON types): method, dt, chunk, causal, seed, tolerances,
        Sinkhorn iterations, wall time, ...
    versions : Mapping[str, str]

    ``to_dict()`` / ``to_dataframe()`` (:mod:`gaussflow.results`) leave the positions ``X`` out (use ``.X``).
    """

    FORMAT: ClassVar[str] = FORMAT
    _NOT_IN_DICT: ClassVar[tuple[str, ...]] = ("X",)
    ARRAYS: ClassVar[tuple[str, ...]] = ("t", "mean", "cov", "X")
    ERROR: ClassVar[type[Exception]] = ParticleTrajectoryError
    OK: ClassVar[tuple[str, ...]] = ("ok",)

    t: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    n: int
    X: np.ndarray | None = None
    status: str = "ok"
    message: str = ""
    nfev: int = 0
    steps: int = 0
    variant: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    solver: Mapping[str, Any] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=package_versions)

    def __post_init__(self) -> None:
        t = frozen_array("t", self.t, 1)
        mean = frozen_array("mean", self.mean, 2)
        cov = frozen_array("cov", self.cov, 3)
        T = t.shape[0]
        if T > 1 and not np.all(np.diff(t) > 0):
            raise ValueError(f"`t` must be strictly increasing; got {t}")
        d = mean.shape[1]
        if mean.shape[0] != T or cov.shape != (T, d, d):
            raise ValueError(f"`mean`, `cov` must have shapes ({T}, d), ({T}, d, d); got {mean.shape}, {cov.shape}")
        n = int(self.n)
        if n < 1:
            raise ValueError(f"`n` must be a positive integer; got {self.n!r}")
        if self.X is not None:
            X = frozen_array("X", self.X, 3)
            if X.shape != (T, n, d):
                raise ValueError(f"`X` must have shape ({T}, {n}, {d}); got shape {X.shape}")
            object.__setattr__(self, "X", X)
        if self.status not in STATUSES:
            raise ValueError(f"`status` must be one of {STATUSES}; got {self.status!r}")
        object.__setattr__(self, "status", Status(self.status))
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "cov", cov)
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "nfev", int(self.nfev))
        object.__setattr__(self, "steps", int(self.steps))
        object.__setattr__(self, "message", str(self.message))
        object.__setattr__(self, "variant", str(self.variant))
        params: dict[str, Any] = {}
        for k, v in self.params.items():
            if np.ndim(v) == 0:
                params[str(k)] = float(v)
            else:
                a = np.array(v, dtype=float, copy=True)
                a.setflags(write=False)
                params[str(k)] = a
        object.__setattr__(self, "params", MappingProxyType(params))
        object.__setattr__(self, "solver", MappingProxyType(dict(self.solver)))
        object.__setattr__(self, "versions", MappingProxyType({str(k): str(v) for k, v in self.versions.items()}))

    def raise_for_status(self, allowed: tuple[str, ...] | None = None) -> ParticleTrajectory:
        """Raise :class:`ParticleTrajectoryError` with :attr:`message` unless ``status`` is allowed
        (default ``"ok"``); returns ``self``."""
        return super().raise_for_status(allowed)

    def metadata(self) -> dict[str, Any]:
        """Everything but the arrays, as plain JSON types (parameters as nested lists)."""
        return {
            "format": FORMAT, "n": self.n, "status": self.status, "message": self.message,
            "nfev": self.nfev, "steps": self.steps, "variant": self.variant,
            "params": jsonable(dict(self.params)), "solver": jsonable(dict(self.solver)),
            "versions": dict(self.versions),
        }

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ParticleTrajectory:
        """Read a file written by :meth:`save` (never unpickles)."""
        return cls._load_checked(path, lambda arrays, meta: cls(
            t=arrays["t"], mean=arrays["mean"], cov=arrays["cov"], n=meta["n"], X=arrays.get("X"),
            status=meta["status"], message=meta["message"], nfev=meta["nfev"], steps=meta["steps"],
            variant=meta["variant"], params=params_from_json(meta["params"]), solver=meta["solver"],
            versions=meta["versions"],
        ))

    def __repr__(self) -> str:
        return (f"ParticleTrajectory({self.variant!r}, n={self.n}, d={self.d}, T={len(self)}, "
                f"t=[{self.t[0]:g}, {self.t[-1]:g}], status={self.status!r})")


__all__ = ["FORMAT", "STATUSES", "ParticleTrajectory", "ParticleTrajectoryError"]
