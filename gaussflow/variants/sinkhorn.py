"""Sinkhorn (doubly stochastic) attention: Γ(x) = V E_π[Y | X = x], π the entropic
self-coupling of μ with kernel e^{s(x,y)}, s = β⟨Qx, Ky⟩."""

from __future__ import annotations

from ._base import Head, Variant, bilinear_score, single_head_params, with_addons

NAME = "sinkhorn"
SUMMARY = "Sinkhorn (doubly stochastic) attention, score β⟨Qx, Ky⟩"


def build(*, residual: bool = False, feedforward: bool = False) -> Variant:
    params = single_head_params()
    Q, K, V, beta = (p.symbol for p in params)
    v = Variant(NAME, "sinkhorn", (Head(bilinear_score(Q, K, beta), V),), params, SUMMARY)
    return with_addons(v, residual, feedforward)
