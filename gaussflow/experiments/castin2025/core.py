"""Reproduce the Gaussian experiments of Castin, Ablin, Carrillo & Peyré (2025), twice.

The public code of that paper evolves **only Σ** with explicit Euler + PSD projection

    Σ ← Π(Σ + h Σ̇(Σ)),   Π(Σ) = U diag(λ') Uᵀ, λ'_j = 1e-14 where λ_j < 0, else λ_j,

and stops a trajectory when ‖Σ̇‖_F < tol ("converged", tested first), tr Σ > tol_high ("diverged") or
after max_iter steps; with the authors' draws (legacy ``np.random``) every count equals what their scripts
print (:data:`AUTHORS_2D`, :data:`AUTHORS_RANKS`). :func:`reproduce_castin2025` runs every experiment of
docs/math.md §6 with

1. that scheme ("euler", faithful: same draws, same steps, same stopping rules, batched over the
   whole grid of initial Σ₀ in NumPy), and
2. the exact adaptive moment solver :func:`gaussflow.integrate.solve.solve` ("exact", the truth: DOP853,
   blow-up time T* by extrapolation, regime by :func:`gaussflow.diagnostics.spectrum.classify`),

and reports where the two disagree. The mean is irrelevant: for softmax, multi-head, L2 and Sinkhorn
attention Σ̇ = JΣ + ΣJᵀ with J independent of α (docs/math.md §3), so the exact runs start at α₀ = 0.

Σ-only right-hand sides (our notation, score yᵀAx, docs/math.md §3), P := JΣ and Σ̇ = P + Pᵀ:

* softmax      P = VΣAΣ
* multi-head   P = Σ_h C_h Σ A_h Σ
* L2           P = βVΣ(I + βKᵀKΣ)⁻¹KᵀQΣ
* Sinkhorn     P = V·2ΣAΣ^{1/2}(I + R)⁻¹Σ^{1/2},  R = (I + 4Σ^{1/2}AᵀΣAΣ^{1/2})^{1/2}

The authors' conventions map onto ours as written in docs/castin2025.md (softmax / L2: A = KᵀQ/√d,
their L2 = ours with β = 2 and Q/√d; multi-head: rows of Q, K, V split in blocks of k = d/H,
A_h = K_hᵀQ_h/√k, C_h = E_h V with E_h the coordinate projection of block h; Sinkhorn A = KᵀQ).

References
----------
V. Castin, P. Ablin, J. A. Carrillo, G. Peyré, "A Unified Perspective on the Dynamics of Deep
Transformers", arXiv:2501.18322 (2025).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..._io import check_writable
from ..._progress import ProgressBar, echo, progress_bar, resolve
from . import cache as cell_cache
from .euler import euler_sigma
from .exact import Pool
from .figures import figure_grid, figure_ranks
from .ranks import AUTHORS_RANKS, CELL_COST_ORDER, RANK_CELLS, RANK_SAMPLES, rank_cell
from .setup import (
    AUTHORS_2D,
    EXACT_ATOL,
    EXACT_RTOL,
    EXPERIMENT_KEYS,
    HIST_THRESHOLD,
    PSD_FLOOR,
    QUICK_GRID,
    QUICK_MAX_ITER,
    QUICK_SAMPLES,
    RANK_RTOL,
    SCHEMES,
    Run,
    experiment,
    initial_grid,
)
from .summary import explain, summarize_run


# --------------------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------------------
def _outputs(out_dir: Path, keys: Sequence[str]) -> list[Path]:
    files = [out_dir / f"castin2025_{k}.png" for k in keys]
    return files + [out_dir / "castin2025_report.md", out_dir / "castin2025_summary.json"]


def _fmt_counts(c: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1])) or "—"


def _report_run(s: dict[str, Any]) -> list[str]:
    L = [f"### {s['label']} (Euler step {s['step']:g}, tol {s['tol']:g}, tol_high {s['tol_high']:g}, "
         f"max_iter {s['max_iter']:g}; exact horizon t = {s['exact_horizon']:g}; {s['n_members']} Σ₀)"]
    a = s.get("authors")
    if a is not None:
        same = "equal" if s.get("matches_authors") else "DIFFERENT"
        L.append(f"- authors' code (2d_plots.py): {_fmt_counts(a['counts'])}; top directions {a['directions_deg']} "
                 f"— faithful Euler below: {same}")
    if "euler" in s:
        e = s["euler"]
        st = e["stop_time"]
        L.append(f"- Euler: {_fmt_counts(e['counts'])}; PSD clipping in {e['clipped']} runs; stop time iters·h "
                 f"median {st['median']:.4g} (range {st['min']:.4g}–{st['max']:.4g}); final rank (λ/λmax > "
                 f"{RANK_RTOL:g}) {_fmt_counts({str(k): v for k, v in e['final_rank'].items()})}; top directions "
                 f"(deg, count) {e['directions_deg']}")
    if "exact" in s:
        x = s["exact"]
        tb = x["t_blowup"]
        tbs = f"T* {tb['min']:.4g}–{tb['max']:.4g} (median {tb['median']:.4g}, n = {tb['n']})" if tb else "no T*"
        L.append(f"- exact: {_fmt_counts(x['counts'])}; solver status {_fmt_counts(x['status'])}; {tbs}; final "
                 f"rank {_fmt_counts({str(k): v for k, v in x['final_rank'].items()})}; top directions "
                 f"{x['directions_deg']}")
    if "comparison" in s:
        c = s["comparison"]
        L.append(f"- Euler status / exact regime: {_fmt_counts(c['cross'])}")
        for line in s.get("explanations", []):
            L.append(f"  - {line}")
    return L


def reproduce_castin2025(
    out_dir: str | os.PathLike[str],
    *,
    scheme: str = "both",
    experiments: Sequence[str] = EXPERIMENT_KEYS,
    quick: bool = False,
    force: bool = False,
    workers: int | None = None,
    rank_cells: Sequence[str] | None = None,
    full: bool = False,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Run the Gaussian experiments of Castin et al. (2025) with the authors' Euler scheme and/or exactly.

    Parameters
    ----------
    out_dir : path
        Directory for ``castin2025_<key>.png`` (one per experiment), ``castin2025_report.md`` and
        ``castin2025_summary.json``; created if missing.
    scheme : {"both", "exact", "euler"}
        "euler" = Σ-only explicit Euler + PSD projection with the authors' stopping rules (faithful);
        "exact" = :func:`gaussflow.integrate.solve.solve` from every Σ₀ (truth); "both" compares them.
    experiments : sequence of {"a", "b", "c", "d", "e", "f", "ranks"}
        Which rows of docs/math.md §6 to run.
    quick : bool
        Coarse version for tests: 4 × 4 grids, Euler max_iter capped at 800 (exact horizons capped
        accordingly), 3 rank samples per cell.
    force : bool
        Overwrite existing output files.
    rank_cells : sequence of str, optional
        Rank-histogram cells to run (``softmax_identity_d3`` …; default all 12).
    workers : int, optional
        Processes for the exact runs (default 2; 1 runs in-process).
    full : bool
        Compute every rank cell. Otherwise the two slowest cells (:data:`.cache.SLOW_CELLS`) are read from
        ``castin2025_cells.json`` in ``out_dir`` when it holds them with the same settings (a previous full
        run wrote it; the report says which cells were read); computed slow cells are written there.
    progress : bool, optional
        A bar on stderr over the stages (each experiment's Euler grid, each collected exact grid, each rank
        cell), drawn by this process as the workers' results arrive (workers never draw). Default: only when
        stderr is a terminal and not under ``--quiet``; the stage lines go through
        :func:`gaussflow._progress.echo` (silent under ``--quiet``).

    Returns
    -------
    dict
        ``experiments`` (key → summary with per-run counts, per-member outcomes and comparison),
        ``report`` (Markdown text), ``files`` (written paths), ``elapsed`` (seconds).

    Raises
    ------
    ValueError
        Unknown ``scheme`` / experiment key, or an output file exists and ``force`` is False.
    """
    t_start = time.perf_counter()
    if scheme not in SCHEMES:
        raise ValueError(f"`scheme` must be one of {SCHEMES}; got {scheme!r}")
    if isinstance(experiments, str):
        experiments = (experiments,)
    keys = list(dict.fromkeys(experiments))
    bad = [k for k in keys if k not in EXPERIMENT_KEYS]
    if bad or not keys:
        raise ValueError(f"`experiments` must be a non-empty subset of {EXPERIMENT_KEYS}; got {list(experiments)!r}")
    keys = [k for k in EXPERIMENT_KEYS if k in keys]
    if workers is None:
        workers = 1 if quick else 2
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"`workers` must be a positive integer; got {workers!r}")
    out = Path(out_dir)
    files = _outputs(out, keys)
    check_writable(files, force, hint="pass force=True (CLI: --force)")
    out.mkdir(parents=True, exist_ok=True)
    schemes = {"euler", "exact"} if scheme == "both" else {scheme}
    cap = QUICK_MAX_ITER if quick else None
    resolve(progress)
    pool = Pool(workers)
    cells = [c for c in CELL_COST_ORDER if rank_cells is None or c in rank_cells] if "ranks" in keys else []
    stages = 2 * sum(k != "ranks" for k in keys) + len(cells)
    with progress_bar(stages, "castin2025", progress) as bar:
        return _reproduce(out, keys, scheme, schemes, quick, full, cells, cap, pool, files, t_start, bar)


def _reproduce(out: Path, keys: list[str], scheme: str, schemes: set[str], quick: bool, full: bool, cells: list[str],
               cap: int | None, pool: Pool, files: list[Path], t_start: float, bar: ProgressBar) -> dict[str, Any]:
    """The body of :func:`reproduce_castin2025`, one ``bar`` stage per Euler grid, exact grid and rank cell."""
    summary: dict[str, Any] = {}
    report = ["# Castin et al. (2025), arXiv:2501.18322 — Euler (authors' scheme) vs exact",
              "", f"scheme = {scheme}, quick = {quick}. Euler = Σ-only explicit Euler + PSD projection (eigenvalues "
              f"clipped at {PSD_FLOOR:g}), stops at ‖Σ̇‖_F < tol / tr Σ > tol_high / max_iter. Exact = "
              f"gaussflow.integrate.solve.solve (DOP853, rtol {EXACT_RTOL:g}, atol {EXACT_ATOL:g}), regime from "
              "gaussflow.diagnostics.spectrum.classify. Conventions: docs/castin2025.md.", ""]
    try:
        # the rank cells (the longest tasks, slowest first) go to the workers first, then every exact grid
        # run; the Euler grids run here meanwhile
        samples = QUICK_SAMPLES if quick else RANK_SAMPLES
        cached = {} if (full or quick) else cell_cache.load(out, [c for c in cells if c in cell_cache.SLOW_CELLS],
                                                             samples, sorted(schemes))
        cell_jobs = {c: (lambda r=cached[c]: r) if c in cached else pool.submit(rank_cell, c, samples, sorted(schemes),
                                                                                 cap)
                     for c in cells}
        prepared: dict[str, Any] = {}
        for key in keys:
            if key == "ranks":
                continue
            exp = experiment(key)
            n = QUICK_GRID if quick else exp.grid
            S0 = initial_grid(n, exp.half_width)
            runs = [r if cap is None else Run(r.label, r.variant, r.params, r.step, r.tol, r.tol_high,
                                              min(r.max_iter, cap), min(r.horizon, cap * r.step), r.exact_rtol,
                                              r.exact_form)
                    for r in exp.runs]
            pending = [(r, pool.map_members(r.variant, r.params, S0, r.horizon, rtol=r.exact_rtol, form=r.exact_form)
                        if "exact" in schemes else None) for r in runs]
            prepared[key] = (exp, n, S0, pending)
        # every Euler grid here while the workers integrate; only then wait for the exact results
        eulers: dict[str, list[Any]] = {}
        for key, (exp, _n, S0, pending) in prepared.items():
            t0 = time.perf_counter()
            with bar.stage(f"({key}) Euler grid"):
                eulers[key] = [euler_sigma(r.variant, r.params, S0, step=r.step, tol=r.tol, tol_high=r.tol_high,
                                           max_iter=r.max_iter) if "euler" in schemes else None for r, _ in pending]
            echo(f"  ({key}) {exp.title}: Euler for {len(pending)} variants × {len(S0)} Σ₀ in "
                 f"{time.perf_counter() - t0:.1f} s")
        for key in keys:
            t0 = time.perf_counter()
            if key == "ranks":
                echo(f"  ranks: {len(cells)} cells (softmax / L2, V = I / random, d = 3, 4, 5)")
                res_r: dict[str, Any] = {}
                for c in RANK_CELLS:
                    if c in cell_jobs:
                        with bar.stage(f"rank cell {c}"):
                            res_r[c] = cell_jobs[c]()
                        work = sum(res_r[c].get(s_, {}).get("seconds", 0.0) for s_ in ("euler", "exact"))
                        how = f"read from {cell_cache.CACHE_NAME}" if c in cached else f"{work:.1f} s in a worker"
                        echo(f"    {c}: done ({how})")
                if not quick and any(c in cell_cache.SLOW_CELLS and c not in cached for c in res_r):
                    files.append(cell_cache.save(out, res_r, samples, sorted(schemes)))
                if not quick:
                    for cell, r in res_r.items():
                        a = AUTHORS_RANKS.get(cell)
                        if a is not None:
                            r["authors"] = a
                            if "euler" in r:
                                r["matches_authors"] = all(r["euler"][f] == a[f]
                                                           for f in ("histogram", "exceptions", "attempts"))
                figure_ranks(res_r, out / "castin2025_ranks.png")
                summary["ranks"] = res_r
                work = sum(r.get(s_, {}).get("seconds", 0.0) for c, r in res_r.items() if c not in cached
                           for s_ in ("euler", "exact"))
                report += _report_ranks(res_r, work)
                if cached:
                    report += [f"Cells {', '.join(sorted(cached))} were read from {cell_cache.CACHE_NAME} (written by "
                               "`gaussflow reproduce castin2025 --full`, same settings); `--full` recomputes them.", ""]
                continue
            exp, n, S0, pending = prepared[key]
            with bar.stage(f"({key}) exact grid"):
                results = [(r, eu, get() if get is not None else None)
                           for (r, get), eu in zip(pending, eulers[key], strict=True)]
                echo(f"  ({key}) exact runs collected")
                figure_grid(exp, S0, results, out / f"castin2025_{key}.png", n)
            runs_s = []
            for r, eu, ex in results:
                s = summarize_run(r, S0, eu, ex)
                a = AUTHORS_2D.get(f"{key}/{r.label}") if not quick else None
                if a is not None:
                    s["authors"] = a
                    if "euler" in s:
                        s["matches_authors"] = (s["euler"]["counts"] == a["counts"]
                                                and s["euler"]["directions_deg"] == a["directions_deg"])
                if "comparison" in s:
                    s["explanations"] = explain(r, s["comparison"])
                runs_s.append(s)
            summary[key] = {"title": exp.title, "grid": n, "half_width": exp.half_width,
                            "draws": {k: np.asarray(v).tolist() for k, v in exp.draws.items()}, "runs": runs_s,
                            "seconds": time.perf_counter() - t0}
            report += [f"## ({key}) {exp.title}", "",
                       f"Draws: {_fmt_draws(exp.draws)}; grid {n}×{n} on [−{exp.half_width:g}, "
                       f"{exp.half_width:g}]², {len(S0)} trace-one Σ₀; {time.perf_counter() - t0:.1f} s.", ""]
            for s in runs_s:
                report += _report_run(s) + [""]
    finally:
        pool.close()
    elapsed = time.perf_counter() - t_start
    report += [f"Total time: {elapsed:.1f} s.", ""]
    text = "\n".join(report)
    (out / "castin2025_report.md").write_text(text, encoding="utf-8")
    (out / "castin2025_summary.json").write_text(
        json.dumps({"paper": "arXiv:2501.18322", "scheme": scheme, "quick": quick, "elapsed": elapsed,
                    "experiments": summary}, default=_json_default), encoding="utf-8")
    return {"experiments": summary, "report": text, "files": [str(p) for p in files], "elapsed": elapsed}


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def _fmt_draws(D: dict[str, Any]) -> str:
    parts = []
    for k, v in D.items():
        a = np.asarray(v)
        parts.append(f"{k} = {np.array2string(a, precision=4, separator=', ')}" if a.ndim else f"{k} = {v}")
    return "; ".join(parts).replace("\n", "")


def _report_ranks(res: dict[str, Any], seconds: float) -> list[str]:
    L = ["## (ranks) limiting ranks, d = 3, 4, 5", "",
         f"Rank = #eigenvalues of the final Σ above {HIST_THRESHOLD:g}; a converged run with rank > (d+1)//2 (the "
         "kernel dimension of A + Aᵀ = −2QᵀQ/√d) is an exception; a run that does not converge is retried with "
         f"the next Σ₀ of the seed-41 stream (the authors' loop); {seconds:.1f} s of worker time.", "",
         "| cell (h) | authors' histogram, exc., attempts | Euler histogram | exc. | attempts (failed) | "
         "PSD-clipped | exact histogram | exact regimes | rank Euler ≠ exact |",
         "|---|---|---|---|---|---|---|---|---|"]
    for k, r in res.items():
        e, x, a = r.get("euler"), r.get("exact"), r.get("authors")
        au = f"{a['histogram']}, {a['exceptions']}, {a['attempts']}" if a else "—"
        if a and e:
            au += " (equal)" if r.get("matches_authors") else " (DIFFERENT)"
        L.append(f"| {k} ({r['step']:g}) | {au} | {e['histogram'] if e else '—'} | {e['exceptions'] if e else '—'} | "
                 f"{e['attempts'] if e else '—'} ({_fmt_counts(e['failed']) if e else '—'}) | "
                 f"{e['clipped'] if e else '—'}/{e['converged'] if e else '—'} | {x['histogram'] if x else '—'} | "
                 f"{_fmt_counts(x['kinds']) if x else '—'} | {r.get('rank_mismatch', '—')} |")
    L += ["", "Why Euler and exact differ here: the Euler step is large (h up to 0.15) against the fast "
          "eigenvalues; when a decaying eigenvalue of Σ + hΣ̇ is pushed below zero the projection sets it to 1e-14, "
          "so that direction is lost for good and the Euler rank is lower than the exact flow's (column "
          "'PSD-clipped' counts the converged Euler runs that were clipped). Euler also stops at ‖Σ̇‖_F < tol while "
          "slowly decaying eigenvalues (~1/t) can still sit above the 0.1 threshold; the exact run continues to "
          "max_iter·h. With V random some runs do not converge for Euler (tr Σ > 1e3 or max_iter) and the loop "
          "moves on to the next Σ₀, so the two schemes' samples can also use different Σ₀ for the same (Q, V).", ""]
    return L


# --------------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``gaussflow reproduce castin2025`` beyond the common ``--out/--force/--quick/--full``."""
    p.add_argument("--scheme", choices=SCHEMES, default="both",
                   help="euler: the authors' Σ-only explicit Euler + PSD projection; exact: gaussflow's ODE "
                        "solve; both: run both and compare them (default: %(default)s)")
    p.add_argument("--workers", type=int, default=None,
                   help="processes for the exact runs and the rank cells; 1 runs everything in this process "
                        "(default: 2, or 1 with --quick)")
    p.add_argument("--only", nargs="+", choices=EXPERIMENT_KEYS, metavar="KEY",
                   help=f"experiments to run, among {' '.join(EXPERIMENT_KEYS)} (default: all)")
    p.add_argument("--cells", nargs="+", choices=RANK_CELLS, metavar="CELL",
                   help="rank-histogram cells to run, e.g. softmax_random_d5 (default: all 12)")


def main(args: argparse.Namespace) -> int:
    """Run :func:`reproduce_castin2025` with the parsed options; print the files written."""
    keys = tuple(args.only or EXPERIMENT_KEYS)
    echo(f"reproduce castin2025: experiments {' '.join(keys)}, scheme {args.scheme}"
         f"{', quick' if args.quick else ', full' if args.full else ''}; writing into {args.out}")
    res = reproduce_castin2025(args.out, scheme=args.scheme, experiments=keys, quick=args.quick, force=args.force,
                               rank_cells=args.cells, full=args.full, workers=args.workers)
    for p in res["files"]:
        echo(f"wrote {p}")
    echo(f"done in {res['elapsed']:.1f} s")
    return 0


__all__ = ["add_arguments", "main", "reproduce_castin2025"]
