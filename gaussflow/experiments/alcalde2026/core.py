"""Driver of ``gaussflow reproduce alcalde2026``: runs, figures, report, summary JSON, curves npz."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..._io import check_writable, jsonable, save_npz, write_atomic
from ..._progress import echo, logger, progress_bar
from . import figures, runs
from .report import report

OUTPUTS = ("w2.png", "floor.png", "particles.png", "terminal.png", "gaussian.png", "report.md", "summary.json",
           "curves.npz")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options beyond the common --out/--force/--quick/--full."""


def summary(res: dict[str, Any], size: str, seconds: dict[str, float], command: str) -> dict[str, Any]:
    """The numbers of the report (JSON types)."""
    c = res["concentration"]
    t_max = float(c["t"][-1])
    conc: dict[str, Any] = {"t_max": t_max, "fits": c["fits"]}
    for geom in ("interval", "disk"):
        rows = []
        for b, r in c[geom].items():
            w = r["window"]
            bound = math.sqrt(math.log(b + 1) / b)
            rows.append({"beta": b, **w, "floor_beta_over_log_beta": w["floor"] * b / math.log(b), "bound": bound,
                         "floor_over_bound": w["floor"] / bound, "w2_end": float(r["w2"][-1]),
                         "rise_at_end": float(r["w2"][-1] / w["floor"] - 1.0), "nodes": r["nodes"],
                         "nfev": r["nfev"], "wall_time": r["wall_time"]})
        conc[geom] = rows
    parts = []
    for b, row in res["particles"]["runs"].items():
        for N, p in row["particles"].items():
            parts.append({"beta": b, "N": N, "mean_field_floor": row["mean_field_floor"], "floor": p["floor"],
                          "max_rel_err": p["max_rel_err"], "wall_time": p["wall_time"]})
    tc = res["terminal_cube"]
    td = res["terminal_disk"]["ring"]
    lg = res["terminal_disk"]["long"]
    long_runs = {}
    for name, p in lg["runs"].items():
        long_runs[name] = {
            "spectrum": ", ".join(f"{complex(z):.3g}".strip("()").replace("+0j", "") for z in p["spectrum"]),
            "clusters_t": [int(n) for n in p["clusters"]], "clusters_end": int(p["clusters"][-1]),
            "centres": p["centres"], "masses": p["masses"], "cov_eigenvalues_end": p["cov_eigenvalues"],
            "top_direction": p["top_direction"], "alignment": p["alignment_with_smallest_eigenvector"],
            "status": p["status"], "wall_time": p["wall_time"]}
    small = np.nonzero(td["mean_field_mean_radius"] < 0.01)[0]
    collapse = float(td["t"][small[0]]) if small.size else None
    g = res["gaussian"]
    trunc = [{"beta": b, **r["window"], "floor_beta_over_log_beta": r["window"]["floor"] * b / math.log(b)}
             for b, r in g["truncated"].items()]
    return {
        "paper": "Alcalde, Bungert, Riedl, Roith (2026), arXiv 2605.10931", "size": size, "command": command,
        "seconds": seconds, "seconds_total": sum(seconds.values()), "concentration": conc, "particles": parts,
        "terminal_cube": {"beta": tc["beta"], "cases": {k: v["window"] for k, v in tc["cases"].items()}},
        "terminal_disk": {"beta": td["beta"], "N": td["N"], "ring_t_star": td["ring_t_star"],
                          "ring_r_star": td["ring_r_star"], "mean_field_w2_end": float(td["mean_field_w2"][-1]),
                          "ring_collapse_time": collapse, "ring_collapse_predicted": td["ring_t_star"]
                          + td["beta"] * td["ring_r_star"] ** 2,
                          "particles_dist_end": float(td["particles_dist_to_circle"][-1]),
                          "particles_radius_end": float(td["particles_mean_radius"][-1]),
                          "particles_clusters_end": int(td["particles_clusters"][-1]),
                          "t_end": float(td["t"][-1])},
        "terminal_long": {"beta": lg["beta"], "N": lg["N"], "t_end": float(lg["t"][-1]), "t": lg["t"],
                          "runs": long_runs},
        "gaussian": {"sigma0": g["sigma0"], "blowup": g["blowup"], "truncated_sigma": g["truncated_sigma"],
                     "truncated": trunc},
    }


def _curves(res: dict[str, Any]) -> dict[str, np.ndarray]:
    c = res["concentration"]
    arrays = {"t": c["t"]}
    for geom in ("interval", "disk"):
        for b, r in c[geom].items():
            arrays[f"{geom}_w2_beta{b:g}"] = r["w2"]
    p = res["particles"]
    arrays["particles_t"] = p["t"]
    for b, row in p["runs"].items():
        arrays[f"particles_mean_field_beta{b:g}"] = row["mean_field"]
        for N, r in row["particles"].items():
            arrays[f"particles_w2_beta{b:g}_N{N}"] = r["w2"]
    return arrays


def reproduce_alcalde2026(out: str | Path = "figures", size: str = "default", force: bool = False,
                          log: Any = None, command: str = "gaussflow reproduce alcalde2026",
                          progress: bool | None = None) -> dict[str, Any]:
    """Run everything at ``size`` ("quick", "default", "full"); write figures/alcalde2026_*; return the summary.

    ``log(line)`` gets one line per finished part (default :func:`gaussflow._progress.echo`: stdout, silent
    under ``--quiet``); ``progress``: a bar on stderr over the five parts and the figures (default: when stderr
    is a terminal).
    """
    log = logger(log)
    if size not in runs.SIZES:
        raise ValueError(f"`size` must be one of {sorted(runs.SIZES)}; got {size!r}")
    outp = Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    check_writable([outp / f"alcalde2026_{name}" for name in OUTPUTS], force)
    S = runs.SIZES[size]
    res: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    parts = (("concentration", runs.concentration), ("particles", runs.particles_vs_mean_field),
             ("terminal_cube", runs.terminal_cube), ("terminal_disk", runs.terminal_disk),
             ("gaussian", runs.gaussian_section))
    with progress_bar(len(parts) + 1, "alcalde2026", progress) as bar:
        for key, job in parts:
            t0 = time.perf_counter()
            with bar.stage(key):
                res[key] = job(S)
            seconds[key] = round(time.perf_counter() - t0, 2)
            log(f"alcalde2026: {key} done in {seconds[key]:.1f} s")
        t0 = time.perf_counter()
        with bar.stage("figures"):
            figures.concentration(res["concentration"], outp)
            figures.floors(res["concentration"], outp)
            figures.particles(res["particles"], outp)
            figures.terminal(res["terminal_cube"], res["terminal_disk"], outp)
            figures.gaussian(res["gaussian"], res["concentration"], outp)
        seconds["figures"] = round(time.perf_counter() - t0, 2)
    summ = summary(res, size, seconds, command)
    write_atomic(outp / "alcalde2026_summary.json", lambda fh: fh.write(json.dumps(jsonable(summ), indent=1)), mode="w")
    write_atomic(outp / "alcalde2026_report.md", lambda fh: fh.write(report(summ)), mode="w")
    save_npz(outp / "alcalde2026_curves.npz", _curves(res), {"size": size, "command": command})
    return summ


def main(args: argparse.Namespace) -> int:
    size = "quick" if getattr(args, "quick", False) else "full" if getattr(args, "full", False) else "default"
    flag = {"quick": " --quick", "full": " --full", "default": ""}[size]
    echo(f"reproduce alcalde2026: size {size}; writing into {args.out}")
    reproduce_alcalde2026(args.out, size=size, force=args.force,
                          command=f"gaussflow reproduce alcalde2026 --out {args.out}{flag}")
    for name in OUTPUTS:
        echo(f"wrote {Path(args.out) / f'alcalde2026_{name}'}")
    return 0


__all__ = ["OUTPUTS", "add_arguments", "main", "reproduce_alcalde2026", "summary"]
