"""Figures of the MiniLM confrontation (gaussflow.style; every axis labelled, legends outside the data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ... import style

#: path key → (legend label, colour, marker)
PATHS: dict[str, tuple[str, str, str]] = {
    "network": ("network (fit of its tokens)", "#000000", "o"),
    "projected": ("closure ii (+ projected LN, FFN)", "#0072B2", "s"),
    "fused": ("closure iii (LN'd stream kept exact)", "#009E73", "D"),
    "one_step": ("closure ii, one layer from network", "#56B4E9", "^"),
    "attention": ("closure i (attention + residual)", "#D55E00", "v"),
    "pure_attention": ("pure attention (no residual)", "#CC79A7", "x"),
    "identity": ("no change: N(α₀, Σ₀)", "#999999", "."),
    "hold": ("no change over one layer", "#E69F00", "+"),
}


def _series(summary: dict[str, Any], path: str, key: str) -> np.ndarray:
    vals = [row[path][key] if row.get(path) and row[path].get(key) is not None else np.nan
            for row in summary["layers"]]
    return np.array(vals, dtype=float)


def rank_figure(summary: dict[str, Any], out: Path) -> Path:
    """Effective rank and relative Bures–Wasserstein distance to the network through depth."""
    layers = np.arange(len(summary["layers"]))
    fig, axes = style.figure("double", 3.4, ncols=2)
    for key in ("network", "projected", "fused", "one_step", "attention", "pure_attention"):
        label, col, mk = PATHS[key]
        axes[0].plot(layers, _series(summary, key, "erank"), marker=mk, color=col, label=label, ms=4)
    axes[0].set_yscale("log")
    style.label(axes[0], "layer l (0 = embeddings)", "effective rank exp H(λ/tr Σ)",
                f"Effective rank, d = {summary['model']['d']}")
    top = 10.0
    for key in ("projected", "fused", "one_step", "attention", "identity", "hold"):
        label, col, mk = PATHS[key]
        y = _series(summary, key, "rel_bw")[1:]
        axes[1].plot(layers[1:], np.where(y > top, np.nan, y), marker=mk, color=col, label=label, ms=4)
        off = np.flatnonzero(y > top)
        if off.size:  # a path that leaves the panel: say where and how far
            i = int(off[0])
            axes[1].text(0.03, 0.95, f"{PATHS[key][0].split(' (')[0]} off scale from l = {i + 1} ({y[i]:.2g})",
                         transform=axes[1].transAxes, ha="left", va="top", fontsize=8, color=col)
    axes[1].set_yscale("log")
    axes[1].set_ylim(top=top)
    style.label(axes[1], "layer l", "W₂(law, network fit) / √(|α|² + tr Σ)",
                f"W₂ to the network ({summary['corpus']['tokens']} tokens)")
    handles, labels = axes[0].get_legend_handles_labels()
    h2, l2 = axes[1].get_legend_handles_labels()
    for h, lab in zip(h2, l2, strict=True):
        if lab not in labels:
            handles.append(h)
            labels.append(lab)
    fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False)
    return style.save(fig, out)


def heads_figure(summary: dict[str, Any], out: Path) -> Path:
    """Per-head variance rate ρ_h = 2 tr(J_hΣ)/tr Σ and spectral abscissa of J_h, layers × heads."""
    rate = np.array(summary["heads"]["rate"])
    absc = np.array(summary["heads"]["abscissa"])
    from matplotlib.colors import SymLogNorm

    fig, axes = style.figure("double", 3.0, ncols=2)
    for ax, M, title, lab in ((axes[0], rate, "Variance rate of each head", "ρ_h = 2 tr(J_h Σ) / tr Σ"),
                              (axes[1], absc, "Spectral abscissa of each head", "max Re λ(J_h)")):
        v = float(np.nanmax(np.abs(M))) or 1.0
        im = ax.imshow(M, cmap="RdBu_r", norm=SymLogNorm(linthresh=1e-3, vmin=-v, vmax=v), aspect="auto",
                       origin="lower")
        ax.set_xticks(range(M.shape[1]), [str(h + 1) for h in range(M.shape[1])])
        ax.set_yticks(range(M.shape[0]), [str(li + 1) for li in range(M.shape[0])])
        style.label(ax, "head h", "layer l", title)
        cb = fig.colorbar(im, ax=ax)
        cb.set_label(lab + " (symlog)")
    fig.suptitle("J_h = C_h Σ A_h of one head alone, Σ = the network's fit at the input of layer l")
    return style.save(fig, out)


def stats_figure(summary: dict[str, Any], out: Path) -> Path:
    """Anisotropy, alignment of the top-5 eigenvectors with the network, normality of the network's cloud."""
    layers = np.arange(len(summary["layers"]))
    fig, axes = style.figure("double", 3.0, ncols=3)
    for key in ("network", "projected", "one_step", "attention"):
        label, col, mk = PATHS[key]
        axes[0].plot(layers, _series(summary, key, "anisotropy"), marker=mk, color=col, label=label, ms=4)
    axes[0].set_yscale("log")
    style.label(axes[0], "layer l", "λ_max / tr Σ", "Anisotropy")
    for key in ("projected", "one_step", "attention", "identity"):
        label, col, mk = PATHS[key]
        axes[1].plot(layers[1:], _series(summary, key, "alignment_top5")[1:], marker=mk, color=col, label=label,
                     ms=4)
    axes[1].set_ylim(0, 1.05)
    style.label(axes[1], "layer l", "‖U_cᵀU_net‖²_F / 5", "Top-5 overlap with network")
    kz = [row["network"]["normality"]["kurtosis_z"] for row in summary["layers"]]
    sk = [row["network"]["normality"]["skewness_stat"] for row in summary["layers"]]
    axes[2].plot(layers, kz, marker="o", color="#000000", label="Mardia kurtosis z (N(0,1) if Gaussian)")
    axes[2].plot(layers, sk, marker="s", color="#E69F00", label="Mardia skewness n b₁/6 (χ²₂₂₀ if Gaussian)")
    axes[2].set_yscale("symlog", linthresh=10)
    style.label(axes[2], "layer l", "Mardia statistic, top-10 PCs", "Normality (network)")
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False)
    return style.save(fig, out)


__all__ = ["PATHS", "heads_figure", "rank_figure", "stats_figure"]
