"""Time stepping of the particle system: fixed-step RK4 and adaptive Dormand–Prince (scipy ``RK45``),
with a recorder of empirical moments; progress goes to a :class:`gaussflow._progress.ProgressBar` positioned
at the current time (``bar.set(t)``, throttled to 5 redraws/s). A stepper takes a velocity field
``fld(X) -> Ẋ`` ((n, d) → (n, d)) and never knows which attention produced it."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.integrate import RK45

from .._progress import ProgressBar
from ..kernels.field import Field


class Recorder:
    """Empirical moments (and positions) at the sample times."""

    def __init__(self, T: int, n: int, d: int, keep_all: bool) -> None:
        self.mean = np.empty((T, d))
        self.cov = np.empty((T, d, d))
        self.X = np.empty((T, n, d)) if keep_all else None
        self.count = 0

    def __call__(self, X: np.ndarray) -> None:
        k = self.count
        m = X.mean(axis=0)
        Z = X - m
        C = (Z.T @ Z) / X.shape[0]
        self.mean[k] = m
        self.cov[k] = 0.5 * (C + C.T)
        if self.X is not None:
            self.X[k] = X
        self.count += 1


@dataclass
class Run:
    steps: int = 0
    status: str = "ok"
    message: str = ""
    dt: float | None = None


#: most time steps one run may take (rk4: checked against t_eval / dt up front; adaptive: a budget)
MAX_STEPS = 1_000_000
#: step budget of the adaptive RK45 run (a stiff cloud gives up with status "failed" instead of crawling)
MAX_ADAPTIVE_STEPS = 20_000


def rk4(fld: Field, X0: np.ndarray, t_eval: np.ndarray, rec: Recorder, bar: ProgressBar, opts: Mapping[str, Any]
         ) -> Run:
    """Classic RK4; each interval [t_k, t_{k+1}] is split into ⌈Δt/dt⌉ equal steps (lands on t_eval)."""
    dt = opts["dt"]
    run = Run(dt=dt)
    X = X0.copy()
    rec(X)
    for k in range(len(t_eval) - 1):
        t, span = float(t_eval[k]), float(t_eval[k + 1] - t_eval[k])
        m = max(1, math.ceil(span / dt - 1e-9))
        h = span / m
        for s in range(m):
            k1 = fld(X)
            k2 = fld(X + (0.5 * h) * k1)
            k3 = fld(X + (0.5 * h) * k2)
            k4 = fld(X + h * k3)
            X = X + (h / 6.0) * (k1 + 2.0 * (k2 + k3) + k4)
            run.steps += 1
            if not np.all(np.isfinite(X)):
                run.status = "blowup"
                run.message = f"particle state became non-finite at t = {t + (s + 1) * h:.6g}"
                return run
            bar.set(t + (s + 1) * h)
        rec(X)
    return run


def adaptive(fld: Field, X0: np.ndarray, t_eval: np.ndarray, rec: Recorder, bar: ProgressBar,
              opts: Mapping[str, Any]) -> Run:
    """Dormand–Prince RK45 (scipy's ``solve_ivp`` integrator class) on the flattened state; samples
    are read off its dense output, so only the current state is held in memory."""
    run = Run(dt=opts["dt"])
    shape = X0.shape
    rec(X0)
    if len(t_eval) == 1:
        return run

    def fun(t: float, y: np.ndarray) -> np.ndarray:
        if not np.isfinite(t):  # NaN step size: scipy's step loop would retry forever (issue 9)
            raise FloatingPointError(f"the step size became non-finite (t = {t})")
        return fld(y.reshape(shape)).ravel()

    kw: dict[str, Any] = {"rtol": opts["rtol"], "atol": opts["atol"]}
    if opts["dt"] is not None:
        kw["max_step"] = opts["dt"]
    solver = RK45(fun, float(t_eval[0]), X0.ravel().copy(), float(t_eval[-1]), **kw)
    k = 1
    while k < len(t_eval):
        try:
            msg = solver.step()
        except FloatingPointError as exc:
            run.status, run.message = "failed", f"RK45 stopped after t = {solver.t:.6g}: {exc}"
            return run
        if solver.status == "failed":
            run.status, run.message = "failed", f"RK45 failed at t = {solver.t:.6g}: {msg}"
            return run
        run.steps += 1
        if run.steps >= MAX_ADAPTIVE_STEPS:
            run.status, run.message = "failed", (f"RK45 gave up at t = {solver.t:.6g} after {MAX_ADAPTIVE_STEPS} "
                                                 "steps (a stiff cloud: use method='rk4' with a small `dt`)")
            return run
        if not np.all(np.isfinite(solver.y)):
            run.status, run.message = "blowup", f"particle state became non-finite at t = {solver.t:.6g}"
            return run
        if k < len(t_eval) and t_eval[k] <= solver.t:
            dense = solver.dense_output()
            while k < len(t_eval) and t_eval[k] <= solver.t:
                y = solver.y if t_eval[k] == solver.t else dense(t_eval[k])
                rec(np.asarray(y).reshape(shape))
                k += 1
        bar.set(solver.t)
    return run


#: time stepping methods
METHODS: dict[str, Callable[..., Run]] = {"rk4": rk4, "adaptive": adaptive}
KEEP: tuple[str, ...] = ("moments", "all")


__all__ = ["KEEP", "MAX_STEPS", "METHODS", "Recorder", "Run", "adaptive", "rk4"]
