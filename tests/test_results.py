"""Trajectory and ParticleTrajectory share one base (gaussflow.results.MomentSeries)."""

from __future__ import annotations

import numpy as np
import pytest

import gaussflow as gf
from gaussflow.results import MomentSeries


def test_one_base_for_moment_and_particle_results(tmp_path) -> None:
    att = gf.attention("softmax", A=-np.eye(2), V=np.eye(2))          # Σ(t) = (Σ₀⁻¹ + 2t)⁻¹ → 0
    traj = gf.solve(att, gf.Gaussian([0.0, 0.0], np.eye(2)), (0.0, 1.0), t_eval=[0.0, 0.5, 1.0])
    pt = gf.simulate_particles(att, np.random.default_rng(0).standard_normal((400, 2)), [0.0, 0.5, 1.0])
    for r in (traj, pt):
        assert isinstance(r, MomentSeries) and r.ok and r.d == 2 and len(r) == 3
        assert r.raise_for_status() is r
        sp = r.spectrum()
        np.testing.assert_allclose(np.sort(sp.eigenvalues[-1]), np.linalg.eigvalsh(r.cov[-1]), rtol=1e-10)
        np.testing.assert_allclose(r.law(1).cov, r.cov[1])
        back = type(r).load(r.save(tmp_path / f"{type(r).__name__}.npz"))
        np.testing.assert_array_equal(back.cov, r.cov)
        assert back.status == r.status
    np.testing.assert_allclose(traj.cov[-1], np.eye(2) / 3.0, rtol=1e-8)
    with pytest.raises(gf.TrajectoryError, match=r"^ok: reached"):
        traj.raise_for_status(allowed=("blowup",))
    with pytest.raises(ValueError, match="format"):
        gf.Trajectory.load(tmp_path / "ParticleTrajectory.npz")
