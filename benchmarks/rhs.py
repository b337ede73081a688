"""Generated moment RHS vs a hand-written NumPy RHS, plus cold derive()+compile() time.

Usage::

    .venv/bin/python benchmarks/rhs.py                 # full run (d = 2, 64, 384)
    .venv/bin/python benchmarks/rhs.py --quick         # CI smoke (few repeats)
    .venv/bin/python benchmarks/rhs.py --d 2 64        # choose dimensions
    .venv/bin/python benchmarks/rhs.py --show-source   # also print the generated code

What is timed
-------------
* ``generated``: the raw generated function ``closure.compile().moments(alpha (d,1), Sigma,
  *att.prepared)`` — no input validation, parameter-only products precomputed by ``prepare``.
* ``hand``: the RHS a competent person writes from docs/math.md §2–3, with the same parameter-only
  products (A = βKᵀQ, C_h = W_h V_h, βKᵀK) precomputed outside the timed loop.

Before timing, both outputs are compared (normwise relative error ≤ 1e-10 for α̇ and Σ̇); a row
that disagrees is reported as MISMATCH and not timed.  Generated and hand-written calls are timed
in alternating blocks (ABBA order, GC off); the reported time is the median per-call time over
blocks.  BLAS threads are fixed once for the whole process (``--threads``, default 1) before NumPy
is imported, so both sides run under the same setting.

Rows marked ``info`` are extra reference implementations (not part of the PASS/FAIL target).
The exit code is 0 whatever the ratios: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import os
import sys


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="few repeats (CI smoke run)")
    ap.add_argument("--d", type=int, nargs="+", default=[2, 64, 384], metavar="D", help="dimensions")
    ap.add_argument(
        "--variants", nargs="+", default=["softmax", "multihead", "l2", "sinkhorn"],
        choices=["softmax", "multihead", "l2", "sinkhorn"], help="closed variants to time",
    )
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads for both sides (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-derive", action="store_true", help="skip the cold derive()+compile() timing")
    ap.add_argument("--show-source", action="store_true", help="print the generated moments() sources")
    args = ap.parse_args(argv)
    if any(d < 1 for d in args.d):
        ap.error("--d values must be positive")
    if args.threads < 1:
        ap.error("--threads must be >= 1")
    return args


ARGS = _parse(None) if __name__ == "__main__" else None
_NTHREADS = str(ARGS.threads if ARGS is not None else 1)
# Same BLAS setting for generated and hand-written code: set before NumPy is imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = _NTHREADS

import gc  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import gaussflow as gf  # noqa: E402

HEADS = 12
TARGET = 1.10
RTOL = 1e-10

# --------------------------------------------------------------------------- hand-written RHS
# Each maker takes the numeric parameters, does the parameter-only work once, and returns
# rhs(alpha (d,), Sigma (d,d)) -> (alpha_dot (d,), Sigma_dot (d,d)).


def _sqrtm_psd(M: np.ndarray) -> np.ndarray:
    w, U = np.linalg.eigh(M)
    return (U * np.sqrt(np.clip(w, 0.0, None))) @ U.T


def hand_softmax(Q, K, V, beta):
    A = beta * (K.T @ Q)

    def rhs(alpha, S):
        SA = S @ A
        P = (V @ SA) @ S                      # V Σ A Σ
        return V @ (alpha + SA @ alpha), P + P.T

    return rhs


def hand_multihead(Q, K, V, W, beta):
    """Stacked heads, batched matmul; J = Σ_h C_h Σ A_h reused for α̇ = (Σ_h C_h) α + J α."""
    C = W @ V                                  # (H, d, d)
    A = beta[:, None, None] * (K.transpose(0, 2, 1) @ Q)
    Csum = C.sum(axis=0)

    def rhs(alpha, S):
        J = ((C @ S) @ A).sum(axis=0)
        P = J @ S
        return Csum @ alpha + J @ alpha, P + P.T

    return rhs


def hand_multihead_loop(Q, K, V, W, beta):
    """info: the same formula with a Python loop over heads."""
    Cs = [np.ascontiguousarray(W[h] @ V[h]) for h in range(len(Q))]
    As = [np.ascontiguousarray(beta[h] * (K[h].T @ Q[h])) for h in range(len(Q))]
    Csum = sum(Cs)
    pairs = list(zip(Cs, As, strict=True))

    def rhs(alpha, S):
        J = pairs[0][0] @ S @ pairs[0][1]
        for C, A in pairs[1:]:
            J += C @ S @ A
        P = J @ S
        return Csum @ alpha + J @ alpha, P + P.T

    return rhs


def hand_multihead_lowrank(Q, K, V, W, beta):
    """C_h Σ A_h = W_h (V_h Σ K_hᵀ)(β_h Q_h), using rank(C_h) ≤ d_v (H·d_v ≈ d)."""
    H, dv, d = V.shape
    Vcat = V.reshape(H * dv, d)
    Kt = np.ascontiguousarray(K.transpose(0, 2, 1))      # (H, d, k)
    Qb = beta[:, None, None] * Q                          # (H, k, d)
    Wcat = np.ascontiguousarray(W.transpose(1, 0, 2).reshape(d, H * dv))
    Csum = (W @ V).sum(axis=0)

    def rhs(alpha, S):
        VS = (Vcat @ S).reshape(H, dv, d)
        U = (VS @ Kt) @ Qb                                # (H, d_v, d)
        J = Wcat @ U.reshape(H * dv, d)
        P = J @ S
        return Csum @ alpha + J @ alpha, P + P.T

    return rhs


def hand_l2(Q, K, V, beta):
    """J = βV(I + βΣKᵀK)⁻¹ΣKᵀQ, α̇ = V(I + βΣKᵀK)⁻¹(α + βΣKᵀQα): one LU, d + 1 right-hand sides."""
    B = beta * (K.T @ K)
    A = beta * (K.T @ Q)
    d = V.shape[0]

    def rhs(alpha, S):
        M = S @ B
        M.flat[:: d + 1] += 1.0
        SA = S @ A
        R = np.empty((d, d + 1))
        R[:, :d] = SA
        R[:, d] = alpha + SA @ alpha
        VX = V @ np.linalg.solve(M, R)
        P = VX[:, :d] @ S
        return VX[:, d], P + P.T

    return rhs


def hand_sinkhorn(Q, K, V, beta):
    """R = (I + 4Σ½AΣAᵀΣ½)½, MΣ = 2Σ½(I + R)⁻¹Σ½AΣ, Σ̇ = V(MΣ) + (MΣ)ᵀVᵀ, α̇ = Vα."""
    A = beta * (K.T @ Q)
    d = V.shape[0]

    def rhs(alpha, S):
        Sh = _sqrtm_psd(S)
        B = Sh @ A                             # Σ½A
        BS = B @ S                             # Σ½AΣ
        T = BS @ B.T                           # Σ½AΣAᵀΣ½
        T *= 4.0
        T.flat[:: d + 1] += 1.0
        R = _sqrtm_psd(T)
        R.flat[:: d + 1] += 1.0                # I + R
        P = V @ (2.0 * (Sh @ np.linalg.solve(R, BS)))
        return V @ alpha, P + P.T

    return rhs


# --------------------------------------------------------------------------- problem data


def make_params(name: str, d: int, rng: np.random.Generator) -> dict[str, Any]:
    if name == "multihead":
        k = dv = max(1, d // HEADS)
        return dict(
            Q=rng.standard_normal((HEADS, k, d)) / np.sqrt(d),
            K=rng.standard_normal((HEADS, k, d)) / np.sqrt(d),
            V=rng.standard_normal((HEADS, dv, d)) / np.sqrt(d),
            W=rng.standard_normal((HEADS, d, dv)) / np.sqrt(dv),
            beta=rng.uniform(0.5, 1.5, HEADS),
        )
    return dict(
        Q=rng.standard_normal((d, d)) / np.sqrt(d),
        K=rng.standard_normal((d, d)) / np.sqrt(d),
        V=rng.standard_normal((d, d)) / np.sqrt(d),
        beta=float(rng.uniform(0.5, 1.5)),
    )


def make_state(d: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = rng.standard_normal((d, d))
    S = X @ X.T / d + 0.1 * np.eye(d)
    S = 0.5 * (S + S.T)
    return rng.standard_normal(d), S


HAND: dict[str, list[tuple[str, Callable[..., Callable], bool]]] = {
    # variant -> [(row label, maker, counts_for_target)]
    "softmax": [("softmax", hand_softmax, True)],
    "multihead": [
        ("multihead", hand_multihead, True),
        ("multihead/loop", hand_multihead_loop, False),
        ("multihead/lowrank", hand_multihead_lowrank, True),
    ],
    "l2": [("l2", hand_l2, True)],
    "sinkhorn": [("sinkhorn", hand_sinkhorn, True)],
}

# --------------------------------------------------------------------------- timing


@dataclass
class Plan:
    block_s: float      # target wall time of one block of calls
    case_s: float       # target wall time per (row, d), both sides together
    min_rounds: int
    max_rounds: int


FULL = Plan(block_s=2e-3, case_s=3.5, min_rounds=30, max_rounds=150)
QUICK = Plan(block_s=1e-3, case_s=0.15, min_rounds=3, max_rounds=15)


def _once(f: Callable, a: tuple, reps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(reps):
        f(*a)
    return (time.perf_counter() - t0) / reps


def time_pair(fg: Callable, ag: tuple, fh: Callable, ah: tuple, plan: Plan) -> tuple[float, float, int]:
    """Median per-call seconds of (generated, hand) over alternating blocks; also calls per side."""
    for _ in range(3):  # warm-up
        fg(*ag)
        fh(*ah)
    est = max(_once(fg, ag, 3), _once(fh, ah, 3))
    n = max(1, int(plan.block_s / est))
    rounds = int(min(plan.max_rounds, max(plan.min_rounds, plan.case_s / (2 * n * est))))
    tg: list[float] = []
    th: list[float] = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            order = ((fg, ag, tg), (fh, ah, th)) if r % 2 == 0 else ((fh, ah, th), (fg, ag, tg))
            for f, a, out in order:
                out.append(_once(f, a, n))
    finally:
        if gc_was:
            gc.enable()
    return statistics.median(tg), statistics.median(th), n * rounds


def _relerr(x: np.ndarray, ref: np.ndarray) -> float:
    x = np.asarray(x, dtype=float).reshape(ref.shape)
    scale = np.linalg.norm(ref)
    return float(np.linalg.norm(x - ref) / scale) if scale > 0 else float(np.linalg.norm(x))


def bench_rhs(args: argparse.Namespace) -> list[dict[str, Any]]:
    plan = QUICK if args.quick else FULL
    rows: list[dict[str, Any]] = []
    shown: set[str] = set()
    for d in args.d:
        for name in args.variants:
            rng = np.random.default_rng([args.seed, d, len(name)])
            params = make_params(name, d, rng)
            alpha, S = make_state(d, rng)
            att = gf.attention(name, **params)
            compiled = att.compiled
            if args.show_source and name not in shown:
                shown.add(name)
                print(f"----- generated source: {name} -----\n{compiled.source}")
            gen = compiled.moments
            ag = (alpha[:, None].copy(), S, *att.prepared)
            g_a, g_S = gen(*ag)
            for label, maker, counted in HAND[name]:
                hand = maker(**params)
                ah = (alpha, S)
                h_a, h_S = hand(*ah)
                err = max(_relerr(g_a, np.asarray(h_a)), _relerr(g_S, np.asarray(h_S)))
                row = dict(variant=label, d=d, err=err, counted=counted, gen=None, hand=None, calls=0)
                if not err <= RTOL:
                    print(f"MISMATCH {label} d={d}: generated vs hand rel. error {err:.2e} > {RTOL:g}",
                          file=sys.stderr)
                else:
                    row["gen"], row["hand"], row["calls"] = time_pair(gen, ag, hand, ah, plan)
                rows.append(row)
                _print_row(row)
    return rows


def _fmt_us(s: float) -> str:
    us = s * 1e6
    return f"{us:,.1f}" if us < 1e4 else f"{us:,.0f}"


HEADER = (f"{'variant':<18} {'d':>4} {'generated µs':>13} {'hand µs':>11} {'gen/hand':>9} "
          f"{'':>6} {'calls/side':>10} {'rel.err':>8}")


def _print_row(r: dict[str, Any]) -> None:
    if r["gen"] is None:
        print(f"{r['variant']:<18} {r['d']:>4} {'-':>13} {'-':>11} {'-':>9} {'MISMATCH':>8} "
              f"{'-':>10} {r['err']:8.1e}", flush=True)
        return
    ratio = r["gen"] / r["hand"]
    mark = ("PASS" if ratio <= TARGET else "FAIL") if r["counted"] else "info"
    print(f"{r['variant']:<18} {r['d']:>4} {_fmt_us(r['gen']):>13} {_fmt_us(r['hand']):>11} "
          f"{ratio:>9.3f} {mark:>6} {r['calls']:>10} {r['err']:8.1e}", flush=True)


# --------------------------------------------------------------------------- cold derive


DERIVE = [("softmax", {}), ("multihead", {"heads": HEADS}), ("l2", {}), ("sinkhorn", {}),
          ("sigmoid", {}), ("unnormalized", {})]


def _clear_caches() -> None:
    from sympy.core.cache import clear_cache

    from gaussflow import codegen
    from gaussflow.symbolic import closure

    closure.clear_cache()
    codegen.clear_cache()
    clear_cache()


def bench_derive() -> None:
    print("\nCold derive()+compile() (gaussflow + SymPy caches cleared before each; target < 2 s)")
    print(f"{'variant':<18} {'derive s':>9} {'compile s':>10} {'total s':>8} {'':>5} generates")
    _clear_caches()
    gf.derive("softmax").compile()  # pay one-off lazy imports once, outside the measurements
    for name, opts in DERIVE:
        _clear_caches()
        t0 = time.perf_counter()
        c = gf.derive(name, **opts)
        t1 = time.perf_counter()
        cc = c.compile()
        t2 = time.perf_counter()
        what = "prepare, moments, velocity" if cc.jacobian is not None else "prepare, velocity, projected moments"
        label = name + (f" (H={opts['heads']})" if opts else "")
        mark = "PASS" if t2 - t0 < 2.0 else "FAIL"
        print(f"{label:<18} {t1 - t0:>9.3f} {t2 - t1:>10.3f} {t2 - t0:>8.3f} {mark:>5} {what}", flush=True)
    _clear_caches()


# --------------------------------------------------------------------------- main


def main(args: argparse.Namespace) -> int:
    t_start = time.perf_counter()
    print(f"gaussflow {gf.__version__}, NumPy {np.__version__}, BLAS threads = {_NTHREADS}, "
          f"{'quick' if args.quick else 'full'} run, d = {args.d}, multihead H = {HEADS}, "
          f"k = d_v = max(1, d // {HEADS})")
    print(f"Moment RHS: median per-call time; PASS if generated/hand <= {TARGET:.2f}; "
          f"outputs checked to rel. err <= {RTOL:g} first\n")
    print(HEADER)
    rows = bench_rhs(args)
    counted = [r for r in rows if r["counted"] and r["gen"] is not None]
    if counted:
        worst = max(counted, key=lambda r: r["gen"] / r["hand"])
        n_fail = sum(r["gen"] / r["hand"] > TARGET for r in counted)
        print(f"\n{len(counted) - n_fail}/{len(counted)} rows within {TARGET:.2f}; worst: {worst['variant']} "
              f"d={worst['d']} ratio {worst['gen'] / worst['hand']:.3f}")
    if not args.no_derive:
        bench_derive()
    print(f"\ntotal benchmark wall time {time.perf_counter() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    main(ARGS)
    sys.exit(0)
