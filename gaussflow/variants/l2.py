"""L2 self-attention: softmax-normalized score s(x, y) = −(β/2)‖Qx − Ky‖²."""

from __future__ import annotations

import sympy as sp

from ..symbolic.core import x, y
from ._base import Head, Variant, single_head_params, with_addons

NAME = "l2"
SUMMARY = "L2 (distance) attention, score −(β/2)‖Qx − Ky‖²"


def build(*, residual: bool = False, feedforward: bool = False) -> Variant:
    params = single_head_params()
    Q, K, V, beta = (p.symbol for p in params)
    r = Q * x - K * y
    score = -beta / 2 * r.T * r
    v = Variant(NAME, "softmax", (Head(sp.MatMul(score), V),), params, SUMMARY)
    return with_addons(v, residual, feedforward)
