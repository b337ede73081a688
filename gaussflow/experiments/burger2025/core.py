"""Driver of ``gaussflow reproduce burger2025``: runs, figures, report, summary JSON."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..._io import jsonable, write_atomic
from ..._progress import echo, logger, progress_bar
from . import figures, runs
from .closure_check import closure_check
from .report import report

FIGURES = ("1", "2", "3", "4", "5", "6", "7", "closure")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", nargs="+", choices=FIGURES, metavar="FIG",
                        help=f"figures to run, among {' '.join(FIGURES)} (default: all)")


def reproduce_burger2025(out: str | Path = "figures", size: str = "default", only: tuple[str, ...] = FIGURES,
                         force: bool = False, log: Any = None, progress: bool | None = None) -> dict[str, Any]:
    """Run the selected figures at ``size`` ("quick", "default", "full"), write outputs, return the results.

    ``log(line)`` gets one line per finished figure (default :func:`gaussflow._progress.echo`: stdout, silent
    under ``--quiet``); ``progress``: a bar on stderr over the figures (default: when stderr is a terminal).
    """
    log = logger(log)
    if size not in runs.SIZES:
        raise ValueError(f"`size` must be one of {sorted(runs.SIZES)}; got {size!r}")
    outp = Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    summary_path = outp / "burger2025_summary.json"
    if summary_path.exists() and not force:
        raise FileExistsError(f"{summary_path} exists; pass --force to overwrite")
    S = runs.SIZES[size]
    res: dict[str, Any] = {}
    timing: dict[str, float] = {}
    jobs = {"1": lambda: runs.figure1(S), "2": lambda: runs.figure2(S), "3": lambda: runs.figure3(S),
            "4": lambda: runs.figure4(S), "5": lambda: runs.figure5(S), "6": lambda: runs.figure6(S),
            "7": runs.figure7,
            "closure": lambda: closure_check(**({"N": 100, "t_end": 1.0, "order": 6, "fb_grid": 400}
                                                if size == "quick" else
                                                {"N": 600, "fb_grid": 3000} if size == "full" else {"N": 300}))}
    plots = {"1": figures.figure1, "2": figures.figure2, "3": figures.figure3, "4": figures.figure4,
             "5": figures.figure5, "6": figures.figure6, "7": figures.figure7, "closure": figures.closure_figure}
    with progress_bar(len(only), "burger2025", progress) as bar:
        for key in only:
            t0 = time.time()
            with bar.stage(f"figure {key}"):
                res[key] = jobs[key]()
                written = plots[key](res[key], outp)
            timing[key] = round(time.time() - t0, 2)
            log(f"burger2025: figure {key} done in {timing[key]:.1f} s; wrote "
                + ", ".join(map(str, written if isinstance(written, list) else [written])))
    summ = summary(res, size, timing)
    write_atomic(summary_path, lambda fh: fh.write(json.dumps(jsonable(summ), indent=1)), mode="w")
    write_atomic(outp / "burger2025_report.md", lambda fh: fh.write(report(summ)), mode="w")
    return res


def summary(res: dict[str, Any], size: str, timing: dict[str, float]) -> dict[str, Any]:
    """The numbers of the report (JSON-safe)."""
    s: dict[str, Any] = {"size": size, "seconds": timing}
    if "1" in res:
        s["fig1"] = {k: {"restarts": v["restarts"], "at_top_eigenvector": v["at_top_eigenvector"],
                         "euler_at_top_eigenvector": v["euler_at_top"], "energy_min": float(v["energies"].min()),
                         "energy_max": float(v["energies"].max()), "max_energy": v["max_energy"],
                         "max_kind": v["max_kind"], "max_gap": v["max_gap"], "step_error": v["step_error"]}
                     for k, v in res["1"].items()}
    if "2" in res:
        s["fig2"] = {"N": res["2"]["N"], "reps": res["2"]["reps"], "t": res["2"]["t"],
                     "rows": [{k: v for k, v in r.items()} for r in res["2"]["rows"]]}
    if "3" in res:
        s["fig3"] = {k: {"final_energy": float(v["energy"][-1]), "qp_min_energy": v["qp_energy"], "qp_gap": v["qp_gap"],
                         "qp_lower_bound": v["qp_lower_bound"], "uniform_energy": v["uniform_energy"],
                         "norm_drift": v["norm_drift"], "N": len(v["final"]), "t": float(v["t"][-1])}
                     for k, v in res["3"].items()}
    if "4" in res:
        v = res["4"]["d05"]
        s["fig4"] = {"tanh_relation": [{"d": r["d"], "ratio": r["ratio"], "max_abs_error": r["ratio_err"],
                                        "energy": r["energy"], "type": r["type"]} for r in res["4"]["rows"]],
                     "d=0.5": {"x": np.abs(v["X"][0]), "energy": v["energy"], "type": v["type"],
                               "hessian_eigenvalues": v["eigenvalues"], "euler_energy": v["euler_energy"],
                               "euler_ratio": v["euler_ratio"], "euler_x": np.abs(v["euler_X"][0])}}
    if "5" in res:
        s["fig5"] = [{"d2": r["d2"], "min_energy": r["energy"], "gap": r["gap"],
                      "density_min": float(r["density"].min()),
                      "density_max": float(r["density"].max()), "guess_rel_l2": r["guess_rel_l2"]}
                     for r in res["5"]["rows"]]
    if "6" in res:
        s["fig6"] = {k: {"kinds": v["kinds"], "euler_kinds": v["euler_kinds"], "energies": v["energies"],
                         "euler_energies": v["euler_energies"], "masses": v["masses"], "max_energy": v["max_energy"],
                         "max_kind": v["max_kind"]} for k, v in res["6"].items()}
    if "7" in res:
        s["fig7"] = {"d_star": res["7"]["d_star"], "d_star_closed": res["7"]["d_star_closed"],
                     "maximizer_below": res["7"]["best"][0], "maximizer_above": res["7"]["best"][-1]}
    if "closure" in res:
        c = res["closure"]
        s["closure"] = {"N": c["N"], "w2_floor": c["w2_floor"], "order": c["order"], "fb_grid": c["fb_grid"],
                        "cases": {k: {"t": v["t"],
                                      "energy_rel_err": np.abs(v["energy_closure"] / v["energy_particles"] - 1),
                                      "mean_err": v["mean_err"], "second_err": v["second_err"], "w2": v["w2"],
                                      "unexplained": v["unexplained"],
                                      "fb_energy_rel_err": np.abs(v["fb_energy"] / v["energy_particles"] - 1),
                                      "fb_mean_err": v["fb_mean_err"], "fb_second_err": v["fb_second_err"],
                                      "fb_w2": v["fb_w2"]} for k, v in c["cases"].items()}}
    return s


def main(args: argparse.Namespace) -> int:
    size = "quick" if getattr(args, "quick", False) else "full" if getattr(args, "full", False) else "default"
    only = tuple(args.only or FIGURES)
    echo(f"reproduce burger2025: figures {' '.join(only)} at size {size}; writing into {args.out}")
    try:
        reproduce_burger2025(args.out, size, only, force=args.force)
    except FileExistsError as exc:
        raise ValueError(str(exc)) from None
    echo(f"wrote {Path(args.out) / 'burger2025_summary.json'}")
    echo(f"wrote {Path(args.out) / 'burger2025_report.md'}")
    return 0


__all__ = ["FIGURES", "add_arguments", "main", "reproduce_burger2025", "summary"]
