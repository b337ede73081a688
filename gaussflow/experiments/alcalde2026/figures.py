"""Figures of the alcalde2026 reproduction, in gaussflow.style."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ... import style


def _save(fig: Any, out: Path, name: str) -> Path:
    problems = style.audit(fig)
    if problems:
        raise RuntimeError(f"figure {name} fails the style audit: {problems}")
    return style.save(fig, out / f"alcalde2026_{name}.png")


def _short(name: str) -> str:
    """"V = [[1, -0.5], [0.5, 1]]" -> "[[1,-.5],[.5,1]]"; "V = diag(1, 0.5)" -> "diag(1, 0.5)"."""
    v = name.replace("V = ", "")
    return v.replace(", ", ",").replace("0.5", ".5") if v.startswith("[[") else v


def _beta_label(b: float) -> str:
    return rf"$\beta = 10^{{{np.log10(b):.0f}}}$" if b >= 1e4 else rf"$\beta = {b:g}$"


def concentration(c: dict[str, Any], out: Path) -> Path:
    """W2(μ_t, P#μ₀) against t, interval and disk, every β, with the β = ∞ curve."""
    t = c["t"]
    fig, axs = style.figure("double", height=2.9, ncols=2)
    hard = {"interval": np.exp(-t) / np.sqrt(3), "disk": np.exp(-t) / np.sqrt(6)}
    titles = {"interval": "interval $U[-1,1]$, $A = V = 1$\n" + r"$P = \mathrm{sign}$",
              "disk": "uniform disk, $Q^\\top K = V = I$\n" + r"$P = x/|x|$"}
    for ax, geom in zip(axs, ("interval", "disk"), strict=True):
        for k, (b, r) in enumerate(c[geom].items()):
            ax.loglog(t[1:], r["w2"][1:], color=style.CYCLE[k % 6], label=_beta_label(b))
        ax.loglog(t[1:], hard[geom][1:], "k:", lw=1.0, label=r"$\beta = \infty$ (hardmax)")
        ax.set_ylim(3e-4, 1.2)
        style.label(ax, x="time $t$", y=r"$W_2(\mu_t, P_\#\mu_0)$", title=titles[geom])
    style.legend_outside(axs[1], "right")
    fig.suptitle("Concentration onto $P_\\#\\mu_0$ (mean-field solver, exact coupling)")
    return _save(fig, out, "w2")


def floors(c: dict[str, Any], out: Path) -> Path:
    """Floor vs β beside ln β/β and the bound √(log(β+1)/β); time to reach / leave vs log β."""
    fig, (a, b) = style.figure("double", height=2.9, ncols=2)
    betas = np.array(sorted(c["interval"]))
    bb = np.logspace(np.log10(betas[0]), np.log10(betas[-1]), 100)
    marks = {"interval": "o", "disk": "s"}
    for k, geom in enumerate(("interval", "disk")):
        fl = [c[geom][x]["window"]["floor"] for x in betas]
        p = c["fits"][geom]["floor_exponent"]
        a.loglog(betas, fl, marks[geom], color=style.CYCLE[k], label=f"{geom} floor (fit $\\beta^{{-{p:.2f}}}$)")
        reach = [c[geom][x]["window"]["t_reach"] for x in betas]
        b.semilogx(betas, reach, marks[geom] + "-", color=style.CYCLE[k], label=f"{geom}: reach floor")
        leave = [(x, c[geom][x]["window"]["t_leave"]) for x in betas if c[geom][x]["window"]["t_leave"] is not None]
        if leave:
            b.semilogx([q[0] for q in leave], [q[1] for q in leave], marks[geom] + "--", mfc="none",
                       color=style.CYCLE[k], label=f"{geom}: leave (W2 = 2 floor)")
    a.loglog(bb, np.log(bb) / bb, "k-", lw=0.8, label=r"$\ln\beta/\beta$")
    a.loglog(bb, np.sqrt(np.log(bb + 1) / bb), "k--", lw=0.8,
             label=rf"bound $\sqrt{{\log(\beta+1)/\beta}}$ (fit $\beta^{{-{c['fits']['bound_exponent']:.2f}}}$)")
    style.label(a, x=r"inverse temperature $\beta$", y=r"floor $\min_t W_2$", title="floor vs β\n(interval and disk)")
    style.legend_outside(a, "below", ncol=1)
    style.label(b, x=r"inverse temperature $\beta$ (log scale)", y="time $t$",
                title=f"metastable window\n(interval: no exit by t = {c['t'][-1]:g})")
    style.legend_outside(b, "below", ncol=1)
    return _save(fig, out, "floor")


def particles(p: dict[str, Any], out: Path) -> Path:
    """Interval: particles (N quantile tokens) beside the mean-field solver."""
    t = p["t"]
    fig, ax = style.figure("double", height=3.0)
    styles = ["--", ":", "-."]
    for k, (b, row) in enumerate(p["runs"].items()):
        ax.loglog(t[1:], row["mean_field"][1:], "-", color=style.CYCLE[k], label=f"{_beta_label(b)} mean field")
        for j, (N, r) in enumerate(row["particles"].items()):
            ax.loglog(t[1:], r["w2"][1:], styles[j % 3], color=style.CYCLE[k], lw=1.0,
                      label=f"{_beta_label(b)}, N = {N}")
    style.label(ax, x="time $t$", y=r"$W_2(\mu_t, P_\#\mu_0)$",
                title="interval, $A = V = 1$: N quantile particles vs mean field\n(finite N fails once N ≲ β)")
    style.legend_outside(ax, "right", fontsize=8)
    return _save(fig, out, "particles")


def terminal(cube: dict[str, Any], disk: dict[str, Any], out: Path) -> Path:
    """After the window: cube with three V; disk ring (mean field vs particles); long-time particle clusters."""
    fig = style.figure("double", height=6.4, nrows=2, ncols=4)[0]
    axs = fig.axes
    tc = cube["t"]
    ax = axs[0]
    for k, (name, r) in enumerate(cube["cases"].items()):
        ax.loglog(tc[1:], r["w2"][1:], color=style.CYCLE[4 + k % 3], label=name.replace("V = ", ""))
    style.label(ax, x="time $t$", y=r"$W_2$ to $P_\#\mu_0$", title=f"cube, β = {cube['beta']:g}\nV:")
    style.legend_outside(ax, "below", ncol=1)
    ring = disk["ring"]
    td = ring["t"]
    ax = axs[1]
    ax.plot(td, ring["mean_field_mean_radius"], "k-", label="mean field")
    ax.plot(td, ring["ring_prediction"], ":", color=style.COLORS["reference"], lw=2.0,
            label=r"$r_*^2 - (t - t_*)/\beta$")
    ax.plot(td, ring["particles_mean_radius"], "--", color=style.COLORS["particles"], label=f"N = {ring['N']}")
    style.label(ax, x="time $t$", y=r"mean radius $\int |x|\,d\mu_t$",
                title=f"disk ring, β = {ring['beta']:g}\nV = I")
    style.legend_outside(ax, "below", ncol=1)
    ax = axs[2]
    ax.semilogy(td, ring["mean_field_w2"], "k-", label="mean field (= W2)")
    ax.semilogy(td, ring["particles_dist_to_circle"], "--", color=style.COLORS["particles"],
                label=f"N = {ring['N']} particles")
    style.label(ax, x="time $t$", y="distance to the circle", title=f"disk ring, β = {ring['beta']:g}\nV = I")
    style.legend_outside(ax, "below", ncol=1)
    lg = disk["long"]
    ax = axs[3]
    for k, (name, r) in enumerate(lg["runs"].items()):
        ax.semilogx(lg["t"][1:], r["clusters"][1:], color=style.CYCLE[k], label=_short(name))
    ax.set_yscale("log")
    style.label(ax, x="time $t$", y="number of clusters", title=f"disk, β = {lg['beta']:g}\nN = {lg['N']}, V:")
    style.legend_outside(ax, "below", ncol=1)
    th = np.linspace(0, 2 * np.pi, 200)
    for k, (name, r) in enumerate(lg["runs"].items()):
        ax = axs[4 + k]
        ax.plot(np.cos(th), np.sin(th), color=style.COLORS["reference"], lw=0.6)
        c, m = r["centres"], r["masses"]
        ax.scatter(c[:, 0], c[:, 1], s=400 * m, color=style.CYCLE[k])
        ax.set_aspect("equal")
        ax.set_xlim(-1.1, 1.1)
        ax.set_ylim(-1.1, 1.1)
        style.label(ax, x="$x_1$", y="$x_2$", title=f"{_short(name)}\nt = {lg['t'][-1]:g}")
    fig.suptitle("Terminal phase: cube coordinates run on clocks $v_k t$;\nthe symmetric mean-field ring shrinks "
                 "while particles cluster;\n" + f"bottom: final clusters (area ∝ mass), disk, β = {lg['beta']:g}")
    return _save(fig, out, "terminal")


def gaussian(g: dict[str, Any], c: dict[str, Any], out: Path) -> Path:
    """Gaussian closure blow-up time vs β, against the window of the interval; truncated Gaussian on the disk."""
    fig, (a, b) = style.figure("double", height=2.9, ncols=2)
    rows = g["blowup"]
    betas = np.array([r["beta"] for r in rows])
    a.loglog(betas, [r["T_closed_form"] for r in rows], "k-",
             label=r"$T^* = \frac{1}{2}\ln\frac{\beta\sigma_0}{\beta\sigma_0-1}$")
    a.loglog(betas, [r["T_solver"] for r in rows], "o", color=style.COLORS["ode"], mfc="none",
             label="Gaussian closure (gf.solve)")
    reach = [c["interval"][x]["window"]["t_reach"] for x in betas if x in c["interval"]]
    a.loglog([x for x in betas if x in c["interval"]], reach, "s--", color=style.CYCLE[1],
             label="U[−1,1]: time to reach the floor")
    style.label(a, x=r"inverse temperature $\beta$", y="time",
                title="Gaussian closure, d = 1\n" + rf"$\sigma_0 = {g['sigma0']:.3g}$ (variance of U[−1,1])")
    style.legend_outside(a, "below", ncol=1)
    t = g["t"]
    for k, (bt, r) in enumerate(g["truncated"].items()):
        b.loglog(t[1:], r["w2"][1:], color=style.CYCLE[k], label=_beta_label(bt))
    style.label(b, x="time $t$", y=r"$W_2(\mu_t, P_\#\mu_0)$",
                title=f"N(0, {g['truncated_sigma']:g}²I) truncated to the unit disk\n" + r"$P = x/|x|$")
    style.legend_outside(b, "below", ncol=3)
    return _save(fig, out, "gaussian")


__all__ = ["concentration", "floors", "gaussian", "particles", "terminal"]
