"""Figures 1–7 (and the closure check) of the burger2025 reproduction, in gaussflow.style."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ... import style
from ...sphere.plot import circle_axes, points_on_sphere, sphere_axes


def _save(fig: Any, out: Path, name: str) -> Path:
    problems = style.audit(fig)
    if problems:
        raise RuntimeError(f"figure {name} fails the style audit: {problems}")
    return style.save(fig, out / f"burger2025_{name}.png")


def figure1(r: dict[str, Any], out: Path) -> Path:
    fig, axs = style.figure("double", height=3.4, ncols=2, projection="3d")
    for ax, (key, v) in zip(axs, r.items(), strict=True):
        sm = sphere_axes(ax, np.diag(v["D"]), f"D = {key}")
        points_on_sphere(ax, v["final"], size=14)
        fig.colorbar(sm, ax=ax, shrink=0.6, label=r"$x^\top D x$")
    n = next(iter(r.values()))["restarts"]
    fig.suptitle(f"Fig. 1: one particle, ascent (RKMK4), final points of {n} random restarts")
    return _save(fig, out, "fig1")


def figure2(r: dict[str, Any], out: Path) -> Path:
    rows = r["rows"]
    d = np.array([x["d"] for x in rows])
    fig, (a, b) = style.figure("double", height=4.4, nrows=2, sharex=True)
    reps = r["reps"]
    a.plot(d, [x["single"] / reps for x in rows], "o-", color=style.CYCLE[0], label="single cluster (RKMK4)")
    a.plot(d, [x["antipodal"] / reps for x in rows], "s-", color=style.CYCLE[1], label="antipodal pair (RKMK4)")
    a.plot(d, [x["euler_single"] / reps for x in rows], "o--", color=style.CYCLE[0], mfc="none",
           label="single (authors' Euler)")
    a.plot(d, [x["euler_antipodal"] / reps for x in rows], "s--", color=style.CYCLE[1], mfc="none",
           label="antipodal (authors' Euler)")
    style.label(a, x="$d$ in $D$ = diag($d$, 1)", y="fraction of runs",
                title=f"N = {r['N']}, {reps} runs per d, ascent, RKMK4 to t = {r['t']:g}")
    b.plot(d, [x["mean_energy"] for x in rows], "o-", color=style.COLORS["exact"], label="mean E (RKMK4)")
    b.plot(d, [x["euler_mean_energy"] for x in rows], "o--", color=style.COLORS["euler"], label="mean E (Euler)")
    b.plot(d, [x["top_dirac_energy"] for x in rows], ":", color=style.COLORS["reference"],
           label=r"Dirac at top eigenvector $e^{\max(d,1)}$")
    style.label(b, x="$d$ in $D$ = diag($d$, 1)", y="energy $E$", title="energies of the final states")
    style.legend_outside(b, "right")
    style.legend_outside(a, "right")
    fig.suptitle("Fig. 2: splitting into antipodal clusters on $S^1$")
    return _save(fig, out, "fig2")


def figure3(r: dict[str, Any], out: Path) -> list[Path]:
    fig, axs = style.figure("double", height=2.6, ncols=4, projection="3d")
    for ax, (key, v) in zip(axs, r.items(), strict=True):
        sm = sphere_axes(ax, np.diag(v["D"]), f"D = {key}")
        points_on_sphere(ax, v["final"], size=3)
        del sm
    fig.suptitle(f"Fig. 3: descent, N = {len(next(iter(r.values()))['final'])}, t = "
                 f"{next(iter(r.values()))['t'][-1]:g} (RKMK4), final particles; surface coloured by $x^\\top Dx$")
    p1 = _save(fig, out, "fig3")
    fig, ax = style.figure("single", aspect=0.8)
    for k, (key, v) in enumerate(r.items()):
        ax.semilogy(v["t"], np.maximum(v["energy"] - v["qp_energy"], 1e-16), color=style.CYCLE[k], label=key)
    n = len(next(iter(r.values()))["final"])
    style.label(ax, x="time $t$", y=r"$E(\mu_t) - E_{\min}$ (QP, certified)",
                title=f"Fig. 3: descent, N = {n}: E above the minimum")
    style.legend_outside(ax, "below", ncol=2)
    return [p1, _save(fig, out, "fig3_energy")]


def figure4(r: dict[str, Any], out: Path) -> Path:
    fig, (a, b, c) = style.figure("double", height=3.0, ncols=3)
    v = r["d05"]
    circle_axes(a, np.diag([1.0, 0.5]), "(a) d = 0.5: the\nstationary state")
    a.scatter(v["X"][:, 0], v["X"][:, 1], s=40, color=style.COLORS["exact"], zorder=3, label="RKMK4 + Newton")
    a.scatter(v["euler_X"][:, 0], v["euler_X"][:, 1], s=12, color=style.COLORS["euler"], zorder=4,
              label="authors' Euler (τ = 0.05)")
    style.legend_outside(a, "below", ncol=1)
    d = np.array([x["d"] for x in r["rows"]])
    b.plot(d, d, "-", color=style.COLORS["reference"])
    b.plot(d, [x["ratio"] for x in r["rows"]], "o", color=style.COLORS["exact"])
    b.set_xticks([0.2, 0.5, 0.8])
    style.label(b, x="$d$", y=r"$\tanh(x_1^2)/\tanh(d\,x_2^2)$",
                title="(b) stationary states (dots)\nand the line $= d$")
    c.plot(v["t"], v["energy_t"], color=style.COLORS["exact"])
    c.axhline(v["energy"], ls=":", color=style.COLORS["reference"])
    style.label(c, x="time $t$", y="energy $E$", title="(c) E(t), RKMK4 (line),\nstationary E (dotted)")
    fig.suptitle("Fig. 4: four particles, descent, D = diag(1, d), started at π/4 + kπ/2")
    return _save(fig, out, "fig4")


def figure5(r: dict[str, Any], out: Path) -> Path:
    import matplotlib as mpl

    fig, ax = style.figure("onehalf", aspect=0.55)
    rows = r["rows"]
    cm = mpl.colormaps["viridis"]
    for k, row in enumerate(rows):
        o = np.argsort(row["theta"])
        col = cm(k / max(len(rows) - 1, 1))
        ax.plot(row["theta"][o], row["density"][o], color=col, label=f"$d_2$ = {row['d2']:.2f}")
        ax.plot(row["theta"][o], row["guess"][o], ":", color=col, lw=0.8)
    style.label(ax, x=r"angle $\theta$", y=r"density $\times 2\pi$ (uniform = 1)",
                title="Fig. 5: certified minimizers on $S^1$, D = diag(1, $d_2$)\n"
                      "(dotted: the guess $\\propto e^{f\\cos 2\\theta}$, $f = \\varepsilon^2/5 + e\\varepsilon/2$)")
    style.legend_outside(ax, "right")
    return _save(fig, out, "fig5")


def figure6(r: dict[str, Any], out: Path) -> Path:
    fig, axs = style.figure("double", height=3.2, ncols=2, projection="3d")
    for ax, (key, v) in zip(axs, r.items(), strict=True):
        X = v["final"].reshape(-1, 3)
        sm = sphere_axes(ax, -np.eye(3) if key == "-I" else np.diag([-1.0, -3.0, -4.0]),
                         f"D = {key}: {len(v['final'])} runs of N = {v['final'].shape[1]}")
        points_on_sphere(ax, X, size=10)
        fig.colorbar(sm, ax=ax, shrink=0.6, label=r"$x^\top D x$")
    fig.suptitle("Fig. 6: ascent (RKMK4) for negative definite D ends in antipodal pairs")
    return _save(fig, out, "fig6")


def figure7(r: dict[str, Any], out: Path) -> Path:
    fig, ax = style.figure("single", aspect=0.8)
    ax.plot(r["d"], r["single_e2"], color=style.CYCLE[0], label=r"single cluster at $e_2$: $e^{d}$")
    ax.plot(r["d"], r["pair_e1"], color=style.CYCLE[2], label=r"pair on $e_1$: $\cosh 1$")
    ax.plot(r["d"], r["pair_e2"], color=style.CYCLE[1], label=r"pair on $e_2$: $\cosh d$")
    ax.axvline(r["d_star"], ls=":", color=style.COLORS["reference"], label=r"$d^* = \ln\cosh 1$")
    style.label(ax, x="$d$ in $D$ = diag(−1, $d$)", y="energy $E$", title="Fig. 7: candidate maximizers")
    style.legend_outside(ax, "below", ncol=1)
    return _save(fig, out, "fig7")


def closure_figure(r: dict[str, Any], out: Path) -> Path:
    fig, (a, b) = style.figure("double", height=4.2, nrows=2, sharex=True)
    for k, (key, v) in enumerate(r["cases"].items()):
        a.plot(v["t"], v["energy_particles"], color=style.CYCLE[k], label=key)
        a.plot(v["t"], v["energy_closure"], "--", color=style.CYCLE[k])
        a.plot(v["t"], v["fb_energy"], ":", color=style.CYCLE[k], lw=1.8)
        b.plot(v["t"], v["unexplained"], color=style.CYCLE[k], label=key)
    style.label(a, x="time $t$", y="energy $E$",
                title=f"SA, d = 3: {r['N']} particles (solid), projected normal (dashed),\n"
                      "Fisher–Bingham (dotted)")
    style.label(b, x="time $t$", y="unexplained fraction",
                title=r"projected normal: $E|v - P^\perp Mx|^2 / E|v|^2$")
    style.legend_outside(a, "right", ncol=1)
    style.legend_outside(b, "right", ncol=1)
    return _save(fig, out, "closure")


__all__ = ["closure_figure", "figure1", "figure2", "figure3", "figure4", "figure5", "figure6", "figure7"]
