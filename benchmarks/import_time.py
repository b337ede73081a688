"""Import cost of gaussflow against ``import numpy, scipy`` (issue 14: at most ~1.3×).

Each row runs a fresh interpreter ``repeats`` times with ``python -X importtime -c <statement>`` and sums the
cumulative microseconds of the top-level imports it reports (so interpreter start-up is excluded); the minimum over
the repeats is printed, with its ratio to the ``import numpy, scipy`` baseline measured in the same run.

Rows
----
- ``import numpy, scipy`` — the baseline;
- ``import gaussflow`` — what every user pays (the package namespace is lazy, PEP 562);
- ``gf.Gaussian``, ``gf.solve``, ``gf.derive`` — the first touch of a name loads what it needs (NumPy; SciPy's
  integrators; SymPy);
- ``gaussflow.cli`` — the command line's parser.

Usage: ``.venv/bin/python benchmarks/import_time.py [--repeats 7]``. The exit code is 0: a measurement, not a test.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

ROWS: tuple[tuple[str, str], ...] = (
    ("import numpy, scipy", "import numpy, scipy"),
    ("import gaussflow", "import gaussflow"),
    ("gf.Gaussian (numpy)", "import gaussflow as gf; gf.Gaussian"),
    ("gf.solve (scipy.integrate)", "import gaussflow as gf; gf.solve"),
    ("gf.derive (sympy)", "import gaussflow as gf; gf.derive"),
    ("gaussflow.cli parser", "import gaussflow.cli as c; c.build_parser()"),
)

_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)")


def import_microseconds(statement: str) -> int:
    """Sum of the cumulative import times (µs) of the top-level modules ``statement`` imports."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], capture_output=True, text=True,
                         check=True).stderr
    total = 0
    for line in out.splitlines():
        m = _LINE.match(line)
        if m and len(m.group(3)) == 1:  # one space of indentation: imported by the statement itself
            total += int(m.group(2))
    return total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7, help="fresh interpreters per row; the minimum is kept "
                   "(default %(default)s)")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    base = None
    print(f"{'statement':32s} {'ms (min of ' + str(args.repeats) + ')':>16s} {'÷ numpy+scipy':>14s}")
    for label, stmt in ROWS:
        us = min(import_microseconds(stmt) for _ in range(args.repeats))
        base = base or us
        print(f"{label:32s} {us / 1e3:16.1f} {us / base:14.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
