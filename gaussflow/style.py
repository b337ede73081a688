"""One publication style for every figure of the package.

Figures are made at the size they are printed (a journal column is :data:`WIDTH` ``["single"]`` = 3.5 in,
a full page width ``["double"]`` = 7.2 in), so the font sizes of :data:`RC` (8 pt text, 9 pt figure
titles) are the printed sizes. Typical use::

    from gaussflow import style

    with style.use():
        fig, ax = style.figure("single")
        ax.plot(t, y, color=style.COLORS["exact"], label="exact")
        style.label(ax, x="time $t$", y=r"$\\mathrm{tr}\\,\\Sigma(t)$", title="softmax, $A = I$")
        style.legend_outside(ax)
        style.save(fig, "figures/example.png")

Stable API: :func:`use` (alias :func:`context`), :data:`RC`, :data:`WIDTH`, :data:`CYCLE`, :data:`COLORS`,
:func:`color`, :func:`color_key`, :func:`figure`, :func:`label`, :func:`legend_outside`, :func:`save`,
:func:`fmt_matrix`, :func:`styled`, :func:`audit`.

The colours are the Okabe–Ito palette (distinguishable with the common colour-vision deficiencies). One
colour key is shared by all figures: a regime (``gaussflow.diagnostics.spectrum.KINDS``) or an outcome of a run has the
same colour wherever it appears — blue for convergence / collapse to zero, vermillion for finite-time
blow-up, orange for exponential growth, grey for "undecided" (bounded, max_iter).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "COLORS", "CYCLE", "MIN_FONT_PT", "RC", "WIDTH", "audit", "color", "color_key", "context", "figure",
    "fmt_matrix", "label", "legend_outside", "save", "styled", "use",
]

#: smallest font size (points, at the printed size) any figure text may have
MIN_FONT_PT = 8.0

#: figure widths in inches: one journal column, 1.5 columns, the full text width
WIDTH: dict[str, float] = {"single": 3.5, "onehalf": 5.2, "double": 7.2}

#: Okabe–Ito colours, in the order of the default colour cycle
CYCLE: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000",
                          "#F0E442")

_BLUE, _VERMILLION, _GREEN, _ORANGE, _PURPLE, _SKY, _BLACK, _YELLOW = CYCLE
_GREY = "#999999"

#: the shared colour key: regimes (``gaussflow.diagnostics.spectrum.KINDS``), run outcomes, and the roles of curves
COLORS: dict[str, str] = {
    # regimes of the exact flow (gaussflow.diagnostics.spectrum.KINDS)
    "collapse_to_zero": _BLUE,
    "collapse_to_subspace": _SKY,
    "blowup_rank_one": _VERMILLION,
    "blowup": _PURPLE,
    "exponential_growth": _ORANGE,
    "stationary": _GREEN,
    "bounded": _GREY,
    # outcomes of a discrete run (Euler status) and of the exact solver
    "converged": _BLUE,
    "converges": _BLUE,
    "diverged": _VERMILLION,
    "finite-time blow-up": _VERMILLION,
    "exponential growth": _ORANGE,
    "max_iter": _GREY,
    "other": _GREY,
    # roles of curves
    "exact": _BLACK,
    "closed_form": _BLACK,
    "ode": _BLUE,
    "particles": _VERMILLION,
    "euler": _ORANGE,
    "reference": _GREY,
    "blowup_time": _BLACK,
}

#: matplotlib rcParams of the style (font sizes in points at the printed size)
RC: dict[str, Any] = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
    "figure.titlesize": 9,
    "legend.frameon": False,
    "legend.handlelength": 1.6,
    "axes.linewidth": 0.6,
    "axes.titlepad": 4.0,
    "axes.labelpad": 2.5,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4,
    "xtick.major.size": 3.0,
    "ytick.major.size": 3.0,
    "lines.linewidth": 1.2,
    "lines.markersize": 3.5,
    "image.cmap": "viridis",
    "figure.figsize": (WIDTH["single"], 0.75 * WIDTH["single"]),
    "figure.dpi": 100,
    "savefig.dpi": 300,
    "savefig.facecolor": "white",
    "figure.facecolor": "white",
    "mathtext.fontset": "dejavusans",
}

F = TypeVar("F", bound=Callable[..., Any])


def _cycler() -> Any:
    from cycler import cycler

    return cycler(color=list(CYCLE))


@contextlib.contextmanager
def use(**overrides: Any) -> Iterator[None]:
    """Context manager applying :data:`RC` (and the colour cycle), plus ``overrides`` (rcParams).

    Text takes its size when it is created, so create *and* draw the figure inside the block.

    Examples
    --------
    >>> import matplotlib
    >>> with use():
    ...     matplotlib.rcParams["font.size"]
    8.0
    """
    import matplotlib as mpl

    rc = dict(RC)
    rc["axes.prop_cycle"] = _cycler()
    rc.update(overrides)
    with mpl.rc_context(rc):
        yield


#: alias of :func:`use`
context = use


def styled(func: F) -> F:
    """Decorator: run ``func`` inside :func:`use` (for functions that create artists)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with use():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def color(name: str) -> str:
    """Colour of a regime, outcome or curve role in the shared key (:data:`COLORS`).

    Parameters
    ----------
    name : str
        A key of :data:`COLORS`; spaces and underscores are interchangeable ("blowup rank one").

    Returns
    -------
    str
        A hex colour. Unknown names raise ``KeyError`` listing the known ones.
    """
    for key in (name, name.replace(" ", "_"), name.replace("_", " ")):
        if key in COLORS:
            return COLORS[key]
    raise KeyError(f"no colour for {name!r}; known: {sorted(COLORS)}")


def color_key(names: Iterable[str], labels: dict[str, str] | None = None, kind: Literal["patch", "line"] = "patch"
              ) -> list[Any]:
    """Legend handles of the shared colour key for ``names``.

    Parameters
    ----------
    names : iterable of str
        Keys of :data:`COLORS`.
    labels : dict, optional
        Legend text per name (default: the name with underscores as spaces).
    kind : {"patch", "line"}
        Filled patches (maps) or lines (trajectories).

    Returns
    -------
    list of matplotlib artists
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    labels = labels or {}
    out: list[Any] = []
    for n in names:
        text = labels.get(n, n.replace("_", " "))
        if kind == "patch":
            out.append(Patch(facecolor=color(n), edgecolor="none", label=text))
        else:
            out.append(Line2D([], [], color=color(n), label=text))
    return out


def figure(width: str | float = "single", height: float | None = None, *, aspect: float = 0.75, nrows: int = 1,
           ncols: int = 1, projection: str | None = None, **subplots_kw: Any) -> tuple[Figure, Any]:
    """A new figure of printed size ``width`` × ``height`` inches with a constrained layout.

    Parameters
    ----------
    width : {"single", "onehalf", "double"} or float
        A key of :data:`WIDTH` or inches.
    height : float, optional
        Inches; default ``aspect * width`` (per row when ``nrows > 1``: ``aspect * width / ncols * nrows``).
    aspect : float
        Height/width of one panel row when ``height`` is not given.
    nrows, ncols : int
        Grid of axes (``plt.subplots``).
    projection : str, optional
        E.g. ``"3d"``.
    **subplots_kw
        Passed to ``plt.subplots`` (``sharex``, ``gridspec_kw``, ...).

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : Axes or ndarray of Axes
        One Axes when ``nrows == ncols == 1`` (unless ``squeeze=False``).
    """
    import matplotlib.pyplot as plt

    w = WIDTH[width] if isinstance(width, str) else float(width)
    if isinstance(width, str) and width not in WIDTH:
        raise ValueError(f"`width` must be one of {sorted(WIDTH)} or inches; got {width!r}")
    if height is None:
        height = aspect * w * nrows / max(ncols, 1) if ncols > 1 else aspect * w * nrows
    if projection is not None:
        subplots_kw.setdefault("subplot_kw", {})["projection"] = projection
    subplots_kw.setdefault("layout", "constrained")
    with use():
        fig, ax = plt.subplots(nrows, ncols, figsize=(w, float(height)), **subplots_kw)
    return fig, ax


def panels(ax: Any, k: int, width: str | float, height: float, what: str) -> tuple[Figure | None, np.ndarray]:
    """The ``k`` panels of a multi-panel plot: the caller's ``ax`` (any sequence or array of exactly ``k`` Axes),
    or a new ``width`` × ``height`` figure with ``k`` columns.

    Returns ``(fig, axes)``: ``fig`` is None when the caller gave the axes (a plot then leaves the figure's title
    alone); ``axes`` is an object ndarray of shape (k,).

    Raises
    ------
    ValueError
        ``ax`` does not hold exactly ``k`` Axes; the message ends with ``what`` (e.g. "for a d = 2 trajectory").
    """
    if ax is None:
        fig, made = figure(width, height, ncols=k, squeeze=False)
        return fig, np.array(list(made[0]), dtype=object)
    out = np.array(list(np.ravel(np.asarray(ax, dtype=object))), dtype=object)
    if len(out) != k or not all(hasattr(a, "plot") for a in out):
        raise ValueError(f"`ax` must hold exactly {k} matplotlib Axes {what}; got {len(out)}")
    return None, out


def label(ax: Axes, x: str | None = None, y: str | None = None, title: str | None = None,
          z: str | None = None) -> Axes:
    """Set the axis labels (and title) of ``ax``; ``None`` leaves one unchanged. Returns ``ax``."""
    if x is not None:
        ax.set_xlabel(x)
    if y is not None:
        ax.set_ylabel(y)
    if z is not None:
        ax.set_zlabel(z)  # type: ignore[attr-defined]
    if title is not None:
        ax.set_title(title)
    return ax


def legend_outside(ax: Axes, where: Literal["right", "below", "above"] = "right", handles: Sequence[Any] | None = None,
                   **kw: Any) -> Any:
    """A legend placed outside the data area of ``ax`` (right of it, below or above it).

    Parameters
    ----------
    ax : Axes
    where : {"right", "below", "above"}
    handles : sequence of artists, optional
        Default: the labelled artists of ``ax``.
    **kw
        Passed to ``ax.legend`` (``ncol``, ``title``, ...).

    Returns
    -------
    matplotlib.legend.Legend
    """
    from matplotlib.transforms import offset_copy

    # anchors in axes coordinates, shifted in points past the tick labels and axis labels
    place = {"right": ("upper left", (1.0, 1.0), 6.0, 0.0), "below": ("upper center", (0.5, 0.0), 0.0, -32.0),
             "above": ("lower center", (0.5, 1.0), 0.0, 18.0)}
    if where not in place:
        raise ValueError(f"`where` must be one of {sorted(place)}; got {where!r}")
    loc, anchor, dx, dy = place[where]
    kw.setdefault("loc", loc)
    kw.setdefault("bbox_to_anchor", anchor)
    kw.setdefault("bbox_transform", offset_copy(ax.transAxes, fig=ax.figure, x=dx, y=dy, units="points"))
    kw.setdefault("borderaxespad", 0.0)
    if where != "right":
        kw.setdefault("ncol", 3)
    if handles is None:
        return ax.legend(**kw)
    return ax.legend(handles=list(handles), **kw)


def save(fig: Figure, path: str | os.PathLike[str], dpi: int | None = None, close: bool = True) -> Path:
    """Save ``fig`` at its printed size (``dpi`` default 300) and close it; returns the path."""
    import matplotlib.pyplot as plt

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=dpi or RC["savefig.dpi"], facecolor="white")
    if close:
        plt.close(fig)
    return p


def _fmt_num(v: float, digits: int) -> str:
    if np.isclose(v, round(v)) and abs(v) < 1e6:
        s = str(round(float(v)))
    else:
        s = f"{v:.{digits}g}"
    return s.replace("-", "−")


def fmt_matrix(M: Any, digits: int = 3) -> str:
    """Compact plain-text form of a vector or matrix for titles: ``[[1, 0.3], [0.3, 0.5]]``.

    Diagonal matrices print as ``diag(1, −2)``, multiples of the identity as ``2I`` (``I`` for one).

    Examples
    --------
    >>> fmt_matrix([[1.0, 0.0], [0.0, -2.0]])
    'diag(1, −2)'
    >>> fmt_matrix(np.eye(3))
    'I'
    >>> fmt_matrix([[1, 0.3], [0.3, 0.5]])
    '[[1, 0.3], [0.3, 0.5]]'
    """
    A = np.asarray(M, dtype=float)
    if A.ndim == 0:
        return _fmt_num(float(A), digits)
    if A.ndim == 1:
        return "(" + ", ".join(_fmt_num(float(v), digits) for v in A) + ")"
    if A.ndim == 2 and A.shape[0] == A.shape[1] and A.shape[0] > 1 and np.allclose(A, np.diag(np.diag(A))):
        dg = np.diag(A)
        if np.allclose(dg, dg[0]):
            if np.isclose(dg[0], 1.0) or np.isclose(dg[0], -1.0):
                return "I" if dg[0] > 0 else "−I"
            return "0" if np.isclose(dg[0], 0.0) else f"{_fmt_num(dg[0], digits)}I"
        return "diag(" + ", ".join(_fmt_num(float(v), digits) for v in dg) + ")"
    return "[" + ", ".join("[" + ", ".join(_fmt_num(float(v), digits) for v in row) + "]" for row in A) + "]"


def audit(fig: Figure, min_pt: float = MIN_FONT_PT) -> list[str]:
    """Problems of a figure against the style: text smaller than ``min_pt``, axes without axis labels.

    Colorbar axes need only their one label; axes with nothing drawn and no ticks are skipped.

    Parameters
    ----------
    fig : Figure
    min_pt : float
        Smallest allowed font size in points (at the figure's own size).

    Returns
    -------
    list of str
        Empty when the figure passes.
    """
    from matplotlib.text import Text

    problems: list[str] = []
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip() and t.get_fontsize() < min_pt - 1e-9:
            problems.append(f"text {t.get_text()!r} is {t.get_fontsize():.3g} pt < {min_pt:g} pt")
    for k, ax in enumerate(fig.axes):
        if not ax.get_visible() or not ax.axison:
            continue
        is_cbar = hasattr(ax, "_colorbar")
        xl, yl = ax.get_xlabel().strip(), ax.get_ylabel().strip()
        if is_cbar:
            if not (xl or yl):
                problems.append(f"colorbar axes {k} has no label")
            continue
        if not xl:
            problems.append(f"axes {k} ({ax.get_title()!r}) has no x-label")
        if not yl:
            problems.append(f"axes {k} ({ax.get_title()!r}) has no y-label")
        if getattr(ax, "name", "") == "3d" and not ax.get_zlabel().strip():  # type: ignore[attr-defined]
            problems.append(f"axes {k} ({ax.get_title()!r}) has no z-label")
    return problems
