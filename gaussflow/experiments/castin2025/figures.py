"""Figures of the castin2025 reproduction (one grid figure per experiment, the rank histograms)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ... import style
from .euler import EulerResult
from .setup import Experiment, Run
from .summary import growth

# --------------------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------------------
#: outcome of a run (Euler status or exact regime) → colour, from the package's one colour key
_COLORS = {k: style.COLORS[k] for k in ("converged", "diverged", "max_iter", "converges", "finite-time blow-up",
                                         "exponential growth", "other")}
_KEY = ((_COLORS["converged"], "converged (Euler) / converges (exact)"),
        (_COLORS["diverged"], "diverged, tr Σ > tol_high (Euler) / finite-time blow-up (exact)"),
        (_COLORS["exponential growth"], "exponential growth (exact)"),
        (_COLORS["max_iter"], "max_iter reached (Euler)"))


def _check_and_save(fig: Any, path: Path) -> None:
    problems = style.audit(fig)
    if problems:
        raise RuntimeError(f"{path.name} breaks the figure style: {problems}")
    style.save(fig, path, dpi=200)


def _key_handles(with_start: bool = True) -> list[Any]:
    from matplotlib.lines import Line2D

    h = [Line2D([], [], color=c, lw=1.5, label=lab) for c, lab in _KEY]
    if with_start:
        h.append(Line2D([], [], color="k", marker=".", ls="", ms=4, label="initial Σ₀ (tr Σ₀ = 1)"))
    return h


def _disk_panel(ax: Any, paths: list[np.ndarray], colors: list[str]) -> None:
    from matplotlib.collections import LineCollection

    from ...plot import disk_coordinates

    segs, cols = [], []
    for P, col in zip(paths, colors, strict=True):
        dd = disk_coordinates(0.5 * (P + np.swapaxes(P, -1, -2)))
        dd = dd[np.all(np.isfinite(dd), axis=1)]
        if len(dd) >= 2:
            segs.append(dd)
            cols.append(col)
    ax.add_collection(LineCollection(segs, colors=cols, linewidths=0.5, alpha=0.6))
    th = np.linspace(0, 2 * np.pi, 257)
    ax.plot(np.cos(th), np.sin(th), "k", lw=0.7)
    d0 = np.array([disk_coordinates(0.5 * (P[0] + P[0].T)) for P in paths])
    ax.plot(d0[:, 0], d0[:, 1], ".", color="k", ms=1.2)
    ax.set(xlim=(-1.08, 1.08), ylim=(-1.08, 1.08), aspect="equal", xlabel="(a − b)/(a + b)",
           ylabel="2c/(a + b)")


def _trace_panel(ax: Any, eu: EulerResult, sel: np.ndarray, step: float) -> None:
    from matplotlib.collections import LineCollection

    segs, cols = [], []
    for m in sel:
        ok = np.all(np.isfinite(eu.frames[:, m]), axis=(1, 2))
        t = np.concatenate([eu.frame_iters[ok], [eu.iters[m]]]) * step
        tr = np.concatenate([np.trace(eu.frames[ok, m], axis1=1, axis2=2), [np.trace(eu.final[m])]])
        good = (tr > 0) & (t > 0)
        if good.sum() >= 2:
            segs.append(np.column_stack([t[good], tr[good]]))
            cols.append(_COLORS[eu.status[m]])
    ax.add_collection(LineCollection(segs, colors=cols, linewidths=0.5, alpha=0.6))
    allpts = np.concatenate(segs) if segs else np.array([[step, 1.0], [1.0, 10.0]])
    ax.set(xscale="log", yscale="log", xlabel="t = i·h", ylabel="tr Σ",
           xlim=(allpts[:, 0].min(), allpts[:, 0].max() * 1.2),
           ylim=(allpts[:, 1].min() / 1.5, allpts[:, 1].max() * 1.5))


def figure_grid(exp: Experiment, S0: np.ndarray, results: list[tuple[Run, EulerResult | None, Any]],
                 path: Path, n: int, max_paths: int = 400) -> None:
    """Per variant (row): Σ/tr Σ in the unit disk for Euler and for the exact flow, and tr Σ(t) of Euler."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [c for c, ok in (("euler", any(eu is not None for _, eu, _ in results)),
                            ("exact", any(ex is not None for _, _, ex in results)),
                            ("trace", any(eu is not None for _, eu, _ in results))) if ok]
    nrow, ncol = len(results), len(cols)
    sel = np.arange(len(S0))
    if sel.size > max_paths:
        sel = sel[:: -(-sel.size // max_paths)]
    with style.use():
        fig, axes = plt.subplots(nrow, ncol, figsize=(2.45 * ncol, 2.35 * nrow + 1.25), squeeze=False)
        for i, (run, eu, ex) in enumerate(results):
            for j, c in enumerate(cols):
                ax = axes[i, j]
                if c == "euler" and eu is not None:
                    _disk_panel(ax, [eu.path(m) for m in sel], [_COLORS[eu.status[m]] for m in sel])
                    ax.set_title(f"{run.label}, Euler h = {run.step:g}")
                elif c == "exact" and ex is not None:
                    _disk_panel(ax, [ex[m]["path"] for m in sel], [_COLORS[growth(ex[m]["kind"])] for m in sel])
                    ax.set_title(f"{run.label}, exact (t ≤ {run.horizon:g})")
                elif c == "trace" and eu is not None:
                    _trace_panel(ax, eu, sel, run.step)
                    ax.set_title(f"{run.label}, Euler: tr Σ")
                else:  # pragma: no cover - cols lists only the schemes present
                    ax.set_axis_off()
        sub = f"; {sel.size} of {len(S0)} paths drawn" if sel.size < len(S0) else ""
        fig.suptitle(f"Castin et al. (2025), experiment ({exp.key}): {exp.title}\n{_DRAW_TEXT[exp.key]};\n"
                     f"{len(S0)} trace-one Σ₀ = [[a, c], [c, b]] with (a − b, 2c) on a {n} × {n} grid over "
                     f"[−{exp.half_width:g}, {exp.half_width:g}]²{sub}")
        fig.legend(handles=_key_handles(), loc="lower center", ncol=2, frameon=False)
        fig.tight_layout(rect=(0, 0.9 / (2.35 * nrow + 1.25), 1, 1))
        _check_and_save(fig, path)


#: the draws of each grid experiment in words (figure titles)
_DRAW_TEXT = {
    "a": "seed 35: Q = rand(2, 2), K = −Q, V = MMᵀ with M = randn(2, 2)",
    "b": "seed 36: Q = q = randn(1, 2)/‖q‖, K = −q, V = I",
    "c": "seed 36: Q = q = randn(1, 2)/‖q‖, K = −q, V = I",
    "d": "seed 36: Q, K = randn(2, 2) with A + Aᵀ indefinite; seed 32: V = randn(2, 2)",
    "e": "seed 33: Q, K = randn(2, 2) with A + Aᵀ positive definite; V = I",
    "f": "Q, K as in (d); seed 35: V = randn(2, 2) after one dummy draw",
}


def figure_ranks(rank_results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    dims = sorted({int(k.split("_d")[1]) for k in rank_results})
    series = [(v, s) for v in ("softmax", "l2") for s in ("euler", "exact")]
    width = 0.8 / len(series)
    colors = {"softmax": style.CYCLE[0], "l2": style.CYCLE[3]}
    with style.use():
        fig, axes = plt.subplots(2, len(dims), figsize=(2.4 * len(dims), 4.6), squeeze=False)
        for i, vtype in enumerate(("identity", "random")):
            for j, d in enumerate(dims):
                ax = axes[i, j]
                ranks = np.arange(d + 1)
                for k, (variant, s) in enumerate(series):
                    r = rank_results.get(f"{variant}_{vtype}_d{d}")
                    if r is None or s not in r:
                        continue
                    counts = [r[s]["histogram"].get(str(q), 0) for q in ranks]
                    ax.bar(ranks - 0.4 + (k + 0.5) * width, counts, width, color=colors[variant],
                           hatch="////" if s == "exact" else None, edgecolor="k", lw=0.4)
                ax.set_title(f"{'V = I' if vtype == 'identity' else 'V = MᵀM random'}, d = {d}")
                ax.set_xticks(ranks)
                ax.yaxis.get_major_locator().set_params(integer=True)
                ax.set_xlabel("rank of final Σ")
                ax.set_ylabel("samples")
        handles = [Patch(facecolor=colors[v], edgecolor="k", hatch="////" if s == "exact" else None,
                         label=f"{'softmax' if v == 'softmax' else 'L2'}, "
                               f"{'exact solver' if s == 'exact' else 'Euler'}")
                   for v, s in series]
        fig.legend(handles=handles, loc="lower center", ncol=4, frameon=False)
        n = max(r["samples"] for r in rank_results.values())
        fig.suptitle(f"Castin et al. (2025) limiting ranks: Q = randn(⌊d/2⌋, d), K = −Q, {n} samples per panel;\n"
                     "rank = number of eigenvalues above 0.1; converged runs with rank ≤ (d + 1)//2")
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        _check_and_save(fig, path)
