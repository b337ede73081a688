"""Alcalde, Bungert, Riedl, Roith (2026): low-temperature concentration of residual softmax dynamics.

``gaussflow reproduce alcalde2026`` measures W2(μ_t, P#μ₀) against t for β ∈ {10, …, 10⁴} on the interval
and the disk with the Lagrangian mean-field solvers of :mod:`gaussflow.lowtemp`, the floor and the
metastable window against β, the fitted exponent beside the paper's √(log(β+1)/β) bound, the terminal
phase for three V, particles beside the solver, and the Gaussian closure at low temperature. Writes
figures/alcalde2026_*.png, alcalde2026_report.md, alcalde2026_summary.json, alcalde2026_curves.npz.
See docs/lowtemp.md.
"""

from __future__ import annotations

from .core import OUTPUTS, add_arguments, main, reproduce_alcalde2026, summary
from .report import report
from .runs import SIZES, window

__all__ = ["OUTPUTS", "SIZES", "add_arguments", "main", "report", "reproduce_alcalde2026", "summary", "window"]
