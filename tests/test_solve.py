"""solve(): the moment ODE against independent truths (docs/math.md §4).

Tolerances
----------
* closed forms: scaled error |y − y*| / (atol + rtol |y*|) ≤ 5 (scipy ``test_ivp`` convention: the
  global error of an adaptive method is a small multiple of the local tolerance);
* mpmath (30 digits) reference for a general non-symmetric V: relative error ≤ 1e-9 at rtol 1e-10;
* blow-up time on the V = vI and scalar oracles: relative error ≤ 1e-6.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import gaussflow as gf
from gaussflow._linalg import sqrtm_psd
from gaussflow.diagnostics import oracles
from gaussflow.errors import ApproximateClosureWarning, GaussflowWarning
from gaussflow.integrate.solve import solve
from gaussflow.trajectory import Trajectory, TrajectoryError

RTOL, ATOL = 1e-10, 1e-12


def scaled_error(y: np.ndarray, y_ref: np.ndarray, rtol: float = RTOL, atol: float = ATOL) -> float:
    return float(np.max(np.abs(y - y_ref) / (atol + rtol * np.abs(y_ref))))


def random_case(seed: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((d, d))
    B = rng.standard_normal((d, d))
    return A, B @ B.T / d + 0.5 * np.eye(d)


# --------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("form", ["full", "factor"])
def test_isotropic_softmax_matches_closed_form(form: str) -> None:
    """V = vI: Σ(t) = (Σ₀⁻¹ − vt(A + Aᵀ))⁻¹ on [0, 0.6 T*]."""
    d, v = 3, 0.7
    A, S0 = random_case(3, d)
    T_star = oracles.softmax_blowup_time(S0, A, v)
    te = np.linspace(0.0, 0.6 * T_star, 13)
    att = gf.attention("softmax", A=A, V=v * np.eye(d))
    traj = solve(att, gf.Gaussian(np.array([0.3, -1.0, 0.5]), S0), (0.0, te[-1]), t_eval=te, form=form)
    assert traj.status == "ok" and traj.solver["form"] == form
    np.testing.assert_array_equal(traj.t, te)
    assert scaled_error(traj.cov, oracles.softmax_isotropic_cov(S0, A, v, te)) <= 5


def test_general_V_matches_mpmath_reference() -> None:
    """Non-symmetric V and A in d = 2 (no closed form): 30-digit Taylor-series reference."""
    A = np.array([[0.3, -0.7], [0.5, 0.2]])
    V = np.array([[0.4, 0.9], [-0.6, 0.1]])
    a0, S0 = np.array([1.0, -0.5]), np.array([[1.0, 0.2], [0.2, 0.8]])
    m_ref, C_ref = oracles.softmax_reference(a0, S0, A, V, [0.6], dps=30)
    att = gf.attention("softmax", A=A, V=V)
    for form in ("full", "factor"):
        traj = solve(att, gf.Gaussian(a0, S0), (0.0, 0.6), t_eval=[0.6], form=form)
        assert np.linalg.norm(traj.mean[-1] - m_ref[0]) / np.linalg.norm(m_ref[0]) <= 1e-9
        assert np.linalg.norm(traj.cov[-1] - C_ref[0]) / np.linalg.norm(C_ref[0]) <= 1e-9


def test_feedforward_scalar_matches_closed_form() -> None:
    """d = 1 softmax with A = a, V = v and feed-forward w: σ̇ = 2wσ + 2(va)σ²."""
    w, a, v, s0 = 0.4, 0.8, 1.0, 0.5
    att = gf.attention("softmax", A=[[a]], V=[[v]], feedforward=True, W_ff=[[w]], b_ff=[0.0])
    te = np.linspace(0.0, 0.8, 9)
    traj = solve(att, gf.Gaussian([0.0], [[s0]]), (0.0, 0.8), t_eval=te)
    assert scaled_error(traj.cov[:, 0, 0], oracles.scalar_solution(w, v * a, s0, te)) <= 5


# --------------------------------------------------------------------------- blow-up


def test_scalar_blowup_formula_value() -> None:
    assert oracles.blowup_time_scalar(0.4, 0.8, 0.5) == pytest.approx(math.log(2) / 0.8, rel=1e-15)
    assert f"{oracles.blowup_time_scalar(0.4, 0.8, 0.5):.6f}" == "0.866434"
    assert oracles.blowup_time_scalar(-0.4, 0.8, 0.5) == math.inf  # kσ₀ + w ≤ 0: decays
    assert oracles.blowup_time_scalar(0.0, 0.5, 2.0) == pytest.approx(0.5)


def test_scalar_feedforward_blowup_time() -> None:
    att = gf.attention("softmax", A=[[0.8]], V=[[1.0]], feedforward=True, W_ff=[[0.4]], b_ff=[0.0])
    traj = solve(att, gf.Gaussian([0.0], [[0.5]]), (0.0, 2.0))
    T_star = oracles.blowup_time_scalar(0.4, 0.8, 0.5)
    assert traj.status == "blowup"
    assert abs(traj.t_blowup - T_star) / T_star <= 1e-6
    assert traj.t[-1] < T_star and np.all(np.isfinite(traj.cov)) and np.all(np.isfinite(traj.mean))


@pytest.mark.parametrize("form", ["full", "factor"])
def test_isotropic_blowup_time(form: str) -> None:
    d, v = 3, 0.7
    A, S0 = random_case(3, d)
    T_star = oracles.softmax_blowup_time(S0, A, v)
    att = gf.attention("softmax", A=A, V=v * np.eye(d))
    traj = solve(att, gf.Gaussian(np.array([0.1, 0.2, -0.3]), S0), (0.0, 2 * T_star), form=form)
    assert traj.status == "blowup"
    assert abs(traj.t_blowup - T_star) / T_star <= 1e-6
    assert f"T* ≈ {traj.t_blowup:.10g}" in traj.message
    assert all(np.all(np.isfinite(x)) for x in (traj.t, traj.mean, traj.cov))
    assert traj.t[-1] < T_star
    # Σ/trΣ → rank one along Σ₀^{1/2}u₁ (docs/math.md §4)
    R = sqrtm_psd(S0)
    u = np.linalg.eigh(R @ (A + A.T) @ R)[1][:, -1]
    e = R @ u / np.linalg.norm(R @ u)
    P = traj.cov[-1] / np.trace(traj.cov[-1])
    assert np.linalg.norm(P - np.outer(e, e)) < 1e-6


def test_blowup_with_t_eval_appends_the_event() -> None:
    att = gf.attention("softmax", A=np.eye(2), V=np.eye(2))  # Σ(t) = Σ₀/(1 − 2t): T* = 1/2
    te = np.linspace(0.0, 1.0, 11)
    traj = solve(att, gf.Gaussian(np.zeros(2), np.eye(2)), (0.0, 1.0), t_eval=te)
    assert traj.status == "blowup" and abs(traj.t_blowup - 0.5) <= 1e-9
    np.testing.assert_array_equal(traj.t[:-1], te[te < 0.5])
    assert 0.5 - 1e-6 < traj.t[-1] < 0.5


def test_singular_initial_law_blowup_uses_factor_form() -> None:
    """Rank-one Σ₀ = uuᵀ in d = 3: the closed form R(I − vtN)⁻¹R still holds (R = Σ₀^{1/2})."""
    A, _ = random_case(5, 3)
    u = np.linalg.eigh(A + A.T)[1][:, -1] + np.array([0.2, -0.1, 0.3])
    S0 = np.outer(u, u)
    T_star = oracles.softmax_blowup_time(S0, A, 1.0)
    assert math.isfinite(T_star)
    att = gf.attention("softmax", A=A, V=np.eye(3))
    traj = solve(att, gf.Gaussian(np.zeros(3), S0), (0.0, 2 * T_star))
    assert traj.solver["form"] == "factor" and traj.solver["rank"] == 1
    assert traj.status == "blowup" and abs(traj.t_blowup - T_star) / T_star <= 1e-6


def test_exponential_growth_is_not_a_blowup() -> None:
    """Sinkhorn, V = I, symmetric A ≻ 0: d/dt log trΣ → 2 (docs/math.md §4). trΣ crosses 1e8 × trΣ₀ (the
    event fires) but the run continues because there is no finite-time signature."""
    att = gf.attention("sinkhorn", A=[[0.3, 0.1], [0.1, 0.4]], V=np.eye(2))
    traj = solve(att, gf.Gaussian(np.zeros(2), np.eye(2)), (0.0, 12.0), form="factor", rtol=1e-6, atol=1e-9)
    tr = np.trace(traj.cov, axis1=1, axis2=2)
    assert traj.status == "ok" and traj.t[-1] == 12.0 and tr[-1] / tr[0] > 1e9
    rate = np.diff(np.log(tr[-3:])) / np.diff(traj.t[-3:])
    assert np.allclose(rate, 2.0, atol=1e-3)


def test_exponential_growth_stops_before_overflow() -> None:
    """Σ̇ = 2Σ (A = 0, feed-forward W = I): trΣ = 2e^{2t} reaches the 1e100 cap at t = ln(5e99)/2."""
    att = gf.attention("softmax", A=np.zeros((2, 2)), V=np.eye(2), feedforward=True, W_ff=np.eye(2),
                       b_ff=np.zeros(2))
    traj = solve(att, gf.Gaussian(np.zeros(2), np.eye(2)), (0.0, 1000.0), rtol=1e-8)
    assert traj.status == "blowup" and traj.t_blowup is None and "overflow" in traj.message
    assert traj.t[-1] == pytest.approx(math.log(5e99) / 2, rel=1e-7)
    assert np.all(np.isfinite(traj.cov))


def test_mean_growth_stops_before_overflow() -> None:
    att = gf.attention("softmax", A=0.3 * np.eye(2), V=np.eye(2))  # Σ ≡ 0: α̇ = α
    traj = solve(att, gf.Gaussian([1.0, 0.0], np.zeros((2, 2))), (0.0, 1000.0), rtol=1e-8)
    assert traj.status == "blowup" and traj.t[-1] == pytest.approx(100 * math.log(10), rel=1e-7)
    assert np.all(np.isfinite(traj.mean)) and np.all(traj.cov == 0)


# --------------------------------------------------------------------------- stationary states


def test_converges_to_logistic_fixed_point() -> None:
    """d = 1, V = −1, A = ½, W_ff = w = 0.4, b = 0.3: σ̇ = 2wσ(1 − σ/σ*) with σ* = 0.8 and
    α̇ = (v + w + vaσ)α + b → vα + b, so (α, σ) → (0.3, 0.8) exponentially."""
    att = gf.attention("softmax", A=[[0.5]], V=[[-1.0]], feedforward=True, W_ff=[[0.4]], b_ff=[0.3])
    traj = solve(att, gf.Gaussian([0.0], [[0.1]]), (0.0, 1000.0))
    assert traj.status == "converged" and traj.t[-1] < 100
    assert traj.cov[-1, 0, 0] == pytest.approx(0.8, rel=1e-9)
    assert traj.mean[-1, 0] == pytest.approx(0.3, rel=1e-9)
    assert scaled_error(traj.cov[:, 0, 0], oracles.scalar_solution(0.4, -0.5, 0.1, traj.t)) <= 5


def test_converges_to_kernel_subspace() -> None:
    """V = I, S = A + Aᵀ = −diag(0, 1) ⪯ 0 singular: Σ → Z(ZᵀΣ₀⁻¹Z)⁻¹Zᵀ algebraically (error ~ 1/t)."""
    A = -np.diag([0.0, 0.5])
    S0 = np.array([[1.0, 0.4], [0.4, 0.7]])
    att = gf.attention("softmax", A=A, V=np.eye(2))
    traj = solve(att, gf.Gaussian(np.zeros(2), S0), (0.0, 1e7), stationary_tol=1e-6)
    assert traj.status == "converged" and traj.t[-1] < 1e7
    assert scaled_error(traj.cov, oracles.softmax_isotropic_cov(S0, A, 1.0, traj.t)) <= 5
    limit = oracles.softmax_subspace_limit(S0, A)
    assert np.max(np.abs(traj.cov[-1] - limit)) <= 10 / traj.t[-1]


def test_collapse_to_zero_counts_as_converged() -> None:
    att = gf.attention("softmax", A=0.3 * np.eye(2), V=0.2 * np.eye(2), feedforward=True,
                       W_ff=-np.eye(2), b_ff=np.zeros(2))
    traj = solve(att, gf.Gaussian([1.0, -2.0], np.array([[1.0, 0.4], [0.4, 0.7]])), (0.0, 1e3), form="factor")
    assert traj.status == "converged" and "collapsed" in traj.message
    assert np.linalg.norm(traj.cov[-1]) < 1e-8 and np.linalg.norm(traj.mean[-1]) < 1e-8


def test_stationary_initial_state_returns_at_once() -> None:
    att = gf.attention("softmax", A=np.eye(2), V=np.eye(2))
    traj = solve(att, gf.Gaussian(np.zeros(2), np.zeros((2, 2))), (0.0, 1.0))
    assert traj.status == "converged" and traj.t.tolist() == [0.0]
    traj = solve(att, gf.Gaussian(np.zeros(2), np.zeros((2, 2))), (0.0, 1.0), stationary_tol=None)
    assert traj.status == "ok" and traj.t[-1] == 1.0 and np.all(traj.cov == 0)


def test_budget_exhaustion_is_failed_with_partial_result() -> None:
    att = gf.attention("softmax", A=[[0.3, 0.1], [-0.2, 0.4]], V=np.eye(2))
    traj = solve(att, gf.Gaussian(np.ones(2), np.eye(2)), (0.0, 1.0), max_nfev=30)
    assert traj.status == "failed" and "max_nfev" in traj.message
    assert 0 < traj.t[-1] < 1.0 and len(traj) >= 2
    with pytest.raises(TrajectoryError, match="failed"):
        traj.raise_for_status()


# --------------------------------------------------------------------------- factor form


def test_factor_equals_full_on_positive_definite_case() -> None:
    rng = np.random.default_rng(11)
    A, S0 = random_case(11, 4)
    V = rng.standard_normal((4, 4))
    att = gf.attention("softmax", A=0.5 * A, V=0.5 * V)
    law = gf.Gaussian(rng.standard_normal(4), S0)
    te = np.linspace(0.0, 0.5, 6)
    full = solve(att, law, (0.0, 0.5), t_eval=te, form="full")
    fac = solve(att, law, (0.0, 0.5), t_eval=te, form="factor")
    assert full.solver["form"] == "full" and fac.solver["form"] == "factor"
    assert scaled_error(fac.cov, full.cov, rtol=1e-8, atol=1e-10) <= 1
    assert scaled_error(fac.mean, full.mean, rtol=1e-8, atol=1e-10) <= 1


def test_factor_form_keeps_rank_of_singular_law() -> None:
    """Rank-one Σ₀ in d = 3, general V: Σ(t) = Φ Σ₀ Φᵀ stays rank one and PSD."""
    rng = np.random.default_rng(2)
    A, V = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    u = np.array([1.0, -0.5, 0.3])
    att = gf.attention("softmax", A=0.3 * A, V=0.5 * V)
    traj = solve(att, gf.Gaussian(np.zeros(3), np.outer(u, u)), (0.0, 1.0), t_eval=np.linspace(0, 1, 11))
    assert traj.solver["form"] == "factor" and traj.solver["rank"] == 1 and traj.status == "ok"
    lam = np.linalg.eigvalsh(traj.cov)  # ascending, per time
    top = lam[:, -1]
    assert np.all(top > 0.1)
    assert np.all(lam[:, 0] >= -1e-14 * top) and np.all(np.abs(lam[:, :2]) <= 1e-14 * top[:, None])
    # and it is the same flow as the full form (which only keeps the rank up to atol)
    full = solve(att, gf.Gaussian(np.zeros(3), np.outer(u, u)), (0.0, 1.0), t_eval=np.linspace(0, 1, 11),
                 form="full")
    assert scaled_error(traj.cov, full.cov, rtol=1e-8, atol=1e-10) <= 1


# --------------------------------------------------------------------------- time-dependent weights


def test_time_dependent_isotropic_matches_closed_form() -> None:
    """V(t) = v(t)I: Σ(t) = (Σ₀⁻¹ − c(t)S)⁻¹ with c(t) = ∫₀ᵗ v = t + (1 − cos 3t)/6."""
    A, S0 = random_case(4, 2)
    A = 0.2 * A

    def attn_at(t: float) -> gf.Attention:
        return gf.attention("softmax", A=A, V=(1 + 0.5 * np.sin(3 * t)) * np.eye(2))

    te = np.linspace(0.0, 1.0, 6)
    traj = solve(attn_at, gf.Gaussian(np.zeros(2), S0), (0.0, 1.0), t_eval=te)
    c = te + (1 - np.cos(3 * te)) / 6
    ref = np.array([oracles.softmax_isotropic_cov(S0, A, 1.0, ci) for ci in c])
    assert traj.status == "ok" and traj.solver["time_dependent"] is True
    assert scaled_error(traj.cov, ref) <= 5


def test_time_dependent_piecewise_constant_matches_two_stage_reference() -> None:
    rng = np.random.default_rng(8)
    A1, A2, V1, V2 = (0.5 * rng.standard_normal((2, 2)) for _ in range(4))
    att1, att2 = gf.attention("softmax", A=A1, V=V1), gf.attention("softmax", A=A2, V=V2)
    law = gf.Gaussian(np.array([0.5, -0.2]), np.array([[1.0, 0.3], [0.3, 0.5]]))
    traj = solve(lambda t: att1 if t < 0.5 else att2, law, (0.0, 1.0), t_eval=[0.5, 1.0])
    first = solve(att1, law, (0.0, 0.5), t_eval=[0.5])
    second = solve(att2, first.law(-1), (0.5, 1.0), t_eval=[1.0])
    # the jump is found by step rejection: local error there is O(h·jump) with h → tiny; 1e-7 is ~1000×
    # the smooth-case accuracy and still far below the size of the jump effect (~1e-1)
    np.testing.assert_allclose(traj.cov[-1], second.cov[-1], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(traj.mean[-1], second.mean[-1], rtol=1e-7, atol=1e-9)
    assert np.max(np.abs(solve(att1, law, (0.0, 1.0), t_eval=[1.0]).cov[-1] - second.cov[-1])) > 1e-2


# --------------------------------------------------------------------------- Trajectory values


def test_save_load_round_trip(tmp_path: Path) -> None:
    att = gf.attention("softmax", A=[[0.3, 0.1], [-0.2, 0.4]], V=[[1.0, 0.2], [0.0, 0.9]])
    traj = solve(att, gf.Gaussian([0.1, 0.2], np.eye(2)), (0.0, 5.0))
    assert traj.status == "blowup"
    path = traj.save(tmp_path / "run.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["run.npz"]  # no temp file left behind
    back = Trajectory.load(path)
    for name in ("t", "mean", "cov"):
        np.testing.assert_array_equal(getattr(back, name), getattr(traj, name))
    for name in ("status", "message", "t_blowup", "nfev", "variant"):
        assert getattr(back, name) == getattr(traj, name)
    assert dict(back.solver) == dict(traj.solver)
    assert dict(back.versions) == dict(traj.versions)
    assert set(back.params) == {"Q", "K", "V", "beta"}
    for k, v in traj.params.items():
        np.testing.assert_array_equal(back.params[k], v)
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["metadata"]))
    assert meta["variant"] == "softmax" and meta["params"]["V"] == [[1.0, 0.2], [0.0, 0.9]]
    assert set(meta["versions"]) == {"gaussflow", "numpy", "scipy", "sympy"}
    assert meta["solver"]["method"] == "DOP853" and meta["solver"]["rtol"] == RTOL
    traj.save(path)  # overwrite in place
    assert Trajectory.load(path).nfev == traj.nfev


def test_trajectory_is_frozen_and_validated() -> None:
    traj = Trajectory(t=[0.0, 1.0], mean=np.zeros((2, 1)), cov=np.ones((2, 1, 1)), status="ok")
    with pytest.raises(ValueError, match=r"writable|read-only"):
        traj.t[0] = 5.0
    with pytest.raises(ValueError, match="`cov` must be finite"):
        Trajectory(t=[0.0], mean=[[0.0]], cov=[[[np.inf]]], status="ok")
    with pytest.raises(ValueError, match="`status`"):
        Trajectory(t=[0.0], mean=[[0.0]], cov=[[[1.0]]], status="exploded")
    with pytest.raises(ValueError, match="strictly increasing"):
        Trajectory(t=[0.0, 0.0], mean=np.zeros((2, 1)), cov=np.ones((2, 1, 1)), status="ok")


def test_spectral_hooks_delegate_to_spectrum_module() -> None:
    spectrum_mod = pytest.importorskip("gaussflow.diagnostics.spectrum")
    att = gf.attention("softmax", A=np.diag([1.0, 0.2]), V=np.eye(2))
    traj = solve(att, gf.Gaussian(np.zeros(2), np.eye(2)), (0.0, 1.0))
    spec = traj.spectrum()
    assert isinstance(spec, spectrum_mod.Spectrum)
    assert isinstance(traj.classify(), gf.Regime)


def test_unnormalized_projection_diverges_where_the_gaussian_integral_does() -> None:
    """d = 1, A = a, V = 1, α = 0: the projected moments E[Γ(X)], E[(X−α)Γ(X)] are finite only while
    1/σ² − a²σ² > 0 (Σ⁻¹ − AᵀΣA ≻ 0); σ² grows, so solve() must stop at σ² = 1/a with status blowup."""
    a = 0.5
    att = gf.attention("unnormalized", A=[[a]], V=[[1.0]])
    with pytest.warns(ApproximateClosureWarning):
        traj = gf.solve(att, gf.Gaussian([0.0], [[0.5]]), (0.0, 50.0))
    assert traj.status == "blowup" and "diverges" in traj.message
    assert np.all(np.isfinite(traj.cov))
    sigma_end = traj.cov[-1, 0, 0]
    assert 1 - a**2 * sigma_end**2 == pytest.approx(0.0, abs=1e-4)  # reached the boundary σ² = 1/a
    assert "Gaussian projection" in traj.solver["closure"]


# --------------------------------------------------------------------------- exactness: warning and traj.exact


@pytest.mark.parametrize("name", ["sigmoid", "unnormalized"])
def test_non_closing_variants_warn_and_are_not_exact(name: str) -> None:
    att = gf.attention(name, A=0.3 * np.eye(2), V=np.eye(2))
    with pytest.warns(ApproximateClosureWarning, match=r"does not close") as rec:
        traj = gf.solve(att, gf.Gaussian(np.zeros(2), 0.5 * np.eye(2)), (0.0, 0.2))
    assert len(rec) == 1 and issubclass(rec[0].category, GaussflowWarning)
    text = str(rec[0].message)
    assert "Gaussian projection" in text and "simplefilter('ignore', gaussflow.ApproximateClosureWarning)" in text
    assert rec[0].filename == __file__  # points at the caller, not at gaussflow
    assert traj.exact is False and "approximate closure" in repr(traj)


@pytest.mark.parametrize(("name", "params"), [
    ("softmax", {"A": np.eye(2), "V": np.eye(2)}),
    ("l2", {"Q": np.eye(2), "K": np.eye(2), "V": np.eye(2)}),
])
def test_closing_variants_do_not_warn_and_are_exact(name: str, params: dict) -> None:
    import warnings

    att = gf.attention(name, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        traj = gf.solve(att, gf.Gaussian(np.zeros(2), 0.5 * np.eye(2)), (0.0, 0.2))
        layered = gf.propagate(att, gf.Gaussian(np.zeros(2), 0.5 * np.eye(2)), 3, 0.05)
    assert traj.exact is True and layered.exact is True


def test_exact_is_saved_and_old_files_without_it_still_load(tmp_path) -> None:
    import json

    sg = gf.attention("sigmoid", A=0.3 * np.eye(2), V=np.eye(2))
    with pytest.warns(ApproximateClosureWarning):
        traj = gf.solve(sg, gf.Gaussian(np.zeros(2), 0.5 * np.eye(2)), (0.0, 0.2))
    back = gf.Trajectory.load(traj.save(tmp_path / "a.npz"))
    assert back.exact is False
    # a file written before `exact` was recorded: the same arrays, metadata without the key
    meta = traj.metadata()
    del meta["exact"]
    old = tmp_path / "old.npz"
    np.savez(old, t=traj.t, mean=traj.mean, cov=traj.cov, metadata=np.array(json.dumps(meta)))
    legacy = gf.Trajectory.load(old)
    assert legacy.exact is None
    np.testing.assert_array_equal(legacy.cov, traj.cov)
