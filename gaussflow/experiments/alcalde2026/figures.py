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


def _beta_label(b: float) -> str:
    return rf"$\beta = 10^{{{np.log10(b):.0f}}}$" if b >= 1e4 else rf"$\beta = {b:g}$"


def concentration(c: dict[str, Any], out: Path) -> Path:
    """W2(μ_t, P#μ₀) against t, interval and disk, every β, with the β = ∞ curve."""
    t = c["t"]
    fig, axs = style.figure("double", height=2.9, ncols=2)
    hard = {"interval": np.exp(-t) / np.sqrt(3), "disk": np.exp(-t) / np.sqrt(6)}
    titles = {"interval": r"interval: $\nu_0 = U[-1,1]$, $A = V = 1$, $P = \mathrm{sign}$",
              "disk": r"disk: $\mu_0$ uniform, $Q^\top K = V = I$, $P = x/|x|$"}
    for ax, geom in zip(axs, ("interval", "disk"), strict=True):
        for k, (b, r) in enumerate(c[geom].items()):
            ax.loglog(t[1:], r["w2"][1:], color=style.CYCLE[k % 6], label=_beta_label(b))
        ax.loglog(t[1:], hard[geom][1:], "k:", lw=1.0, label=r"$\beta = \infty$ (hardmax)")
        ax.set_ylim(3e-4, 1.2)
        style.label(ax, x="time $t$", y=r"$W_2(\mu_t, P_\#\mu_0)$", title=titles[geom])
    style.legend_outside(axs[1], "right")
    fig.suptitle("Concentration onto $P_\\#\\mu_0$ (Lagrangian mean-field solver, exact coupling)")
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
    style.label(a, x=r"inverse temperature $\beta$", y=r"floor $\min_t W_2$", title="floor vs β")
    style.legend_outside(a, "below", ncol=1)
    style.label(b, x=r"inverse temperature $\beta$ (log scale)", y="time $t$",
                title=f"metastable window (interval: no exit by t = {c['t'][-1]:g})")
    style.legend_outside(b, "below", ncol=1)
    return _save(fig, out, "floor")


def particles(p: dict[str, Any], out: Path) -> Path:
    """Interval: particles (N quantile tokens) beside the mean-field solver."""
    t = p["t"]
    fig, ax = style.figure("onehalf", height=2.9)
    styles = ["--", ":", "-."]
    for k, (b, row) in enumerate(p["runs"].items()):
        ax.loglog(t[1:], row["mean_field"][1:], "-", color=style.CYCLE[k], label=f"{_beta_label(b)} mean field")
        for j, (N, r) in enumerate(row["particles"].items()):
            ax.loglog(t[1:], r["w2"][1:], styles[j % 3], color=style.CYCLE[k], lw=1.0,
                      label=f"{_beta_label(b)}, N = {N}")
    style.label(ax, x="time $t$", y=r"$W_2(\mu_t, P_\#\mu_0)$",
                title="interval: particles vs mean field (finite N fails once N ≲ β)")
    style.legend_outside(ax, "right", fontsize=8)
    return _save(fig, out, "particles")


def terminal(cube: dict[str, Any], disk: dict[str, Any], out: Path) -> Path:
    """After the window: cube with three V; disk mean-field ring and particles for three V."""
    fig = style.figure("double", height=5.6, nrows=2, ncols=3)[0]
    axs = fig.axes
    tc = cube["t"]
    ax = axs[0]
    for k, (name, r) in enumerate(cube["cases"].items()):
        ax.loglog(tc[1:], r["w2"][1:], color=style.CYCLE[k], label=name)
    style.label(ax, x="time $t$", y=r"$W_2$ to $P_\#\mu_0$", title=f"cube $[-1,1]^2$, β = {cube['beta']:g}")
    ax.legend(loc="lower left", fontsize=8)
    td = disk["t"]
    ax = axs[1]
    ax.plot(td, disk["mean_field_mean_radius"], "k-", label="mean field (radial)")
    ax.plot(td, disk["ring_prediction"], "k:", label=r"$r^2 = r_*^2 - (t - t_*)/\beta$")
    for k, (name, r) in enumerate(disk["particles"].items()):
        ax.plot(td, r["mean_radius"], "--", color=style.CYCLE[k], label=f"particles, {name}")
    style.label(ax, x="time $t$", y=r"mean radius $\int |x|\,d\mu_t$",
                title=f"disk, β = {disk['beta']:g}, N = {disk['N']}")
    ax.legend(loc="lower left", fontsize=8)
    ax = axs[2]
    ax.semilogy(td, disk["mean_field_w2"], "k-", label="mean field")
    for k, (name, r) in enumerate(disk["particles"].items()):
        ax.semilogy(td, r["dist_to_circle"], "--", color=style.CYCLE[k], label=name)
    style.label(ax, x="time $t$", y="distance to the circle", title="disk: W2 (mean field) / particles")
    ax.legend(loc="upper right", fontsize=8)
    th = np.linspace(0, 2 * np.pi, 200)
    for k, (name, r) in enumerate(disk["particles"].items()):
        ax = axs[3 + k]
        snaps = r["snapshots"]
        last = max(snaps)
        ax.plot(np.cos(th), np.sin(th), color=style.COLORS["reference"], lw=0.6)
        ax.scatter(snaps[0.0][:, 0], snaps[0.0][:, 1], s=0.6, color=style.COLORS["reference"])
        ax.scatter(snaps[last][:, 0], snaps[last][:, 1], s=4, color=style.CYCLE[k])
        ax.set_aspect("equal")
        style.label(ax, x="$x_1$", y="$x_2$", title=f"{name}: t = 0 (grey), t = {last:g}")
    fig.suptitle("Terminal phase: cube coordinates run on clocks $v_k t$; on the disk the symmetric ring "
                 "shrinks, particles break it into clusters")
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
                title=rf"d = 1, $\sigma_0 = {g['sigma0']:.3g}$ (variance of U[−1,1])")
    style.legend_outside(a, "below", ncol=1)
    t = g["t"]
    for k, (bt, r) in enumerate(g["truncated"].items()):
        b.loglog(t[1:], r["w2"][1:], color=style.CYCLE[k], label=_beta_label(bt))
    style.label(b, x="time $t$", y=r"$W_2(\mu_t, P_\#\mu_0)$",
                title=rf"N(0, {g['truncated_sigma']:g}²I) truncated to the unit disk: $P = x/|x|$")
    style.legend_outside(b, "below", ncol=3)
    return _save(fig, out, "gaussian")


__all__ = ["concentration", "floors", "gaussian", "particles", "terminal"]
