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


def _kind_problem(value: Any) -> str | None:
    """Why ``value`` is not an array of real numbers (complex, bool, strings), or None."""
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError):  # ragged nested lists
        return None
    kind = raw.dtype.kind
    if kind == "c":
        return "complex entries are not accepted (the imaginary part would be dropped)"
    if kind == "b":
        return "booleans are not numbers here"
    if kind in "USV":
        return "strings are not numbers (write 1e3, not '1e3')"
    if kind == "O":
        for v in raw.reshape(-1):
            if isinstance(v, bool | np.bool_):
                return "booleans are not numbers here"
            if isinstance(v, str | bytes):
                return "strings are not numbers (write 1e3, not '1e3')"
            if isinstance(v, complex | np.complexfloating):
                return "complex entries are not accepted (the imaginary part would be dropped)"
    return None


def as_array(name: str, value: Any, ndim: int | None = None) -> np.ndarray:
    """Float array of real numbers (no complex, bool or string entries), finite, with ``ndim`` dimensions."""
    problem = _kind_problem(value)
    if problem is not None:
        raise ValueError(f"`{name}` must be a real array: {problem}; got {_show(value)}")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"`{name}` must be a real array; got {type(value).__name__} {_show(value)}") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"`{name}` must have {ndim} dimension(s); got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must have finite entries; got {_show(arr)}")
    return arr


def check_flag(name: str, value: Any) -> bool:
    """A boolean option: True/False only (``'no'`` or 0 would be silently truthy/falsy)."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"`{name}` must be True or False; got {type(value).__name__} {value!r}")
    return bool(value)


def check_shape(name: str, arr: np.ndarray, shape: tuple[int | None, ...]) -> np.ndarray:
    """``shape`` entries ``None`` match any size."""
    ok = arr.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, arr.shape, strict=True))
    if not ok:
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"`{name}` must have shape {want}; got shape {arr.shape}")
    return arr


def check_positive(name: str, value: Any) -> float:
    """A positive finite real scalar (bool, strings, complex and arrays refused)."""
    try:
        if isinstance(value, bool | np.bool_ | str | bytes | complex) or np.ndim(value) != 0:
            raise TypeError
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"`{name}` must be a positive number; got {type(value).__name__} {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"`{name}` must be a positive finite number; got {value!r}")
    return v


def check_real(name: str, value: Any, *, low: float, strict: bool = True) -> float:
    """A finite real scalar with ``value > low`` (``strict``) or ``value ≥ low``; booleans and arrays refused."""
    try:
        if isinstance(value, bool | np.bool_ | str | bytes | complex) or np.ndim(value) != 0:
            raise TypeError
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"`{name}` must be a real number; got {value!r}") from None
    if not np.isfinite(v) or (v <= low if strict else v < low):
        raise ValueError(f"`{name}` must be finite and {'>' if strict else '≥'} {low:g}; got {value!r}")
    return v


def check_mean(name: str, value: Any, d: int | None = None) -> np.ndarray:
    arr = as_array(name, value, 1)
    if arr.size == 0:
        raise ValueError(f"`{name}` must have at least one entry (d ≥ 1); got shape {arr.shape}")
    if d is not None:
        check_shape(name, arr, (d,))
    return arr


def check_cov(name: str, value: Any, d: int | None = None) -> np.ndarray:
    """Symmetric positive semi-definite (d, d) matrix; singular allowed.

    Returns the symmetric part; eigenvalues negative within the tolerance ``PSD_RTOL·max(1, max|Σ|)``
    are clipped to 0 (so every accepted matrix is exactly PSD up to round-off)."""
    arr = as_array(name, value, 2)
    if arr.size == 0:
        raise ValueError(f"`{name}` must be at least 1 x 1 (d ≥ 1); got shape {arr.shape}")
    if arr.shape[0] != arr.shape[1] or (d is not None and arr.shape[0] != d):
        want = f"({d}, {d})" if d is not None else "(d, d)"
        raise ValueError(f"`{name}` must be symmetric PSD of shape {want}; got shape {arr.shape}")
    scale = max(1.0, float(np.max(np.abs(arr)))) if arr.size else 1.0
    asym = float(np.max(np.abs(arr - arr.T))) if arr.size else 0.0
    if asym > SYM_RTOL * scale:
        raise ValueError(f"`{name}` must be symmetric; max |Σ − Σᵀ| = {asym:.3g} in {_show(arr)}")
    sym = 0.5 * arr + 0.5 * arr.T  # (not 0.5·(Σ + Σᵀ): that overflows for entries near 1e308)
    w, U = np.linalg.eigh(sym)
    if w[0] < -PSD_RTOL * scale:
        raise ValueError(f"`{name}` must be positive semi-definite; smallest eigenvalue {w[0]:.3g}")
    if w[0] < 0:  # negative within the tolerance (round-off): clip to the nearest PSD matrix
        sym = (U * np.maximum(w, 0.0)) @ U.T
        sym = 0.5 * sym + 0.5 * sym.T
    return sym


def frozen_array(name: str, value: Any, ndim: int) -> np.ndarray:
    """A read-only float copy with ``ndim`` dimensions and finite entries (result containers)."""
    arr = np.array(value, dtype=float, copy=True)
    if arr.ndim != ndim:
        raise ValueError(f"`{name}` must have {ndim} dimension(s); got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite (a blow-up is reported by truncation, never by inf/NaN)")
    arr.setflags(write=False)
    return arr


#: a covariance sample Σ_k of a returned or loaded trajectory satisfies
#: λ_min(Σ_k) ≥ −PSD_TRAJ_RTOL · max(λ_max(Σ_k), 1e-8 · max_j λ_max(Σ_j)) (the floor keeps collapsing
#: covariances from tripping on round-off)
PSD_TRAJ_RTOL = 1e-6


def first_non_psd(cov: np.ndarray) -> int | None:
    """Index of the first sample of ``cov`` (n, d, d) violating the PSD tolerance above, or None."""
    if cov.shape[0] == 0 or cov.size == 0:
        return None
    w = np.linalg.eigvalsh(0.5 * cov + 0.5 * np.swapaxes(cov, -1, -2))
    top = np.maximum(w[:, -1], 0.0)
    floor = 1e-8 * float(top.max())
    bad = np.flatnonzero(w[:, 0] < -PSD_TRAJ_RTOL * np.maximum(top, floor))
    return int(bad[0]) if bad.size else None
