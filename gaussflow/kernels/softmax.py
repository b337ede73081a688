"""Softmax normalization: E_h[y | x] = ∫ e^{s(x,y)} y dμ(y) / ∫ e^{s(x,y)} dμ(y)."""

from __future__ import annotations

from ..symbolic.rules import tilt, tilt_log_partition
from ._hardmax_particles import hardmax_kernel
from ._softmax_particles import softmax_kernel
from .base import Normalization

NORMALIZATION = Normalization(
    name="softmax",
    summary="softmax: e^{s} normalized over the attended tokens",
    rule="exponential tilting",
    expectation=tilt,
    phi=None,
    particle_kernel=softmax_kernel,
    log_partition=tilt_log_partition,
    zero_temperature_kernel=hardmax_kernel,  # β = ∞: the barycentre of the argmax tokens, ties averaged
)
