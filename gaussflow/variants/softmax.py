"""Softmax self-attention: Γ(x) = ∫ e^{s(x,y)} V y dμ(y) / ∫ e^{s(x,y)} dμ(y), s = β⟨Qx, Ky⟩."""

from __future__ import annotations

from ._base import Head, Variant, bilinear_score, single_head_params, with_addons

NAME = "softmax"
SUMMARY = "softmax attention, score β⟨Qx, Ky⟩"


def build(*, residual: bool = False, feedforward: bool = False) -> Variant:
    params = single_head_params()
    Q, K, V, beta = (p.symbol for p in params)
    v = Variant(NAME, "softmax", (Head(bilinear_score(Q, K, beta), V),), params, SUMMARY)
    return with_addons(v, residual, feedforward)
