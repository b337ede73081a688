"""Unnormalized self-attention ("USA" on ℝ^d): Γ(x) = ∫ e^{s(x,y)} V y dμ(y)."""

from __future__ import annotations

from ._base import Head, Variant, bilinear_score, single_head_params

NAME = "unnormalized"
SUMMARY = "unnormalized exponential attention ∫ exp(β⟨Qx, Ky⟩) V y dμ(y)"


def build() -> Variant:
    params = single_head_params()
    Q, K, V, beta = (p.symbol for p in params)
    return Variant(NAME, "none", (Head(bilinear_score(Q, K, beta), V),), params, SUMMARY)
