"""Tests of gaussflow.verify: closure vs particles.

Independent truths used here:

* Bures–Wasserstein: for commuting covariances S1 = R diag(a) Rᵀ, S2 = R diag(b) Rᵀ,
  W₂² = |Δm|² + Σᵢ (√aᵢ − √bᵢ)²; in 1-D W₂² = (Δm)² + (σ₁ − σ₂)².
* Mardia: the O(n²) textbook double sums b₁ = n⁻² Σᵢⱼ (zᵢᵀS⁻¹zⱼ)³, b₂ = n⁻¹ Σᵢ (zᵢᵀS⁻¹zᵢ)²; the
  population values for a uniform cube (b₂ → 1.8 d + d(d − 1)).
* Projection closure: for an affine Γ (every closed variant) it equals the closed moment RHS exactly;
  for sigmoid, a large Monte Carlo average of Γ.
* Particles vs closure (docs/math.md §4): O(n^{-1/2}) error with the sampling yardstick c/√n of
  ``sampling_scale`` (relative Frobenius error of a covariance estimated from n Gaussian samples,
  c = √(1 + (tr C)²/‖C‖²_F)).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math

import numpy as np
import pytest

import gaussflow as gf
from gaussflow.verify import (
    add_parser,
    bures_wasserstein,
    default_example,
    mardia,
    sampling_scale,
    verify,
)
from gaussflow.verify import projection_closure_rhs as _projection_rhs

# --------------------------------------------------------------------------- Bures–Wasserstein


def _rot(theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]])


@pytest.mark.parametrize("theta", [0.0, 0.4, 2.1])
def test_bw_commuting_closed_form(theta: float) -> None:
    R = _rot(theta)
    a, b = np.array([2.0, 0.3]), np.array([0.5, 1.7])
    m1, m2 = np.array([0.2, -1.0]), np.array([1.0, 0.5])
    S1, S2 = R @ np.diag(a) @ R.T, R @ np.diag(b) @ R.T
    want = math.sqrt(np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    assert bures_wasserstein(m1, S1, m2, S2) == pytest.approx(want, rel=1e-12)


def test_bw_one_dimensional_and_singular() -> None:
    assert bures_wasserstein([1.0], [[4.0]], [-0.5], [[0.25]]) == pytest.approx(math.hypot(1.5, 1.5), rel=1e-12)
    # singular (rank-one) covariances along the same axis: W2 = |Δσ|
    assert bures_wasserstein([0, 0], np.diag([9.0, 0.0]), [0, 0], np.diag([1.0, 0.0])) == pytest.approx(2.0)


def test_bw_identity_and_translation_invariance() -> None:
    rng = np.random.default_rng(3)
    L1, L2 = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    S1, S2 = L1 @ L1.T + 0.1 * np.eye(3), L2 @ L2.T
    m1, m2 = rng.standard_normal(3), rng.standard_normal(3)
    # W2 is the square root of a cancelling difference: absolute accuracy ~ √(ε·tr S)
    assert bures_wasserstein(m1, S1, m1, S1) < 1e-6 * math.sqrt(np.trace(S1))
    shift = np.array([5.0, -2.0, 1.0])
    assert bures_wasserstein(m1 + shift, S1, m2 + shift, S2) == pytest.approx(bures_wasserstein(m1, S1, m2, S2),
                                                                               rel=1e-10)
    # pure translation: W2 = |Δm|
    assert bures_wasserstein(m1, S1, m1 + shift, S1) == pytest.approx(np.linalg.norm(shift), rel=1e-8)


def test_bw_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="S2"):
        bures_wasserstein([0, 0], np.eye(2), [0, 0], [[1.0, 0.0], [0.0, -1.0]])
    with pytest.raises(ValueError, match="m2"):
        bures_wasserstein([0, 0], np.eye(2), [0, 0, 0], np.eye(2))


# --------------------------------------------------------------------------- Mardia


def _mardia_bruteforce(X: np.ndarray) -> tuple[float, float]:
    Z = X - X.mean(axis=0)
    S = Z.T @ Z / X.shape[0]
    D = Z @ np.linalg.inv(S) @ Z.T
    return float(np.mean(D**3)), float(np.mean(np.diag(D) ** 2))


def test_mardia_matches_double_sum() -> None:
    X = np.random.default_rng(1).exponential(size=(300, 3))
    b1, b2 = _mardia_bruteforce(X)
    m = mardia(X)
    assert m.b1 == pytest.approx(b1, rel=1e-10)
    assert m.b2 == pytest.approx(b2, rel=1e-10)
    assert m.dim == 3


def test_mardia_accepts_gaussian_sample() -> None:
    X = gf.Gaussian(np.array([1.0, -2.0]), np.array([[2.0, 0.7], [0.7, 1.0]])).sample(4000, seed=7)
    m = mardia(X)
    assert m.skewness_p > 0.01 and m.kurtosis_p > 0.01


@pytest.mark.parametrize("kind", ["exponential", "uniform"])
def test_mardia_rejects_non_gaussian(kind: str) -> None:
    rng = np.random.default_rng(2)
    X = rng.exponential(size=(4000, 2)) if kind == "exponential" else rng.uniform(-1, 1, size=(4000, 2))
    m = mardia(X)
    if kind == "exponential":
        assert m.skewness_p < 1e-6
    else:  # symmetric, light-tailed: b2 → 2·1.8 + 2 = 5.6 < d(d + 2) = 8
        assert m.b2 == pytest.approx(5.6, abs=0.1)
        assert m.kurtosis_p < 1e-6


def test_mardia_rank_deficient_cloud_uses_rank() -> None:
    z = np.random.default_rng(0).standard_normal((2000, 1))
    m = mardia(np.hstack([z, 2 * z]))  # on a line: 1-D statistics
    assert m.dim == 1
    assert m.b2 == pytest.approx(float(np.mean(((z - z.mean()) / z.std()) ** 4)), rel=1e-8)


# --------------------------------------------------------------------------- projection closure


@pytest.mark.parametrize("name", ["softmax", "l2", "multihead"])
def test_projection_rhs_is_exact_for_closed_variants(name: str) -> None:
    attn, _, _ = default_example(name)
    rhs = _projection_rhs(attn)
    rng = np.random.default_rng(5)
    for singular in (False, True):
        L = rng.standard_normal((2, 1 if singular else 2))
        alpha, Sigma = rng.standard_normal(2), L @ L.T + (0.0 if singular else 0.2) * np.eye(2)
        a_dot, S_dot = rhs(alpha, Sigma)
        a_ref, S_ref = attn.moment_rhs(alpha, Sigma)
        assert np.allclose(a_dot, a_ref, rtol=0, atol=1e-10)
        assert np.allclose(S_dot, S_ref, rtol=0, atol=1e-10)


def test_projection_rhs_sigmoid_matches_monte_carlo() -> None:
    attn, _, _ = default_example("sigmoid")
    alpha, Sigma = np.array([0.5, -0.3]), np.array([[1.0, 0.3], [0.3, 0.6]])
    a_dot, S_dot = _projection_rhs(attn)(alpha, Sigma)
    X = gf.Gaussian(alpha, Sigma).sample(200_000, seed=11)
    G = attn.velocity(X, alpha, Sigma)
    P = (X - alpha).T @ G / X.shape[0]
    # Monte Carlo standard errors are ~3e-3 here; about 3σ
    assert np.allclose(a_dot, G.mean(axis=0), atol=1e-2)
    assert np.allclose(S_dot, P + P.T, atol=1e-2)


# --------------------------------------------------------------------------- verify


def test_verify_softmax_error_is_sampling_size() -> None:
    # The closure starts from the cloud's empirical moments, so what is left is the error the dynamics make
    # from the finite-n (non-Gaussian) empirical measure. Yardstick c/√n: the error of re-estimating the
    # covariance from a fresh sample (c ≈ 1.6 here). A wrong closure term would give an O(1)·t error
    # instead. Measured over 24 seeds: final error between 0.1 and 0.65 c/√n; z = 3 leaves a margin.
    attn, law0, _ = default_example("softmax")
    rep = verify(attn, law0, np.linspace(0.0, 1.0, 5), n=4000, seed=0, dt=0.25)
    z = 3.0
    c_over_sqrt_n = sampling_scale(rep.particle_cov[0], 4000)
    assert rep.closed and rep.closure_kind == "exact"
    assert rep.t.shape == (5,) and rep.particle_status == "ok" and rep.closure_status == "ok"
    assert rep.rel_cov_error[0] < 1e-12 and rep.bw[0] < 1e-6  # same initial moments
    assert rep.rel_cov_error[-1] < z * c_over_sqrt_n
    assert rep.rel_mean_error[-1] < z * c_over_sqrt_n
    assert rep.bw[-1] < z * c_over_sqrt_n * math.sqrt(np.trace(rep.closure_cov[-1]))
    assert rep.mardia_skew_p[0] > 0.01 and rep.mardia_kurt_p[0] > 0.01  # the sample is Gaussian
    assert "consistent with O(n^-1/2)" in rep.summary()
    json.dumps(rep.to_dict(), allow_nan=False)


def test_verify_softmax_convergence_slope() -> None:
    # Seed-to-seed standard deviation of the fitted slope with this design (repeats=3, equal particle
    # budget per n) is about 0.1 (8 seeds), so ±0.15 is a real check of the −½ rate.
    attn, law0, _ = default_example("softmax")
    rep = verify(attn, law0, np.linspace(0.0, 0.5, 3), n=500, seed=0, dt=0.25, ns=(500, 2000, 8000), repeats=6)
    cv = rep.convergence
    assert cv is not None
    assert list(cv.ns) == [500, 2000, 8000]
    assert np.all(np.diff(cv.errors) < 0)
    assert cv.slope == pytest.approx(-0.5, abs=0.15)
    assert "consistent with O(n^-1/2)" in rep.verdict


def test_verify_sigmoid_shows_projection_bias() -> None:
    # σ(yᵀAx + 2) with ‖A‖ ≈ 3 is far from affine: the particle law leaves the Gaussian family and the
    # projection closure misses the covariance by a bias that does not shrink with n.
    attn, law0, _ = default_example("sigmoid")
    rep = verify(attn, law0, np.linspace(0.0, 2.0, 5), n=2000, seed=0, dt=0.2, ns=(500, 2000), repeats=1)
    assert not rep.closed and rep.closure_kind.startswith("projection (Gauss–Hermite degree")
    c_over_sqrt_n = sampling_scale(rep.particle_cov[0], 2000)
    assert rep.rel_cov_error[-1] > 5 * c_over_sqrt_n
    cv = rep.convergence
    assert cv is not None and cv.errors[1] > 0.6 * cv.errors[0]  # n×4 would give 0.5× for pure sampling error
    assert rep.mardia_skew_p[-1] < 1e-6  # and the cloud is visibly non-Gaussian
    text = rep.summary()
    assert "bias visible" in text and "an approximation" in text


def test_verify_user_closure_rhs_and_plot() -> None:
    import matplotlib

    matplotlib.use("Agg")
    attn, law0, _ = default_example("softmax")
    t = np.linspace(0.0, 0.5, 3)
    exact = verify(attn, law0, t, n=300, seed=4, dt=0.25)
    proj = verify(attn, law0, t, n=300, seed=4, dt=0.25, closure_rhs=_projection_rhs(attn))
    assert proj.closure_kind == "user closure_rhs"
    assert np.allclose(proj.closure_cov, exact.closure_cov, rtol=1e-6, atol=1e-9)
    axes = exact.plot()
    assert len(axes) == 2 and len(axes[0].figure.axes) == 2
    conv = verify(attn, law0, t, n=200, seed=0, dt=0.25, ns=(100, 200), repeats=1)
    axes = conv.plot()
    assert len(axes) == 3 and len(axes[0].figure.axes) == 3
    with pytest.raises(ValueError, match="`ax` must hold exactly 3"):
        conv.plot(ax=axes[:2])


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [({"n": 1}, "n"), ({"ns": (100,)}, "ns"), ({"repeats": 0}, "repeats"), ({"closure_rhs": 3}, "closure_rhs")],
)
def test_verify_rejects_bad_arguments(kwargs: dict, word: str) -> None:
    attn, law0, t = default_example("softmax")
    with pytest.raises(ValueError, match=word):
        verify(attn, law0, t, **kwargs)


def test_verify_rejects_bad_law_and_times() -> None:
    attn, law0, t = default_example("softmax")
    with pytest.raises(ValueError, match="law0"):
        verify(attn, (np.zeros(3), np.eye(3)), t)
    with pytest.raises(ValueError, match="t_eval"):
        verify(attn, law0, [0.0, 0.5, 0.2])
    with pytest.raises(ValueError, match="variant"):
        default_example("nope")


# --------------------------------------------------------------------------- CLI


def _run(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gaussflow")
    sub = p.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = p.parse_args(argv)
    return int(args.func(args))


def test_cli_writes_outputs_and_refuses_overwrite(tmp_path, capsys) -> None:
    png, js = tmp_path / "v.png", tmp_path / "v.json"
    argv = ["verify", "softmax", "--A", "[[0.1, 0.3], [-0.3, 0.1]]", "--n", "300", "--t-end", "0.2", "--steps",
            "2", "--ns", "100", "200", "--repeats", "1", "--plot", str(png), "--json", str(js)]
    assert _run(argv) == 0
    out = capsys.readouterr().out
    assert "variant=softmax" in out and "verdict:" in out
    assert png.stat().st_size > 0
    data = json.loads(js.read_text())
    assert data["variant"] == "softmax" and data["n"] == 300 and len(data["t"]) == 3
    assert data["params"]["Q"] == [[0.1, 0.3], [-0.3, 0.1]]
    assert data["convergence"]["ns"] == [100, 200]
    with pytest.raises(ValueError, match="overwrite"):
        _run(argv)
    assert _run([*argv, "--force"]) == 0


def test_cli_params_file_and_bad_json(tmp_path) -> None:
    f = tmp_path / "p.toml"
    f.write_text("A = [[3.0, 0.0], [0.0, 3.0]]\nV = [[1.0, 0.0], [0.0, 1.0]]\nb = 1.0\n")
    js = tmp_path / "s.json"
    assert _run(["verify", "sigmoid", "--params", str(f), "--n", "200", "--t-end", "0.2", "--steps", "2",
                 "--json", str(js)]) == 0
    data = json.loads(js.read_text())
    assert data["closure_kind"].startswith("projection") and data["params"]["b"] == 1.0
    with pytest.raises(ValueError, match="--A"):
        _run(["verify", "softmax", "--A", "[[1, 0]", "--n", "50"])
    with pytest.raises(ValueError, match="--mean"):
        _run(["verify", "softmax", "--mean", "[0, 0]", "--n", "50"])


def test_segmented_run_matches_keep_all(monkeypatch) -> None:
    # above KEEP_ALL_MAX_N the particles run one sampling interval at a time (O(n d) memory); with a fixed
    # RK4 step the trajectory, moments and Mardia statistics must be the same as one keep="all" run
    gv = importlib.import_module("gaussflow.verify.runs")  # where the particle run reads the threshold

    attn, law0, _ = default_example("softmax")
    t = np.linspace(0.0, 0.4, 3)
    whole = verify(attn, law0, t, n=300, seed=2, dt=0.1)
    monkeypatch.setattr(gv, "KEEP_ALL_MAX_N", 100)
    split = verify(attn, law0, t, n=300, seed=2, dt=0.1)
    assert np.allclose(split.particle_cov, whole.particle_cov, rtol=1e-12, atol=1e-14)
    assert np.allclose(split.mardia_b1, whole.mardia_b1, rtol=1e-9, atol=1e-14)
    assert np.allclose(split.mardia_b2, whole.mardia_b2, rtol=1e-12)


# --------------------------------------------------------------------------- verdicts near a blow-up


def _report(closed: bool, kind: str, growth: float, final_error: float, status: str = "ok") -> gf.VerificationReport:
    """A hand-built report: Σ_c(t) = (1, …, growth)·I in d = 2, rel. cov error rising to ``final_error``."""
    from gaussflow.verify.report import VerificationReport

    T = 4
    t = np.linspace(0.0, 1.0, T)
    scale = np.geomspace(1.0, growth, T)
    cov = scale[:, None, None] * np.eye(2)
    z = np.zeros(T)
    return VerificationReport(
        variant="any", n=1000, seed=0, t=t, particle_mean=np.zeros((T, 2)), particle_cov=cov,
        closure_mean=np.zeros((T, 2)), closure_cov=cov, bw=z, rel_mean_error=z,
        rel_cov_error=np.linspace(0.0, final_error, T), mardia_b1=z, mardia_b2=z + 8.0, mardia_skew_p=z + 0.5,
        mardia_kurt_p=z + 0.5, closed=closed, closure_kind=kind, sampling_scale=sampling_scale(cov[0], 1000),
        convergence=None, particle_status=status, closure_status=status, message="", params={})


def test_verdict_is_a_property_exact_closure_near_blowup_is_finite_n() -> None:
    # 0.9 relative error at c/√n ≈ 0.055: far beyond sampling. Exact closure + tr Σ ×20 → finite-n, not bias.
    rep = _report(True, "exact", 20.0, 0.9)
    assert isinstance(rep.verdict, str) and rep.near_blowup and rep.exact
    assert rep.verdict.startswith("closure exact; finite-n effect near blow-up")
    assert "bias" not in rep.verdict and "bias" not in rep.summary()
    assert rep.to_dict()["verdict"] == rep.verdict
    # the same numbers with a projection closure, or without growth, blame a bias
    assert _report(False, "projection (Gauss–Hermite degree 32)", 20.0, 0.9).verdict.startswith("bias visible")
    assert _report(True, "user closure_rhs", 20.0, 0.9).verdict.startswith("bias visible")
    assert _report(True, "exact", 2.0, 0.9).verdict.startswith("bias visible")
    # a blow-up status counts as near a blow-up even before tr Σ grew ×10
    assert _report(True, "exact", 2.0, 0.9, status="blowup").verdict.startswith("closure exact; finite-n")
    # a small error stays a sampling error whatever the growth
    assert _report(True, "exact", 20.0, 0.05).verdict.startswith("consistent with O(n^-1/2)")


def test_verify_exact_softmax_near_its_blowup_is_not_called_a_bias() -> None:
    # A = ½I, V = I: Σ̇ = Σ², Σ(t) = (C₀⁻¹ − t)⁻¹ from the empirical C₀ ≈ I (T* ≈ 1); at t = 0.97 tr Σ has grown
    # more than ×10 and the n-particle fluctuations are amplified far beyond c/√n although the closure is exact.
    attn = gf.attention("softmax", A=0.5 * np.eye(2), V=np.eye(2))
    rep = verify(attn, gf.Gaussian([0.0, 0.0], np.eye(2)), [0.0, 0.5, 0.97], n=600, seed=0, dt=0.01)
    C0 = rep.closure_cov[0]
    truth = np.trace(np.linalg.inv(np.linalg.inv(C0) - 0.97 * np.eye(2))) / np.trace(C0)
    np.testing.assert_allclose(rep.growth, truth, rtol=1e-6)
    assert rep.growth > 10.0 and rep.ratio > 3.0
    assert rep.verdict.startswith("closure exact; finite-n effect near blow-up"), rep.verdict
