"""Benchmark the moment-ODE solver: wall time and RHS evaluations, full vs factor form, and the
blow-up time error on the softmax V = vI oracle.

    python benchmarks/solve.py            # d = 384, 12 heads (≈ 1.5 min on 2 shared cores)
    python benchmarks/solve.py --quick    # d = 64

Setup (seeded): multi-head softmax with H heads of width k = d/H, Q_h, K_h, V_h ~ N(0, 1/d),
W_h ~ N(0, 1/k), β = 1/√k, then all V_h rescaled so that ‖Σ̇(0)‖₂ = 0.5 ‖Σ₀‖₂ — the covariance
changes over [0, T] and nothing blows up before T = 1. Every ratio printed is measured in this run.

Reading the numbers: per RHS evaluation the full form runs the generated ``moments`` (J and JΣ), the
factor form runs the generated ``jacobian`` and ``velocity`` (at x = α), and the current generated
``velocity`` recomputes J — so the factor form pays ≈ 2 Jacobians per evaluation whatever its rank.
Its gains are structural (exact PSD / rank) rather than speed until codegen offers a fused (Γ(α), J).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import scipy

import gaussflow as gf
from gaussflow.diagnostics.oracles import softmax_blowup_time
from gaussflow.integrate.solve import solve


def multihead(d: int, heads: int, rng: np.random.Generator, Sigma0: np.ndarray) -> gf.Attention:
    k = d // heads
    Q = rng.standard_normal((heads, k, d)) / np.sqrt(d)
    K = rng.standard_normal((heads, k, d)) / np.sqrt(d)
    V = rng.standard_normal((heads, k, d)) / np.sqrt(d)
    W = rng.standard_normal((heads, d, k)) / np.sqrt(k)
    beta = 1.0 / np.sqrt(k)
    att = gf.attention("multihead", Q=Q, K=K, V=V, W=W, beta=beta)
    _, Sd = att.moment_rhs(np.zeros(d), Sigma0)
    scale = 0.5 * np.linalg.norm(Sigma0, 2) / np.linalg.norm(Sd, 2)  # Σ̇ is linear in V
    return gf.attention("multihead", Q=Q, K=K, V=V * scale, W=W, beta=beta)


def timed(label: str, **kw: object) -> gf.Attention:
    t0 = time.perf_counter()
    traj = solve(**kw)  # type: ignore[arg-type]
    wall = time.perf_counter() - t0
    print(f"  {label:<34s} {wall:8.2f} s  nfev {traj.nfev:6d}  {1e3 * wall / max(traj.nfev, 1):7.1f} ms/eval  "
          f"status {traj.status}  t_end {traj.t[-1]:.4g}")
    return traj, wall  # type: ignore[return-value]


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="d = 64 instead of 384")
    ap.add_argument("--d", type=int, default=None)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--T", type=float, default=1.0)
    ap.add_argument("--rtol", type=float, default=1e-8)
    ap.add_argument("--rank", type=int, default=16, help="rank of the singular Σ₀ case")
    ap.add_argument("--oracle-d", type=int, default=96,
                    help="dimension of the blow-up oracle (≈ 4000 RHS evaluations per form at rtol 1e-10)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    d = args.d or (64 if args.quick else 384)
    H, T, rtol = args.heads, args.T, args.rtol
    atol = rtol * 1e-2
    rng = np.random.default_rng(args.seed)
    print(f"gaussflow {gf.__version__}  numpy {np.__version__}  scipy {scipy.__version__}  "
          f"python {platform.python_version()}  cpus {os.cpu_count()}")
    print(f"d = {d}, heads = {H}, T = {T}, rtol = {rtol:g}, atol = {atol:g}, method DOP853")

    G = rng.standard_normal((d, d)) / np.sqrt(d)
    Sigma_pd = np.eye(d) + 0.5 * G @ G.T
    att = multihead(d, H, rng, Sigma_pd)
    alpha0 = rng.standard_normal(d) / np.sqrt(d)
    te = np.array([0.0, T / 2, T])
    common = dict(attn=att, t_span=(0.0, T), t_eval=te, rtol=rtol, atol=atol, stationary_tol=None)

    print("\n[1] full-rank Σ₀ (PD):")
    full, w_full = timed("full   (α, Σ)", law0=gf.Gaussian(alpha0, Sigma_pd), form="full", **common)
    fac, w_fac = timed("factor (α, L), r = d", law0=gf.Gaussian(alpha0, Sigma_pd), form="factor", **common)
    print(f"  wall full/factor = {w_full / w_fac:.2f}   nfev full/factor = {full.nfev / fac.nfev:.2f}   "
          f"max rel diff of Σ(T) = {rel(fac.cov[-1], full.cov[-1]):.2e}   tr Σ(T)/tr Σ₀ = "
          f"{np.trace(full.cov[-1]) / np.trace(Sigma_pd):.3f}")

    r = min(args.rank, d)
    U = np.linalg.qr(rng.standard_normal((d, r)))[0]
    Sigma_lr = U @ np.diag(rng.uniform(0.5, 2.0, r)) @ U.T
    print(f"\n[2] rank-{r} Σ₀ (form=None picks factor):")
    full2, w_full2 = timed("full   (α, Σ)", law0=gf.Gaussian(alpha0, Sigma_lr), form="full", **common)
    fac2, w_fac2 = timed(f"factor (α, L), r = {r}", law0=gf.Gaussian(alpha0, Sigma_lr), form=None, **common)
    ev = np.linalg.eigvalsh(full2.cov[-1])
    evf = np.linalg.eigvalsh(fac2.cov[-1])
    print(f"  wall full/factor = {w_full2 / w_fac2:.2f}   nfev full/factor = {full2.nfev / fac2.nfev:.2f}   "
          f"max rel diff of Σ(T) = {rel(fac2.cov[-1], full2.cov[-1]):.2e}")
    print(f"  rank kept: factor λ_{r + 1}/λ_1 = {evf[-r - 1] / evf[-1]:.1e} (min λ {evf[0]:.1e}); "
          f"full λ_{r + 1}/λ_1 = {abs(ev[-r - 1]) / ev[-1]:.1e} (min λ {ev[0]:.1e})")

    do = min(args.oracle_d, d)
    print(f"\n[3] blow-up time on the softmax V = vI oracle (single head, d = {do}, default rtol 1e-10, "
          "blowup_threshold 1e8):")
    A = rng.standard_normal((do, do)) / np.sqrt(do)
    Go = rng.standard_normal((do, do)) / np.sqrt(do)
    S_o = np.eye(do) + 0.5 * Go @ Go.T
    v = 0.8
    iso = gf.attention("softmax", A=A, V=v * np.eye(do))
    T_star = softmax_blowup_time(S_o, A, v)
    for form in ("full", "factor"):
        t0 = time.perf_counter()
        tr = solve(iso, gf.Gaussian(np.zeros(do), S_o), (0.0, 2 * T_star), form=form,
                   t_eval=[0.0, T_star / 2])
        wall = time.perf_counter() - t0
        err = abs(tr.t_blowup - T_star) / T_star if tr.t_blowup is not None else float("nan")
        print(f"  {form:<7s} T* = {T_star:.12g}  estimate {tr.t_blowup!s:<20}  rel err {err:.1e}  "
              f"nfev {tr.nfev}  {wall:.2f} s  finite {bool(np.all(np.isfinite(tr.cov)))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
