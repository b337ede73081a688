"""Benchmark batched integration: looping ``solve()`` vs one ``solve_batch`` call, and the 10⁴-point
phase-diagram wall time against its 10 s target.

    OPENBLAS_NUM_THREADS=1 python benchmarks/sweep.py            # M = 10⁴ members, loop over 200
    OPENBLAS_NUM_THREADS=1 python benchmarks/sweep.py --quick    # M = 2000, loop over 50

Members (seeded): d = 2 softmax, A, V ~ N(0, 1), Σ₀ = LLᵀ + 0.1 I, t_span = (0, 5); each solver at its
default tolerances (solve: DOP853 rtol 1e-10; solve_batch: DP5(4) rtol 1e-8, atol 1e-12). The loop is
timed on the first ``--loop`` members and reported per member.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gaussflow as gf
from gaussflow.experiments.phase import phase_diagram
from gaussflow.integrate.batch import solve_batch
from gaussflow.integrate.solve import solve


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--loop", type=int, default=None, help="members timed with the solve() loop")
    args = ap.parse_args(argv)
    M = 2000 if args.quick else 10_000
    n_loop = args.loop or (50 if args.quick else 200)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((M, 2, 2))
    V = rng.standard_normal((M, 2, 2))
    L = rng.standard_normal((M, 2, 2))
    S0 = L @ L.transpose(0, 2, 1) + 0.1 * np.eye(2)
    print(f"cpus {os.cpu_count()}  OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")

    t0 = time.perf_counter()
    for b in range(n_loop):
        solve(gf.attention("softmax", A=A[b], V=V[b]), (np.zeros(2), S0[b]), (0.0, 5.0))
    loop = (time.perf_counter() - t0) / n_loop
    t0 = time.perf_counter()
    members = [gf.attention("softmax", A=A[b], V=V[b]) for b in range(M)]
    res = solve_batch(members, S0, (0.0, 5.0), atol=1e-12)
    batch = (time.perf_counter() - t0) / M
    st, cnt = np.unique(res.status, return_counts=True)
    print(f"solve() loop   : {1e3 * loop:8.3f} ms/member (over {n_loop} members)")
    print(f"solve_batch    : {1e3 * batch:8.3f} ms/member (over {M} members; "
          + ", ".join(f"{s} {c}" for s, c in zip(st, cnt, strict=True)) + ")")
    print(f"speed-up       : {loop / batch:8.1f}x")

    n = 50 if args.quick else 100
    t0 = time.perf_counter()
    pd = phase_diagram("default", np.linspace(-1, 1, n), np.linspace(-2, 2, n), t_end=10.0)
    wall = time.perf_counter() - t0
    print(f"phase diagram  : {n}x{n} = {n * n} members in {wall:.2f} s (target ≤ 10 s for 10⁴): {pd.counts()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
