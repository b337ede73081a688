"""Regime maps of d = 2 softmax covariance dynamics over a two-parameter family.

``phase_diagram(family, xs, ys, t_end=...)`` integrates every member Σ̇ = VΣAΣ + ΣAᵀΣVᵀ of a family
(x, y) -> (A, V, Σ₀) at once with :func:`gaussflow.integrate.batch.solve_batch` and names each member's regime with
the rules of :func:`gaussflow.diagnostics.spectrum.classify`, evaluated vectorized over the batch on the same kind of
samples (the shared grid ``t_eval`` of ``n_samples`` times, cut at each member's final time, plus the
final state): exponential growth → blow-up (rank of lim Σ/trΣ) → collapse (to zero / to a subspace, from
log-log slopes of the eigenvalues on the late tail) → stationary → bounded. ``tests/test_phase.py`` checks
that the vectorized rules give the same kind as ``classify`` on every member.

Default family (``FAMILIES["default"]``, :func:`default_family`)::

    A = [[x, 1], [−1, x]],   V = diag(1, y),   Σ₀ = [[1, 0.3], [0.3, 0.5]]

On x ∈ [−1, 1], y ∈ [−2, 2], t_end = 10 (the CLI defaults) it shows rank-one blow-up, collapse to zero,
collapse to a line and bounded (rotating, non-stationary) members.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._io import FileFormatError, check_writable, read_npz, write_atomic
from .._progress import echo, progress_bar
from .._tabular import Tabular
from ..attention import attention
from ..diagnostics.regimes import KINDS
from ..integrate.batch import BatchResult, solve_batch

Family = Callable[[float, float], tuple[Any, Any, Any]]

#: classify's default thresholds (gaussflow.diagnostics.spectrum.classify keyword defaults)
TAIL, ZERO_RTOL, DECAY_SLOPE, FLAT_SLOPE = 0.25, 1e-3, 0.5, 0.1
RATE_RTOL, BLOWUP_RTOL, STATIONARY_RTOL, RANK_RTOL = 0.05, 0.05, 1e-3, 1e-9

#: phase-diagram file layout written by PhaseDiagram.save
FORMAT = "gaussflow.PhaseDiagram/1"


def default_family(x: float, y: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A = [[x, 1], [−1, x]] (symmetric part xI, rotation 1), V = diag(1, y), Σ₀ = [[1, 0.3], [0.3, 0.5]].

    Σ̇ = x(VΣ² + Σ²V) + det Σ·(1 − y)[[0, 1], [1, 0]] (for 2 × 2 Σ, ΣJΣ = det Σ·J with J the rotation
    generator). On [−1, 1] × [−2, 2] with t_end = 10: rank-one blow-up for x > 0 (T* contours nearly
    vertical) and for x < 0, y ≲ −0.2 (V indefinite: the (1 − y) shear wins); collapse to zero for x < 0,
    y > 0 (y = 1: V = I, A + Aᵀ = 2xI ≺ 0, Σ = (Σ₀⁻¹ − 2xtI)⁻¹); collapse onto a line along x ≈ 0 (A
    skew: Σ → rank-one stationary state with uᵀAu = 0, docs/math.md §4). The "bounded" band around x = 0 and
    y = 0 is slow dynamics not yet resolved by t_end (the regime boundaries), not oscillation.
    """
    A = np.array([[x, 1.0], [-1.0, x]])
    V = np.diag([1.0, y])
    S0 = np.array([[1.0, 0.3], [0.3, 0.5]])
    return A, V, S0


#: built-in families by name
FAMILIES: dict[str, Family] = {"default": default_family}

#: with a progress bar, phase_diagram integrates the grid rows in this many solve_batch calls (a bar step each;
#: smaller batches cost more Python overhead: 100 × 100 members take ≈ 1.5× longer in 20 blocks than in one)
BLOCKS = 10


# --------------------------------------------------------------------------- vectorized classify


def _wslope(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Least-squares slope of y on x per row, over the entries with w = True (NaN if x is constant)."""
    wf = w.astype(float)
    cnt = wf.sum(-1)
    xs = np.where(w, x, 0.0)
    ys = np.where(w, y, 0.0)
    xm = np.where(w, xs - (xs.sum(-1) / np.maximum(cnt, 1))[..., None], 0.0)
    ym = np.where(w, ys - (ys.sum(-1) / np.maximum(cnt, 1))[..., None], 0.0)
    den = (xm * xm).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (xm * ym).sum(-1) / np.where(den > 0, den, 1.0), np.nan)


def classify_batch(result: BatchResult) -> tuple[np.ndarray, np.ndarray]:
    """Regime kind and rank of every member, by the rules of :func:`gaussflow.diagnostics.spectrum.classify`.

    Parameters
    ----------
    result : BatchResult
        With ``history`` (``solve_batch(..., t_eval=...)``, t_eval[0] = t_span[0]). The samples of member
        b are those of ``result.member(b)``.

    Returns
    -------
    kinds : ndarray of str, shape (B,)
        Entries of ``gaussflow.diagnostics.spectrum.KINDS``. Members with fewer than 3 samples (``classify`` refuses
        them) get ``blowup``/``blowup_rank_one`` by rule 2 if they blew up, ``stationary`` if converged,
        else ``bounded``.
    ranks : ndarray of int, shape (B,)
        Rank as in ``Regime.rank``; −1 where that is None.
    """
    if result.history is None or result.t_eval is None:
        raise ValueError("`result` must carry a history: call solve_batch(..., t_eval=...)")
    te, H = result.t_eval, result.history
    B, n, d, _ = H.shape
    tf = result.t_final
    T = np.concatenate([np.broadcast_to(te, (B, n)), tf[:, None]], axis=1)
    valid = np.concatenate([(te[None, :] < tf[:, None]) & np.all(np.isfinite(H), axis=(2, 3)),
                            np.ones((B, 1), dtype=bool)], axis=1)
    C = np.concatenate([np.where(valid[:, :n, None, None], H, 0.0), result.Sigma_final[:, None]], axis=1)
    C = 0.5 * (C + np.swapaxes(C, 2, 3))
    lam = np.clip(np.linalg.eigvalsh(C)[..., ::-1], 0.0, None)  # (B, m, d) descending
    tr = lam.sum(-1)
    n_valid = valid.sum(1)
    first = np.argmax(valid, axis=1)
    rows = np.arange(B)
    tau = T - T[rows, first][:, None]
    tau_end = tau[:, -1]

    # tail window and its halves (classify._tail)
    rev = n_valid[:, None] - np.cumsum(valid, axis=1)  # 0 at the last valid sample
    idx = valid & (tau >= (1.0 - TAIL) * tau_end[:, None])
    idx = np.where((idx.sum(1) < 3)[:, None], valid & (rev < 3), idx)
    tau_first = np.min(np.where(idx, tau, np.inf), axis=1)
    mid = 0.5 * (tau_first + tau_end)
    early, late = idx & (tau <= mid[:, None]), idx & (tau >= mid[:, None])
    pos = np.cumsum(idx, axis=1) - 1
    m = (idx.sum(1) // 2)[:, None]
    fb = ((early.sum(1) < 2) | (late.sum(1) < 2))[:, None]
    early = np.where(fb, idx & (pos <= m), early)
    late = np.where(fb, idx & (pos >= m), late)

    kinds = np.full(B, "bounded", dtype=object)
    ranks = np.full(B, -1, dtype=np.int64)
    undecided = np.ones(B, dtype=bool)

    def decide(mask: np.ndarray, kind: str, rank: np.ndarray | int) -> None:
        sel = mask & undecided
        kinds[sel] = kind
        ranks[sel] = rank[sel] if isinstance(rank, np.ndarray) else rank
        undecided[sel] = False

    few = n_valid < 3
    decide(tr[rows, first] <= 0, "stationary", 0)

    # 1. exponential growth
    with np.errstate(divide="ignore", invalid="ignore"):
        logtr = np.log(np.where(tr > 0, tr, 1.0))
    ok_tr = (tr[:, -1] > 0) & np.all(~early | (tr > 0), axis=1)
    g_e = np.where(ok_tr, _wslope(T, logtr, early), -np.inf)
    g_l = np.where(ok_tr, _wslope(T, logtr, late), -np.inf)
    with np.errstate(invalid="ignore"):
        expo = (g_l > 0) & (np.abs(g_l - g_e) <= RATE_RTOL * g_l) & (g_l * tau_end >= 1)
    decide(expo & ~few, "exponential_growth", -1)

    # 2. blow-up: rank of the normalized limit at the last sample
    blew = (result.status == "blowup") | np.isfinite(result.t_blowup)
    lam_f = lam[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        r_b = np.sum(lam_f / lam_f[:, :1] >= BLOWUP_RTOL, axis=1)
    decide(blew & (r_b == 1), "blowup_rank_one", 1)
    decide(blew, "blowup", r_b)
    decide(few & (result.status == "converged"), "stationary", -1)
    decide(few, "bounded", -1)

    # 3. collapse
    lam0 = lam[rows, first]
    r0 = np.sum(lam0 > RANK_RTOL * lam0[:, :1], axis=1)
    scale = np.max(np.where(valid, lam[..., 0], -np.inf), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.log(np.where(late, tau, 1.0))
        x = np.where(late & (tau <= 0), -np.inf, x)
    n_van = np.zeros(B, dtype=np.int64)
    n_flat = np.zeros(B, dtype=np.int64)
    for i in range(d):
        y = lam[..., i]
        pos_all = np.all(~late | (y > 0), axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(pos_all, _wslope(x, np.log(np.where(y > 0, y, 1.0)), late), -np.inf)
            van = (lam_f[:, i] <= ZERO_RTOL * scale) | (s <= -DECAY_SLOPE)
            flat = ~van & (np.abs(s) <= FLAT_SLOPE)
        counted = i < r0
        n_van += counted & van
        n_flat += counted & flat
    decide(n_van == r0, "collapse_to_zero", 0)
    decide((n_van > 0) & (n_flat == r0 - n_van), "collapse_to_subspace", n_flat)

    # 4. stationary: relative end rate on the last step
    prev = np.argmax(valid & (rev == 1), axis=1)
    dS = C[:, -1] - C[rows, prev]
    dt = T[:, -1] - T[rows, prev]
    nrm = np.linalg.norm(C[:, -1], axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        end_rate = np.where(nrm > 0, np.linalg.norm(dS, axis=(1, 2)) / dt * tau_end / np.where(nrm > 0, nrm, 1), 0)
    stat = (result.status == "converged") | (end_rate <= STATIONARY_RTOL)
    rank_f = np.sum(lam_f > RANK_RTOL * lam_f[:, :1], axis=1)
    decide(stat, "stationary", rank_f)
    return kinds.astype(str), ranks


# --------------------------------------------------------------------------- phase diagram


@dataclass(frozen=True, eq=False)
class PhaseDiagram(Tabular):
    """Regimes of a two-parameter family on the grid ``xs`` × ``ys``.

    ``to_dict()`` gives the fields as plain lists (NaN → None); ``to_dataframe()`` one row per member with
    columns ``x, y, kind, rank, status, t_blowup`` (row-major over the grid: y outer, x inner).

    Attributes
    ----------
    xs : ndarray, shape (nx,)
    ys : ndarray, shape (ny,)
    kind : ndarray of str, shape (ny, nx)
        Regime of member (x = xs[j], y = ys[i]) at [i, j] (``gaussflow.diagnostics.spectrum.KINDS``).
    rank : ndarray of int, shape (ny, nx)
        ``Regime.rank`` (−1 for None).
    status : ndarray of str, shape (ny, nx)
        Solver outcome of each member.
    t_blowup : ndarray, shape (ny, nx)
        Blow-up time T* (NaN where none).
    t_end : float
    family : str
        Name of the family (``"custom"`` for a callable).
    """

    xs: np.ndarray
    ys: np.ndarray
    kind: np.ndarray
    rank: np.ndarray
    status: np.ndarray
    t_blowup: np.ndarray
    t_end: float
    family: str = "custom"

    def __post_init__(self) -> None:
        shape = (self.ys.size, self.xs.size)
        for name in ("kind", "rank", "status", "t_blowup"):
            if getattr(self, name).shape != shape:
                raise ValueError(f"`{name}` must have shape {shape}; got {getattr(self, name).shape}")

    def _columns(self) -> dict[str, np.ndarray]:
        X, Y = np.meshgrid(self.xs, self.ys)
        return {"x": X.ravel(), "y": Y.ravel(), "kind": self.kind.ravel(), "rank": self.rank.ravel(),
                "status": self.status.ravel(), "t_blowup": self.t_blowup.ravel()}

    def counts(self) -> dict[str, int]:
        """Number of members per regime (only regimes that occur)."""
        u, c = np.unique(self.kind, return_counts=True)
        return {str(k): int(v) for k, v in zip(u, c, strict=True)}

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Regime map (categorical pcolormesh, colour key outside) with blow-up-time contours; returns ``ax``.

        ``**kwargs`` go to the ``pcolormesh`` call that draws the regimes (e.g. ``alpha=0.8``).

        For the built-in ``"default"`` family the title states the family, A = [[x, 1], [−1, x]],
        V = diag(1, y), Σ₀ = [[1, 0.3], [0.3, 0.5]], and the axes name x and y by their role.
        """
        from matplotlib.colors import BoundaryNorm, ListedColormap

        from .. import style

        described = {
            "default": ("$x = A_{11} = A_{22}$ (symmetric part $xI$ of $A$)", "$y = V_{22}$",
                        "A = [[x, 1], [−1, x]], V = diag(1, y), Σ₀ = [[1, 0.3], [0.3, 0.5]]"),
        }
        xl, yl, fam = described.get(self.family, ("family parameter $x$", "family parameter $y$",
                                                  f"family {self.family!r}"))
        with style.use():
            if ax is None:
                _, ax = style.figure("onehalf", 3.4)
            colors = [style.color(k) for k in KINDS]
            cmap = ListedColormap(colors)
            code = np.vectorize(KINDS.index)(self.kind) if self.kind.size else np.zeros(self.kind.shape)
            norm = BoundaryNorm(np.arange(len(KINDS) + 1) - 0.5, cmap.N)
            ax.pcolormesh(self.xs, self.ys, code, **{"cmap": cmap, "norm": norm, "shading": "nearest",
                                                     "rasterized": True, **kwargs})
            present = [k for k in KINDS if np.any(self.kind == k)]
            names = {"blowup_rank_one": "rank-one blow-up", "blowup": "blow-up, rank > 1"}
            handles = style.color_key(present, names)
            tb = self.t_blowup
            if np.sum(np.isfinite(tb)) >= 4 and self.xs.size > 1 and self.ys.size > 1:
                fin = tb[np.isfinite(tb)]
                levels = np.unique(np.round(np.quantile(fin, [0.1, 0.25, 0.5, 0.75, 0.9]), 2))
                if levels.size >= 1:
                    cs = ax.contour(self.xs, self.ys, np.where(np.isfinite(tb), tb, np.nan), levels=levels,
                                    colors="k", linewidths=0.7)
                    ax.clabel(cs, fmt="%.2g", fontsize=8)
                    from matplotlib.lines import Line2D

                    handles.append(Line2D([], [], color="k", lw=0.7, label="blow-up time $T^*$ (contours)"))
            style.legend_outside(ax, "right", handles=handles, title="regime on $[0, t_{end}]$")
            style.label(ax, x=xl, y=yl,
                        title=f"softmax attention, d = 2, regimes up to t_end = {self.t_end:g}\n{fam}")
        return ax

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``path`` (.npz: arrays + a JSON metadata string) atomically; returns the path."""
        p = Path(path)
        if p.suffix != ".npz":
            p = p.with_suffix(".npz")
        p.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, "t_end": self.t_end, "family": self.family, "counts": self.counts()}
        return write_atomic(p, lambda fh: np.savez(
            fh, xs=self.xs, ys=self.ys, kind=self.kind.astype(str), rank=self.rank, status=self.status.astype(str),
            t_blowup=self.t_blowup, meta=json.dumps(meta)))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PhaseDiagram:
        """Read a file written by :meth:`save` (never unpickles); damage raises ``FileFormatError`` (a ValueError)."""
        z = read_npz(path, "PhaseDiagram")
        missing = {"xs", "ys", "kind", "rank", "status", "t_blowup", "meta"} - set(z)
        if missing:
            raise FileFormatError(path, f"is not a saved PhaseDiagram: missing {sorted(missing)}")
        try:
            meta = json.loads(str(z["meta"]))
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                fmt = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
                raise FileFormatError(path, f"is not a saved PhaseDiagram (format {fmt!r})")
            return cls(xs=z["xs"], ys=z["ys"], kind=z["kind"], rank=z["rank"], status=z["status"],
                       t_blowup=z["t_blowup"], t_end=float(meta["t_end"]), family=str(meta["family"]))
        except FileFormatError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise FileFormatError(path, f"has unreadable PhaseDiagram data: {exc}") from None


def _family(family: Any) -> tuple[Family, str]:
    if isinstance(family, str):
        if family not in FAMILIES:
            raise ValueError(f"unknown `family` {family!r}; valid: {', '.join(map(repr, FAMILIES))} or a callable")
        return FAMILIES[family], family
    if callable(family):
        return family, getattr(family, "__name__", "custom")
    raise ValueError(f"`family` must be a name or a callable (x, y) -> (A, V, Sigma0); got {type(family).__name__}")


def _axis(name: str, v: Any) -> np.ndarray:
    try:
        arr = np.asarray(v, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a 1-D array of reals; got {v!r}") from None
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be a non-empty finite 1-D array; got shape {arr.shape}")
    return arr


def phase_diagram(
    family: Family | str,
    xs: Any,
    ys: Any,
    *,
    t_end: float = 10.0,
    n_samples: int = 41,
    rtol: float = 1e-7,
    atol: float = 1e-10,
    blowup_threshold: float = 1e8,
    stationary_tol: float | None = 1e-10,
    progress: bool | None = None,
) -> PhaseDiagram:
    """Classify every member of a d = 2 softmax family on the grid ``xs`` × ``ys``.

    Parameters
    ----------
    family : callable or str
        ``(x, y) -> (A, V, Sigma0)``, each (2, 2) (any d works, the name says d = 2 because the default
        family is), or the name of a built-in family (``FAMILIES``).
    xs, ys : array_like, shape (nx,), (ny,)
        Grid axes; member [i, j] has parameters (xs[j], ys[i]).
    t_end : float
        Integration horizon, t_span = (0, t_end).
    n_samples : int ≥ 3
        Shared samples ``linspace(0, t_end, n_samples)`` from which the regimes are read.
    rtol, atol, blowup_threshold, stationary_tol
        Passed to :func:`gaussflow.integrate.batch.solve_batch`.
    progress : bool, optional
        A bar on stderr over the grid rows. Default: only when stderr is a terminal (and not under
        ``--quiet``). With a bar the rows are integrated in :data:`BLOCKS` batches (one bar step each), else
        in one; every member has its own step size and error control, so the blocking changes no result.

    Returns
    -------
    PhaseDiagram
    """
    fn, name = _family(family)
    X, Y = _axis("xs", xs), _axis("ys", ys)
    if isinstance(t_end, bool) or not isinstance(t_end, int | float) or not (math.isfinite(t_end) and t_end > 0):
        raise ValueError(f"`t_end` must be a positive finite number; got {t_end!r}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 3:
        raise ValueError(f"`n_samples` must be an integer ≥ 3; got {n_samples!r}")
    mats = [fn(float(x), float(y)) for y in Y for x in X]
    try:
        A, V, S0 = (np.array([m[k] for m in mats], dtype=float) for k in range(3))
    except (TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"`family` must return (A, V, Sigma0) arrays of one shape (d, d); {exc}") from None
    members = [attention("softmax", A=a, V=v) for a, v in zip(A, V, strict=True)]
    parts: list[tuple[np.ndarray, ...]] = []
    with progress_bar(Y.size, f"phase diagram {Y.size}x{X.size}", progress) as bar:
        rows = max(1, -(-Y.size // BLOCKS)) if bar.enabled or bar.parent is not None else Y.size
        for r0 in range(0, Y.size, rows):
            r1 = min(Y.size, r0 + rows)
            sl = slice(r0 * X.size, r1 * X.size)
            with bar.stage(f"rows {r0 + 1}-{r1}", units=r1 - r0):
                res = solve_batch(members[sl], S0[sl], (0.0, float(t_end)), rtol=rtol, atol=atol,
                                  blowup_threshold=blowup_threshold, stationary_tol=stationary_tol,
                                  t_eval=np.linspace(0.0, float(t_end), n_samples))
                parts.append((*classify_batch(res), res.status, res.t_blowup))
    kinds, ranks, status, t_blowup = (np.concatenate([p[k] for p in parts]) for k in range(4))
    shape = (Y.size, X.size)
    return PhaseDiagram(xs=X, ys=Y, kind=kinds.reshape(shape), rank=ranks.reshape(shape),
                        status=status.reshape(shape), t_blowup=t_blowup.reshape(shape),
                        t_end=float(t_end), family=name)


# --------------------------------------------------------------------------- CLI


def _cmd_phase_diagram(args: argparse.Namespace) -> int:
    import time

    out = Path(args.out)
    data = out.with_suffix(".npz")
    check_writable((out, data), args.force)
    if args.n < 2:
        raise ValueError(f"--n must be ≥ 2; got {args.n}")
    xs = np.linspace(args.xlim[0], args.xlim[1], args.n)
    ys = np.linspace(args.ylim[0], args.ylim[1], args.n)
    echo(f"phase-diagram: {args.n}x{args.n} members of the {args.family!r} family "
         f"({_first_line(FAMILIES[args.family])}), x in [{args.xlim[0]:g}, {args.xlim[1]:g}], "
         f"y in [{args.ylim[0]:g}, {args.ylim[1]:g}], t in [0, {args.t_end:g}]; writing {out} and {data}")
    t0 = time.perf_counter()
    pd = phase_diagram(args.family, xs, ys, t_end=args.t_end)
    wall = time.perf_counter() - t0
    print(f"{args.n}x{args.n} members in {wall:.2f} s: " + ", ".join(f"{k} {v}" for k, v in pd.counts().items()))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = pd.plot()
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_atomic(out, lambda fh: ax.figure.savefig(fh, dpi=300, format=out.suffix.lstrip(".") or "png"))
    finally:
        plt.close(ax.figure)
    echo(f"wrote {out}")
    echo(f"wrote {pd.save(data)}")
    return 0


def _first_line(fn: Family) -> str:
    """The first sentence of a family's docstring (what ``--family NAME`` integrates)."""
    return (fn.__doc__ or getattr(fn, "__name__", "custom")).strip().split("\n\n")[0].split(".\n")[0].replace(
        "\n", " ").rstrip(".")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``gaussflow phase-diagram``."""
    p = sub.add_parser(
        "phase-diagram", help="regime map of a 2-parameter d = 2 softmax family",
        description="Integrate a grid of d = 2 softmax covariance ODEs in one batch and plot their regimes "
                    "(collapse, blow-up, growth, stationary, bounded) with blow-up-time contours.",
        epilog="examples:\n  gaussflow phase-diagram\n"
               "  gaussflow phase-diagram --n 50 --xlim -1 1 --ylim -2 2 --t-end 5 --out figures/pd.png --force",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    families = "; ".join(f"{k}: {_first_line(f)}" for k, f in sorted(FAMILIES.items())).replace("%", "%%")
    p.add_argument("--family", default="default", choices=sorted(FAMILIES),
                   help=f"built-in family (x, y) → (A, V, Σ₀); {families} (default: %(default)s)")
    p.add_argument("--n", type=int, default=100, help="grid points per axis (default: %(default)s)")
    p.add_argument("--xlim", type=float, nargs=2, default=(-1.0, 1.0), metavar=("A", "B"),
                   help="range of the family's x parameter (default: %(default)s)")
    p.add_argument("--ylim", type=float, nargs=2, default=(-2.0, 2.0), metavar=("A", "B"),
                   help="range of the family's y parameter (default: %(default)s)")
    p.add_argument("--t-end", type=float, default=10.0,
                   help="integration horizon, in the model's time units (default: %(default)s)")
    p.add_argument("--out", default="figures/phase_diagram.png", metavar="FILE",
                   help="figure path; the data go to the same stem with .npz (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=_cmd_phase_diagram)


__all__ = ["FAMILIES", "FORMAT", "PhaseDiagram", "add_parser", "classify_batch", "default_family", "phase_diagram"]
