"""Castin, Ablin, Carrillo, Peyré (2025): Gaussian closures of softmax / L2 / Sinkhorn attention on ℝ^d.

``gaussflow reproduce castin2025`` re-runs the paper's 2-D experiments (a)–(f) and its rank histograms
with the authors' explicit Euler scheme (consuming the legacy RNG exactly as their scripts do, so every
count equals theirs) and with the exact solver, and reports where and why the two differ.
See docs/castin2025.md.

Modules: :mod:`.setup` (draws, convention mappings, grids, the authors' 2-D counts), :mod:`.euler`
(their scheme, batched, on generated code), :mod:`.exact` (the exact solver per member), :mod:`.ranks`
(the rank-histogram retry loop), :mod:`.summary`, :mod:`.figures`, :mod:`.core` (driver and CLI).
"""

from __future__ import annotations

from .core import add_arguments, main, reproduce_castin2025
from .euler import EulerResult, SigmaRHS, euler_sigma, psd_project, sigma_rhs
from .exact import exact_member
from .ranks import (
    AUTHORS_RANKS,
    RANK_CELLS,
    RANK_DIMS,
    RANK_STEPS,
    RankChain,
    rank_chain,
    rank_draws,
    rank_params,
    sigma0_stream,
)
from .setup import (
    AUTHORS_2D,
    EXPERIMENT_KEYS,
    Experiment,
    Run,
    draws,
    experiment,
    initial_grid,
    l2_params,
    multihead_params,
    sinkhorn_params,
    softmax_params,
)
from .summary import direction, top_angles

__all__ = [
    "AUTHORS_2D",
    "AUTHORS_RANKS",
    "EXPERIMENT_KEYS",
    "RANK_CELLS",
    "RANK_DIMS",
    "RANK_STEPS",
    "EulerResult",
    "Experiment",
    "RankChain",
    "Run",
    "SigmaRHS",
    "add_arguments",
    "direction",
    "draws",
    "euler_sigma",
    "exact_member",
    "experiment",
    "initial_grid",
    "l2_params",
    "main",
    "multihead_params",
    "psd_project",
    "rank_chain",
    "rank_draws",
    "rank_params",
    "reproduce_castin2025",
    "sigma0_stream",
    "sigma_rhs",
    "sinkhorn_params",
    "softmax_params",
    "top_angles",
]
