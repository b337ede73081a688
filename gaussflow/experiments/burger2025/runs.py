"""The computations behind figures 1–7 of Burger, Kabri, Korolev, Roith, Weigand (2025), one function each.

Every particle run uses the exact-on-the-sphere RKMK4 integrator (:mod:`gaussflow.sphere.integrate`); runs
that the authors made with their explicit Euler + renormalization are repeated with that scheme from the
same initial points (``euler`` entries) so the two can be compared. Sizes come from :data:`SIZES`.
β = 1 throughout; "ascent" is sign = +1 (E increases), "descent" sign = −1. The authors' code calls the
ambient dimension n; here it is d, and N is the number of particles.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import sphere as gs
from ...sphere.extremal import candidates, minimum_energy

#: run sizes: quick (tests), default (make run, ≤ 90 s), full (the paper's sizes)
SIZES: dict[str, dict[str, Any]] = {
    "quick": {"f1_restarts": 6, "f2_ds": 3, "f2_reps": 2, "f2_N": 30, "f2_t": 30.0, "f3_N": 60, "f3_t": 20.0,
              "f3_grid": 250, "f4_ds": 3, "f5_ds": 3, "f5_grid": 200, "f6_reps": (2, 2), "f6_N": 30},
    "default": {"f1_restarts": 30, "f2_ds": 8, "f2_reps": 5, "f2_N": 100, "f2_t": 80.0, "f3_N": 200,
                "f3_t": 100.0, "f3_grid": 600, "f4_ds": 9, "f5_ds": 9, "f5_grid": 600, "f6_reps": (6, 10), "f6_N": 100},
    "full": {"f1_restarts": 30, "f2_ds": 20, "f2_reps": 100, "f2_N": 100, "f2_t": 150.0, "f3_N": 400,
             "f3_t": 1000.0, "f3_grid": 1500, "f4_ds": 19, "f5_ds": 9, "f5_grid": 1000, "f6_reps": (6, 100),
             "f6_N": 100},
}


def random_points(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Gaussian draws normalized to the sphere (the authors' proj(randn))."""
    X = rng.standard_normal(shape)
    return X / np.linalg.norm(X, axis=-1, keepdims=True)


def clusters(X: np.ndarray, tol: float = 0.05) -> list[tuple[np.ndarray, int]]:
    """Greedy clustering of converged particles: (centre, count) with every member within ``tol`` of its
    cluster's first point (deterministic; no k-means)."""
    left = np.ones(len(X), dtype=bool)
    out = []
    while left.any():
        i = int(np.argmax(left))
        near = left & (np.linalg.norm(X - X[i], axis=1) < tol)
        out.append((X[near].mean(axis=0) / np.linalg.norm(X[near].mean(axis=0)), int(near.sum())))
        left &= ~near
    return out


def cluster_kind(X: np.ndarray, tol: float = 0.05) -> str:
    """"single", "antipodal" (two clusters at ±v) or "k clusters"."""
    cs = clusters(X, tol)
    if len(cs) == 1:
        return "single"
    if len(cs) == 2 and np.linalg.norm(cs[0][0] + cs[1][0]) < 2 * tol:
        return "antipodal"
    return f"{len(cs)} clusters"


def step_error(mdl: gs.SphereModel, X0: np.ndarray, t: float, dt: float) -> float:
    """max |X_T(dt) − X_T(dt/2)| (RKMK4): the time-step error of a run."""
    a = gs.simulate_batch(mdl, X0[None], t, dt)[1][-1, 0]
    b = gs.simulate_batch(mdl, X0[None], t, dt / 2)[1][-1, 0]
    return float(np.abs(a - b).max())


def figure1(size: dict[str, Any], seed: int = 1) -> dict[str, Any]:
    """One particle, ascent, random restarts: D = I and D = diag(1, 3, 4) on S²."""
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    for key, D in (("identity", np.eye(3)), ("diag(1,3,4)", np.diag([1.0, 3.0, 4.0]))):
        mdl = gs.gradient_model(D, sign=1)
        X0 = random_points(rng, (size["f1_restarts"], 1, 3))
        _, Xs = gs.simulate_batch(mdl, X0, 5.0, 0.01)
        Euler = gs.simulate_batch(mdl, X0, 50.0, 0.1, method="euler")[1][-1]
        final = Xs[-1, :, 0]
        mx = gs.maximum_energy(D)
        top = np.abs(final @ np.linalg.eigh(D)[1][:, -1])
        out[key] = {"D": np.diag(D), "final": final, "energies": np.exp(np.sum((final @ D) * final, axis=1)),
                    "at_top_eigenvector": int(np.sum(top > 1 - 1e-8)), "restarts": len(final),
                    "max_energy": mx.energy, "max_kind": mx.kind, "max_gap": mx.gap,
                    "euler_at_top": int(np.sum(np.abs(Euler[:, 0] @ np.linalg.eigh(D)[1][:, -1]) > 1 - 1e-4)),
                    "step_error": step_error(mdl, X0[0], 5.0, 0.01)}
    return out


def figure2(size: dict[str, Any], seed: int = 2) -> dict[str, Any]:
    """D = diag(d, 1) on S¹, ascent, N particles, repetitions: clusters (single vs antipodal) and energies."""
    rng = np.random.default_rng(seed)
    ds = np.linspace(0.0, 1.5, size["f2_ds"])
    rows = []
    for dd in ds:
        D = np.diag([dd, 1.0])
        mdl = gs.gradient_model(D, sign=1)
        X0 = random_points(rng, (size["f2_reps"], size["f2_N"], 2))
        ex = gs.simulate_batch(mdl, X0, size["f2_t"], 0.1)[1][-1]
        eu = gs.simulate_batch(mdl, X0, 150.0, 0.1, method="euler")[1][-1]
        kinds = [cluster_kind(x) for x in ex]
        ekinds = [cluster_kind(x, 0.1) for x in eu]
        rows.append({"d": float(dd), "single": kinds.count("single"), "antipodal": kinds.count("antipodal"),
                     "other": len(kinds) - kinds.count("single") - kinds.count("antipodal"),
                     "euler_single": ekinds.count("single"), "euler_antipodal": ekinds.count("antipodal"),
                     "agree": sum(a == b for a, b in zip(kinds, ekinds, strict=True)),
                     "mean_energy": float(np.mean([gs.energy(x, D) for x in ex])),
                     "euler_mean_energy": float(np.mean([gs.energy(x, D) for x in eu])),
                     "top_dirac_energy": float(np.exp(max(dd, 1.0))),
                     "min_abs_inner": float(np.min([np.abs(x @ x.T).min() for x in ex])),
                     "speed": gs.speed(mdl, ex, np.full(ex.shape[1], 1.0 / ex.shape[1]))})
    return {"rows": rows, "N": size["f2_N"], "reps": size["f2_reps"], "t": size["f2_t"]}


F3_CASES: tuple[tuple[str, tuple[float, float, float]], ...] = (
    ("identity", (1.0, 1.0, 1.0)), ("diag(1,0.25,1)", (1.0, 0.25, 1.0)), ("diag(1,0,1)", (1.0, 0.0, 1.0)),
    ("diag(0,0,1)", (0.0, 0.0, 1.0)))


def figure3(size: dict[str, Any], seed: int = 42) -> dict[str, Any]:
    """Descent of N particles on S² for four PSD D, against the certified QP minimum."""
    out: dict[str, Any] = {}
    for key, diag in F3_CASES:
        rng = np.random.default_rng(seed)
        D = np.diag(diag)
        mdl = gs.gradient_model(D, sign=-1)
        X0 = random_points(rng, (size["f3_N"], 3))
        tr = gs.simulate(mdl, X0, size["f3_t"], 0.1, every=max(1, round(size["f3_t"] / 0.1 / 50)))
        E = np.array([gs.energy(x, D) for x in tr.X])
        mn = minimum_energy(D, n=size["f3_grid"])
        out[key] = {"D": np.array(diag), "t": tr.t, "energy": E, "final": tr.final, "qp_energy": mn.energy,
                    "qp_gap": mn.gap, "qp_lower_bound": mn.lower_bound, "norm_drift": tr.norm_drift(),
                    "uniform_energy": gs.uniform_energy(D)}
    return out


def figure4(size: dict[str, Any]) -> dict[str, Any]:
    """Four particles at π/4 + kπ/2, descent, D = diag(1, d): the stationary state and tanh(x₁²)/tanh(d x₂²)."""
    ang = np.linspace(-np.pi, np.pi, 5)[:-1] + np.pi / 4
    X0 = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    rows = []
    for dd in np.linspace(0.1, 0.9, size["f4_ds"]):
        D = np.diag([1.0, dd])
        st = gs.find_stationary(gs.gradient_model(D, sign=-1), X0)
        ratio = np.tanh(st.X[:, 0] ** 2) / np.tanh(dd * st.X[:, 1] ** 2)
        rows.append({"d": float(dd), "ratio": float(ratio.mean()), "ratio_err": float(np.abs(ratio - dd).max()),
                     "energy": st.energy, "type": st.type, "x": np.abs(st.X[0])})
    D = np.diag([1.0, 0.5])
    mdl = gs.gradient_model(D, sign=-1)
    st = gs.find_stationary(mdl, X0)
    eu = gs.simulate(mdl, X0, 500.0, 0.05, method="euler", every=10000).final
    tr = gs.simulate(mdl, X0, 40.0, 0.05, every=4)
    return {"rows": rows, "d05": {"X": st.X, "energy": st.energy, "type": st.type, "eigenvalues": st.eigenvalues,
                                  "euler_X": eu, "euler_energy": gs.energy(eu, D),
                                  "euler_ratio": float(np.mean(np.tanh(eu[:, 0] ** 2) / np.tanh(0.5 * eu[:, 1] ** 2))),
                                  "t": tr.t, "energy_t": np.array([gs.energy(x, D) for x in tr.X])}}


def figure5(size: dict[str, Any]) -> dict[str, Any]:
    """Certified minimizing densities on S¹ for D = diag(1, d₂), d₂ ∈ [0.9, 1.3], and the guess ∝ e^{f cos 2θ}."""
    rows = []
    for d2 in np.linspace(0.9, 1.3, size["f5_ds"]):
        mn = minimum_energy(np.diag([1.0, d2]), n=size["f5_grid"], eigenvectors=False)
        m = size["f5_grid"]
        P, w = mn.points, mn.weights
        theta = np.arctan2(P[:, 1], P[:, 0])
        eps = d2 - 1.0
        f = eps**2 / 5 + np.e / 2 * eps
        guess = np.exp(f * np.cos(2 * theta))  # mass leaves the larger eigenvalue direction e₂
        guess /= guess.sum()
        rows.append({"d2": float(d2), "energy": mn.energy, "gap": mn.gap, "theta": theta, "density": w * m,
                     "guess": guess * m, "guess_rel_l2": float(np.linalg.norm(guess - w) / np.linalg.norm(w))})
    return {"rows": rows}


def figure6(size: dict[str, Any], seed: int = 142) -> dict[str, Any]:
    """Ascent of N particles on S² for D = −I and D = diag(−1, −3, −4): antipodal pairs."""
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    for (key, D, t, dt), reps in zip((("-I", -np.eye(3), 50.0, 0.05),
                                      ("diag(-1,-3,-4)", np.diag([-1.0, -3.0, -4.0]), 3.0, 0.002)),
                                     size["f6_reps"], strict=True):
        mdl = gs.gradient_model(D, sign=1)
        X0 = random_points(rng, (reps, size["f6_N"], 3))
        ex = gs.simulate_batch(mdl, X0, t, dt)[1][-1]
        eu = gs.simulate_batch(mdl, X0, 50.0, 0.1, method="euler")[1][-1]
        mx = gs.maximum_energy(D)
        out[key] = {"final": ex, "kinds": [cluster_kind(x) for x in ex],
                    "euler_kinds": [cluster_kind(x, 0.1) for x in eu],
                    "energies": [gs.energy(x, D) for x in ex], "euler_energies": [gs.energy(x, D) for x in eu],
                    "max_energy": mx.energy, "max_kind": mx.kind,
                    "masses": [sorted(c for _, c in clusters(x)) for x in ex]}
    return out


def figure7() -> dict[str, Any]:
    """D = diag(−1, d): energies of the single cluster at e₂ (e^d), the pair on e₁ (cosh 1), the pair on e₂
    (cosh d); the crossover d* = ln cosh 1 and the certified candidate at each d."""
    ds = np.linspace(-1.0, 1.0, 101)
    e2 = np.array([0.0, 1.0])
    e1 = np.array([1.0, 0.0])
    single = np.array([gs.energy(e2[None], np.diag([-1.0, d])) for d in ds])
    pair1 = np.array([gs.energy(np.stack([e1, -e1]), np.diag([-1.0, d])) for d in ds])
    pair2 = np.array([gs.energy(np.stack([e2, -e2]), np.diag([-1.0, d])) for d in ds])
    best = [max((c for c in candidates(np.diag([-1.0, d])) if c.gap <= 1e-9), key=lambda c: c.energy).kind
            for d in ds]
    i = int(np.argmax(single > pair1))
    lo, hi = ds[i - 1], ds[i]
    for _ in range(60):  # bisection on e^d − cosh 1 (energies from gs.energy)
        mid = 0.5 * (lo + hi)
        if gs.energy(e2[None], np.diag([-1.0, mid])) > gs.energy(np.stack([e1, -e1]), np.diag([-1.0, mid])):
            hi = mid
        else:
            lo = mid
    return {"d": ds, "single_e2": single, "pair_e1": pair1, "pair_e2": pair2, "best": best,
            "d_star": 0.5 * (lo + hi), "d_star_closed": float(np.log(np.cosh(1.0)))}


__all__ = ["F3_CASES", "SIZES", "cluster_kind", "clusters", "figure1", "figure2", "figure3", "figure4", "figure5",
           "figure6", "figure7", "random_points", "step_error"]
