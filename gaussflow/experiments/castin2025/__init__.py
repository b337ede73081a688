"""Castin, Ablin, Carrillo, Peyré (2025): Gaussian closures of softmax / L2 / Sinkhorn attention on ℝ^d.

``gaussflow reproduce castin2025`` re-runs the paper's 2-D experiments (a)–(f) and its rank histograms
with the authors' explicit Euler scheme (consuming the legacy RNG exactly as their scripts do, so every
count equals theirs) and with the exact solver, and reports where and why the two differ.
See docs/castin2025.md.
"""

from __future__ import annotations

from .core import (
    AUTHORS_2D,
    AUTHORS_RANKS,
    EXPERIMENT_KEYS,
    RANK_CELLS,
    Experiment,
    Run,
    add_arguments,
    draws,
    euler_sigma,
    experiment,
    initial_grid,
    l2_params,
    main,
    multihead_params,
    psd_project,
    rank_draws,
    reproduce_castin2025,
    sigma_rhs,
    sinkhorn_params,
    softmax_params,
)

__all__ = [
    "AUTHORS_2D", "AUTHORS_RANKS", "EXPERIMENT_KEYS", "RANK_CELLS", "Experiment", "Run", "add_arguments", "draws",
    "euler_sigma", "experiment", "initial_grid", "l2_params", "main", "multihead_params", "psd_project",
    "rank_draws", "reproduce_castin2025", "sigma_rhs", "sinkhorn_params", "softmax_params",
]
