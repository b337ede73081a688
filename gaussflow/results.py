"""One base for every sampled result: times, Gaussian moments, one :class:`~gaussflow.Status`; and the
interop mixin every result object shares (``to_dict`` / ``to_dataframe``).

:class:`~gaussflow.Trajectory` (moment ODEs) and :class:`~gaussflow.ParticleTrajectory` (particle
clouds, through their empirical moments) share what a reader of a run needs: its dimension and
length, the Gaussian at a sample, whether it covered what was asked, an opt-in raise, the spectral
diagnostics of Σ(t), and atomic, pickle-free persistence as one ``.npz`` with JSON metadata.

:class:`Tabular` is the interop mixin of every result (``Trajectory``, ``ParticleTrajectory``,
``BatchResult``, ``MaskedTrajectory``, ``VerificationReport``, ``ConvergenceStudy``, ``Spectrum``):

* ``to_dict()`` — plain Python (``dict``/``list``/``float``/``int``/``str``/``bool``/``None``), so
  ``json.dumps(r.to_dict(), allow_nan=False)`` works: arrays become nested lists, NumPy scalars Python
  scalars, non-finite floats (NaN, ±inf) ``None``. The keys are the result's documented attributes.
* ``to_dataframe()`` — a :class:`pandas.DataFrame` in long (tidy) format, one row per time step (per member
  and time step for a batch, per group and time step for a masked run). Vectors and matrices are spread over
  named columns ``<name>_<i>`` and ``<name>_<i>_<j>`` (``alpha_0``, ``Sigma_0_1``, ...; 0-based). pandas is
  an optional dependency (``pip install gaussflow[pandas]``), imported inside the method.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from ._checks import first_non_psd
from ._io import FileFormatError, load_npz, save_npz
from ._tabular import PANDAS_HINT, Tabular, columns, plain, require_pandas
from .gaussian import Gaussian

if TYPE_CHECKING:  # pragma: no cover
    from .diagnostics.spectrum import Spectrum


_S = TypeVar("_S", bound="MomentSeries")

class MomentSeries(Tabular):
    """Base of the result types (a mixin of their dataclasses).

    Subclasses have ``t`` (T,), ``mean`` (T, d), ``cov`` (T, d, d), ``status`` and ``message``
    attributes, and set ``FORMAT`` (the on-disk layout tag), ``ARRAYS`` (the arrays that
    :meth:`save` writes, optional ones allowed to be ``None``), ``ERROR`` (raised by
    :meth:`raise_for_status`) and ``OK`` (the statuses that count as covering the request).
    """

    FORMAT: ClassVar[str]
    ARRAYS: ClassVar[tuple[str, ...]] = ("t", "mean", "cov")
    ERROR: ClassVar[type[Exception]] = RuntimeError
    OK: ClassVar[tuple[str, ...]] = ("ok",)

    t: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    status: str
    message: str

    @property
    def d(self) -> int:
        """Token dimension."""
        return int(self.mean.shape[1])

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def law(self, i: int = -1) -> Gaussian:
        """N(mean[i], cov[i]) as a :class:`~gaussflow.Gaussian` (default: the last sample)."""
        return Gaussian(self.mean[i], self.cov[i])

    @property
    def ok(self) -> bool:
        """Whether the run covered what was asked (``status`` in ``OK``)."""
        return self.status in self.OK

    def raise_for_status(self, allowed: tuple[str, ...] | None = None) -> Any:
        """Opt-in raise: ``ERROR`` with :attr:`message` (and the status's advice) unless ``status`` is in
        ``allowed`` (default ``OK``). Returns ``self`` so it chains: ``solve(...).raise_for_status()``."""
        if self.status not in (self.OK if allowed is None else allowed):
            raise self.ERROR(f"{self.status}: {self.message}")
        return self

    def _columns(self) -> dict[str, np.ndarray]:
        """``t``, ``alpha_i`` (mean), ``Sigma_i_j`` (covariance), ``trace`` and ``effective_rank`` of Σ(t)."""
        sp = self.spectrum()
        return {"t": self.t, **columns("alpha", self.mean), **columns("Sigma", self.cov), "trace": sp.trace,
                "effective_rank": sp.effective_rank}

    def spectrum(self) -> Spectrum:
        """Spectral diagnostics of Σ(t): ``gaussflow.diagnostics.spectrum.spectrum(self.t, self.cov)``."""
        from .diagnostics.spectrum import spectrum

        return spectrum(self.t, self.cov)

    def metadata(self) -> dict[str, Any]:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the ``ARRAYS`` and the JSON :meth:`metadata` to one ``.npz`` file.

        Written to a temporary file in the same directory and moved into place with ``os.replace``,
        so readers never see a partial file; the path is used as given. Returns the path.
        """
        arrays = {k: getattr(self, k) for k in self.ARRAYS if getattr(self, k) is not None}
        return save_npz(path, arrays, self.metadata())

    @classmethod
    def _read(cls, path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and metadata of a file written by :meth:`save` of this class (never unpickles)."""
        arrays, meta = load_npz(path, {"t", "mean", "cov"}, cls.__name__)
        if meta.get("format") != cls.FORMAT:
            raise FileFormatError(path, f"has format {meta.get('format')!r}; expected {cls.FORMAT!r}")
        for k, a in arrays.items():
            if a.dtype.kind not in "fiu":
                raise FileFormatError(path, f"array `{k}` has dtype {a.dtype}; a saved {cls.__name__} holds "
                                            "real numbers")
        return arrays, meta

    @classmethod
    def _load_checked(cls: type[_S], path: str | os.PathLike[str],
                      build: Callable[[dict[str, np.ndarray], dict[str, Any]], _S]) -> _S:
        """``build(arrays, metadata)`` on the file's contents; any damage — unreadable file, missing
        keys, wrong types, invalid values, a covariance outside the PSD tolerance of
        :data:`gaussflow._checks.PSD_TRAJ_RTOL` — raises :class:`~gaussflow._io.FileFormatError`
        (a ``ValueError``) naming ``path``."""
        arrays, meta = cls._read(path)
        try:
            obj = build(arrays, meta)
        except KeyError as exc:
            raise FileFormatError(path, f"missing metadata entry {exc} of a saved {cls.__name__}") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise FileFormatError(path, f"not a valid {cls.__name__}: {exc}") from None
        bad = first_non_psd(obj.cov)
        if bad is not None:
            lam = float(np.linalg.eigvalsh(obj.cov[bad])[0])
            raise FileFormatError(path, f"covariance sample {bad} (t = {obj.t[bad]:.6g}) is not positive "
                                        f"semi-definite (smallest eigenvalue {lam:.3g})")
        return obj


def params_from_json(params: dict[str, Any]) -> dict[str, Any]:
    """Saved parameters back as arrays (lists in the JSON) or scalars."""
    return {k: np.asarray(v, dtype=float) if isinstance(v, list) else v for k, v in params.items()}


__all__ = ["PANDAS_HINT", "MomentSeries", "Tabular", "columns", "params_from_json", "plain", "require_pandas"]
