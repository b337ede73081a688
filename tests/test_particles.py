"""Interacting-particle engine: each test compares against an independent truth.

* dense O(n²) references written here from docs/math.md §2 (scipy.special.softmax over the full score
  matrix, a plain linear-domain Sinkhorn) for the particle velocity of every registered variant;
* the same engine with a different block size (chunk = 7 vs one block);
* marginals and the scaling structure of the Sinkhorn plan computed from the returned plan itself;
* closed-form particle trajectories (uniform attention) for the time steppers;
* the Gaussian closure, integrated here with scipy's solve_ivp on (α, Σ), vs the particle cloud's
  empirical moments within z·σ/√n (tier 4 of STYLE.md);
* tracemalloc for the no-n×n-matrix memory promise.
"""

from __future__ import annotations

import io
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm
from scipy.special import expit, softmax

import gaussflow as gf
from gaussflow.particles import (
    ParticleOverflowError,
    ParticleTrajectory,
    ParticleTrajectoryError,
    particle_velocity,
    simulate_particles,
    sinkhorn_plan,
)

RTOL_DENSE = 1e-12  # engine vs dense reference, relative to max |Γ|

# --------------------------------------------------------------------------- dense references


def _params(seed: int, d: int = 3, k: int = 2) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "Q": rng.standard_normal((k, d)), "K": rng.standard_normal((k, d)),
        "V": rng.standard_normal((d, d)), "beta": 0.7,
    }


def _addon_params(seed: int, d: int = 3) -> dict[str, Any]:
    rng = np.random.default_rng(seed + 100)
    return {"W_ff": rng.standard_normal((d, d)), "b_ff": rng.standard_normal(d)}


def _mask(S: np.ndarray, causal: bool, fill: float) -> np.ndarray:
    return np.where(np.tril(np.ones_like(S, dtype=bool)), S, fill) if causal else S


def _dense_sinkhorn(S: np.ndarray) -> np.ndarray:
    """Plain alternating row/column normalization of e^{S − max S} until both marginals are 1."""
    P = np.exp(S - S.max())
    for _ in range(100_000):
        P /= P.sum(axis=1, keepdims=True)
        P /= P.sum(axis=0, keepdims=True)
        if np.max(np.abs(P.sum(axis=1) - 1)) < 1e-15:
            break
    return P


def _reference(name: str, p: dict[str, Any], X: np.ndarray, *, causal: bool = False,
               residual: bool = False, feedforward: bool = False) -> np.ndarray:
    """Γ[μⁿ](xᵢ) from the formulas of docs/math.md §2, with full n × n matrices."""
    n = X.shape[0]
    heads: list[tuple[np.ndarray, np.ndarray]] = []  # (weights n×n, value map C)
    if name == "multihead":
        for h in range(len(p["Q"])):
            S = p["beta"][h] * (X @ p["Q"][h].T) @ (X @ p["K"][h].T).T
            heads.append((softmax(_mask(S, causal, -np.inf), axis=1), p["W"][h] @ p["V"][h]))
    else:
        bil = p["beta"] * (X @ p["Q"].T) @ (X @ p["K"].T).T  # β⟨Q xᵢ, K xⱼ⟩
        if name == "softmax":
            W = softmax(_mask(bil, causal, -np.inf), axis=1)
        elif name == "l2":
            D = (X @ p["Q"].T)[:, None, :] - (X @ p["K"].T)[None, :, :]
            W = softmax(_mask(-0.5 * p["beta"] * (D**2).sum(-1), causal, -np.inf), axis=1)
        elif name == "sinkhorn":
            W = _dense_sinkhorn(bil)
        elif name == "sigmoid":
            W = _mask(expit(bil + p.get("b", 0.0)), causal, 0.0) / n
        elif name == "unnormalized":
            W = _mask(np.exp(bil), causal, 0.0) / n
        else:  # pragma: no cover
            raise KeyError(name)
        heads.append((W, p["V"]))
    out = np.zeros_like(X)
    for W, C in heads:
        E = W @ X - W.sum(axis=1, keepdims=True) * X if residual else W @ X
        out += E @ C.T
    if feedforward:
        out += X @ p["W_ff"].T + p["b_ff"]
    return out


def _multihead_params(seed: int, d: int = 3, H: int = 2, k: int = 2, d_v: int = 2) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "Q": rng.standard_normal((H, k, d)), "K": rng.standard_normal((H, k, d)),
        "V": rng.standard_normal((H, d_v, d)), "W": rng.standard_normal((H, d, d_v)),
        "beta": np.array([0.8, 0.5, 1.1][:H]),
    }


# (variant, options, causal): every registered variant appears at least once (checked below)
CASES: list[tuple[str, dict[str, bool], bool]] = [
    ("softmax", {}, False),
    ("softmax", {}, True),
    ("softmax", {"residual": True, "feedforward": True}, False),
    ("softmax", {"residual": True}, True),
    ("l2", {}, False),
    ("l2", {}, True),
    ("l2", {"residual": True, "feedforward": True}, False),
    ("multihead", {}, False),
    ("multihead", {}, True),
    ("multihead", {"residual": True, "feedforward": True}, False),
    ("sinkhorn", {}, False),
    ("sinkhorn", {"residual": True, "feedforward": True}, False),
    ("sigmoid", {}, False),
    ("sigmoid", {}, True),
    ("unnormalized", {}, False),
    ("unnormalized", {}, True),
]


def _build(name: str, opts: dict[str, bool], seed: int = 0, d: int = 3) -> tuple[gf.Attention, dict[str, Any]]:
    p = _multihead_params(seed, d) if name == "multihead" else _params(seed, d)
    if name == "sigmoid":
        p["b"] = -0.4
    if opts.get("feedforward"):
        p.update(_addon_params(seed, d))
    return gf.attention(name, **opts, **p), p


def _cloud(n: int, d: int = 3, seed: int = 1, scale: float = 0.8) -> np.ndarray:
    return scale * np.random.default_rng(seed).standard_normal((n, d))


def test_every_registered_variant_has_a_reference_case() -> None:
    assert set(gf.variants()) <= {c[0] for c in CASES}


@pytest.mark.parametrize(("name", "opts", "causal"), CASES, ids=lambda v: str(v))
def test_velocity_equals_dense_reference(name: str, opts: dict[str, bool], causal: bool) -> None:
    attn, p = _build(name, opts)
    X = _cloud(41)
    ref = _reference(name, p, X, causal=causal, **opts)
    got = particle_velocity(attn, X, causal=causal, sinkhorn_tol=1e-14)
    assert np.max(np.abs(got - ref)) <= RTOL_DENSE * np.max(np.abs(ref))


@pytest.mark.parametrize(
    ("name", "opts", "causal"),
    [c for c in CASES if c[0] != "sinkhorn"],
    ids=lambda v: str(v),
)
def test_chunked_equals_unchunked(name: str, opts: dict[str, bool], causal: bool) -> None:
    attn, _ = _build(name, opts, seed=3)
    X = _cloud(53, seed=4)  # 53 = 7·7 + 4: a ragged last block, and 8 row blocks for the mask
    one_block = particle_velocity(attn, X, causal=causal)
    chunked = particle_velocity(attn, X, chunk=7, causal=causal)
    assert np.max(np.abs(chunked - one_block)) <= 1e-12 * np.max(np.abs(one_block))


def test_streaming_log_sum_exp_survives_scores_far_above_the_first_block() -> None:
    # Tokens on a ray with growing norm and a large β: every later column block has scores more than
    # 709 above the first block's maximum, so the running shift must be raised (exp would overflow).
    d = 2
    r = np.linspace(0.1, 6.0, 40)
    X = np.stack([r, 0.3 * np.sin(r)], axis=1)
    p = {"Q": 60.0 * np.eye(d), "K": np.eye(d), "V": np.array([[1.0, 0.2], [0.0, 0.5]]), "beta": 1.0}
    attn = gf.attention("softmax", **p)
    ref = _reference("softmax", p, X)
    for chunk in (None, 3, 7):
        got = particle_velocity(attn, X, chunk=chunk)
        assert np.all(np.isfinite(got))
        assert np.max(np.abs(got - ref)) <= RTOL_DENSE * np.max(np.abs(ref))


def test_chunked_kernel_never_builds_an_n_by_n_matrix() -> None:
    attn, _ = _build("softmax", {}, d=4)
    n, chunk = 3000, 100
    X = _cloud(n, d=4)
    tracemalloc.start()
    try:
        particle_velocity(attn, X, chunk=chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.1 * n * n * 8  # an n × n float64 matrix is 72 MB; the blocks are 80 kB


# --------------------------------------------------------------------------- Sinkhorn


@pytest.mark.parametrize("spread", [1.0, 40.0])
def test_sinkhorn_plan_marginals_and_scaling_form(spread: float) -> None:
    # spread = 40: log-kernel entries over a range of ~±500, so e^{logK} under/overflows without
    # the log-domain stabilization
    rng = np.random.default_rng(7)
    n = 200
    X = rng.standard_normal((n, 2))
    logK = spread * (X @ np.array([[0.9, 0.4], [-0.3, 0.7]]).T) @ X.T
    res = sinkhorn_plan(logK, tol=1e-9)
    P = res.plan
    assert res.converged
    assert np.max(np.abs(P.sum(axis=1) - 1)) <= 1e-9
    assert np.max(np.abs(P.sum(axis=0) - 1)) <= 1e-9
    assert np.all(P >= 0)
    # P = diag(e^f) e^{logK} diag(e^g): compare in the log domain where P is not negligible
    big = P > 1e-250
    assert np.allclose(np.log(P[big]), (logK + res.f[:, None] + res.g[None, :])[big], rtol=0, atol=1e-8)
    # warm start from the converged potentials: already converged
    again = sinkhorn_plan(logK, res.f, res.g, tol=1e-9)
    assert again.iterations == 1 and np.allclose(again.plan, P, rtol=0, atol=1e-9)


def test_sinkhorn_plan_ignores_separable_terms_even_beyond_the_float_range() -> None:
    # P is invariant under logK → logK + aᵢ + bⱼ (absorbed by the potentials); with |aᵢ| ~ 10³ the raw
    # e^{logK} over/underflows, which exercises the exact log-domain sweeps
    rng = np.random.default_rng(8)
    n = 150
    X = rng.standard_normal((n, 2))
    logK = (X @ np.array([[0.9, 0.4], [-0.3, 0.7]]).T) @ X.T
    a, b = 1000.0 * rng.standard_normal(n), 800.0 * rng.standard_normal(n)
    plain = sinkhorn_plan(logK, tol=1e-11)
    shifted = sinkhorn_plan(logK + a[:, None] + b[None, :], tol=1e-11)
    assert shifted.converged and shifted.row_error <= 1e-11 and shifted.col_error <= 1e-11
    assert np.max(np.abs(shifted.plan - plain.plan)) <= 1e-9 * np.max(plain.plan)


def test_sinkhorn_plan_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="`logK`"):
        sinkhorn_plan(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="`f`"):
        sinkhorn_plan(np.zeros((3, 3)), np.zeros(2))
    with pytest.raises(ValueError, match="`tol`"):
        sinkhorn_plan(np.zeros((3, 3)), tol=0)


def test_causal_sinkhorn_is_rejected() -> None:
    attn, _ = _build("sinkhorn", {})
    with pytest.raises(ValueError, match="`causal=True`"):
        particle_velocity(attn, _cloud(5), causal=True)


# --------------------------------------------------------------------------- time stepping


def _uniform_attention(opts: dict[str, bool] | None = None) -> tuple[gf.Attention, np.ndarray]:
    """Q = 0: every score is 0, so Γ(xᵢ) = V x̄ (softmax weights 1/n) and the particles solve
    ẋᵢ = V x̄, x̄(t) = e^{Vt} x̄₀, i.e. xᵢ(t) = xᵢ(0) + (e^{Vt} − I) x̄₀ exactly."""
    V = np.array([[0.3, -1.0], [1.0, 0.2]])
    return gf.attention("softmax", Q=np.zeros((2, 2)), K=np.eye(2), V=V, **(opts or {})), V


@pytest.mark.parametrize(("method", "kw", "tol"), [("rk4", {"dt": 0.05}, 1e-6), ("adaptive", {"rtol": 1e-10}, 1e-7)])
def test_time_steppers_match_the_exact_uniform_attention_solution(method: str, kw: dict[str, float], tol: float
                                                                   ) -> None:
    attn, V = _uniform_attention()
    X0 = _cloud(30, d=2) + np.array([1.0, -0.5])
    t = np.array([0.0, 0.4, 1.0, 1.5])
    traj = simulate_particles(attn, X0, t, method=method, keep="all", **kw)
    assert traj.status == "ok" and traj.X is not None
    xbar = X0.mean(axis=0)
    exact = np.stack([X0 + (expm(V * s) - np.eye(2)) @ xbar for s in t])
    assert np.max(np.abs(traj.X - exact)) <= tol
    assert np.allclose(traj.mean, exact.mean(axis=1), rtol=0, atol=tol)
    Z = exact - exact.mean(axis=1, keepdims=True)
    assert np.allclose(traj.cov, np.einsum("tik,til->tkl", Z, Z) / len(X0), rtol=0, atol=tol)  # 1/n
    assert traj.nfev > 0 and traj.steps > 0


def test_rk4_error_is_fourth_order() -> None:
    attn, V = _uniform_attention()
    X0 = _cloud(10, d=2) + 1.0
    exact = X0 + (expm(V * 1.0) - np.eye(2)) @ X0.mean(axis=0)
    errs = [np.max(np.abs(simulate_particles(attn, X0, [0, 1], dt=h, keep="all").X[-1] - exact)) for h in (0.2, 0.1)]
    assert 12 < errs[0] / errs[1] < 20  # 2⁴ = 16


def test_gaussian_initial_law_is_sampled_with_n_and_seed() -> None:
    attn, _ = _uniform_attention()
    law = gf.Gaussian([0.5, -1.0], [[1.0, 0.2], [0.2, 0.5]])
    a = simulate_particles(attn, law, [0.0, 0.1], n=500, seed=11, dt=0.1)
    b = simulate_particles(attn, law, [0.0, 0.1], n=500, seed=11, dt=0.1)
    X0 = law.sample(500, 11)
    assert a.n == 500 and np.array_equal(a.mean, b.mean)
    assert np.allclose(a.mean[0], X0.mean(axis=0), rtol=0, atol=1e-15)
    assert np.allclose(a.cov[0], np.cov(X0.T, bias=True), rtol=0, atol=1e-14)


def test_unnormalized_overflow_is_reported_not_nan() -> None:
    attn = gf.attention("unnormalized", A=np.eye(2), V=np.eye(2))
    X0 = 30.0 * _cloud(20, d=2)  # s = xᵢᵀxⱼ reaches ~ 2000 > 709
    with pytest.raises(ParticleOverflowError, match="overflow"):
        particle_velocity(attn, X0)
    X1 = 0.5 * _cloud(20, d=2) + 1.0  # finite at t = 0, blows up later (α̇ grows like e^{|x|²})
    traj = simulate_particles(attn, X1, np.linspace(0, 5, 11))
    assert traj.status == "blowup" and "overflow" in traj.message
    assert 1 <= len(traj) < 11 and np.all(np.isfinite(traj.cov))
    with pytest.raises(ParticleTrajectoryError, match="blowup"):
        traj.raise_for_status()


def test_progress_bar_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    attn, _ = _uniform_attention()
    simulate_particles(attn, _cloud(5, d=2), [0, 1], progress=True)
    err = capsys.readouterr().err
    assert "\rparticles [" in err and "100.0%" in err and err.endswith("\n")
    simulate_particles(attn, _cloud(5, d=2), [0, 1], progress=False)
    simulate_particles(attn, _cloud(5, d=2), [0, 1])  # stderr is not a TTY under pytest
    assert capsys.readouterr().err == ""


def test_save_load_round_trip(tmp_path: Path) -> None:
    attn, _ = _build("multihead", {})
    traj = simulate_particles(attn, _cloud(12), [0.0, 0.1, 0.3], keep="all", seed=5)
    path = traj.save(tmp_path / "run.npz")
    back = ParticleTrajectory.load(path)
    assert os.listdir(tmp_path) == ["run.npz"]  # no temporary file left behind
    for f in ("t", "mean", "cov", "X"):
        assert np.array_equal(getattr(back, f), getattr(traj, f))
    assert (back.n, back.status, back.nfev, back.steps, back.variant) == (
        traj.n, traj.status, traj.nfev, traj.steps, traj.variant)
    for k, v in traj.params.items():
        assert np.array_equal(back.params[k], v)
    assert back.solver["chunk"] == traj.solver["chunk"] and back.solver["seed"] == 5
    buf = io.BytesIO()
    np.savez(buf, t=np.zeros(1))
    (tmp_path / "bad.npz").write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="not a saved ParticleTrajectory"):
        ParticleTrajectory.load(tmp_path / "bad.npz")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"X0": np.zeros((5, 3))}, "`X0`"),
        ({"X0": np.zeros(5)}, "`X0`"),
        ({"X0": np.array([[0.0, np.nan]])}, "`X0`"),
        ({"t_eval": [0.0, 1.0, 1.0]}, "`t_eval`"),
        ({"t_eval": [1.0, 0.0]}, "`t_eval`"),
        ({"t_eval": [0.0, np.inf]}, "`t_eval`"),
        ({"chunk": 0}, "`chunk`"),
        ({"chunk": 2.5}, "`chunk`"),
        ({"dt": -0.1}, "`dt`"),
        ({"dt": np.nan}, "`dt`"),
        ({"method": "euler"}, "`method`.*adaptive.*rk4"),
        ({"keep": "last"}, "`keep`"),
        ({"n": 3}, "`n`"),
        ({"X0": gf.Gaussian([0.0, 0.0], np.eye(2))}, "`n`"),
        ({"X0": gf.Gaussian([0.0, 0.0, 0.0], np.eye(3)), "n": 4}, "`X0`"),
        ({"progress": "yes"}, "`progress`"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs: dict[str, Any], match: str) -> None:
    attn, _ = _uniform_attention()
    args = {"X0": _cloud(4, d=2), "t_eval": [0.0, 1.0], **kwargs}
    with pytest.raises(ValueError, match=match):
        simulate_particles(attn, **args)


def test_attn_must_be_an_attention() -> None:
    with pytest.raises(TypeError, match="`attn`"):
        simulate_particles("softmax", np.zeros((3, 2)), [0, 1])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- closure vs particles
#
# The particle system is the exact PDE for the empirical measure μⁿ; the closure is the exact PDE
# for a Gaussian law. Started from the same first two moments (the cloud's own), the two flows can
# only separate through the non-Gaussian part of μⁿ, whose weak distance to N(αₙ, Σₙ) is O_P(n^{-1/2})
# (central limit theorem for the empirical averages of the smooth test functions e^{s(x,·)},
# y e^{s(x,·)} that make up Γ). Hence Γ[μⁿ] − Γ[N(αₙ, Σₙ)] = O_P(n^{-1/2}) and, over a fixed horizon
# T (Grönwall, constant ~ e^{LT}), so is the moment error. The natural unit is the standard error of
# the sample average that each moment is: σ/√n with σ the standard deviation over particles of xᵢ
# (for the mean) and of (xᵢ − m)(xᵢ − m)ᵀ (for the covariance), entry by entry, estimated from the
# cloud at time T.

N_CLOSURE = 4000  # particles; seed 0
Z_CLOSURE = 3.0  # allowed error in units of σ/√n (seen over seeds 0-3: ≤ 0.3; causal second half ≤ 0.65)
MOVED_CLOSURE = 2.5 * Z_CLOSURE  # the moments must move further than this, so a frozen cloud fails
T_CLOSURE = 0.5
A2 = 0.5 * np.array([[0.6, 0.4], [-0.3, 0.5]])
V2 = np.array([[1.0, 0.5], [-0.5, 0.8]])
LAW0 = gf.Gaussian([0.5, -0.3], [[1.0, 0.3], [0.3, 0.6]])


def _closure(attn: gf.Attention, alpha0: np.ndarray, Sigma0: np.ndarray, T: float) -> tuple[np.ndarray, np.ndarray]:
    d = len(alpha0)

    def f(_t: float, y: np.ndarray) -> np.ndarray:
        S = y[d:].reshape(d, d)
        a_dot, S_dot = attn.moment_rhs_unchecked(y[:d], 0.5 * (S + S.T))
        return np.concatenate([a_dot, S_dot.ravel()])

    sol = solve_ivp(f, (0.0, T), np.concatenate([alpha0, Sigma0.ravel()]), rtol=1e-11, atol=1e-12)
    assert sol.success
    return sol.y[:d, -1], sol.y[d:, -1].reshape(d, d)


def _z_scores(traj: ParticleTrajectory, alpha: np.ndarray, Sigma: np.ndarray) -> tuple[float, float, float]:
    """(max mean error, max cov error, max displacement since t₀), all in units of σ/√n."""
    assert traj.X is not None
    XT = traj.X[-1]
    n = traj.n
    Z = XT - XT.mean(axis=0)
    se_mean = XT.std(axis=0) / np.sqrt(n)
    se_cov = np.einsum("ik,il->ikl", Z, Z).std(axis=0) / np.sqrt(n)
    z_mean = float(np.max(np.abs(traj.mean[-1] - alpha) / se_mean))
    z_cov = float(np.max(np.abs(traj.cov[-1] - Sigma) / se_cov))
    moved = max(float(np.max(np.abs(traj.mean[-1] - traj.mean[0]) / se_mean)),
                float(np.max(np.abs(traj.cov[-1] - traj.cov[0]) / se_cov)))
    return z_mean, z_cov, moved


CLOSED: dict[str, Callable[[], gf.Attention]] = {
    "softmax": lambda: gf.attention("softmax", A=A2, V=V2),
    "l2": lambda: gf.attention("l2", Q=A2, K=np.eye(2), V=V2),
    "multihead": lambda: gf.attention(
        "multihead", A=np.stack([A2, -0.5 * A2.T]), C=np.stack([0.6 * V2, np.array([[0.2, -0.4], [0.4, 0.3]])])
    ),
    "sinkhorn": lambda: gf.attention("sinkhorn", A=A2, V=V2),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CLOSED))
def test_particles_follow_the_gaussian_closure(name: str) -> None:
    attn = CLOSED[name]()
    traj = simulate_particles(attn, LAW0, [0.0, T_CLOSURE], n=N_CLOSURE, seed=0, dt=T_CLOSURE / 2, keep="all")
    alpha, Sigma = _closure(attn, traj.mean[0], traj.cov[0], T_CLOSURE)
    z_mean, z_cov, moved = _z_scores(traj, alpha, Sigma)
    assert moved > MOVED_CLOSURE
    assert z_mean <= Z_CLOSURE and z_cov <= Z_CLOSURE, (z_mean, z_cov)


# Masked attention with i.i.d. tokens (law independent of the position τ) has the unmasked closure
# (docs/math.md §3): token i sees the empirical law of tokens 1..i, an i.i.d. sample of the same law.
# At finite n, token i's velocity carries an O(1/i) bias (self-normalized average over i tokens,
# itself included: token 1 attends only to itself) and an O_P(i^{-1/2}) fluctuation. Averaged over
# *all* tokens the bias is O(log n / n) — formally ≪ n^{-1/2}, but with a large constant: measured at
# n = 4000 it is 1–2 σ/√n at T = 0.5 and 3–30 σ/√n at T = 1 (softmax tilts towards the tails, where
# early tokens sit far out). So we compare only the tokens i > n/2: each sees ≥ n/2 tokens, so its
# own bias is O(2/n) and its fluctuation O(√(2/n)), and early tokens reach it only with weight
# O(1/n) each. Those tokens are an i.i.d. subsample, not the whole cloud, so their moments (m, C)
# follow the *linear response* to the mean field rather than the closure from their own moments:
# on N(α, Σ), Γ(x) = Γ(α) + J(x − α) (affine, J = ∂Γ/∂x), so ṁ = α̇ + J(m − α), Ċ = JC + CJᵀ, with
# (α, Σ) the closure from the whole cloud's initial moments.


def _subsample_response(attn: gf.Attention, X0: np.ndarray, rows: slice, T: float) -> tuple[np.ndarray, np.ndarray]:
    d = X0.shape[1]
    sub = X0[rows]

    def f(_t: float, y: np.ndarray) -> np.ndarray:
        a, S, m, C = y[:d], y[d:d + d * d].reshape(d, d), y[d + d * d:2 * d + d * d], y[2 * d + d * d:].reshape(d, d)
        S = 0.5 * (S + S.T)
        a_dot, S_dot = attn.moment_rhs_unchecked(a, S)
        J = attn.jacobian_unchecked(a, S)
        return np.concatenate([a_dot, S_dot.ravel(), a_dot + J @ (m - a), (J @ C + C @ J.T).ravel()])

    y0 = np.concatenate([X0.mean(0), np.cov(X0.T, bias=True).ravel(), sub.mean(0), np.cov(sub.T, bias=True).ravel()])
    sol = solve_ivp(f, (0.0, T), y0, rtol=1e-11, atol=1e-12)
    assert sol.success
    y = sol.y[:, -1]
    return y[d + d * d:2 * d + d * d], y[2 * d + d * d:].reshape(d, d)


@pytest.mark.slow
def test_causal_iid_tokens_follow_the_unmasked_closure() -> None:
    attn = CLOSED["softmax"]()
    n = N_CLOSURE
    traj = simulate_particles(attn, LAW0, [0.0, T_CLOSURE], n=n, seed=1, dt=T_CLOSURE / 2, keep="all", causal=True)
    assert traj.X is not None
    late = slice(n // 2, n)
    m, C = _subsample_response(attn, traj.X[0], late, T_CLOSURE)
    half = ParticleTrajectory(t=traj.t, mean=traj.X[:, late].mean(axis=1),
                              cov=[np.cov(X.T, bias=True) for X in traj.X[:, late]], n=n - n // 2, X=traj.X[:, late])
    z_mean, z_cov, moved = _z_scores(half, m, C)
    assert moved > MOVED_CLOSURE
    assert z_mean <= Z_CLOSURE and z_cov <= Z_CLOSURE, (z_mean, z_cov)
    # the mask matters token by token: the first tokens moved unlike the mean field (at t = 0 their
    # velocities already differ from the unmasked ones by O(1))
    early = particle_velocity(attn, traj.X[0], causal=True)[:5] - particle_velocity(attn, traj.X[0])[:5]
    assert np.max(np.abs(early)) > 0.1
