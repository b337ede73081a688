"""The main job behind ``make run``: regenerate ``derivations/`` (and the PDF), ``figures/`` and the README's
shell transcripts (:mod:`gaussflow.transcripts`, when ``README.md`` is in the working directory).

``python -m gaussflow.run [--pdf] [--full] [--quiet] [--out derivations] [--figures figures]``

Each step prints ``=== [k/n] what -> where it writes ===`` and runs one ``gaussflow`` command, which shows
its own progress bar on a terminal (:mod:`gaussflow._progress`).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ._progress import echo, quiet
from .cli import main as cli_main
from .experiments import PAPERS


def _step(k: int, total: int, label: str, writes: str, fn: Callable[[], int],
          timings: list[tuple[str, float, int]]) -> None:
    """Run one step: a header line (what it does, where it writes); the command draws its own bar."""
    echo(f"\n=== [{k}/{total}] {label} -> {writes} ===")
    t0 = time.perf_counter()
    rc = fn()
    timings.append((label, time.perf_counter() - t0, rc))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gaussflow.run",
                                description="Regenerate derivations/ (LaTeX, optionally the PDF) and figures/: "
                                            "every step prints what it does and where it writes, and shows a "
                                            "progress bar on a terminal.")
    p.add_argument("--pdf", action="store_true", help="compile derivations/gaussflow.pdf")
    p.add_argument("--out", default="derivations", metavar="DIR",
                   help="directory of the LaTeX derivations (default: %(default)s)")
    p.add_argument("--figures", default="figures", metavar="DIR",
                   help="directory of the figures, reports and summaries (default: %(default)s)")
    p.add_argument("--full", action="store_true", help="run every paper at its full size (slow)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars and no status lines")
    args = p.parse_args(argv)
    figs = Path(args.figures)
    figs.mkdir(parents=True, exist_ok=True)
    q = ["--quiet"] if args.quiet else []
    steps: list[tuple[str, str, list[str]]] = [
        ("derive every variant -> LaTeX", f"{args.out}/", ["derive", "--all", "--out", args.out, "--force"]
         + (["--pdf"] if args.pdf else [])),
        ("solve: softmax blow-up example", str(figs / "solve_blowup.png"),
         ["solve", "softmax", "--t-end", "5", "--plot", str(figs / "solve_blowup.png"), "--force"]),
        ("phase diagram: 100x100 softmax family", f"{figs / 'phase_diagram.png'} (+ .npz)",
         ["phase-diagram", "--out", str(figs / "phase_diagram.png"), "--force"]),
    ]
    for name in ("softmax", "sigmoid"):
        steps.append((f"verify: {name} closure vs particles", f"{figs / f'verify_{name}.png'} (+ .json)",
                      ["verify", name, "--plot", str(figs / f"verify_{name}.png"),
                       "--json", str(figs / f"verify_{name}.json"), "--force"]))
    for paper in PAPERS:
        steps.append((f"reproduce {paper}" + (" (full)" if args.full else ""), f"{figs}/ ({paper}_*)",
                      ["reproduce", paper, "--out", str(figs), "--force"] + (["--full"] if args.full else [])))
    jobs: list[tuple[str, str, Callable[[], int]]] = [
        (label, writes, lambda cmd=cmd: cli_main(cmd + q)) for label, writes, cmd in steps]
    if Path("README.md").is_file():  # the repository checkout `make run` runs in
        from . import transcripts

        jobs.append(("rerun the README shell transcripts", "README.md", lambda: transcripts.main(["README.md", *q])))
    timings: list[tuple[str, float, int]] = []
    with quiet(args.quiet):
        for k, (label, writes, fn) in enumerate(jobs, 1):
            _step(k, len(jobs), label, writes, fn, timings)
    print("\n=== summary ===")
    print(f"{'step':<62} {'seconds':>8}  exit")
    for label, sec, rc in timings:
        print(f"{label:<62} {sec:8.1f}  {rc}")
    return max(rc for _, _, rc in timings)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
