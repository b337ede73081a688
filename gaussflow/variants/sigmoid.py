"""Sigmoid attention: Γ(x) = ∫ σ(s(x,y) + b) V y dμ(y), no normalization, bias b."""

from __future__ import annotations

import sympy as sp

from ._base import Head, Param, Variant, bilinear_score, single_head_params

NAME = "sigmoid"
SUMMARY = "sigmoid attention σ(β⟨Qx, Ky⟩ + b), unnormalized"


def build() -> Variant:
    params = single_head_params() + (Param("b", (), "bias b", default=0.0),)
    Q, K, V, beta, b = (p.symbol for p in params)
    score = bilinear_score(Q, K, beta) + b * sp.Identity(1)
    return Variant(NAME, "sigmoid", (Head(score, V),), params, SUMMARY)
