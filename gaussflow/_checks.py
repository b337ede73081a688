"""Validation at the public boundary: one clear ValueError naming the argument."""

from __future__ import annotations

from typing import Any

import numpy as np

#: relative tolerance for symmetry and for negative eigenvalues of PSD matrices
SYM_RTOL = 1e-10
PSD_RTOL = 1e-10


def _show(value: Any) -> str:
    try:
        s = np.array2string(np.asarray(value), precision=4, threshold=12) if np.ndim(value) else repr(value)
    except (TypeError, ValueError):  # ragged nested lists cannot become arrays: show them as given
        s = repr(value)
    return s if len(s) < 200 else s[:200] + "..."


def as_array(name: str, value: Any, ndim: int | None = None) -> np.ndarray:
    """Float array with finite entries and the given number of dimensions."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a real array; got {type(value).__name__} {_show(value)}") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"`{name}` must have {ndim} dimension(s); got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must have finite entries; got {_show(arr)}")
    return arr


def check_shape(name: str, arr: np.ndarray, shape: tuple[int | None, ...]) -> np.ndarray:
    """``shape`` entries ``None`` match any size."""
    ok = arr.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, arr.shape, strict=True))
    if not ok:
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"`{name}` must have shape {want}; got shape {arr.shape}")
    return arr


def check_positive(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a positive number; got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"`{name}` must be a positive finite number; got {value!r}")
    return v


def check_real(name: str, value: Any, *, low: float, strict: bool = True) -> float:
    """A finite real scalar with ``value > low`` (``strict``) or ``value ≥ low``; booleans and arrays refused."""
    try:
        if isinstance(value, bool) or np.ndim(value) != 0:
            raise TypeError
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a real number; got {value!r}") from None
    if not np.isfinite(v) or (v <= low if strict else v < low):
        raise ValueError(f"`{name}` must be finite and {'>' if strict else '≥'} {low:g}; got {value!r}")
    return v


def check_mean(name: str, value: Any, d: int | None = None) -> np.ndarray:
    arr = as_array(name, value, 1)
    if d is not None:
        check_shape(name, arr, (d,))
    return arr


def check_cov(name: str, value: Any, d: int | None = None) -> np.ndarray:
    """Symmetric positive semi-definite (d, d) matrix; singular allowed."""
    arr = as_array(name, value, 2)
    if arr.shape[0] != arr.shape[1] or (d is not None and arr.shape[0] != d):
        want = f"({d}, {d})" if d is not None else "(d, d)"
        raise ValueError(f"`{name}` must be symmetric PSD of shape {want}; got shape {arr.shape}")
    scale = max(1.0, float(np.max(np.abs(arr)))) if arr.size else 1.0
    asym = float(np.max(np.abs(arr - arr.T))) if arr.size else 0.0
    if asym > SYM_RTOL * scale:
        raise ValueError(f"`{name}` must be symmetric; max |Σ − Σᵀ| = {asym:.3g} in {_show(arr)}")
    lam = float(np.linalg.eigvalsh(0.5 * (arr + arr.T))[0]) if arr.size else 0.0
    if lam < -PSD_RTOL * scale:
        raise ValueError(f"`{name}` must be positive semi-definite; smallest eigenvalue {lam:.3g}")
    return 0.5 * (arr + arr.T)


def frozen_array(name: str, value: Any, ndim: int) -> np.ndarray:
    """A read-only float copy with ``ndim`` dimensions and finite entries (result containers)."""
    arr = np.array(value, dtype=float, copy=True)
    if arr.ndim != ndim:
        raise ValueError(f"`{name}` must have {ndim} dimension(s); got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite (a blow-up is reported by truncation, never by inf/NaN)")
    arr.setflags(write=False)
    return arr
