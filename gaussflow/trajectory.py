"""``Trajectory``: the result of integrating (or layering) the Gaussian moment dynamics.

A trajectory is data: sampled times, means and covariances, the outcome of the run
(``status`` ∈ {ok, blowup, converged, failed} with an actionable ``message``, diffrax ``RESULTS``
style), the estimated blow-up time, the cost, and the metadata needed to reproduce it (variant,
parameters, solver settings, package versions), and whether the integrated closure is exact.
``save`` / ``load`` round-trip it through one ``.npz`` file holding the arrays plus a JSON metadata
string, written atomically.

Dense output. ``solve(..., dense_output=True)`` keeps the integrator's own continuous extension (for the
default DOP853 the 7th-order interpolant of Hairer, Nørsett & Wanner §II.6, scipy's ``OdeSolution``), and
``traj.sol(t)`` evaluates it anywhere in [t[0], t[-1]] like ``solve_ivp(dense_output=True).sol``. The file
format stores samples only, so a loaded trajectory (and one from the discrete-layer
:func:`~gaussflow.integrate.propagate`) has no ``sol``: it raises :class:`TrajectoryError` saying so rather
than silently substituting a lower-order interpolation of the samples.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

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
    """Raised by :meth:`Trajectory.raise_for_status` for an unwanted outcome (and by :attr:`Trajectory.sol`
    when there is no dense output)."""


class Moments(NamedTuple):
    """α(t) and Σ(t) from :attr:`Trajectory.sol`: shapes (d,), (d, d) for a scalar t; (k, d), (k, d, d) for
    k times. Unpacks as ``alpha, Sigma = traj.sol(t)``."""

    mean: np.ndarray
    cov: np.ndarray


class DenseOutput:
    """Continuous extension of a solved trajectory: ``sol(t) -> Moments(mean, cov)``.

    Parameters
    ----------
    pieces : sequence of callables
        The integrator's interpolants in time order (scipy ``OdeSolution`` objects), each ``y(t)`` with
        t of shape (k,) → state of shape (m, k), covering consecutive intervals.
    unpack : callable
        State rows (k, m) → (mean (k, d), cov (k, d, d)) (the integrator's state layout).
    t_min, t_max : float
        The interval where ``sol`` is defined (the trajectory's first and last sample).
    """

    def __init__(self, pieces: Any, unpack: Any, t_min: float, t_max: float) -> None:
        self.pieces = list(pieces)
        self.unpack = unpack
        self.t_min = float(t_min)
        self.t_max = float(t_max)
        self.edges = np.array([float(p.t_max) for p in self.pieces])

    def restricted(self, t_min: float, t_max: float) -> DenseOutput:
        """The same interpolant on a sub-interval (a truncated trajectory)."""
        return DenseOutput(self.pieces, self.unpack, t_min, t_max)

    def __call__(self, t: Any) -> Moments:
        """α(t), Σ(t) for a scalar or a 1-D array of times in [t_min, t_max] (:class:`Moments`).

        Raises
        ------
        ValueError
            ``t`` not real, not 0-/1-D, or outside [t_min, t_max] (named in the message).
        """
        try:
            ta = np.asarray(t, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"`t` must be a real number or a 1-D array of times; got {t!r}") from None
        if ta.ndim > 1:
            raise ValueError(f"`t` must be a scalar or a 1-D array; got shape {ta.shape}")
        flat = np.atleast_1d(ta)
        bad = ~np.isfinite(flat) | (flat < self.t_min) | (flat > self.t_max)
        if bad.any():
            raise ValueError(f"`t` must lie within the trajectory's span [{self.t_min:.10g}, {self.t_max:.10g}]; "
                             f"got {flat[bad][0]!r}")
        rows = np.empty((flat.size, 0))
        which = np.minimum(np.searchsorted(self.edges, flat, side="left"), len(self.pieces) - 1)
        for k in np.unique(which):
            sel = which == k
            y = np.asarray(self.pieces[k](flat[sel]), dtype=float).T
            if rows.shape[1] != y.shape[1]:
                rows = np.empty((flat.size, y.shape[1]))
            rows[sel] = y
        mean, cov = self.unpack(rows)
        if ta.ndim == 0:
            return Moments(mean[0], cov[0])
        return Moments(mean, cov)

    def __repr__(self) -> str:
        return f"DenseOutput(t=[{self.t_min:g}, {self.t_max:g}], {len(self.pieces)} piece(s))"


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
    exact : bool or None
        Whether the integrated closure is exact (the moments are those of the true law), read from the
        closure kind; ``False`` for the Gaussian projection of a non-closing variant (``solve`` then warns
        with :class:`~gaussflow.errors.ApproximateClosureWarning`); ``None`` when unknown (a file written
        before gaussflow recorded it, or a Trajectory built by hand).
    sol : DenseOutput
        (property) ``sol(t) -> Moments(mean, cov)``, the integrator's continuous extension (module docstring).

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
    exact: bool | None = None
    dense: DenseOutput | None = field(default=None, repr=False)

    _NOT_IN_DICT: ClassVar[tuple[str, ...]] = ("dense",)

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
        if self.exact is not None:
            object.__setattr__(self, "exact", bool(self.exact))
        if self.dense is not None and (self.dense.t_min, self.dense.t_max) != (float(t[0]), float(t[-1])):
            object.__setattr__(self, "dense", self.dense.restricted(float(t[0]), float(t[-1])))

    # ------------------------------------------------------------------ views

    @property
    def sol(self) -> DenseOutput:
        """Dense output ``sol(t) -> Moments(mean, cov)`` on [t[0], t[-1]], like ``solve_ivp(...).sol``.

        Raises
        ------
        TrajectoryError
            No interpolant was kept: pass ``dense_output=True`` to :func:`~gaussflow.integrate.solve`; a
            loaded file or a :func:`~gaussflow.integrate.propagate` result has samples only.
        """
        if self.dense is None:
            raise TrajectoryError(
                "this Trajectory has no dense output: run gaussflow.solve(..., dense_output=True) (a saved file "
                "holds the samples only, and propagate's layers are discrete); traj.t, traj.mean, traj.cov are "
                "the samples")
        return self.dense

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
            "exact": self.exact,
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
            exact=meta.get("exact"),  # absent in files written before it was recorded
        ))

    def __repr__(self) -> str:
        tb = "" if self.t_blowup is None else f", t_blowup={self.t_blowup:.10g}"
        approx = ", approximate closure" if self.exact is False else ""
        return (f"Trajectory({self.variant!r}, d={self.d}, n={len(self)}, "
                f"t=[{self.t[0]:g}, {self.t[-1]:g}], status={self.status!r}{tb}{approx})")


__all__ = ["FORMAT", "STATUSES", "DenseOutput", "Moments", "Trajectory", "TrajectoryError", "package_versions"]
