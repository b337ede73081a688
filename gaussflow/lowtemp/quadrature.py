"""Graded Gauss–Legendre panels for the Lagrangian mean-field solvers.

The low-temperature dynamics have two kinds of thin layers: at the edge of the support, where the
softmax weight e^{β y x} concentrates within O(1/β), and at the unstable centre, where tokens leave 0
at rate ~β. Panels are graded geometrically toward both ends of [0, L]: edges
0, ½L·r^{n₀}, …, ½L·r, ½L, L − ½L·r, …, L − ½L·r^{n₁}, L, with ``order`` Gauss–Legendre nodes per panel.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.polynomial.legendre import leggauss


def graded_panels(length: float, *, order: int = 8, ratio: float = 0.3, levels0: int = 16,
                  edge_scale: float | None = None, levels1: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of ∫₀^L f(s) ds on panels graded toward 0 and toward L.

    Parameters
    ----------
    length : float
        L > 0.
    order : int
        Gauss–Legendre nodes per panel (exact for polynomials of degree 2·order − 1 on each panel).
    ratio : float
        Geometric grading ratio r ∈ (0, 1).
    levels0 : int
        Number of graded panels toward 0 (smallest panel ½L·r^{levels0}).
    edge_scale : float, optional
        Resolve the end L down to ``edge_scale/50``: sets ``levels1`` (e.g. 1/β).
    levels1 : int, optional
        Number of graded panels toward L (default from ``edge_scale``, else ``levels0``).

    Returns
    -------
    nodes, weights : ndarray, shape (N,)
        N = order·(levels0 + levels1 + 1); Σ weights = L; nodes strictly inside (0, L).
    """
    if not length > 0:
        raise ValueError(f"`length` must be positive; got {length!r}")
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"`order` must be a positive integer; got {order!r}")
    if not 0 < ratio < 1:
        raise ValueError(f"`ratio` must lie in (0, 1); got {ratio!r}")
    if isinstance(levels0, bool) or not isinstance(levels0, int) or levels0 < 0:
        raise ValueError(f"`levels0` must be a non-negative integer; got {levels0!r}")
    if levels1 is None:
        if edge_scale is None:
            levels1 = levels0
        else:
            if not edge_scale > 0:
                raise ValueError(f"`edge_scale` must be positive; got {edge_scale!r}")
            target = min(0.5, edge_scale / (50.0 * length))
            levels1 = max(1, math.ceil(math.log(target / 0.5) / math.log(ratio)) + 1)
    half = 0.5 * length
    left = [half * ratio**k for k in range(levels0, 0, -1)]
    right = [length - half * ratio**k for k in range(1, levels1 + 1)]
    edges = np.array([0.0, *left, half, *right, length])
    g, w = leggauss(order)
    a, b = edges[:-1], edges[1:]
    nodes = (0.5 * (b - a)[:, None] * (g[None, :] + 1.0) + a[:, None]).ravel()
    weights = (0.5 * (b - a)[:, None] * w[None, :]).ravel()
    return nodes, weights


__all__ = ["graded_panels"]
