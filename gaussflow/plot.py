"""Matplotlib views of covariance trajectories: eigenvalue branches, ellipses, PSD cone, unit disk.

Every function takes ``ax=None`` (a new figure is made), passes ``**kwargs`` to the matplotlib call that draws
its data lines (``Axes.plot``: ``lw=2``, ``alpha=0.5``, ``color=...``), and returns the Axes it drew on (the
two-panel :func:`plot_solution` returns its array of Axes); nothing calls ``plt.show``, so the module is safe
under the Agg backend. Trajectories are duck-typed: anything with
``t`` (n,), ``cov`` (n, d, d) and optionally ``mean`` (n, d), ``status``, ``t_blowup`` (the fields of
:class:`gaussflow.trajectory.Trajectory`); the 2 × 2 views also accept a bare array of shape (n, 2, 2).

All figures use the package style (:mod:`gaussflow.style`: printed sizes, ≥ 8 pt fonts, shared colours).
The 2 × 2 pictures of the core paper (docs/math.md §6) map Σ = [[a, c], [c, b]] to

* the PSD cone: (x, y, z) = (a − b, 2c, a + b), Σ ⪰ 0 ⇔ z ≥ √(x² + y²), boundary = rank ≤ 1;
* the unit disk: Σ/trΣ ↦ (a − b, 2c)/(a + b), |·| ≤ 1, unit circle = rank one, origin = isotropic.

(The eigenvalues are (z ± √(x² + y²))/2, which is why the cone is exactly the PSD set.)
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import style
from ._checks import as_array
from .diagnostics.spectrum import spectrum

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "cone_coordinates", "describe_params", "disk_coordinates", "plot_eigenvalues", "plot_ellipses", "plot_psd_cone",
    "plot_solution", "plot_unit_disk",
]

#: axis labels of the 2 × 2 views (Σ = [[a, c], [c, b]])
CONE_LABELS = (r"$\Sigma_{11} - \Sigma_{22}$", r"$2\Sigma_{12}$", r"$\mathrm{tr}\,\Sigma$")
DISK_LABELS = (r"$(\Sigma_{11} - \Sigma_{22})/\mathrm{tr}\,\Sigma$", r"$2\Sigma_{12}/\mathrm{tr}\,\Sigma$")


# --------------------------------------------------------------------------------------------------------
# coordinates
# --------------------------------------------------------------------------------------------------------
def _check_2x2(name: str, cov: Any) -> np.ndarray:
    arr = as_array(name, cov)
    if arr.ndim < 2 or arr.shape[-2:] != (2, 2):
        raise ValueError(f"`{name}` must have shape (..., 2, 2) (the 2-D views need d = 2); got shape "
                         f"{arr.shape}")
    scale = np.max(np.abs(arr), initial=0.0)
    if np.max(np.abs(arr[..., 0, 1] - arr[..., 1, 0]), initial=0.0) > 1e-8 * scale:
        raise ValueError(f"`{name}` must be symmetric; got off-diagonals {arr[..., 0, 1]!r} ≠ {arr[..., 1, 0]!r}")
    return arr


def cone_coordinates(cov: Any) -> np.ndarray:
    """Coordinates of 2 × 2 covariances in the PSD cone.

    Parameters
    ----------
    cov : array_like, shape (..., 2, 2)
        Symmetric Σ = [[a, c], [c, b]].

    Returns
    -------
    ndarray, shape (..., 3)
        (a − b, 2c, a + b). Σ ⪰ 0 iff z ≥ √(x² + y²); rank Σ ≤ 1 iff equality.

    Examples
    --------
    >>> cone_coordinates([[3.0, 1.0], [1.0, 2.0]]).tolist()
    [1.0, 2.0, 5.0]
    """
    S = _check_2x2("cov", cov)
    a, b, c = S[..., 0, 0], S[..., 1, 1], S[..., 0, 1]
    return np.stack([a - b, 2.0 * c, a + b], axis=-1)


def disk_coordinates(cov: Any) -> np.ndarray:
    """Coordinates of normalized 2 × 2 covariances Σ/trΣ in the unit disk.

    Parameters
    ----------
    cov : array_like, shape (..., 2, 2)
        Symmetric PSD Σ = [[a, c], [c, b]].

    Returns
    -------
    ndarray, shape (..., 2)
        (a − b, 2c)/(a + b); the norm is (λ₁ − λ₂)/(λ₁ + λ₂) ∈ [0, 1], 1 iff rank one, 0 iff Σ ∝ I.
        NaN where trΣ = 0.

    Examples
    --------
    >>> disk_coordinates([[1.0, 0.0], [0.0, 0.0]]).tolist()
    [1.0, 0.0]
    """
    x = cone_coordinates(cov)
    z = x[..., 2:]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(z != 0, x[..., :2] / np.where(z != 0, z, 1.0), np.nan)


# --------------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------------
def _new_axes(projection: str | None = None) -> Axes:
    _fig, ax = style.figure("single", aspect=0.8 if projection is None else 0.9, projection=projection)
    return ax


def _fields(traj: Any, name: str = "traj") -> tuple[np.ndarray, np.ndarray]:
    if not (hasattr(traj, "t") and hasattr(traj, "cov")):
        raise ValueError(f"`{name}` must have fields `t` and `cov`; got {type(traj).__name__}")
    t = as_array(f"{name}.t", traj.t, 1)
    cov = as_array(f"{name}.cov", traj.cov, 3)
    return t, cov


def _require_2d(name: str, cov: np.ndarray) -> None:
    if cov.shape[-2:] != (2, 2):
        raise ValueError(f"`{name}` must be a 2-D trajectory (cov of shape (n, 2, 2)); got cov shape "
                         f"{cov.shape}")


def _cov_paths(traj_or_list: Any) -> list[np.ndarray]:
    """List of (n, 2, 2) covariance paths from a trajectory, an array, or a sequence of those."""
    if hasattr(traj_or_list, "cov") or isinstance(traj_or_list, np.ndarray):
        items = [traj_or_list]
    elif isinstance(traj_or_list, Sequence) and not isinstance(traj_or_list, str) and len(traj_or_list):
        items = list(traj_or_list)
    else:
        raise ValueError(f"`traj_or_list` must be a trajectory, an (n, 2, 2) array or a non-empty list of "
                         f"those; got {type(traj_or_list).__name__}")
    paths = []
    for k, item in enumerate(items):
        cov = item.cov if hasattr(item, "cov") else item
        arr = as_array(f"traj_or_list[{k}]", cov)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3 or arr.shape[1:] != (2, 2):
            raise ValueError(f"`traj_or_list[{k}]` must be a 2-D trajectory (cov of shape (n, 2, 2)); got "
                             f"shape {arr.shape}")
        paths.append(arr)
    return paths


# --------------------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------------------
@style.styled
def plot_eigenvalues(traj: Any, ax: Axes | None = None, log: bool = True, legend: bool = True, **kwargs: Any) -> Axes:
    """Tracked eigenvalue branches λ_j(t) of Σ(t) (through crossings), any d.

    Parameters
    ----------
    traj : Trajectory-like
        ``t`` (n,), ``cov`` (n, d, d); if ``status == "blowup"`` a dashed vertical line marks
        T* = ``t_blowup`` (or the last time when ``t_blowup`` is None).
    ax : matplotlib Axes, optional
    log : bool
        Logarithmic y-axis (non-positive values are left out).
    legend : bool
        Draw the legend (outside the data, right of the axes).
    **kwargs
        Passed to ``ax.plot`` for every branch (override the default label ``λ_j`` with ``label=...``).

    Returns
    -------
    matplotlib.axes.Axes
        One line per branch (labelled λ_1 … λ_d by their order at t₀), plus the T* line.
    """
    t, cov = _fields(traj)
    lam = spectrum(t, cov).tracked_eigenvalues
    ax = _new_axes() if ax is None else ax
    if log:
        lam = np.where(lam > 0, lam, np.nan)
    for j in range(lam.shape[1]):
        ax.plot(t, lam[:, j], **{"label": f"$\\lambda_{{{j + 1}}}$", **kwargs})
    if getattr(traj, "status", None) == "blowup":
        t_star = getattr(traj, "t_blowup", None)
        t_star = float(t[-1]) if t_star is None else float(t_star)
        ax.axvline(t_star, color=style.COLORS["blowup_time"], ls="--", lw=0.8, label=f"$T^* = {t_star:.4g}$")
    if log:
        ax.set_yscale("log")
    style.label(ax, x="time $t$", y="eigenvalues $\\lambda_j$ of $\\Sigma(t)$")
    if legend:
        style.legend_outside(ax, "right")
    return ax


@style.styled
def plot_ellipses(traj: Any, ax: Axes | None = None, n: int = 8, cmap: str = "viridis", **kwargs: Any) -> Axes:
    """One-standard-deviation ellipses {α + Σ^{1/2}v : ‖v‖ = 1} at ``n`` times, colored by time (d = 2).

    Parameters
    ----------
    traj : Trajectory-like
        ``t`` (m,), ``cov`` (m, 2, 2) and optionally ``mean`` (m, 2) (the ellipse centres; zero if absent).
    ax : matplotlib Axes, optional
    n : int
        Number of ellipses, at the samples nearest to n evenly spaced times in [t₀, t_end].
    cmap : str
        Matplotlib colormap for the time coloring (a colorbar labelled t is added).
    **kwargs
        Passed to ``ax.plot`` for every ellipse (default ``lw=1.2``; the colour comes from ``cmap``).

    Returns
    -------
    matplotlib.axes.Axes
        The first line is the mean path, then one closed curve per ellipse (singular Σ gives a segment).
    """
    import matplotlib as mpl

    t, cov = _fields(traj)
    _require_2d("traj", cov)
    if not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"`n` must be a positive int; got {n!r}")
    mean = as_array("traj.mean", traj.mean, 2) if getattr(traj, "mean", None) is not None else np.zeros(
        (t.size, 2))
    if mean.shape != (t.size, 2):
        raise ValueError(f"`traj.mean` must have shape ({t.size}, 2); got {mean.shape}")
    targets = np.linspace(t[0], t[-1], n)
    idx = np.unique(np.argmin(np.abs(t[:, None] - targets[None, :]), axis=0))
    ax = _new_axes() if ax is None else ax
    norm = mpl.colors.Normalize(vmin=float(t[0]), vmax=float(t[-1]) if t[-1] > t[0] else float(t[0]) + 1.0)
    colormap = mpl.colormaps[cmap]
    ax.plot(mean[:, 0], mean[:, 1], color=style.COLORS["reference"], lw=0.8, label="mean")
    theta = np.linspace(0.0, 2.0 * np.pi, 129)
    circle = np.stack([np.cos(theta), np.sin(theta)])
    for k in idx:
        w, U = np.linalg.eigh(0.5 * (cov[k] + cov[k].T))
        pts = mean[k][:, None] + (U * np.sqrt(np.clip(w, 0.0, None))) @ circle
        color = colormap(norm(t[k]))
        ax.plot(pts[0], pts[1], **{"color": color, "lw": 1.2, **kwargs})
        ax.plot(*mean[k], "o", color=color, ms=3)
    ax.set_aspect("equal", adjustable="datalim")
    style.label(ax, x="token coordinate $x_1$", y="token coordinate $x_2$")
    ax.figure.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=colormap), ax=ax, label="time $t$")
    return ax


@style.styled
def plot_psd_cone(traj_or_list: Any, ax: Axes | None = None, cone: bool = True, **kwargs: Any) -> Axes:
    """2 × 2 covariance paths in the PSD cone, 3-D: Σ ↦ (a − b, 2c, a + b).

    Parameters
    ----------
    traj_or_list : Trajectory-like, ndarray (n, 2, 2), or a sequence of those
    ax : mpl_toolkits.mplot3d.Axes3D, optional
        Must be a 3-D Axes (``projection="3d"``).
    cone : bool
        Draw the boundary z = √(x² + y²) (rank-one matrices) as a light surface up to the largest trace.
    **kwargs
        Passed to ``ax.plot`` for every path (default ``lw=1.2`` and the package colour cycle).

    Returns
    -------
    Axes3D
        One line per path, a dot at each start.
    """
    paths = [cone_coordinates(c) for c in _cov_paths(traj_or_list)]
    if ax is None:
        ax = _new_axes("3d")
    elif getattr(ax, "name", None) != "3d":
        raise ValueError(f"`ax` must be a 3-D Axes (projection='3d'); got {type(ax).__name__}")
    zmax = max(float(np.max(p[:, 2])) for p in paths)
    zmax = zmax if zmax > 0 else 1.0
    if cone:
        r, phi = np.meshgrid(np.linspace(0.0, zmax, 12), np.linspace(0.0, 2.0 * np.pi, 49))
        ax.plot_surface(r * np.cos(phi), r * np.sin(phi), r, color="0.6", alpha=0.12, linewidth=0)
    for k, p in enumerate(paths):
        line = ax.plot(p[:, 0], p[:, 1], p[:, 2], **{"lw": 1.2, "color": style.CYCLE[k % len(style.CYCLE)],
                                                      **kwargs})[0]
        ax.scatter([p[0, 0]], [p[0, 1]], [p[0, 2]], color=line.get_color(), s=12)
    style.label(ax, x=CONE_LABELS[0], y=CONE_LABELS[1], z=CONE_LABELS[2])
    ax.set_box_aspect(None, zoom=0.82)  # room for the z-label inside the figure
    return ax


@style.styled
def plot_unit_disk(traj_or_list: Any, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Normalized 2 × 2 covariance paths Σ/trΣ ↦ (a − b, 2c)/(a + b) in the unit disk.

    Parameters
    ----------
    traj_or_list : Trajectory-like, ndarray (n, 2, 2), or a sequence of those
    ax : matplotlib Axes, optional
    **kwargs
        Passed to ``ax.plot`` for every path (default ``lw=1.2`` and the package colour cycle).

    Returns
    -------
    matplotlib.axes.Axes
        The unit circle (rank one) first, then one line per path with a dot at each start.
    """
    paths = [disk_coordinates(c) for c in _cov_paths(traj_or_list)]
    ax = _new_axes() if ax is None else ax
    theta = np.linspace(0.0, 2.0 * np.pi, 257)
    ax.plot(np.cos(theta), np.sin(theta), color="k", lw=0.8)
    for k, p in enumerate(paths):
        line = ax.plot(p[:, 0], p[:, 1], **{"lw": 1.2, "color": style.CYCLE[k % len(style.CYCLE)], **kwargs})[0]
        ax.plot(p[0, 0], p[0, 1], "o", color=line.get_color(), ms=3)
    ax.set_aspect("equal")
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-1.05, 1.05)
    style.label(ax, x=DISK_LABELS[0], y=DISK_LABELS[1])
    return ax


# --------------------------------------------------------------------------------------------------------
# titles and composite figures
# --------------------------------------------------------------------------------------------------------
def describe_params(params: dict[str, Any], variant: str = "", digits: int = 3) -> str:
    """Parameters of an attention layer as title text, with the interaction matrix A = βKᵀQ spelled out.

    Parameters
    ----------
    params : dict
        ``Attention.params`` (``Q``, ``K``, ``V``, ``beta``, per-head ``Q_1``, …, scalars such as ``b``),
        or a mapping with ``A`` directly.
    variant : str
        The variant's name; for ``"l2"`` the score is −(β/2)‖Qx − Ky‖², so Q, K, β are shown instead of A.
    digits : int
        Significant digits of the entries.

    Returns
    -------
    str
        E.g. ``"A = βKᵀQ = [[1, 0.5], [−0.5, 0.2]], V = I"``; heads are joined by "; ".

    Examples
    --------
    >>> describe_params({"Q": np.eye(2), "K": 2 * np.eye(2), "V": np.eye(2), "beta": 0.5})
    'A = βKᵀQ = I, V = I'
    """
    fm = style.fmt_matrix

    def one(p: dict[str, Any], sub: str) -> list[str]:
        out: list[str] = []
        if "A" in p:
            out.append(f"A{sub} = {fm(p['A'], digits)}")
        elif "Q" in p and "K" in p and variant != "l2":
            beta = float(p.get("beta", 1.0))
            A = beta * np.asarray(p["K"], float).T @ np.asarray(p["Q"], float)
            out.append(f"A{sub} = β{sub}K{sub}ᵀQ{sub} = {fm(A, digits)}")
        elif "Q" in p and "K" in p:
            out += [f"Q{sub} = {fm(p['Q'], digits)}", f"K{sub} = {fm(p['K'], digits)}"]
            if "beta" in p:
                out.append(f"β{sub} = {fm(p['beta'], digits)}")
        if "W" in p and "V" in p:
            C = np.asarray(p["W"], float) @ np.asarray(p["V"], float)
            out.append(f"C{sub} = W{sub}V{sub} = {fm(C, digits)}")
        elif "C" in p:
            out.append(f"C{sub} = {fm(p['C'], digits)}")
        elif "V" in p:
            out.append(f"V{sub} = {fm(p['V'], digits)}")
        for k, v in p.items():
            if k not in ("A", "Q", "K", "V", "W", "C", "beta") and np.ndim(v) <= 1:
                out.append(f"{k} = {fm(v, digits)}")
        return out

    heads = sorted({k.rsplit("_", 1)[1] for k in params if "_" in k and k.rsplit("_", 1)[1].isdigit()})
    if heads:
        sub = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
        parts = []
        for h in heads:
            ph = {k.rsplit("_", 1)[0]: v for k, v in params.items() if k.endswith(f"_{h}")}
            parts.append(", ".join(one(ph, h.translate(sub))))
        rest = {k: v for k, v in params.items() if not (("_" in k) and k.rsplit("_", 1)[1].isdigit())}
        tail = one(rest, "") if rest else []
        return "; ".join(parts + ([", ".join(tail)] if tail else []))
    if isinstance(params.get("A"), list | tuple) and np.ndim(params["A"]) == 3:  # multihead given as lists
        sub = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
        parts = [f"A{str(h + 1).translate(sub)} = {fm(a, digits)}" for h, a in enumerate(params["A"])]
        if "C" in params:
            parts += [f"C{str(h + 1).translate(sub)} = {fm(c, digits)}" for h, c in enumerate(params["C"])]
        return ", ".join(parts)
    return ", ".join(one(params, ""))


def plot_solution(traj: Any, params: dict[str, Any] | None = None, variant: str = "", ax: Any = None,
                  **kwargs: Any) -> np.ndarray:
    """Eigenvalue branches and (d = 2) Σ/trΣ in the unit disk of one solved trajectory.

    Parameters
    ----------
    traj : Trajectory-like
        ``t``, ``mean``, ``cov``, ``status`` (``t_blowup``) as :class:`gaussflow.trajectory.Trajectory`.
    params : dict, optional
        ``Attention.params`` for the title (:func:`describe_params`).
    variant : str
        Name of the attention variant, for the title.
    ax : sequence of matplotlib Axes, optional
        One Axes per panel (the ``ax=`` of every gaussflow plot): exactly 2 axes for d = 2 (eigenvalues, unit
        disk), 1 otherwise; default: a new full-width figure
        whose title states the variant, its parameters, α₀ and Σ₀.
    **kwargs
        Passed to the ``ax.plot`` calls of :func:`plot_eigenvalues` and :func:`plot_unit_disk`.

    Returns
    -------
    ndarray of matplotlib Axes, shape (2,) for d = 2 else (1,)
        ``ax[0].figure`` is the figure.
    """
    _t, cov = _fields(traj)
    two = cov.shape[-1] == 2
    k = 2 if two else 1
    with style.use():
        fig, out = style.panels(ax, k, "double" if two else "onehalf", 2.9, f"for a d = {cov.shape[-1]} trajectory")
        ax0 = out[0]
        plot_eigenvalues(traj, ax=ax0, **kwargs)
        status = str(getattr(traj, "status", ""))
        ax0.set_title(f"eigenvalues of Σ(t) (solver status: {status})" if status else "eigenvalues of Σ(t)")
        if two:
            ax1 = out[1]
            plot_unit_disk(traj, ax=ax1, **kwargs)
            ax1.set_title("Σ(t)/tr Σ(t) in the unit disk\n(dot: Σ₀; circle: rank-one matrices)")
        if fig is not None:
            head = f"{variant} attention" if variant else "moment ODE"
            mean = getattr(traj, "mean", None)
            law = f"Σ₀ = {style.fmt_matrix(cov[0])}"
            if mean is not None:
                law = f"α₀ = {style.fmt_matrix(np.asarray(mean)[0])}, " + law
            ptxt = describe_params(params, variant) if params else ""
            fig.suptitle(textwrap.fill(f"{head}: " + ", ".join(x for x in (ptxt, law) if x), 110))
    return out
