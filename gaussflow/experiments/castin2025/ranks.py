"""The rank histograms: the authors' retry loop (``histograms.py``), batched by speculation."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .euler import SigmaRHS, euler_step
from .exact import exact_chunk
from .setup import EXACT_RTOL, HIST_THRESHOLD, QUICK_N_MAX, l2_params, softmax_params
from .summary import growth

# --------------------------------------------------------------------------------------------------------
# rank histograms
# --------------------------------------------------------------------------------------------------------
#: Counts printed by the authors' code (``histograms.py``; see tests/test_reproduce.py for the command):
#: per rank cell → histogram, exceptions, attempts.
AUTHORS_RANKS: dict[str, dict[str, Any]] = {
    "softmax_identity_d3": {"histogram": {"0": 3, "1": 48, "2": 49}, "exceptions": 0, "attempts": 100},
    "softmax_identity_d4": {"histogram": {"0": 11, "1": 47, "2": 42}, "exceptions": 0, "attempts": 100},
    "softmax_identity_d5": {"histogram": {"1": 5, "2": 54, "3": 41}, "exceptions": 0, "attempts": 103},
    "softmax_random_d3": {"histogram": {"0": 4, "1": 64, "2": 31}, "exceptions": 1, "attempts": 113},
    "softmax_random_d4": {"histogram": {"0": 21, "1": 68, "2": 11}, "exceptions": 0, "attempts": 592},
    "softmax_random_d5": {"histogram": {"1": 25, "2": 64, "3": 11}, "exceptions": 0, "attempts": 247},
    "l2_identity_d3": {"histogram": {"1": 32, "2": 68}, "exceptions": 0, "attempts": 100},
    "l2_identity_d4": {"histogram": {"1": 31, "2": 69}, "exceptions": 0, "attempts": 100},
    "l2_identity_d5": {"histogram": {"2": 46, "3": 54}, "exceptions": 0, "attempts": 100},
    "l2_random_d3": {"histogram": {"1": 50, "2": 50}, "exceptions": 0, "attempts": 101},
    "l2_random_d4": {"histogram": {"0": 4, "1": 64, "2": 32}, "exceptions": 0, "attempts": 102},
    "l2_random_d5": {"histogram": {"1": 22, "2": 68, "3": 10}, "exceptions": 0, "attempts": 107},
}

#: per cell: Euler steps for d = 3, 4, 5, tol, max_iter, n_max (attempts per dimension)
RANK_STEPS: dict[tuple[str, str], tuple[tuple[float, float, float], float, int, int]] = {
    ("softmax", "identity"): ((0.09, 0.05, 0.02), 1e-4, 60_000, 1_000),
    ("softmax", "random"): ((0.09, 0.06, 0.02), 5e-5, 90_000, 10_000),
    ("l2", "identity"): ((0.09, 0.06, 0.02), 1e-4, 60_000, 1_000),
    ("l2", "random"): ((0.15, 0.15, 0.15), 5e-5, 50_000, 1_000),
}
RANK_V_SEED = {"softmax": 26, "l2": 27}
RANK_DIMS: tuple[int, ...] = (3, 4, 5)
RANK_SAMPLES = 100
RANK_CELLS: tuple[str, ...] = tuple(f"{v}_{t}_d{d}" for v in ("softmax", "l2") for t in ("identity", "random")
                                    for d in RANK_DIMS)


def rank_draws(variant: str, vtype: str, samples: int = RANK_SAMPLES
               ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Weights of the rank histograms, drawn as the authors' ``histograms.py`` does.

    ``seed(40)``; one list of Q = randn(⌊d/2⌋, d) for d = 3 (``samples`` times), then 4, then 5.
    V = I, or ``seed(26)`` (softmax) / ``seed(27)`` (L2) and one list of M = randn(d, d), V = MᵀM in the
    same order. Entry ``samples·j + i`` belongs to sample i of dimension ``RANK_DIMS[j]``; K = −Q.

    Returns
    -------
    Qs, Vs : lists of ndarray, length 3·``samples``
    """
    dims = np.repeat(RANK_DIMS, samples)
    np.random.seed(40)
    Qs = [np.random.randn(d // 2, d) for d in dims]
    if vtype == "identity":
        return Qs, [np.eye(d) for d in dims]
    np.random.seed(RANK_V_SEED[variant])
    Ms = [np.random.randn(d, d) for d in dims]
    return Qs, [M.T @ M for M in Ms]


def sigma0_stream(d: int, n: int, seed: int = 41) -> np.ndarray:
    """The first ``n`` initial covariances of one dimension: ``seed(41)``, then Σ₀ = SSᵀ, S = randn(d, d)."""
    np.random.seed(seed)
    out = np.empty((n, d, d))
    for k in range(n):
        S = np.random.randn(d, d)
        out[k] = S @ S.T
    return out


def rank_params(variant: str, Q: np.ndarray, V: np.ndarray) -> dict[str, Any]:
    return softmax_params(Q, -Q, V) if variant == "softmax" else l2_params(Q, -Q, V)


@dataclass
class RankChain:
    """Outcome of the authors' ``create_histograms`` loop for one dimension.

    ``attempts`` lists (sample, attempt k, status, iters) in the order the loop consumes them;
    ``finals[s]`` / ``sigma0[s]`` / ``clipped[s]`` are the converged Σ, its Σ₀ and whether the PSD
    projection clipped a negative eigenvalue on the way, for each sample reached.
    """

    attempts: list[tuple[int, int, str, int]]
    finals: list[np.ndarray]
    sigma0: list[np.ndarray]
    clipped: list[bool]


def rank_chain(variant: str, plist: Sequence[dict[str, Any]], *, step: float, tol: float, max_iter: int,
               n_max: int, tol_high: float = 1e3, chunk: int = 200, lookahead: int = 30) -> RankChain:
    """The authors' retry loop, batched by speculation; same result as running it sequentially.

    Sample i = 0, 1, … takes the next Σ₀ of :func:`sigma0_stream`; if its Euler run does not converge,
    it takes the next one, and so on; the loop stops after ``len(plist)`` converged runs or ``n_max``
    attempts in total. The outcome of (sample i, attempt k) depends only on that pair, so pairs that
    the loop might reach next are integrated together (batch members with their own weights) and the
    loop is replayed on the finished ones every ``chunk`` steps; pairs it can no longer reach are
    dropped.

    Parameters
    ----------
    variant : {"softmax", "l2"}
    plist : sequence of dict
        Weights of sample i (:func:`sigma_rhs` parameters), one per sample.
    step, tol, max_iter, tol_high : Euler settings of :func:`euler_sigma`
    n_max : int
        Attempts allowed in total.
    chunk : int
        Steps between replays.
    lookahead : int
        Samples ahead of the first unresolved one that are integrated speculatively.

    Returns
    -------
    RankChain
    """
    n = len(plist)
    d = np.shape(plist[0]["V"])[0]
    rhs = SigmaRHS(variant, plist)
    stream = sigma0_stream(d, n_max)
    done: dict[tuple[int, int], tuple[str, int, np.ndarray, bool]] = {}
    started: set[tuple[int, int]] = set()
    pairs = np.zeros((0, 2), dtype=int)
    S = np.zeros((0, d, d))
    it = np.zeros(0, dtype=int)
    clp = np.zeros(0, dtype=bool)

    def replay() -> tuple[int, int, int, RankChain | None]:
        i = k = fails = 0
        att: list[tuple[int, int, str, int]] = []
        fin: list[np.ndarray] = []
        s0: list[np.ndarray] = []
        cl: list[bool] = []
        while i < n and k < n_max:
            r = done.get((i, k))
            if r is None:
                return i, k, fails, None
            att.append((i, k, r[0], r[1]))
            if r[0] == "converged":
                fin.append(r[2])
                s0.append(stream[k])
                cl.append(r[3])
                i, fails = i + 1, 0
            else:
                fails += 1
            k += 1
        return i, k, fails, RankChain(att, fin, s0, cl)

    def plan(i0: int, k0: int, fails: int) -> set[tuple[int, int]]:
        # Predicted path: a sample converges at its first attempt not known to have failed (failures are
        # mostly quick divergences, known after one chunk); each sample on the path also gets the next
        # few attempts as a hedge, more where failures have been frequent (r per success so far).
        # A pair still running well past the usual convergence time will likely hit max_iter: the path
        # then goes on as if it failed (the pair keeps running; if it converges after all, replay corrects).
        n_conv = sum(1 for q, v in done.items() if v[0] == "converged" and q[0] < i0)
        r = (k0 - i0) / max(n_conv, 1)
        conv_iters = [v[1] for v in done.values() if v[0] == "converged"]
        old = max(2 * chunk, int(1.5 * np.percentile(conv_iters, 90))) if len(conv_iters) >= 5 else max_iter
        age = dict(zip(map(tuple, pairs.tolist()), it.tolist(), strict=True))
        want: set[tuple[int, int]] = {(i0, k0 + f) for f in range(1 + min(2 ** fails, 64))}
        i, k = i0, k0
        while i < n and k < n_max and i < i0 + lookahead:
            while k < n_max:
                if (i, k) in done and done[(i, k)][0] != "converged":
                    k += 1
                elif age.get((i, k), 0) > old:
                    want.add((i, k))
                    k += 1
                else:
                    break
            want.update((i, k + f) for f in range(2 + math.ceil(r)))
            i, k = i + 1, k + 1
        return {q for q in want if q[1] < n_max}

    with np.errstate(all="ignore"):
        while True:
            i0, k0, fails, res = replay()
            if res is not None:
                return res
            want = plan(i0, k0, fails)
            new = [p for p in want if p[1] < n_max and p not in started]
            if new:
                started.update(new)
                a = np.array(new, dtype=int)
                pairs = np.concatenate([pairs, a])
                S = np.concatenate([S, stream[a[:, 1]]])
                it = np.concatenate([it, np.zeros(len(a), dtype=int)])
                clp = np.concatenate([clp, np.zeros(len(a), dtype=bool)])
            # drop running pairs the current plan does not need
            keep = np.array([tuple(q) in want for q in pairs.tolist()], dtype=bool)
            if not np.all(keep):
                for p in map(tuple, pairs[~keep]):
                    started.discard(p)
                pairs, S, it, clp = pairs[keep], S[keep], it[keep], clp[keep]
            for _ in range(chunk):
                if len(S) == 0:
                    break
                nrm, S_new, tr, clip = euler_step(rhs, S, step, pairs[:, 0])
                clp = clp | clip
                conv = nrm < tol
                div = ~conv & (tr > tol_high)
                last = it == max_iter - 1
                stop = conv | div | last | (~conv & ~div & ~np.isfinite(tr))
                if np.any(stop):
                    for m in np.flatnonzero(stop):
                        st = "converged" if conv[m] else "diverged" if div[m] else "max_iter"
                        done[(int(pairs[m, 0]), int(pairs[m, 1]))] = (
                            st, int(it[m]) if st != "max_iter" else max_iter, S[m].copy(), bool(clp[m]))
                    go = ~stop
                    pairs, S, it, clp = pairs[go], S_new[go], it[go] + 1, clp[go]
                else:
                    S, it = S_new, it + 1


#: rough cost order of the cells (slowest first), so that a pool of workers finishes them soonest
CELL_COST_ORDER: tuple[str, ...] = (
    "softmax_random_d5", "l2_random_d5", "l2_random_d4", "softmax_random_d4", "softmax_identity_d5",
    "softmax_identity_d4", "l2_random_d3", "softmax_random_d3", "l2_identity_d5", "l2_identity_d4",
    "softmax_identity_d3", "l2_identity_d3",
)


def rank_cell(cell: str, samples: int, schemes: Sequence[str], max_iter_cap: int | None) -> dict[str, Any]:
    """One cell ``{variant}_{V}_d{d}`` of the rank histograms: the Euler retry loop, then the exact solver
    from the same Σ₀ (in this process; the driver runs cells in parallel workers)."""
    variant, vtype, dd = cell.split("_")
    d = int(dd[1:])
    j = RANK_DIMS.index(d)
    steps, tol, max_iter, n_max = RANK_STEPS[(variant, vtype)]
    if max_iter_cap is not None:
        max_iter, n_max = min(max_iter, max_iter_cap), min(n_max, QUICK_N_MAX)
    Qs, Vs = rank_draws(variant, vtype, RANK_SAMPLES)
    step = steps[j]
    keep_max = (d + 1) // 2
    plist = [rank_params(variant, Qs[RANK_SAMPLES * j + i], Vs[RANK_SAMPLES * j + i]) for i in range(samples)]
    out: dict[str, Any] = {"variant": variant, "V": vtype, "d": d, "step": step, "tol": tol,
                           "max_iter": max_iter, "n_max": n_max, "samples": samples}
    t0 = time.perf_counter()
    ch = rank_chain(variant, plist, step=step, tol=tol, max_iter=max_iter, n_max=n_max)
    if "euler" in schemes:
        ranks = [int(np.sum(np.linalg.eigvalsh(F) > HIST_THRESHOLD)) for F in ch.finals]
        kept = [r for r in ranks if r <= keep_max]
        fails = Counter(a[2] for a in ch.attempts if a[2] != "converged")
        out["euler"] = {"histogram": {str(k): v for k, v in sorted(Counter(kept).items())},
                        "converged": len(ch.finals), "exceptions": sum(r > keep_max for r in ranks),
                        "attempts": len(ch.attempts), "failed": dict(fails), "ranks": ranks,
                        "clipped": int(sum(ch.clipped)), "seconds": time.perf_counter() - t0}
    if "exact" in schemes:
        t1 = time.perf_counter()
        horizon = max_iter * step
        ex = [exact_chunk(variant, plist[s], ch.sigma0[s][None], horizon, False, EXACT_RTOL)[0]
              for s in range(len(ch.sigma0))]
        ranks = [int(np.sum(np.linalg.eigvalsh(r["final"]) > HIST_THRESHOLD)) for r in ex]
        conv = [growth(r["kind"]) == "converges" for r in ex]
        kept = [r for r, c in zip(ranks, conv, strict=True) if c and r <= keep_max]
        out["exact"] = {"histogram": {str(k): v for k, v in sorted(Counter(kept).items())},
                        "converged": int(sum(conv)), "kinds": dict(Counter(r["kind"] for r in ex)),
                        "exceptions": int(sum(r > keep_max for r, c in zip(ranks, conv, strict=True) if c)),
                        "ranks": ranks, "horizon": horizon, "seconds": time.perf_counter() - t1}
    if "euler" in out and "exact" in out:
        out["rank_mismatch"] = int(sum(a != b for a, b in zip(out["euler"]["ranks"], out["exact"]["ranks"],
                                                               strict=True)))
    return out
