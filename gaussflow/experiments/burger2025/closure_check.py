"""The projected-normal closure against particles on S² (SA, d = 3): moments, energy, W2."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.optimize

from ... import sphere as gs
from ...sphere.closure import SphereClosure, nodes, solve_closure
from ...sphere.fisher_bingham import FisherBinghamClosure, solve_fisher_bingham

CASES: tuple[tuple[str, tuple[float, float, float], int], ...] = (
    ("D=I ascent", (1.0, 1.0, 1.0), 1), ("D=I descent", (1.0, 1.0, 1.0), -1),
    ("D=diag(1,0.5,-0.5) ascent", (1.0, 0.5, -0.5), 1), ("D=diag(1,0.5,-0.5) descent", (1.0, 0.5, -0.5), -1))


def w2(X: np.ndarray, Y: np.ndarray) -> float:
    """Exact W2 (chordal cost) between two equal-size uniform point clouds (assignment)."""
    C = np.sum((X[:, None, :] - Y[None, :, :]) ** 2, axis=-1)
    r, c = scipy.optimize.linear_sum_assignment(C)
    return float(np.sqrt(C[r, c].mean()))


def closure_check(N: int = 400, t_end: float = 3.0, dt: float = 0.05, order: int = 8, seed: int = 5,
                  fb_grid: int = 1500) -> dict[str, Any]:
    """Particles from PN(m0, Σ0), the projected-normal closure from (m0, Σ0) and the Fisher–Bingham closure from
    the moment fit to the initial particles; errors at 7 times. ``w2_floor`` is W2 between two independent
    N-samples of the initial law (the sampling floor); Fisher–Bingham W2 uses an N-sample of its grid law."""
    rng = np.random.default_rng(seed)
    xi, xi2 = rng.standard_normal((N, 3)), rng.standard_normal((N, 3))
    m0, S0 = np.array([0.3, 0.2, 1.0]), np.diag([0.6, 0.4, 0.3])
    X0 = nodes(m0, S0, xi)
    every = max(1, round(t_end / dt / 6))
    cases: dict[str, Any] = {}
    for key, diag, sign in CASES:
        D = np.diag(diag)
        mdl = gs.gradient_model(D, sign=sign, normalization="softmax")
        cl = SphereClosure(mdl, order=order)
        sol = solve_closure(cl, m0, S0, t_end, dt, every=every)
        tr = gs.simulate(mdl, X0, t_end, dt, every=every)
        fb = FisherBinghamClosure(mdl, grid=fb_grid)
        fsol = solve_fisher_bingham(fb, *fb.fit(X0), t_end, dt, every=every)
        rows: dict[str, list[float]] = {k: [] for k in ("energy_particles", "energy_closure", "mean_err", "second_err",
                                                         "w2", "fb_energy", "fb_mean_err", "fb_second_err", "fb_w2")}
        for k in range(len(sol["t"])):
            Xc, wc = cl.law_nodes(sol["m"][k], sol["Sigma"][k])
            Xp = tr.X[k]
            rows["energy_particles"].append(gs.energy(Xp, D))
            rows["energy_closure"].append(gs.energy(Xc, D, weights=wc))
            rows["mean_err"].append(float(np.abs(Xp.mean(0) - wc @ Xc).max()))
            rows["second_err"].append(float(np.abs(Xp.T @ Xp / N - (Xc * wc[:, None]).T @ Xc).max()))
            rows["w2"].append(w2(Xp, nodes(sol["m"][k], sol["Sigma"][k], xi2)))
            P, wf = fb.law_nodes(fsol["gamma"][k], fsol["B"][k])
            rows["fb_energy"].append(gs.energy(P, D, weights=wf))
            rows["fb_mean_err"].append(float(np.abs(Xp.mean(0) - wf @ P).max()))
            rows["fb_second_err"].append(float(np.abs(Xp.T @ Xp / N - (P * wf[:, None]).T @ P).max()))
            rows["fb_w2"].append(w2(Xp, P[rng.choice(len(P), N, p=wf)]))
        cases[key] = {"t": sol["t"], "unexplained": sol["unexplained"], **{k: np.array(v) for k, v in rows.items()}}
    return {"cases": cases, "N": N, "w2_floor": w2(X0, nodes(m0, S0, xi2)), "order": order, "fb_grid": fb_grid,
            "m0": m0, "Sigma0": S0}


__all__ = ["CASES", "closure_check", "w2"]
