"""Tests of gaussflow.experiments.castin2025 (Castin et al. 2025): draws, convention mappings, batched Euler RHS,
exact blow-up times, outputs. Independent truths: the authors' RHS typed here in raw NumPy from their
(Q, K, V), gaussflow.attention's generated moment RHS, and the closed-form softmax blow-up time."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import gaussflow as gf
import gaussflow.experiments.castin2025 as R
from gaussflow.diagnostics.oracles import softmax_blowup_time


def _spd(rng: np.random.Generator, d: int) -> np.ndarray:
    L = rng.standard_normal((d, d))
    return L @ L.T + 0.1 * np.eye(d)


# ------------------------------------------------------------------------------------------------ draws
def test_draws_reproducible_and_as_specified() -> None:
    for key in "abcdef":
        D1, D2 = R.draws(key), R.draws(key)
        for k in ("Q", "K", "V"):
            np.testing.assert_array_equal(D1[k], D2[k])
    # (a): rand then randn after seed 35, K = −Q, V = MMᵀ
    np.random.seed(35)
    Q = np.random.rand(2, 2)
    M = np.random.randn(2, 2)
    Da = R.draws("a")
    np.testing.assert_array_equal(Da["Q"], Q)
    np.testing.assert_array_equal(Da["K"], -Q)
    np.testing.assert_array_equal(Da["V"], M @ M.T)
    # (e): the redraw loop ends with A + Aᵀ ≻ 0, and it is the first such pair of the seed-33 stream
    De = R.draws("e")
    A = De["K"].T @ De["Q"] / math.sqrt(2)
    assert np.linalg.eigvalsh(A + A.T)[0] > 0
    np.random.seed(33)
    for _ in range(De["tries"] - 1):
        Qp, Kp = np.random.randn(2, 2), np.random.randn(2, 2)
        Ap = Kp.T @ Qp
        assert np.linalg.eigvalsh(Ap + Ap.T)[0] <= 0
    np.testing.assert_array_equal(np.random.randn(2, 2), De["Q"])
    # (d) and (f) share Q, K (seed 36), indefinite A + Aᵀ
    Dd, Df = R.draws("d"), R.draws("f")
    np.testing.assert_array_equal(Dd["Q"], Df["Q"])
    w = np.linalg.eigvalsh(Dd["K"].T @ Dd["Q"] + Dd["Q"].T @ Dd["K"])
    assert w[0] < 0 < w[1]
    np.random.seed(35)
    np.random.randn(8, 7)
    np.testing.assert_array_equal(Df["V"], np.random.randn(2, 2))


def test_rank_draws_one_sequence_per_list() -> None:
    Q1, V1 = R.rank_draws("l2", "random")
    Q2, V2 = R.rank_draws("l2", "random")
    assert len(Q1) == len(V1) == 300
    assert all(np.array_equal(a, b) for a, b in zip(Q1 + V1, Q2 + V2, strict=True))
    # seed 40, then Q for d = 3 (100×), 4 (100×), 5 (100×) in one stream; seed 27, one V = MᵀM per sample
    np.random.seed(40)
    Qs = [np.random.randn(d // 2, d) for d in np.repeat([3, 4, 5], 100)]
    np.random.seed(27)
    Ms = [np.random.randn(d, d) for d in np.repeat([3, 4, 5], 100)]
    for m in (0, 99, 100, 150, 299):
        np.testing.assert_array_equal(Q1[m], Qs[m])
        np.testing.assert_array_equal(V1[m], Ms[m].T @ Ms[m])
    assert Q1[150].shape == (2, 4) and Q1[250].shape == (2, 5)
    Qi, Vi = R.rank_draws("softmax", "identity")
    np.testing.assert_array_equal(Qi[120], Qs[120])
    np.testing.assert_array_equal(Vi[250], np.eye(5))
    S = R.sigma0_stream(4, 3)
    np.random.seed(41)
    for k in range(3):
        M = np.random.randn(4, 4)
        np.testing.assert_array_equal(S[k], M @ M.T)


def test_initial_grid() -> None:
    S = R.initial_grid(40, 1.0)
    np.testing.assert_allclose(np.trace(S, axis1=1, axis2=2), 1.0)
    assert np.all(np.linalg.eigvalsh(S)[:, 0] > 0)
    g = np.linspace(-1, 1, 40)
    assert len(S) == int(np.sum(g[:, None] ** 2 + g[None, :] ** 2 < 1))


# ------------------------------------------------------------------------------------------------ conventions
def test_softmax_scaling_matches_authors() -> None:
    rng = np.random.default_rng(1)
    d = 3
    Q, K, V = rng.standard_normal((2, d)), rng.standard_normal((2, d)), rng.standard_normal((d, d))
    S = _spd(rng, d)
    A = K.T @ Q / np.sqrt(d)
    authors = V @ S @ A @ S + (V @ S @ A @ S).T
    ours = gf.attention("softmax", **R.softmax_params(Q, K, V)).moment_rhs(np.zeros(d), S)[1]
    np.testing.assert_allclose(ours, authors, rtol=1e-12, atol=1e-12)
    # same layer through Q, K, beta = 1/√d
    ours2 = gf.attention("softmax", Q=Q, K=K, V=V, beta=1 / np.sqrt(d)).moment_rhs(np.zeros(d), S)[1]
    np.testing.assert_allclose(ours2, authors, rtol=1e-12, atol=1e-12)


def test_l2_mapping_matches_authors() -> None:
    rng = np.random.default_rng(2)
    for d, k in ((2, 1), (2, 2), (4, 2)):
        Q, K, V = rng.standard_normal((k, d)), rng.standard_normal((k, d)), rng.standard_normal((d, d))
        S = _spd(rng, d)
        A = K.T @ Q / np.sqrt(d)
        P = 2 * V @ S @ np.linalg.inv(np.eye(d) + 2 * K.T @ K @ S) @ A @ S
        authors = P + P.T
        direct = gf.attention("l2", Q=Q / np.sqrt(d), K=K, V=V, beta=2).moment_rhs(np.zeros(d), S)[1]
        np.testing.assert_allclose(direct, authors, rtol=1e-11, atol=1e-12)
        via = gf.attention("l2", **R.l2_params(Q, K, V)).moment_rhs(np.zeros(d), S)[1]
        np.testing.assert_allclose(via, authors, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize(("d", "H", "rows"), [(2, 2, 2), (2, 1, 2), (4, 2, 4), (2, 2, 1)])
def test_multihead_mapping_matches_authors(d: int, H: int, rows: int) -> None:
    rng = np.random.default_rng(3 + d + H + rows)
    Q, K, V = rng.standard_normal((rows, d)), rng.standard_normal((rows, d)), rng.standard_normal((d, d))
    S = _spd(rng, d)
    k = d // H
    W = np.eye(d)
    authors = np.zeros((d, d))
    for h in range(H):  # the authors' loop: row blocks (NumPy slicing; an empty block is a zero head)
        Qh, Kh, Vh = Q[h * k:(h + 1) * k], K[h * k:(h + 1) * k], V[h * k:(h + 1) * k]
        Ah = Kh.T @ Qh / np.sqrt(k)
        Ch = W[:, h * k:(h + 1) * k][:, :Vh.shape[0]] @ Vh
        authors += Ch @ S @ Ah @ S + (Ch @ S @ Ah @ S).T
    ours = gf.attention("multihead", **R.multihead_params(Q, K, V, H)).moment_rhs(np.zeros(d), S)[1]
    np.testing.assert_allclose(ours, authors, rtol=1e-12, atol=1e-12)
    if H == 1:  # one head with W = I is softmax
        sm = gf.attention("softmax", **R.softmax_params(Q, K, V)).moment_rhs(np.zeros(d), S)[1]
        np.testing.assert_allclose(ours, sm, rtol=1e-12, atol=1e-12)


def test_sinkhorn_mapping_unscaled() -> None:
    D = R.draws("e")
    p = R.sinkhorn_params(D["Q"], D["K"], D["V"])
    np.testing.assert_array_equal(p["A"], D["K"].T @ D["Q"])


# ------------------------------------------------------------------------------------------------ batched Euler RHS
def _sqrtm(S: np.ndarray) -> np.ndarray:
    w, U = np.linalg.eigh(S)
    return (U * np.sqrt(np.clip(w, 0, None))[..., None, :]) @ np.swapaxes(U, -1, -2)


def _hand_rhs(variant: str, p: dict, S: np.ndarray) -> np.ndarray:
    """Σ̇ of the paper's closed forms, typed here independently of the symbolic pipeline (our notation):
    softmax VΣAΣ + t., multi-head Σ_h C_hΣA_hΣ + t., L2 βVΣ(I + βKᵀKΣ)⁻¹KᵀQΣ + t.,
    Sinkhorn 2VΣAΣ^{1/2}(I + R)⁻¹Σ^{1/2} + t., R = (I + 4Σ^{1/2}AᵀΣAΣ^{1/2})^{1/2}."""
    T = lambda X: np.swapaxes(X, -1, -2)  # noqa: E731
    if variant == "softmax":
        P = p["V"] @ S @ p["A"] @ S
    elif variant == "multihead":
        P = sum(C @ S @ A @ S for A, C in zip(p["A"], p["C"], strict=True))
    elif variant == "l2":
        b, K = float(p["beta"]), p["K"]
        P = b * p["V"] @ S @ np.linalg.solve(np.eye(S.shape[-1]) + b * K.T @ K @ S, K.T @ p["Q"] @ S)
    else:
        Sh = _sqrtm(S)
        R_ = _sqrtm(np.eye(S.shape[-1]) + 4.0 * Sh @ p["A"].T @ S @ p["A"] @ Sh)
        P = p["V"] @ (2.0 * S @ p["A"] @ Sh @ np.linalg.solve(np.eye(S.shape[-1]) + R_, Sh))
    return P + T(P)


@pytest.mark.parametrize("key", list("abcdef"))
def test_euler_rhs_is_the_papers_closed_form(key: str) -> None:
    """The Euler scheme's Σ̇ (generated code) equals the closed forms typed above, and the generated
    moment RHS of ``Attention`` at any α (Σ̇ does not depend on α for these variants)."""
    exp = R.experiment(key)
    S0 = R.initial_grid(5, exp.half_width)
    rng = np.random.default_rng(4)
    S0 = np.concatenate([S0, 3.0 * S0[:2], np.array([[[1.0, 1.0], [1.0, 1.0]]])])  # larger and rank-one Σ
    for run in exp.runs:
        B = R.sigma_rhs(run.variant, run.params, S0)
        att = gf.attention(run.variant, **run.params)
        for m in range(len(S0)):
            ref = _hand_rhs(run.variant, run.params, S0[m])
            np.testing.assert_allclose(B[m], ref, rtol=1e-10, atol=1e-12, err_msg=f"{key} {run.label} {m}")
            np.testing.assert_allclose(att.moment_rhs(rng.standard_normal(2), S0[m])[1], ref, rtol=1e-10,
                                       atol=1e-12)


def test_euler_rhs_per_member_weights_d5() -> None:
    Qs, Vs = R.rank_draws("l2", "random")
    plist = [R.l2_params(Q, -Q, V) for Q, V in zip(Qs[200:203], Vs[200:203], strict=True)]
    S = R.sigma0_stream(5, 3)
    B = R.sigma_rhs("l2", plist, S)
    for m in range(3):
        np.testing.assert_allclose(B[m], _hand_rhs("l2", plist[m], S[m]), rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="members"):
        R.SigmaRHS("l2", plist)(S)


def _authors_evolution(S: np.ndarray, rhs: object, step: float, tol: float, tol_high: float,
                       max_iter: int) -> tuple[str, int, np.ndarray]:
    """The authors' ``evolution`` loop retyped (status, printed iteration, last entry of their list)."""
    S_list = []
    for i in range(max_iter):
        S_list.append(S.copy())
        D = rhs(S)
        c = np.linalg.norm(D)
        w, U = np.linalg.eigh(S + step * D)
        w[w < 0] = 1e-14
        S = U.dot(np.diag(w).dot(U.T))
        if c < tol:
            return "converged", i, S_list[-1]
        if np.trace(S) > tol_high:
            return "diverged", i, S_list[-1]
    return "max_iter", max_iter, S_list[-1]


def test_euler_scheme_against_the_authors_loop() -> None:
    D = R.draws("f")
    p = R.softmax_params(D["Q"], D["K"], D["V"])
    S0 = np.concatenate([R.initial_grid(5, 1.0), 10.0 * R.initial_grid(5, 1.0)])
    res = R.euler_sigma("softmax", p, S0, step=0.05, tol=1e-3, tol_high=50.0, max_iter=100)
    assert set(res.status) == {"converged", "diverged", "max_iter"}

    def rhs(S: np.ndarray) -> np.ndarray:
        P = np.dot(np.dot(p["V"], S), np.dot(p["A"], S))
        return P + P.T

    for m in range(len(S0)):
        status, it, last = _authors_evolution(S0[m].copy(), rhs, 0.05, 1e-3, 50.0, 100)
        assert (res.status[m], res.iters[m]) == (status, it)
        np.testing.assert_allclose(res.final[m], last, rtol=1e-9, atol=1e-12)


def test_rank_chain_equals_the_sequential_loop() -> None:
    """Speculative batching gives the authors' create_histograms order: retries consume the next Σ₀."""
    Qs, Vs = R.rank_draws("softmax", "random")
    plist = [R.softmax_params(Q, -Q, V) for Q, V in zip(Qs[200:205], Vs[200:205], strict=True)]
    kw = {"step": 0.02, "tol": 5e-5, "max_iter": 1500}
    ch = R.rank_chain("softmax", plist, n_max=25, chunk=64, **kw)
    stream = R.sigma0_stream(5, 25)
    i = k = 0
    seq = []
    while i < len(plist) and k < 25:
        r = R.euler_sigma("softmax", plist[i], stream[k][None], **kw)
        seq.append((i, k, r.status[0], int(r.iters[0])))
        i += r.status[0] == "converged"
        k += 1
    assert ch.attempts == seq
    assert len({a[2] for a in seq}) >= 2  # the loop did retry


def test_psd_projection_clips() -> None:
    S = np.array([[[1.0, 0.0], [0.0, -0.5]], [[2.0, 0.0], [0.0, 1.0]]])
    P, clipped = R.psd_project(S)
    assert clipped.tolist() == [True, False]
    np.testing.assert_allclose(np.linalg.eigvalsh(P[0]), [1e-14, 1.0], atol=1e-15)
    np.testing.assert_allclose(P[1], S[1], atol=1e-15)  # reconstructed, as the authors' projection does


# ------------------------------------------------------------------------------------------------ the authors' code
# Reference facts: what the authors' code prints (github vcastin/2025-transformers-PDEs, commit 53ad7f3, BSD-3;
# NumPy 2.4.6). Produced outside the project with
#   git --git-dir=<fetched repo> archive HEAD | tar -x -C /tmp/peer_castin
#   cd /tmp/peer_castin && MPLBACKEND=Agg python driver.py 2d_plots.py out_2d.json
# where driver.py (scratch, not part of gaussflow) stubs plt.show, plt.savefig, plot_evolution and
# plot_evolution_2d, wraps utils.evolution to record each call's printed line ("Converged in i iterations" /
# "Diverged in i iterations" / "Did not converge") and the last Σ of the returned list, then runs the unchanged
# script with runpy.run_path. Counts = printed lines per run; directions = angle of the top eigenvector of that
# last Σ, rounded to degrees, the three most frequent (ties: smaller angle first).
AUTHORS_2D = {
    "a/softmax": {"counts": {"converged": 100}, "directions_deg": [(128, 100)]},
    "a/L2": {"counts": {"converged": 100}, "directions_deg": [(128, 100)]},
    "a/multi-head H=2": {"counts": {"converged": 100}, "directions_deg": [(130, 100)]},
    "a/Sinkhorn": {"counts": {"converged": 100}, "directions_deg": [(128, 100)]},
    "b/softmax": {"counts": {"converged": 100}, "directions_deg": [(156, 81), (157, 11), (155, 8)]},
    "b/L2": {"counts": {"converged": 100}, "directions_deg": [(156, 91), (157, 6), (155, 3)]},
    "c/multi-head H=2": {"counts": {"converged": 100}, "directions_deg": [(107, 5), (114, 5), (100, 4)]},
    "d/softmax": {"counts": {"converged": 263, "max_iter": 13}, "directions_deg": [(172, 146), (122, 126), (173, 3)]},
    "d/L2": {"counts": {"converged": 270, "max_iter": 6}, "directions_deg": [(172, 148), (122, 127), (173, 1)]},
    "e/softmax": {"counts": {"diverged": 1184}, "directions_deg": [(62, 21), (68, 15), (72, 15)]},
    "e/multi-head H=2": {"counts": {"diverged": 1184}, "directions_deg": [(87, 155), (88, 146), (86, 141)]},
    "e/L2": {"counts": {"diverged": 1184}, "directions_deg": [(140, 37), (144, 36), (139, 35)]},
    "e/Sinkhorn": {"counts": {"diverged": 1184}, "directions_deg": [(62, 21), (68, 15), (72, 15)]},
    "f/softmax": {"counts": {"converged": 591, "diverged": 57}, "directions_deg": [(172, 591), (79, 57)]},
    "f/L2": {"counts": {"converged": 642, "diverged": 6}, "directions_deg": [(172, 643), (79, 2), (147, 1)]},
    "f/multi-head H=1": {"counts": {"converged": 590, "diverged": 57, "max_iter": 1},
        "directions_deg": [(172, 591), (79, 57)]},
}
#: runs fast enough for the test suite (e/L2 takes ~15 s; all 16 are compared in the report by `make run`)
FAST_2D = ("a/softmax", "a/L2", "a/multi-head H=2", "a/Sinkhorn", "b/softmax", "b/L2", "c/multi-head H=2",
           "d/softmax", "d/L2", "e/softmax", "e/multi-head H=2", "e/Sinkhorn", "f/softmax", "f/L2",
           "f/multi-head H=1")


def test_report_constants_are_the_reference_facts() -> None:
    assert {k: {"counts": v["counts"], "directions_deg": [tuple(x) for x in v["directions_deg"]]}
            for k, v in R.AUTHORS_2D.items()} == AUTHORS_2D
    assert set(AUTHORS_2D) == {f"{k}/{r.label}" for k in "abcdef" for r in R.experiment(k).runs}


@pytest.mark.parametrize("name", FAST_2D)
def test_faithful_euler_prints_what_the_authors_code_prints(name: str) -> None:
    key, label = name.split("/")
    exp = R.experiment(key)
    run = next(r for r in exp.runs if r.label == label)
    S0 = R.initial_grid(exp.grid, exp.half_width)
    eu = R.euler_sigma(run.variant, run.params, S0, step=run.step, tol=run.tol, tol_high=run.tol_high,
                       max_iter=run.max_iter)
    from collections import Counter

    assert dict(Counter(eu.status.tolist())) == AUTHORS_2D[name]["counts"]
    assert [(int(a), k) for a, k in R.top_angles([R.direction(S) for S in eu.final])] == \
        AUTHORS_2D[name]["directions_deg"]


# Rank cells, same provenance: cd /tmp/peer_castin && MPLBACKEND=Agg python driver.py histograms.py out_hist.json
# 1,2,3,6,7,8,4 (driver.py as above, executing the script's "# %%" cells in that order in one namespace, which
# changes no count: every cell reseeds; create_histograms is wrapped to record its returned rank lists).
# histogram = their rank_lists[j]; exceptions = converged runs not in it ("Rank too high"); attempts = their
# evolution() calls for that dimension. Wall time of their run: 138 s (softmax V = I), 426 s (softmax V random),
# 88 s (L2 V = I), 153 s (L2 V random) on 2 shared cores.
AUTHORS_RANKS = {
    "softmax_identity_d3": {"histogram": {"0": 3, "1": 48, "2": 49}, "exceptions": 0, "attempts": 100},
    "softmax_identity_d4": {"histogram": {"0": 11, "1": 47, "2": 42}, "exceptions": 0, "attempts": 100},
    "softmax_identity_d5": {"histogram": {"1": 5, "2": 54, "3": 41}, "exceptions": 0, "attempts": 103},
    "softmax_random_d3": {"histogram": {"0": 4, "1": 64, "2": 31}, "exceptions": 1, "attempts": 113},
    "softmax_random_d4": {"histogram": {"0": 21, "1": 68, "2": 11}, "exceptions": 0, "attempts": 592},
    "softmax_random_d5": {"histogram": {"1": 25, "2": 64, "3": 11}, "exceptions": 0, "attempts": 247},
    "l2_identity_d3": {"histogram": {"1": 32, "2": 68}, "exceptions": 0, "attempts": 100},
    "l2_identity_d4": {"histogram": {"1": 31, "2": 69}, "exceptions": 0, "attempts": 100},
    "l2_identity_d5": {"histogram": {"2": 46, "3": 54}, "exceptions": 0, "attempts": 100},
    "l2_random_d3": {"histogram": {"1": 50, "2": 50}, "exceptions": 0, "attempts": 101},
    "l2_random_d4": {"histogram": {"0": 4, "1": 64, "2": 32}, "exceptions": 0, "attempts": 102},
    "l2_random_d5": {"histogram": {"1": 22, "2": 68, "3": 10}, "exceptions": 0, "attempts": 107},
}
#: full cells fast enough for the test suite (all 12 are compared in the report by `make run`)
FAST_RANKS = ("softmax_identity_d3", "softmax_random_d3", "l2_identity_d3", "l2_identity_d4")


def test_report_rank_constants_are_the_reference_facts() -> None:
    assert R.AUTHORS_RANKS == AUTHORS_RANKS


@pytest.mark.parametrize("cell", FAST_RANKS)
def test_rank_loop_prints_what_the_authors_code_prints(cell: str) -> None:
    variant, vtype, dd = cell.split("_")
    d = int(dd[1:])
    j = R.RANK_DIMS.index(d)
    steps, tol, max_iter, n_max = R.RANK_STEPS[(variant, vtype)]
    Qs, Vs = R.rank_draws(variant, vtype)
    plist = [R.rank_params(variant, Qs[100 * j + i], Vs[100 * j + i]) for i in range(100)]
    ch = R.rank_chain(variant, plist, step=steps[j], tol=tol, max_iter=max_iter, n_max=n_max)
    ranks = [int(np.sum(np.linalg.eigvalsh(F) > 0.1)) for F in ch.finals]
    kept = [r for r in ranks if r <= (d + 1) // 2]
    from collections import Counter

    got = {"histogram": {str(k): v for k, v in sorted(Counter(kept).items())},
           "exceptions": len(ranks) - len(kept), "attempts": len(ch.attempts)}
    assert got == AUTHORS_RANKS[cell]


# ------------------------------------------------------------------------------------------------ exact scheme
def test_exact_blowup_time_experiment_e_softmax() -> None:
    exp = R.experiment("e")
    run = exp.runs[0]
    assert run.variant == "softmax" and np.array_equal(run.params["V"], np.eye(2))
    att = gf.attention(run.variant, **run.params)
    S0 = R.initial_grid(40, 1.0)[::250]
    for S in S0:
        r = R.exact_member(att, S, run.horizon, keep_path=False)
        assert r["status"] == "blowup" and r["kind"] == "blowup_rank_one"
        R0 = np.linalg.cholesky(S)  # T* = 1/λmax(Σ₀^{1/2} S Σ₀^{1/2}) = 1/λmax(LᵀSL), independent truth
        T_formula = 1.0 / np.linalg.eigvalsh(R0.T @ (run.params["A"] + run.params["A"].T) @ R0)[-1]
        assert abs(r["t_blowup"] - T_formula) <= 1e-6 * T_formula
        assert abs(r["t_blowup"] - softmax_blowup_time(S, run.params["A"])) <= 1e-6 * T_formula


# ------------------------------------------------------------------------------------------------ outputs
@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, object]:
    out = tmp_path_factory.mktemp("castin")
    return R.reproduce_castin2025(out, quick=True), out


def test_outputs_written(quick_run: tuple[dict, object]) -> None:
    res, out = quick_run
    for k in R.EXPERIMENT_KEYS:
        png = out / f"castin2025_{k}.png"
        assert png.stat().st_size > 1000
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "castin2025_summary.json").read_text())
    assert set(summary["experiments"]) == set(R.EXPERIMENT_KEYS)
    report = (out / "castin2025_report.md").read_text()
    assert report == res["report"]
    for k in "abcdef":
        assert f"## ({k})" in report
    assert "## (ranks)" in report
    # experiment (e) softmax: every exact run is a rank-one blow-up, every Euler run diverges
    e_soft = summary["experiments"]["e"]["runs"][0]
    assert e_soft["exact"]["counts"] == {"blowup_rank_one": e_soft["n_members"]}
    assert e_soft["euler"]["counts"] == {"diverged": e_soft["n_members"]}


def test_no_overwrite_without_force(quick_run: tuple[dict, object]) -> None:
    _, out = quick_run
    with pytest.raises(ValueError, match=r"castin2025_b\.png"):
        R.reproduce_castin2025(out, experiments=("b",), quick=True)
    before = (out / "castin2025_b.png").stat().st_mtime_ns
    R.reproduce_castin2025(out, experiments=("b",), quick=True, force=True, scheme="euler")
    assert (out / "castin2025_b.png").stat().st_mtime_ns >= before


def test_bad_arguments(tmp_path: object) -> None:
    with pytest.raises(ValueError, match="scheme"):
        R.reproduce_castin2025(tmp_path, scheme="rk4")
    with pytest.raises(ValueError, match="experiments"):
        R.reproduce_castin2025(tmp_path, experiments=("z",))


def test_cli_parser() -> None:
    from gaussflow.cli import build_parser

    a = build_parser().parse_args(["reproduce", "castin2025", "--only", "a", "e", "--scheme", "exact", "--quick"])
    assert a.paper == "castin2025" and a.only == ["a", "e"] and a.scheme == "exact" and a.quick and not a.force
    assert not a.full and a.out == "figures"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["reproduce", "castin2025", "--quick", "--full"])


def test_slow_cell_cache_roundtrip_and_staleness(tmp_path: object) -> None:
    from pathlib import Path

    from gaussflow.experiments.castin2025 import cache

    out = Path(str(tmp_path))
    assert cache.load(out, cache.SLOW_CELLS, 100, ["euler", "exact"]) == {}  # no file
    res = {"softmax_random_d5": {"euler": {"histogram": {"1": 25}}}, "l2_identity_d3": {"euler": {}}}
    cache.save(out, res, 100, ["euler", "exact"])
    got = cache.load(out, cache.SLOW_CELLS, 100, ["exact", "euler"])
    assert set(got) == {"softmax_random_d5"} and got["softmax_random_d5"]["euler"] == {"histogram": {"1": 25}}
    assert got["softmax_random_d5"]["cached"]["file"] == cache.CACHE_NAME
    assert cache.load(out, cache.SLOW_CELLS, 3, ["euler", "exact"]) == {}  # other settings: stale
    assert cache.load(out, cache.SLOW_CELLS, 100, ["euler"]) == {}
    (out / cache.CACHE_NAME).write_text("{not json")
    assert cache.load(out, cache.SLOW_CELLS, 100, ["euler", "exact"]) == {}
