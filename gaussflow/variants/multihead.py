"""Multi-head softmax attention: Γ(x) = Σ_h W_h V_h E_h[y | x], head h with its own
score β_h⟨Q_h x, K_h y⟩, value map V_h (d_v x d) and output map W_h (d x d_v)."""

from __future__ import annotations

from ._base import Head, Param, Variant, bilinear_score, with_addons

NAME = "multihead"
SUMMARY = "multi-head softmax attention Σ_h W_h V_h E_h[y|x]"


#: more heads than this are refused (derivation time grows with H; trained models use ≤ 64)
MAX_HEADS = 64


def build(*, heads: int = 2, residual: bool = False, feedforward: bool = False) -> Variant:
    if not isinstance(heads, int) or isinstance(heads, bool) or heads < 1 or heads > MAX_HEADS:
        raise ValueError(f"`heads` must be an integer in [1, {MAX_HEADS}]; got {heads!r}")
    params: list[Param] = []
    hs: list[Head] = []
    for h in range(1, heads + 1):
        ps = (
            Param(f"Q_{h}", ("k", "d"), f"query matrix of head {h}", group="Q", index=h - 1),
            Param(f"K_{h}", ("k", "d"), f"key matrix of head {h}", group="K", index=h - 1),
            Param(f"V_{h}", ("d_v", "d"), f"value matrix of head {h}", group="V", index=h - 1),
            Param(f"W_{h}", ("d", "d_v"), f"output matrix of head {h}", group="W", index=h - 1),
            Param(f"beta_{h}", (), f"inverse temperature of head {h}", positive=True,
                  default=1.0, group="beta", index=h - 1),
        )
        Q, K, V, W, beta = (p.symbol for p in ps)
        params.extend(ps)
        hs.append(Head(bilinear_score(Q, K, beta), W * V))
    v = Variant(NAME, "softmax", tuple(hs), tuple(params), SUMMARY, options=(("heads", heads),))
    return with_addons(v, residual, feedforward)
