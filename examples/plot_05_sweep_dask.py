"""
Sweeps on a dask cluster
========================

``gf.sweep(fn, grid, executor=..., checkpoint=dir)`` evaluates ``fn(point)`` for every point of a grid on any
``concurrent.futures.Executor`` and stores each finished point atomically in ``checkpoint``, so a killed sweep
resumes without recomputing. A dask cluster is one such executor: ``Client(...).get_executor()`` (the optional
``distributed`` extra, ``pip install 'gaussflow[distributed]'``). On a real cluster pass the scheduler's
address, ``Client("tcp://scheduler:8786")``; here an in-process ``Client(processes=False)`` with two threads
keeps the example self-contained.

The function is ``gaussflow.experiments.sweep.solve_point`` (what ``gaussflow sweep spec.toml`` runs): it
solves one softmax layer (about half a second each, so 16 points here) and returns its status, blow-up time
and regime as plain JSON types. The grid varies the diagonal of :math:`A`.
"""

# %%
import tempfile
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
from distributed import Client

import gaussflow as gf
from gaussflow.experiments.sweep import solve_point

np.set_printoptions(precision=6, suppress=True, legacy="1.25")

a_values = np.linspace(-1.0, 1.0, 4).round(3).tolist()
b_values = np.linspace(-1.0, 1.0, 4).round(3).tolist()
points = [{"variant": "softmax", "params": {"A": [[a, 0.5], [-0.5, b]], "V": [[1.0, 0.0], [0.0, 1.0]]},
           "mean": [0.0, 0.0], "cov": [[1.0, 0.3], [0.3, 0.5]], "t_end": 2.0}
          for b in b_values for a in a_values]

checkpoint = tempfile.mkdtemp(prefix="gaussflow-sweep-")
with Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
    results = gf.sweep(solve_point, points, executor=client.get_executor(), checkpoint=checkpoint)
print(len(results), "points;", Counter(r["regime"] for r in results))
print("first point:", results[0])

# %%
# Resuming
# --------
# Running the same sweep again with the same checkpoint directory loads every point instead of recomputing
# it — here without any executor work at all (a killed sweep resumes the same way, computing only what is
# missing). A different function or grid in the same directory is refused with a ``ValueError``.
calls = []
again = gf.sweep(solve_point, points, checkpoint=checkpoint, progress=lambda done, total: calls.append(done))
print("identical results:", again == results, "| progress calls:", calls)

# %%
# The blow-up time over the grid, against the closed form of :doc:`/math` §4 (softmax with V = I:
# :math:`T^* = 1/\lambda_{\max}(\Sigma_0^{1/2}(A + A^\top)\Sigma_0^{1/2})`, no blow-up when
# :math:`A + A^\top` has no positive eigenvalue on :math:`\Sigma_0`):
T = np.array([np.nan if r["t_blowup"] is None else r["t_blowup"] for r in results]).reshape(4, 4)
closed = np.array([gf.softmax_blowup_time(p["cov"], p["params"]["A"]) for p in points], dtype=float)
closed = np.where(closed <= 2.0, closed, np.nan).reshape(4, 4)
print("max |T*_sweep − T*_closed form| where both blow up:", np.nanmax(np.abs(T - closed)))

fig, ax = plt.subplots(figsize=(5.2, 4.2), layout="constrained")
mesh = ax.pcolormesh(a_values, b_values, T, shading="nearest", cmap="viridis")
fig.colorbar(mesh, ax=ax, label="blow-up time $T^*$ (blank: no blow-up by t = 2)")
ax.set_xlabel("$A_{11}$")
ax.set_ylabel("$A_{22}$")
ax.set_title("softmax, $A = [[a, 0.5], [-0.5, b]]$, V = I")

# %%
# For d = 2 softmax grids of this kind ``gf.phase_diagram`` integrates all members at once with the batched
# integrator (much faster than one ``solve`` per point); ``sweep`` is the general tool for any function.
