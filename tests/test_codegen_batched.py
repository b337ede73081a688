"""Batched mode of the generated code: every generated function broadcasts over leading axes.

The truth is the same function called member by member (that path is checked against quadrature and
mpmath in test_codegen / test_velocity); shared and per-member parameters are both exercised.
"""

from __future__ import annotations

import numpy as np
import pytest

import gaussflow as gf

CASES = [
    ("softmax", {}),
    ("l2", {}),
    ("sinkhorn", {}),
    ("multihead", {"heads": 3}),
    ("softmax", {"residual": True, "feedforward": True}),
    ("multihead", {"heads": 2, "residual": True, "feedforward": True}),
    ("l2", {"feedforward": True}),
    ("sinkhorn", {"residual": True}),
]


def _params(closure: gf.Closure, B: int, d: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {}
    for p in closure.variant.params:
        if not p.shape:
            out[p.name] = rng.uniform(0.5, 1.5, B)
        else:
            shp = (d,) * len(p.shape) + ((1,) if len(p.shape) == 1 else ())
            out[p.name] = 0.5 * rng.standard_normal((B, *shp))
    return out


@pytest.mark.parametrize(("name", "opts"), CASES)
def test_batched_equals_member_by_member(name: str, opts: dict) -> None:
    rng = np.random.default_rng(7)
    B, d = 4, 3
    c = gf.derive(name, **opts)
    cc = c.compile()
    params = _params(c, B, d, rng)
    S = rng.standard_normal((B, d, d))
    S = S @ S.mT / d
    a = rng.standard_normal((B, d, 1))
    X = rng.standard_normal((B, d, 5))
    prep_b = cc.prepare(**{k: (v[:, None, None] if v.ndim == 1 else v) for k, v in params.items()})
    m_b, S_b = cc.moments(a, S, *prep_b)
    J_b = cc.jacobian(a, S, *prep_b)
    v_b = cc.velocity(X, a, S, *prep_b)
    assert m_b.shape == (B, d, 1) and S_b.shape == (B, d, d) and J_b.shape == (B, d, d) and v_b.shape == (B, d, 5)
    shared = cc.prepare(**{k: v[0] for k, v in params.items()})
    m_s, S_s = cc.moments(a, S, *shared)
    for i in range(B):
        prep = cc.prepare(**{k: v[i] for k, v in params.items()})
        m, Sd = cc.moments(a[i], S[i], *prep)
        np.testing.assert_allclose(m_b[i], m, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(S_b[i], Sd, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(J_b[i], cc.jacobian(a[i], S[i], *prep), rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(v_b[i], cc.velocity(X[i], a[i], S[i], *prep), rtol=1e-12, atol=1e-13)
        m0, Sd0 = cc.moments(a[i], S[i], *shared)
        np.testing.assert_allclose(m_s[i], m0, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(S_s[i], Sd0, rtol=1e-12, atol=1e-13)


def test_low_rank_heads_keep_factors_and_agree() -> None:
    """d = 64, 12 heads of width 5: the shape-specialized code keeps W_h, V_h, K_h, Q_h factored
    (no hoisted d × d products) and equals the generic code (checked elsewhere against quadrature)."""
    rng = np.random.default_rng(0)
    H, d, r = 12, 64, 5
    att = gf.attention("multihead", Q=rng.standard_normal((H, r, d)), K=rng.standard_normal((H, r, d)),
                       V=rng.standard_normal((H, r, d)) / 8, W=rng.standard_normal((H, d, r)) / 8,
                       beta=rng.uniform(0.1, 0.3, H))
    generic = att.closure.compile()
    assert att.compiled is not generic
    def body(src: str, fn: str) -> str:
        return src[src.index(f"def {fn}("):].split("\n\n\n")[0]

    assert "W_1 @ V_1" not in body(att.compiled.source, "prepare").split("p0 =")[0]
    assert "C_1" not in body(att.compiled.source, "jacobian") and "C_1" in body(generic.source, "jacobian")
    L = rng.standard_normal((d, d)) / 8
    S = L @ L.T
    a = rng.standard_normal((d, 1))
    prep = generic.prepare(**att.params)
    m_g, S_g = generic.moments(a, S, *prep)
    m_s, S_s = att.compiled.moments(a, S, *att.prepared)
    np.testing.assert_allclose(S_s, S_g, rtol=1e-10, atol=1e-12 * np.abs(S_g).max())
    np.testing.assert_allclose(m_s, m_g, rtol=1e-10, atol=1e-12 * np.abs(m_g).max())
    X = rng.standard_normal((d, 3))
    np.testing.assert_allclose(att.compiled.velocity(X, a, S, *att.prepared), generic.velocity(X, a, S, *prep),
                               rtol=1e-10, atol=1e-10)
    # full-width heads (k = d_v = d) keep the generic code
    small = gf.attention("multihead", Q=rng.standard_normal((2, 3, 3)), K=rng.standard_normal((2, 3, 3)),
                         V=rng.standard_normal((2, 3, 3)), W=rng.standard_normal((2, 3, 3)))
    assert small.compiled is small.closure.compile()
