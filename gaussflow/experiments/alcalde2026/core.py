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
from . import figures, runs
from .report import report

OUTPUTS = ("w2.png", "floor.png", "particles.png", "terminal.png", "gaussian.png", "report.md", "summary.json",
           "curves.npz")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options beyond the common --out/--force/--quick/--full."""


def _clusters(X: np.ndarray, gap: float = 0.02) -> int:
    """Angular groups of a cloud near the circle: gaps between sorted angles larger than ``gap``."""
    ang = np.sort(np.arctan2(X[:, 1], X[:, 0]))
    gaps = np.diff(np.concatenate([ang, [ang[0] + 2 * math.pi]]))
    return max(1, int(np.sum(gaps > gap)))


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
                         "floor_over_bound": w["floor"] / bound, "nodes": r["nodes"], "nfev": r["nfev"],
                         "wall_time": r["wall_time"]})
        conc[geom] = rows
    parts = []
    for b, row in res["particles"]["runs"].items():
        for N, p in row["particles"].items():
            parts.append({"beta": b, "N": N, "mean_field_floor": row["mean_field_floor"], "floor": p["floor"],
                          "max_rel_err": p["max_rel_err"], "wall_time": p["wall_time"]})
    tc = res["terminal_cube"]
    td = res["terminal_disk"]
    disk_parts = {}
    for name, p in td["particles"].items():
        snaps = p["snapshots"]
        times = sorted(snaps)
        disk_parts[name] = {
            "spectrum": ", ".join(f"{z:.3g}" for z in np.linalg.eigvals(p["V"])),
            "snapshot_times": times, "clusters": [_clusters(snaps[s]) if s > 0 else 0 for s in times],
            "dist_end": float(p["dist_to_circle"][-1]), "radius_end": float(p["mean_radius"][-1]),
            "cov_eigenvalues_end": p["cov_eigenvalues"][-1], "status": p["status"], "wall_time": p["wall_time"]}
    g = res["gaussian"]
    trunc = [{"beta": b, **r["window"], "floor_beta_over_log_beta": r["window"]["floor"] * b / math.log(b)}
             for b, r in g["truncated"].items()]
    return {
        "paper": "Alcalde, Bungert, Riedl, Roith (2026), arXiv 2605.10931", "size": size, "command": command,
        "seconds": seconds, "seconds_total": sum(seconds.values()), "concentration": conc, "particles": parts,
        "terminal_cube": {"beta": tc["beta"], "cases": {k: v["window"] for k, v in tc["cases"].items()}},
        "terminal_disk": {"beta": td["beta"], "N": td["N"], "ring_t_star": td["ring_t_star"],
                          "ring_r_star": td["ring_r_star"], "mean_field_w2_end": float(td["mean_field_w2"][-1]),
                          "particles": disk_parts},
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
                          log: Any = print, command: str = "gaussflow reproduce alcalde2026") -> dict[str, Any]:
    """Run everything at ``size`` ("quick", "default", "full"); write figures/alcalde2026_*; return the summary."""
    if size not in runs.SIZES:
        raise ValueError(f"`size` must be one of {sorted(runs.SIZES)}; got {size!r}")
    outp = Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    check_writable([outp / f"alcalde2026_{name}" for name in OUTPUTS], force)
    S = runs.SIZES[size]
    res: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for key, job in (("concentration", runs.concentration), ("particles", runs.particles_vs_mean_field),
                     ("terminal_cube", runs.terminal_cube), ("terminal_disk", runs.terminal_disk),
                     ("gaussian", runs.gaussian_section)):
        t0 = time.perf_counter()
        res[key] = job(S)
        seconds[key] = round(time.perf_counter() - t0, 2)
        log(f"alcalde2026: {key} done in {seconds[key]:.1f} s")
    t0 = time.perf_counter()
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
    reproduce_alcalde2026(args.out, size=size, force=args.force,
                          command=f"gaussflow reproduce alcalde2026 --out {args.out}{flag}")
    return 0


__all__ = ["OUTPUTS", "add_arguments", "main", "reproduce_alcalde2026", "summary"]
