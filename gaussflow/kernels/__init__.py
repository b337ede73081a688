"""Normalizations of the attention kernel: one module each, one registry.

Each module defines ``NORMALIZATION``, a :class:`~gaussflow.kernels.base.Normalization` holding the
Gaussian-expectation rule, the non-closure certificate kernel and the particle kernel. A variant names
its normalization; derive, the certificates and the particle engine look it up here.
"""

from __future__ import annotations

from types import ModuleType

from . import none, sigmoid, sinkhorn, softmax
from .base import Normalization

_MODULES: tuple[ModuleType, ...] = (softmax, sinkhorn, sigmoid, none)

#: name → Normalization
NORMALIZATIONS: dict[str, Normalization] = {m.NORMALIZATION.name: m.NORMALIZATION for m in _MODULES}

__all__ = ["NORMALIZATIONS", "Normalization"]
