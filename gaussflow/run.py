"""The main job behind ``make run``: regenerate ``derivations/`` (and the PDF).

``python -m gaussflow.run [--pdf] [--out derivations]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from .cli import main as cli_main


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gaussflow.run")
    p.add_argument("--pdf", action="store_true", help="compile derivations/gaussflow.pdf")
    p.add_argument("--out", default="derivations")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    rc = cli_main(["derive", "--all", "--out", args.out, "--force"] + (["--pdf"] if args.pdf else []))
    print(f"[make run] derivations regenerated in {time.perf_counter() - t0:.1f} s")
    return rc


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
