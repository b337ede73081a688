"""Plots for tokens on the sphere (gaussflow.style): points on S² over a surface coloured by xᵀDx, points on
S¹ over a coloured circle, densities on the circle, energy against time."""

from __future__ import annotations

from typing import Any

import numpy as np


def sphere_axes(ax: Any, D: np.ndarray, title: str, cmap: str = "viridis", n: int = 40) -> Any:
    """Draw S² coloured by the quadratic form xᵀDx on a 3-D axes; returns the ScalarMappable for a colorbar."""
    import matplotlib as mpl

    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, 2 * n), np.linspace(0, np.pi, n))
    X = np.stack([np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v)], axis=-1)
    q = np.einsum("...i,ij,...j->...", X, D, X)
    lo, hi = float(q.min()), float(q.max())
    norm = mpl.colors.Normalize(lo, hi if hi > lo + 1e-12 else lo + 1.0)
    cm = mpl.colormaps[cmap]
    ax.plot_surface(X[..., 0], X[..., 1], X[..., 2], facecolors=cm(norm(q)), rstride=1, cstride=1,
                    linewidth=0, antialiased=False, alpha=0.55, shade=False)
    ax.set_box_aspect((1, 1, 1))
    ax.set_xlabel("$x_1$", labelpad=-8)
    ax.set_ylabel("$x_2$", labelpad=-8)
    ax.set_zlabel("$x_3$", labelpad=-8)
    ax.set_xticks([-1, 1])
    ax.set_yticks([-1, 1])
    ax.set_zticks([-1, 1])
    ax.tick_params(pad=-3)
    ax.set_title(title)
    ax.computed_zorder = False
    return mpl.cm.ScalarMappable(norm=norm, cmap=cm)


def points_on_sphere(ax: Any, X: np.ndarray, color: str = "#D55E00", size: float = 8.0,
                     label: str | None = None, **kwargs: Any) -> Any:
    """Points on S²: the hemisphere facing the viewer opaque and drawn over the surface, the far side faint.

    Parameters
    ----------
    ax : matplotlib 3-D Axes
    X : ndarray, shape (n, 3)
        Unit rows.
    color, size, label
        Marker colour, marker area (points²) and legend label of the near-side points.
    **kwargs
        Passed to both ``ax.scatter`` calls (e.g. ``marker="^"``).

    Returns
    -------
    ax : the Axes drawn on.
    """
    el, az = np.radians(ax.elev), np.radians(ax.azim)
    view = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    front = X @ view >= 0
    F, B = X[front] * 1.01, X[~front]
    ax.scatter(B[:, 0], B[:, 1], B[:, 2], **{"color": color, "s": size, "alpha": 0.15, "depthshade": False, **kwargs})
    ax.scatter(F[:, 0], F[:, 1], F[:, 2], **{"color": color, "s": size, "depthshade": False, "label": label,
                                              "zorder": 10, "edgecolors": "k", "linewidths": 0.3, **kwargs})
    return ax


def circle_axes(ax: Any, D: np.ndarray, title: str, cmap: str = "viridis") -> Any:
    """S¹ drawn as a thick circle coloured by xᵀDx; returns the ScalarMappable."""
    import matplotlib as mpl
    from matplotlib.collections import LineCollection

    a = np.linspace(0, 2 * np.pi, 361)
    P = np.stack([np.cos(a), np.sin(a)], axis=1)
    q = np.einsum("ni,ij,nj->n", P, D, P)
    lo, hi = float(q.min()), float(q.max())
    norm = mpl.colors.Normalize(lo, hi if hi > lo + 1e-12 else lo + 1.0)
    seg = np.stack([P[:-1], P[1:]], axis=1)
    lc = LineCollection(seg, cmap=mpl.colormaps[cmap], norm=norm, linewidths=5)
    lc.set_array(0.5 * (q[:-1] + q[1:]))
    ax.add_collection(lc)
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title)
    return mpl.cm.ScalarMappable(norm=norm, cmap=mpl.colormaps[cmap])


__all__ = ["circle_axes", "points_on_sphere", "sphere_axes"]
