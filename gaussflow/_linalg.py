"""Small dense linear-algebra helpers shared across modules."""

from __future__ import annotations

import numpy as np


def sqrtm_psd(S: np.ndarray) -> np.ndarray:
    """Principal square root of symmetric PSD matrices, shape (..., d, d), via ``eigh`` of the
    symmetrized input with negative rounding eigenvalues clipped to 0 (so singular Σ is fine)."""
    w, U = np.linalg.eigh(0.5 * (S + np.swapaxes(S, -1, -2)))
    return (U * np.sqrt(np.clip(w, 0.0, None))[..., None, :]) @ np.swapaxes(U, -1, -2)
