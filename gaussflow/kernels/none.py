"""No normalization: ∫ e^{s(x,y)} y dμ(y) (the mean-field weight 1/n of the particles)."""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from ..symbolic.rules import stein
from .base import Normalization
from .field import plain_kernel


def _expectation(q: Any) -> tuple[Any, list[Any]]:
    return stein(q, "exp")


def exp_inplace(S: np.ndarray) -> None:
    np.exp(S, out=S)


NORMALIZATION = Normalization(
    name="none",
    summary="unnormalized: e^{s} weights",
    rule="Stein's lemma (score linear in y)",
    expectation=_expectation,
    phi=sp.exp,
    particle_kernel=plain_kernel(exp_inplace, overflow=True),
)
