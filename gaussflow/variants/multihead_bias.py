"""Multi-head softmax attention with query and key biases (the BERT self-attention sublayer).

Head h scores s_h(x, y) = β_h ⟨Q_h x + q_h, K_h y + k_h⟩ and contributes W_h V_h E_h[y | x] to Γ(x).
Expanded, s_h = β_h yᵀK_hᵀQ_h x + β_h q_hᵀK_h y + (terms in x alone): the term linear in y is an
exponential tilt (the query bias moves every conditional mean by β_h ΣK_hᵀq_h), and the terms in x
alone — everything the key bias k_h contributes — cancel in the softmax normalization. The rule engine
reads all of this off the score; nothing here states the result.

A trained layer's value bias b_v and output bias b_o are constant under the softmax (its weights sum
to one): Σ_h W_h (V_h E_h[y|x] + b_{v,h}) + b_o = Σ_h W_h V_h E_h[y|x] + b, which the affine
``feedforward`` add-on carries (W_ff = 0, b_ff = b).
"""

from __future__ import annotations

from ..symbols import x, y
from ._base import Head, Param, Variant, bilinear_score, with_addons

NAME = "multihead_bias"
SUMMARY = "multi-head softmax attention with query/key biases, score β_h⟨Q_h x + q_h, K_h y + k_h⟩"


def build(*, heads: int = 2, residual: bool = False, feedforward: bool = False) -> Variant:
    if not isinstance(heads, int) or isinstance(heads, bool) or heads < 1:
        raise ValueError(f"`heads` must be a positive integer; got {heads!r}")
    params: list[Param] = []
    hs: list[Head] = []
    for h in range(1, heads + 1):
        ps = (
            Param(f"Q_{h}", ("k", "d"), f"query matrix of head {h}", group="Q", index=h - 1),
            Param(f"K_{h}", ("k", "d"), f"key matrix of head {h}", group="K", index=h - 1),
            Param(f"q_{h}", ("k",), f"query bias of head {h}", group="q", index=h - 1),
            Param(f"kb_{h}", ("k",), f"key bias of head {h}", group="kb", index=h - 1),
            Param(f"V_{h}", ("d_v", "d"), f"value matrix of head {h}", group="V", index=h - 1),
            Param(f"W_{h}", ("d", "d_v"), f"output matrix of head {h}", group="W", index=h - 1),
            Param(f"beta_{h}", (), f"inverse temperature of head {h}", positive=True,
                  default=1.0, group="beta", index=h - 1),
        )
        Q, K, qb, kb, V, W, beta = (p.symbol for p in ps)
        params.extend(ps)
        # β(Q_h x + q_h)ᵀ(K_h y + k_h), expanded so the engine's completed square needs no cancellation
        score = bilinear_score(Q, K, beta) + beta * qb.T * K * y + beta * (Q * x).T * kb + beta * qb.T * kb
        hs.append(Head(score, W * V))
    v = Variant(NAME, "softmax", tuple(hs), tuple(params), SUMMARY, options=(("heads", heads),))
    return with_addons(v, residual, feedforward)

