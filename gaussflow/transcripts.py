"""README shell transcripts produced by running them: ``python -m gaussflow.transcripts [--check] [--fast]``.

A transcript is a fenced block of README.md preceded by a marker comment::

    <!-- transcript -->            (or  <!-- transcript: slow -->)
    ```
    $ gaussflow variants
    softmax       softmax   closed      ...
    ```

Every ``$ gaussflow …`` line of a marked block is run (in-process through :func:`gaussflow.cli.main`, stdout
captured; stderr — progress bars, warnings — discarded), each in a fresh temporary working directory so
commands that write files leave nothing behind. A relative path argument whose directory exists in the
repository (``--plot figures/x.png``) gets that directory created, empty, in the scratch directory. The
block is rewritten as the command lines (kept verbatim, comments included) each followed by its output.

* ``main([])`` rewrites the README in place (atomically, only if something changed); ``make run`` does this.
* ``--check`` rewrites nothing: exit 1 with a unified diff when a transcript is stale, 0 when current.
  Stale means the text differs (whitespace runs aside) or a number differs by more than
  :data:`RTOL` relative / :data:`ATOL` absolute — last-digit differences between BLAS builds are not
  staleness (the rewrite always writes this machine's exact output).
* ``--fast`` skips blocks marked ``slow`` (long particle runs): they are neither run nor checked. The test
  suite runs ``--check --fast``; ``make run`` regenerates all.
* A fenced block with a ``$ gaussflow`` line but no marker is an error in every mode (exit 2): every shown
  transcript is produced by this script. Commands whose output depends on time must not be transcripts.
"""

from __future__ import annotations

import argparse
import contextvars
import difflib
import io
import math
import os
import re
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from ._io import write_atomic

MARKER = re.compile(r"^\s*<!--\s*transcript(?:\s*:\s*(?P<tags>[\w ,-]*?))?\s*-->\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
PROMPT = "$ "
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
#: numbers in a transcript agree when |a − b| ≤ ATOL + RTOL·max(|a|, |b|)
RTOL = 1e-3
ATOL = 1e-6
#: terminal width the commands see (``--help`` output does not depend on the terminal the script runs in)
COLUMNS = 100


class TranscriptError(ValueError):
    """A README transcript block is malformed, or one of its commands failed."""


@dataclass(frozen=True)
class Block:
    """A marked transcript: lines ``body_start:body_end`` of the README (between the fences)."""

    marker_line: int
    body_start: int
    body_end: int
    slow: bool
    commands: tuple[str, ...]


def find_blocks(lines: Sequence[str]) -> list[Block]:
    """The marked transcript blocks of a README's ``lines`` (0-based indices).

    Raises
    ------
    TranscriptError
        A marker not followed by a fence, an unterminated fence, a marked block whose first line is not a
        ``$ `` command, a command that is not ``gaussflow …``, or a ``$ gaussflow`` line in an unmarked fence.
    """
    blocks: list[Block] = []
    i, pending = 0, None
    while i < len(lines):
        m = MARKER.match(lines[i])
        if m:
            if i + 1 >= len(lines) or not FENCE.match(lines[i + 1]):
                raise TranscriptError(f"line {i + 1}: a transcript marker must be followed directly by a ``` fence")
            tags = {t for t in re.split(r"[\s,]+", m.group("tags") or "") if t}
            if tags - {"slow"}:
                raise TranscriptError(f"line {i + 1}: unknown transcript tag(s) {sorted(tags - {'slow'})}")
            pending = (i, "slow" in tags)
            i += 1
            continue
        if FENCE.match(lines[i]):
            j = i + 1
            while j < len(lines) and not FENCE.match(lines[j]):
                j += 1
            if j == len(lines):
                raise TranscriptError(f"line {i + 1}: unterminated ``` fence")
            body = lines[i + 1:j]
            cmds = [ln[len(PROMPT):] for ln in body if ln.startswith(PROMPT)]
            if pending is not None and pending[0] == i - 1:
                if not body or not body[0].startswith(PROMPT):
                    raise TranscriptError(f"line {i + 2}: a transcript block must start with a `$ gaussflow` line")
                for k, c in enumerate(cmds):
                    if shlex.split(c, comments=True)[:1] != ["gaussflow"]:
                        raise TranscriptError(f"transcript at line {i + 1}: command {k + 1} is not "
                                              f"`gaussflow ...`: {c}")
                blocks.append(Block(pending[0], i + 1, j, pending[1], tuple(cmds)))
            elif any(c.startswith("gaussflow") for c in cmds):
                raise TranscriptError(f"line {i + 1}: a block with `$ gaussflow` lines has no <!-- transcript --> "
                                      "marker (every shown transcript is generated)")
            pending = None
            i = j + 1
            continue
        i += 1
    return blocks


def _scratch_dirs(argv: Sequence[str], repo: Path, workdir: Path) -> None:
    """Create in ``workdir`` the (existing-in-``repo``) directories of relative path arguments."""
    for arg in argv:
        value = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
        if value.startswith("-") or "/" not in value or os.path.isabs(value):
            continue
        parent = Path(value).parent
        if (repo / parent).is_dir():
            (workdir / parent).mkdir(parents=True, exist_ok=True)


def run_command(command: str, repo: Path) -> str:
    """Stdout of one ``gaussflow …`` command line, run in a scratch directory (trailing blanks stripped).

    Runs in a fresh :mod:`contextvars` context, so an enclosing ``--quiet`` (``make run -q``) does not change
    what the transcript shows, with ``COLUMNS`` = :data:`COLUMNS` (argparse's help layout).

    Raises
    ------
    TranscriptError
        The command exits with a non-zero status (its last stderr line is quoted).
    """
    from .cli import main as cli_main

    argv = shlex.split(command, comments=True)
    out, err = io.StringIO(), io.StringIO()
    old = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="gaussflow-transcript-") as tmp:
        work = Path(tmp)
        _scratch_dirs(argv[1:], repo, work)
        os.chdir(work)
        columns = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = str(COLUMNS)  # argparse's --help wraps to the terminal width: fix it
        try:
            with redirect_stdout(out), redirect_stderr(err):
                try:
                    rc = contextvars.Context().run(cli_main, argv[1:])
                except SystemExit as exc:  # argparse (--help exits 0, a usage error 2)
                    rc = exc.code if isinstance(exc.code, int) else 1
        finally:
            os.chdir(old)
            if columns is None:
                os.environ.pop("COLUMNS", None)
            else:
                os.environ["COLUMNS"] = columns
        text = out.getvalue().replace(str(work) + os.sep, "").replace(str(work), ".")
    if rc != 0:
        last = (err.getvalue().strip().splitlines() or ["(no stderr)"])[-1]
        raise TranscriptError(f"`{command}` exited with status {rc}: {last}")
    lines = [ln.rstrip() for ln in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def render(block: Block, outputs: Sequence[str]) -> list[str]:
    """The block's new body: each command line, then its output."""
    body: list[str] = []
    for cmd, out in zip(block.commands, outputs, strict=True):
        body.append(PROMPT + cmd)
        body.extend(out.split("\n") if out else [])
    return body


def same(old: str, new: str, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """Whether two transcripts agree: equal text up to whitespace runs, numbers within ``rtol``/``atol``."""
    a, b = NUMBER.split(old), NUMBER.split(new)
    if len(a) != len(b) or any(" ".join(x.split()) != " ".join(y.split()) for x, y in zip(a, b, strict=True)):
        return False
    for x, y in zip(NUMBER.findall(old), NUMBER.findall(new), strict=True):
        fx, fy = float(x), float(y)
        if not math.isclose(fx, fy, rel_tol=rtol, abs_tol=atol):
            return False
    return True


def regenerate(text: str, repo: Path, fast: bool = False, match: str | None = None,
               log: bool = False) -> tuple[str, list[tuple[Block, bool]]]:
    """README ``text`` with its transcripts rerun — all, or only the non-slow ones (``fast``), or only those
    with a command containing ``match`` — and, per block run, whether it was current (:func:`same`)."""
    lines = text.split("\n")
    blocks = find_blocks(lines)
    verdicts: list[tuple[Block, bool]] = []
    for b in reversed(blocks):  # bottom-up: earlier indices stay valid
        if (fast and b.slow) or (match is not None and not any(match in c for c in b.commands)):
            continue
        outputs = []
        for cmd in b.commands:
            t0 = time.perf_counter()
            outputs.append(run_command(cmd, repo))
            if log:
                print(f"transcripts: $ {cmd}  ({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
        body = render(b, outputs)
        verdicts.append((b, same("\n".join(lines[b.body_start:b.body_end]), "\n".join(body))))
        lines[b.body_start:b.body_end] = body
    return "\n".join(lines), verdicts[::-1]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gaussflow.transcripts [README] [--check] [--fast] [--match TEXT] [--quiet]``.

    Returns 0 (current / rewritten), 1 (``--check``: stale) or 2 (a malformed block or a failing command)."""
    p = argparse.ArgumentParser(prog="python -m gaussflow.transcripts",
                                description="Rerun the marked shell transcripts of README.md and rewrite their "
                                            "output (or, with --check, report whether they are current).")
    p.add_argument("readme", nargs="?", default="README.md",
                   help="the Markdown file whose transcripts are rerun (default: %(default)s)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 and print a diff if a transcript "
                   f"is stale (numbers compared to rtol {RTOL:g}, atol {ATOL:g})")
    p.add_argument("--fast", action="store_true", help="skip the blocks marked <!-- transcript: slow -->")
    p.add_argument("--match", metavar="TEXT", default=None,
                   help="only the blocks with a command containing TEXT, e.g. 'verify' (default: every block)")
    p.add_argument("-q", "--quiet", action="store_true", help="no line per command on stderr")
    args = p.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    path = Path(args.readme)
    if not path.is_file():
        print(f"transcripts: error: `readme` {str(path)!r} is not a file", file=sys.stderr)
        return 2
    text = path.read_text(encoding="utf-8")
    try:
        new, verdicts = regenerate(text, path.resolve().parent, fast=args.fast, match=args.match,
                                    log=not args.quiet)
    except TranscriptError as exc:
        print(f"transcripts: error: {path}: {exc}", file=sys.stderr)
        return 2
    stale = [b for b, ok in verdicts if not ok]
    if args.check:
        if not stale:
            print(f"{path}: {len(verdicts)} transcript(s) current")
            return 0
        for b in stale:
            print(f"{path}:{b.marker_line + 1}: stale transcript of `{b.commands[0]}`")
        sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), new.splitlines(True),
                                                   f"{path} (as written)", f"{path} (rerun)"))
        return 1
    if new != text:
        write_atomic(path, lambda fh: fh.write(new.encode("utf-8")))
    print(f"{path}: {len(verdicts)} transcript(s) rerun, {len(stale)} changed beyond round-off"
          + ("" if new != text else "; file unchanged"))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = ["ATOL", "RTOL", "Block", "TranscriptError", "find_blocks", "main", "regenerate", "render",
           "run_command", "same"]
