"""Sigmoid (unnormalized) weights: ∫ σ(s(x,y)) y dμ(y), σ the logistic function."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit

from ..symbolic.functions import logistic
from ..symbolic.rules import stein
from .base import Normalization
from .field import plain_kernel


def _expectation(q: Any) -> tuple[Any, list[Any]]:
    return stein(q, "sigmoid")


def sigmoid_inplace(S: np.ndarray) -> None:
    expit(S, out=S)


NORMALIZATION = Normalization(
    name="sigmoid",
    summary="sigmoid: σ(s) weights, not normalized",
    rule="Stein's lemma (score linear in y)",
    expectation=_expectation,
    phi=logistic,
    particle_kernel=plain_kernel(sigmoid_inplace, overflow=False),
)
