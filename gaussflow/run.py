"""The main job behind ``make run``: regenerate ``derivations/`` (and the PDF) and ``figures/``.

``python -m gaussflow.run [--pdf] [--full] [--out derivations] [--figures figures]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .cli import main as cli_main
from .experiments import PAPERS


def _step(label: str, fn: Callable[[], int], timings: list[tuple[str, float, int]]) -> None:
    print(f"\n=== {label} ===", flush=True)
    t0 = time.perf_counter()
    rc = fn()
    timings.append((label, time.perf_counter() - t0, rc))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gaussflow.run")
    p.add_argument("--pdf", action="store_true", help="compile derivations/gaussflow.pdf")
    p.add_argument("--out", default="derivations")
    p.add_argument("--figures", default="figures")
    p.add_argument("--full", action="store_true", help="run every paper at its full size (slow)")
    args = p.parse_args(argv)
    figs = Path(args.figures)
    figs.mkdir(parents=True, exist_ok=True)
    timings: list[tuple[str, float, int]] = []
    _step("derive every variant -> LaTeX",
          lambda: cli_main(["derive", "--all", "--out", args.out, "--force"] + (["--pdf"] if args.pdf else [])),
          timings)
    _step("solve: softmax blow-up example",
          lambda: cli_main(["solve", "softmax", "--t-end", "5", "--plot", str(figs / "solve_blowup.png"),
                            "--force"]), timings)
    _step("phase diagram: 100x100 softmax family",
          lambda: cli_main(["phase-diagram", "--out", str(figs / "phase_diagram.png"), "--force"]), timings)
    for name in ("softmax", "sigmoid"):
        _step(f"verify: {name} closure vs particles",
              lambda name=name: cli_main(["verify", name, "--plot", str(figs / f"verify_{name}.png"),
                                          "--json", str(figs / f"verify_{name}.json"), "--force"]), timings)
    for paper in PAPERS:
        _step(f"reproduce {paper}" + (" (full)" if args.full else ""),
              lambda paper=paper: cli_main(["reproduce", paper, "--out", str(figs), "--force"]
                                           + (["--full"] if args.full else [])), timings)
    print("\n=== summary ===")
    print(f"{'step':<62} {'seconds':>8}  exit")
    for label, sec, rc in timings:
        print(f"{label:<62} {sec:8.1f}  {rc}")
    return max(rc for _, _, rc in timings)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
