"""solve_batch against the scalar solver (member by member, every closed variant with and without
add-ons), the V = I closed form, collapse and stationary states."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gaussflow as gf
from gaussflow.diagnostics.oracles import softmax_blowup_time, softmax_isotropic_cov
from gaussflow.integrate.batch import solve_batch
from gaussflow.integrate.solve import solve


def _random_members(B: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((B, d, d))
    V = rng.standard_normal((B, d, d))
    L = rng.standard_normal((B, d, d))
    S0 = L @ L.transpose(0, 2, 1) + 0.1 * np.eye(d)
    return A, V, S0


def _atts(variant: str, A: np.ndarray, V: np.ndarray) -> list[gf.Attention]:
    """Members with score yᵀA_b x (Q = A_b, K = I, β = 1) and value V_b (V shared when 2-D)."""
    Vs = V if V.ndim == 3 else np.broadcast_to(V, A.shape)
    return [gf.attention(variant, Q=A[b], K=np.eye(A.shape[-1]), beta=1.0, V=Vs[b]) for b in range(len(A))]


def test_agrees_with_solve_member_by_member() -> None:
    A, V, S0 = _random_members(20, 2, seed=0)
    t_span = (0.0, 5.0)
    res = solve_batch(_atts("softmax", A, V), S0, t_span, atol=1e-12)
    compared = {"ok": 0, "blowup": 0}
    for b in range(20):
        ref = solve(gf.attention("softmax", A=A[b], V=V[b]), (np.zeros(2), S0[b]), t_span)
        if ref.status == "failed":  # ill-conditioned member: both give up
            assert res.status[b] == "failed"
            continue
        if ref.status == "converged" and ref.t[-1] > 0.9 * t_span[1]:
            # detected just before t1: "ok" is equally right for a tolerance-level threshold
            assert res.status[b] in ("ok", "converged")
        else:
            assert res.status[b] == ref.status, b
        if ref.status == "blowup":
            assert abs(res.t_blowup[b] - ref.t_blowup) <= 1e-4 * ref.t_blowup
            compared["blowup"] += 1
        else:
            err = np.max(np.abs(res.Sigma_final[b] - ref.cov[-1])) / np.max(np.abs(ref.cov[-1]))
            assert err <= 1e-6, (b, err)
            compared["ok"] += 1
        if ref.status != "blowup":
            assert math.isnan(res.t_blowup[b])
    assert compared["ok"] >= 5 and compared["blowup"] >= 5


def test_closed_form_isotropic_values() -> None:
    """V = I: Σ(t) = (Σ₀⁻¹ − t(A + Aᵀ))⁻¹; blow-up at T* = 1/λ_max(Σ₀^{1/2}(A + Aᵀ)Σ₀^{1/2})."""
    A, _, S0 = _random_members(12, 3, seed=2)
    A = 0.3 * A
    te = np.linspace(0.0, 2.0, 9)
    res = solve_batch(_atts("softmax", A, np.eye(3)), S0, (0.0, 2.0), t_eval=te, rtol=1e-10, atol=1e-13)
    n_blow = 0
    for b in range(12):
        T_star = softmax_blowup_time(S0[b], A[b])
        if T_star < 2.0:
            n_blow += 1
            assert res.status[b] == "blowup"
            assert abs(res.t_blowup[b] - T_star) <= 1e-6 * T_star
        else:
            assert res.status[b] in ("ok", "converged")
        keep = te < res.t_final[b]
        want = softmax_isotropic_cov(S0[b], A[b], 1.0, te[keep])
        got = res.history[b][keep]
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9 * np.max(np.abs(want)))
    assert 0 < n_blow < 12


def test_collapse_to_zero_and_history_nan_after_stop() -> None:
    # A + Aᵀ = −2I: Σ(t) = (Σ₀⁻¹ + 2t I)⁻¹ → 0; second member blows up at T* = 1/2
    A = np.stack([-np.eye(2), np.eye(2)])
    te = np.linspace(0.0, 1.0, 5)
    res = solve_batch(_atts("softmax", A, np.eye(2)), np.eye(2), (0.0, 1.0), t_eval=te)
    np.testing.assert_allclose(res.Sigma_final[0], np.eye(2) / 3.0, rtol=1e-7)
    assert res.status.tolist() == ["ok", "blowup"]
    assert np.all(np.isnan(res.history[1][te > 0.5]))
    # the numerical flow reaches tr Σ = 1e8·tr Σ₀ (exactly at t = 0.5 − 5e-9) up to a time shift ~ rtol
    assert abs(res.t_final[1] - 0.5) < 1e-6
    assert abs(res.t_blowup[1] - 0.5) < 1e-6


def test_stationary_initial_and_rank_one() -> None:
    # rank-one Σ₀ = uuᵀ with uᵀAu = 0 is stationary (docs/math.md)
    A = np.array([[0.0, 1.0], [-1.0, 0.0]])
    u = np.array([1.0, 0.0])
    res = solve_batch(gf.attention("softmax", A=A, V=np.eye(2)), np.outer(u, u), (0.0, 1.0))
    assert res.status[0] == "converged" and res.t_final[0] == 0.0


def test_bad_input() -> None:
    att = gf.attention("softmax", A=np.eye(2), V=np.eye(2))
    with pytest.raises(ValueError, match="attn"):
        solve_batch(np.eye(2), np.eye(2), (0, 1))
    with pytest.raises(ValueError, match="attn"):
        solve_batch([], np.eye(2), (0, 1))
    with pytest.raises(ValueError, match=r"attn\[1\]"):
        solve_batch([att, gf.attention("sinkhorn", A=np.eye(2), V=np.eye(2))], np.eye(2), (0, 1))
    with pytest.raises(ValueError, match="does not close"):
        solve_batch(gf.attention("sigmoid", A=np.eye(2), V=np.eye(2)), np.eye(2), (0, 1))
    with pytest.raises(ValueError, match="Sigma0"):
        solve_batch(att, -np.eye(2), (0, 1))
    with pytest.raises(ValueError, match="Sigma0"):
        solve_batch(att, np.eye(3), (0, 1))
    with pytest.raises(ValueError, match="t_span"):
        solve_batch(att, np.eye(2), (1, 0))
    with pytest.raises(ValueError, match="batch size"):
        solve_batch(att, np.zeros((2, 2, 2)) + np.eye(2), (0, 1), mean0=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="members"):
        solve_batch([att, att], np.zeros((3, 2, 2)) + np.eye(2), (0, 1))
    with pytest.raises(ValueError, match="rtol"):
        solve_batch(att, np.eye(2), (0, 1), rtol=0)
    with pytest.raises(ValueError, match="form"):
        solve_batch(att, np.eye(2), (0, 1), form="nope")


def test_l2_sinkhorn_grow_exponentially_not_blowup() -> None:
    """L2 and Sinkhorn have no finite-time blow-up; Sinkhorn with V = I: d/dt log trΣ → 2."""
    A = np.stack([np.eye(2), np.array([[1.0, 0.5], [0.2, 0.8]])])
    for variant in ("l2", "sinkhorn"):
        res = solve_batch(_atts(variant, A, np.eye(2)), np.eye(2), (0.0, 20.0), t_eval=np.linspace(0, 20, 21))
        assert np.all(np.isnan(res.t_blowup)), variant
        if variant == "sinkhorn":
            tr = np.trace(res.history[0], axis1=1, axis2=2)
            rate = np.log(tr[-1] / tr[-2])  # Δt = 1
            assert abs(rate - 2.0) < 0.05


@pytest.mark.parametrize("variant", ["l2", "sinkhorn"])
def test_l2_sinkhorn_agree_with_solve(variant: str) -> None:
    rng = np.random.default_rng(3)
    A = 0.5 * rng.standard_normal((6, 2, 2))
    V = rng.standard_normal((6, 2, 2))
    L = rng.standard_normal((6, 2, 2))
    S0 = L @ L.transpose(0, 2, 1) + 0.1 * np.eye(2)
    res = solve_batch(_atts(variant, A, V), S0, (0.0, 3.0), atol=1e-12)
    for b in range(6):
        ref = solve(gf.attention(variant, Q=A[b], K=np.eye(2), beta=1.0, V=V[b]), (np.zeros(2), S0[b]), (0.0, 3.0))
        assert res.status[b] == ref.status == "ok"
        err = np.max(np.abs(res.Sigma_final[b] - ref.cov[-1])) / np.max(np.abs(ref.cov[-1]))
        assert err <= 1e-6, (b, err)


def _random_attention(name: str, opts: dict, d: int, rng: np.random.Generator) -> gf.Attention:
    """Random weights for every parameter of a registered variant (through the public builder)."""
    c = gf.derive(name, **opts)
    kw: dict = {}
    H = opts.get("heads")
    for p in c.variant.params:
        key = p.group or p.name
        if key in kw:
            continue
        shape = tuple(d for _ in p.shape)
        lead = (H,) if p.group else ()
        if not p.shape:
            kw[key] = rng.uniform(0.3, 1.0, lead) if lead else float(rng.uniform(0.3, 1.0))
        else:
            kw[key] = (0.6 / np.sqrt(d)) * rng.standard_normal(lead + shape)
    return gf.attention(name, **{k: v for k, v in opts.items() if k != "heads"}, **kw)


CLOSED = [
    ("softmax", {}), ("softmax", {"residual": True}), ("softmax", {"feedforward": True}),
    ("multihead", {"heads": 2}), ("multihead", {"heads": 3, "residual": True, "feedforward": True}),
    ("l2", {}), ("l2", {"residual": True, "feedforward": True}),
    ("sinkhorn", {}), ("sinkhorn", {"residual": True}), ("sinkhorn", {"feedforward": True}),
]


@pytest.mark.parametrize(("name", "opts"), CLOSED)
def test_solve_batch_equals_solve_every_closed_variant(name: str, opts: dict) -> None:
    """Per-member weights and means: solve_batch = solve (DOP853, rtol 1e-10) member by member."""
    rng = np.random.default_rng(11)
    d, B, T = 3, 3, 0.6
    atts = [_random_attention(name, opts, d, rng) for _ in range(B)]
    L = rng.standard_normal((B, d, d))
    S0 = 0.3 * L @ L.mT / d + 0.1 * np.eye(d)
    m0 = rng.standard_normal((B, d))
    res = solve_batch(atts, S0, (0.0, T), mean0=m0, rtol=1e-10, atol=1e-12, stationary_tol=None)
    assert res.mean_final is not None
    for b in range(B):
        ref = solve(atts[b], (m0[b], S0[b]), (0.0, T), stationary_tol=None)
        assert res.status[b] == ref.status == "ok", (b, ref.status, res.status[b])
        scale = max(1.0, np.max(np.abs(ref.cov[-1])))
        np.testing.assert_allclose(res.Sigma_final[b], ref.cov[-1], atol=1e-7 * scale)
        np.testing.assert_allclose(res.mean_final[b], ref.mean[-1], atol=1e-7 * max(1.0, np.abs(ref.mean[-1]).max()))


def test_sigma_only_fast_path_and_full_form() -> None:
    """Shared weights, no mean: the Σ-only path; form="full" gives the same Σ."""
    rng = np.random.default_rng(5)
    att = _random_attention("multihead", {"heads": 2}, 3, rng)
    assert not att.closure.cov_depends_on_mean
    L = rng.standard_normal((4, 3, 3))
    S0 = 0.3 * L @ L.mT / 3 + 0.1 * np.eye(3)
    a = solve_batch(att, S0, (0.0, 0.5), rtol=1e-10, atol=1e-12)
    b = solve_batch(att, S0, (0.0, 0.5), form="full", rtol=1e-10, atol=1e-12)
    assert a.mean_final is None
    np.testing.assert_allclose(a.Sigma_final, b.Sigma_final, atol=1e-8)
    for i in range(4):
        ref = solve(att, (np.zeros(3), S0[i]), (0.0, 0.5))
        np.testing.assert_allclose(a.Sigma_final[i], ref.cov[-1], atol=1e-8)


def test_mean_history_matches_solve_samples() -> None:
    """With a mean and t_eval, α is recorded like Σ and member(i) carries it; values = solve's samples."""
    rng = np.random.default_rng(8)
    att = _random_attention("softmax", {"feedforward": True}, 2, rng)
    te = np.linspace(0.0, 0.5, 6)
    m0 = np.array([[0.3, -0.2], [0.0, 0.5]])
    res = solve_batch(att, np.eye(2), (0.0, 0.5), mean0=m0, t_eval=te, rtol=1e-10, atol=1e-12,
                      stationary_tol=None)
    assert res.mean_history is not None and res.mean_history.shape == (2, 6, 2)
    for b in range(2):
        ref = solve(att, (m0[b], np.eye(2)), (0.0, 0.5), t_eval=te, stationary_tol=None)
        np.testing.assert_allclose(res.mean_history[b], ref.mean, atol=1e-8)
        np.testing.assert_allclose(res.history[b], ref.cov, atol=1e-8)
        mem = res.member(b)
        assert mem.mean is not None and mem.mean.shape == (mem.t.size, 2)
