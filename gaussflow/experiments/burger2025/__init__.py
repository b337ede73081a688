"""Burger, Kabri, Korolev, Roith, Weigand (2025): tokens on the sphere under layer normalization, figures 1–7.

``gaussflow reproduce burger2025`` re-runs the seven figures of arXiv 2501.03096 with the exact-on-the-sphere
RKMK4 integrator and, where a minimizer or maximizer is claimed, its certificate; the authors' Euler +
renormalization is re-run from the same starts for comparison. Writes figures/burger2025_*.png,
burger2025_report.md and burger2025_summary.json. See docs/sphere.md.
"""

from __future__ import annotations

from .core import FIGURES, add_arguments, main, reproduce_burger2025, summary
from .report import AUTHORS, report
from .runs import SIZES, cluster_kind, clusters

__all__ = ["AUTHORS", "FIGURES", "SIZES", "add_arguments", "cluster_kind", "clusters", "main", "report",
           "reproduce_burger2025", "summary"]
