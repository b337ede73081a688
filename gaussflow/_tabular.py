"""The interop mixin of every result object: ``to_dict`` and ``to_dataframe`` (a leaf module).

Re-exported by :mod:`gaussflow.results` (formats documented there); it lives below every result module so
that :class:`~gaussflow.diagnostics.spectrum.Spectrum` can use it without an import cycle through
:class:`~gaussflow.results.MomentSeries` (which computes spectra).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

#: the message of the ImportError raised by ``to_dataframe`` without pandas
PANDAS_HINT = "to_dataframe() needs pandas, an optional dependency: pip install gaussflow[pandas]"


def plain(value: Any) -> Any:
    """``value`` as plain JSON types: mappings → dict (str keys), sequences and arrays → lists, NumPy scalars
    → Python scalars, non-finite floats → ``None``, objects with ``to_dict`` → their dict."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return str(value)  # a StrEnum (Status) as its value
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value


def columns(name: str, arr: Any) -> dict[str, np.ndarray]:
    """Spread ``arr`` of shape (T,), (T, d) or (T, d, d) over columns ``name``, ``name_i``, ``name_i_j``
    (row-major, 0-based): ``columns("alpha", mean)`` → ``{"alpha_0": mean[:, 0], ...}``."""
    a = np.asarray(arr)
    if a.ndim == 1:
        return {name: a}
    flat = a.reshape(a.shape[0], -1)
    keys = ["_".join(map(str, idx)) for idx in np.ndindex(*a.shape[1:])]
    return {f"{name}_{k}": flat[:, i] for i, k in enumerate(keys)}


def require_pandas() -> Any:
    """The ``pandas`` module, or ImportError naming ``pip install gaussflow[pandas]``."""
    try:
        import pandas
    except ImportError as exc:
        raise ImportError(PANDAS_HINT) from exc
    return pandas


class Tabular:
    """Interop mixin: :meth:`to_dict` and :meth:`to_dataframe` (module docstring: formats).

    A subclass provides ``_record()`` (name → value; default: its dataclass fields minus ``_NOT_IN_DICT``)
    and ``_columns()`` (name → equal-length 1-D array, one entry per row).
    """

    _NOT_IN_DICT: ClassVar[tuple[str, ...]] = ()

    def _record(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)  # type: ignore[arg-type]
                if f.name not in self._NOT_IN_DICT}

    def _columns(self) -> dict[str, np.ndarray]:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python content (JSON-serializable; NaN/inf as ``None``); keys: the documented attributes."""
        return plain(self._record())

    def to_dataframe(self) -> Any:
        """:class:`pandas.DataFrame`, one row per time step, vectors/matrices spread over ``name_i``/``name_i_j``
        columns (module docstring). Raises ImportError naming ``pip install gaussflow[pandas]`` without pandas."""
        pd = require_pandas()
        return pd.DataFrame(self._columns())


__all__ = ["PANDAS_HINT", "Tabular", "columns", "plain", "require_pandas"]
