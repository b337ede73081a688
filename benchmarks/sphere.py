"""Error vs cost on the sphere: RKMK4 (order 4, exact on S^{d-1}) vs the authors' Euler + renormalize (order 1).

Run: ``OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/sphere.py [--n 200] [--t 2]``. For each scheme and
step size it prints the final-time max error against an RKMK4 reference at dt/16 of the finest step, the wall
time, the field evaluations and the norm drift max_i | |x_i| − 1 |.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import gaussflow.sphere as gs


def run(n: int, t_end: float, normalization: str, seed: int = 0) -> list[dict[str, float | str]]:
    rng = np.random.default_rng(seed)
    d = 3
    X0 = rng.standard_normal((n, d))
    X0 /= np.linalg.norm(X0, axis=1, keepdims=True)
    mdl = gs.model(np.eye(d), rng.standard_normal((d, d)), rng.standard_normal((d, d)), normalization=normalization)
    ref = gs.simulate(mdl, X0, t_end, t_end / 2048).final
    rows: list[dict[str, float | str]] = []
    for method, evals, steps in (("rkmk4", 4, (8, 16, 32, 64, 128)), ("euler", 1, (32, 128, 512, 2048, 8192))):
        for k in steps:
            t0 = time.perf_counter()
            tr = gs.simulate(mdl, X0, t_end, t_end / k, method=method, every=k)
            wall = time.perf_counter() - t0
            rows.append({"method": method, "steps": k, "field_evals": evals * k, "wall_s": wall,
                         "error": float(np.abs(tr.final - ref).max()), "norm_drift": tr.norm_drift()})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--t", type=float, default=2.0)
    a = ap.parse_args()
    for norm in ("softmax", "none"):
        print(f"\n{norm}: n = {a.n}, d = 3, random Q = I, K, V, t = {a.t}")
        print(f"{'method':>7} {'steps':>6} {'evals':>6} {'wall [s]':>9} {'max error':>10} {'norm drift':>10}")
        for r in run(a.n, a.t, norm):
            print(f"{r['method']:>7} {r['steps']:>6} {r['field_evals']:>6} {r['wall_s']:>9.3f} {r['error']:>10.2e} "
                  f"{r['norm_drift']:>10.1e}")


if __name__ == "__main__":
    main()
