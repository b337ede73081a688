"""Dense output: ``solve(..., dense_output=True).sol(t)`` is the integrator's own interpolant.

Independent truths:

* softmax with A = V = I: Σ̇ = 2Σ², so Σ(t) = (Σ₀⁻¹ − 2t)⁻¹ in closed form;
* for any variant, a separate tight-tolerance ``solve`` started from the stored sample at t_i and run to
  a point t inside the next step (it knows nothing about the first run's interpolant);
* linear interpolation of the samples, whose error ~ h²|ÿ|/8 is far larger than the 7th-order interpolant's.
"""

from __future__ import annotations

import numpy as np
import pytest

import gaussflow as gf

LAW = gf.Gaussian([0.3, -0.2], [[1.0, 0.3], [0.3, 0.6]])


def _rotating() -> gf.Attention:
    return gf.attention("softmax", A=np.array([[0.3, 1.0], [-1.0, 0.2]]), V=np.array([[1.0, 0.5], [0.0, 1.0]]))


def test_sol_reproduces_the_samples_and_has_the_documented_shapes() -> None:
    traj = gf.solve(_rotating(), LAW, (0.0, 1.0), dense_output=True)
    mean, cov = traj.sol(traj.t)
    np.testing.assert_allclose(mean, traj.mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(cov, traj.cov, rtol=1e-12, atol=1e-14)
    one = traj.sol(0.37)
    assert one.mean.shape == (2,) and one.cov.shape == (2, 2)
    alpha, Sigma = traj.sol([0.1, 0.2, 0.3])  # unpacks like a tuple
    assert alpha.shape == (3, 2) and Sigma.shape == (3, 2, 2)
    np.testing.assert_allclose(Sigma, np.swapaxes(Sigma, 1, 2))
    np.testing.assert_allclose(traj.sol(0.2).cov, Sigma[1])


def test_sol_matches_the_closed_form_between_samples_far_better_than_linear() -> None:
    att = gf.attention("softmax", A=np.eye(2), V=np.eye(2))
    S0 = np.array([[1.0, 0.3], [0.3, 0.6]])
    traj = gf.solve(att, gf.Gaussian(np.zeros(2), S0), (0.0, 0.3), dense_output=True)
    assert len(traj) >= 3
    mids = 0.5 * (traj.t[1:] + traj.t[:-1])
    truth = np.array([np.linalg.inv(np.linalg.inv(S0) - 2.0 * t * np.eye(2)) for t in mids])
    dense_err = np.max(np.abs(traj.sol(mids).cov - truth))
    linear = 0.5 * (traj.cov[1:] + traj.cov[:-1])
    linear_err = np.max(np.abs(linear - truth))
    assert dense_err < 1e-8
    assert linear_err > 1e3 * dense_err


def test_sol_agrees_with_an_independent_solve_from_a_sample() -> None:
    att = _rotating()
    traj = gf.solve(att, LAW, (0.0, 1.0), dense_output=True)
    for i in range(0, len(traj) - 1, max(1, (len(traj) - 1) // 3)):
        t_i, t_next = traj.t[i], traj.t[i + 1]
        t_mid = t_i + 0.4 * (t_next - t_i)
        ref = gf.solve(att, (traj.mean[i], traj.cov[i]), (t_i, t_mid), rtol=1e-13, atol=1e-14,
                       stationary_tol=None)
        assert ref.t[-1] == pytest.approx(t_mid)
        got = traj.sol(t_mid)
        scale = np.max(np.abs(ref.cov[-1]))
        np.testing.assert_allclose(got.cov, ref.cov[-1], atol=1e-8 * scale)
        np.testing.assert_allclose(got.mean, ref.mean[-1], atol=1e-8 * max(1.0, np.max(np.abs(ref.mean[-1]))))
        lin = traj.cov[i] + 0.4 * (traj.cov[i + 1] - traj.cov[i])
        assert np.max(np.abs(lin - ref.cov[-1])) > 100 * np.max(np.abs(got.cov - ref.cov[-1]))


def test_sol_spans_several_segments_and_the_factor_form() -> None:
    # L2 growth is exponential: with blowup_threshold = 4 the run restarts several times (one interpolant each)
    att = gf.attention("l2", Q=np.eye(2), K=np.eye(2), V=np.eye(2))
    traj = gf.solve(att, LAW, (0.0, 3.0), blowup_threshold=4.0, dense_output=True)
    assert traj.status == "ok" and len(traj.sol.pieces) > 1
    edges = traj.sol.edges[:-1]
    for t in np.concatenate([edges, edges - 1e-3, edges + 1e-3]):
        i = int(np.searchsorted(traj.t, t, side="right") - 1)
        ref = gf.solve(att, (traj.mean[i], traj.cov[i]), (traj.t[i], t), rtol=1e-13, atol=1e-14) \
            if t > traj.t[i] else None
        want = traj.cov[i] if ref is None else ref.cov[-1]
        np.testing.assert_allclose(traj.sol(t).cov, want, rtol=1e-7)
    # a singular Σ₀ is integrated as Σ = LLᵀ: the dense Σ(t) keeps rank one and is PSD
    sing = gf.solve(_rotating(), gf.Gaussian([0.0, 0.0], [[1.0, 1.0], [1.0, 1.0]]), (0.0, 0.5), dense_output=True)
    assert sing.solver["form"] == "factor"
    S = sing.sol(np.linspace(0.0, 0.5, 7)).cov
    w = np.linalg.eigvalsh(S)
    assert np.all(w[:, 0] >= -1e-12 * w[:, 1]) and np.all(w[:, 0] <= 1e-10 * w[:, 1])


def test_sol_is_bounded_by_the_samples_and_refuses_outside() -> None:
    att = gf.attention("softmax", A=np.eye(2), V=np.eye(2))
    traj = gf.solve(att, gf.Gaussian(np.zeros(2), np.eye(2)), (0.0, 1.0), dense_output=True)
    assert traj.status == "blowup" and traj.t[-1] < 0.5
    traj.sol(traj.t[-1])
    for bad in (traj.t[-1] + 1e-6, -0.1, np.nan):
        with pytest.raises(ValueError, match="`t` must lie within"):
            traj.sol(bad)
    with pytest.raises(ValueError, match="`t` must be a scalar or a 1-D array"):
        traj.sol(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="`t` must be a real number"):
        traj.sol("soon")


def test_no_dense_output_says_why(tmp_path) -> None:
    att = _rotating()
    plain = gf.solve(att, LAW, (0.0, 0.5))
    with pytest.raises(gf.TrajectoryError, match=r"dense_output=True"):
        plain.sol(0.1)
    dense = gf.solve(att, LAW, (0.0, 0.5), dense_output=True)
    back = gf.Trajectory.load(dense.save(tmp_path / "t.npz"))  # the file holds samples only
    np.testing.assert_array_equal(back.cov, dense.cov)
    with pytest.raises(gf.TrajectoryError, match="saved file holds the samples only"):
        back.sol(0.1)
    layered = gf.propagate(att, LAW, 4, 0.1)
    with pytest.raises(gf.TrajectoryError, match="discrete"):
        layered.sol(0.1)
    with pytest.raises(ValueError, match="`dense_output` must be True or False"):
        gf.solve(att, LAW, (0.0, 0.5), dense_output="yes")
