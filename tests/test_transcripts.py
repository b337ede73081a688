"""README shell transcripts are program output (gaussflow/transcripts.py): the committed README is current
(``--check --fast``: every block not marked ``slow``), and the script finds, runs, rewrites and checks blocks
as documented. Truths: hand-written Markdown and strings, and the installed ``gaussflow`` console script run
in a subprocess (the real command a reader types), never the script's own output."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from gaussflow import transcripts as tr
from gaussflow._progress import quiet

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _main(argv: list[str]) -> tuple[int, str]:
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = tr.main(argv)
    return rc, buf.getvalue()


def test_readme_transcripts_are_current() -> None:
    cpu0 = time.process_time()
    rc, out = _main([str(README), "--check", "--fast", "--quiet"])
    assert rc == 0, "README transcripts are stale; run `python -m gaussflow.transcripts` (make run does):\n" + out
    # the fast subset stays cheap (≈ 8 s CPU; CPU time, in-process, does not depend on the machine's load):
    # a long particle run belongs in a block marked `slow`
    assert time.process_time() - cpu0 < 30


def test_readme_marks_its_transcripts_and_the_slow_ones() -> None:
    blocks = tr.find_blocks(README.read_text(encoding="utf-8").split("\n"))
    cmds = [c for b in blocks for c in b.commands]
    assert {"gaussflow variants", "gaussflow solve softmax --t-end 5 --plot figures/solve_blowup.png"} <= set(cmds)
    assert any(b.slow for b in blocks) and any(not b.slow for b in blocks)
    assert all(b.slow for b in blocks if any(" verify " in f" {c} " for c in b.commands))


MINI = """# demo

<!-- transcript -->
```
$ gaussflow variants      # a comment is kept
stale line
```

<!-- transcript: slow -->
```
$ gaussflow variants
untouched because slow
```
"""


def _console_output(*args: str) -> str:
    exe = Path(sys.executable).with_name("gaussflow")  # the console script of the venv (make setup)
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "gaussflow"]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    res = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=120, check=True)
    return "\n".join(line.rstrip() for line in res.stdout.rstrip().splitlines())


def test_check_reports_stale_then_rewrite_makes_it_current(tmp_path: Path) -> None:
    f = tmp_path / "README.md"
    f.write_text(MINI, encoding="utf-8")
    rc, out = _main([str(f), "--check", "--fast", "-q"])
    assert rc == 1 and "stale transcript of `gaussflow variants      # a comment is kept`" in out
    assert "-stale line" in out and f.read_text(encoding="utf-8") == MINI  # --check writes nothing
    assert _main([str(f), "--fast", "-q"])[0] == 0
    text = f.read_text(encoding="utf-8")
    real = _console_output("variants")
    assert f"$ gaussflow variants      # a comment is kept\n{real}\n```" in text
    assert "untouched because slow" in text and "stale line" not in text
    assert _main([str(f), "--check", "--fast", "-q"])[0] == 0
    rc, out = _main([str(f), "--check", "-q"])  # without --fast the slow block is run and is stale
    assert rc == 1 and "+softmax" in out and "-untouched because slow" in out


def test_a_writing_command_leaves_nothing_and_shows_relative_paths_even_under_quiet(tmp_path: Path) -> None:
    (tmp_path / "figures").mkdir()
    with quiet(True):  # `make run --quiet` must not change what the transcript shows
        out = tr.run_command("gaussflow solve softmax --t-end 0.1 --save figures/x.npz", tmp_path)
    assert out.splitlines()[-1] == "wrote figures/x.npz"
    assert "gaussflow-transcript-" not in out and list((tmp_path / "figures").iterdir()) == []


def test_a_failing_command_is_an_error_naming_it(tmp_path: Path) -> None:
    f = tmp_path / "README.md"
    f.write_text("<!-- transcript -->\n```\n$ gaussflow solve no-such-variant\n```\n", encoding="utf-8")
    with pytest.raises(tr.TranscriptError, match="no-such-variant` exited with status 2"):
        tr.regenerate(f.read_text(encoding="utf-8"), tmp_path)
    assert _main([str(f), "--check"])[0] == 2


@pytest.mark.parametrize(("text", "message"), [
    ("```\n$ gaussflow variants\nout\n```\n", "no <!-- transcript --> marker"),
    ("<!-- transcript -->\n\n```\n$ gaussflow variants\n```\n", "followed directly by a ``` fence"),
    ("<!-- transcript -->\n```\nsoftmax\n```\n", "must start with a `$ gaussflow` line"),
    ("<!-- transcript -->\n```\n$ rm -rf /\n```\n", "is not `gaussflow ...`"),
    ("<!-- transcript: fast -->\n```\n$ gaussflow variants\n```\n", "unknown transcript tag"),
    ("<!-- transcript -->\n```\n$ gaussflow variants\n", "unterminated"),
])
def test_malformed_blocks_are_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(tr.TranscriptError, match=message.replace("(", r"\(").replace("$", r"\$")):
        tr.find_blocks(text.split("\n"))


def test_find_blocks_reads_commands_tags_and_bounds() -> None:
    lines = MINI.split("\n")
    a, b = tr.find_blocks(lines)
    assert (a.slow, b.slow) == (False, True)
    assert a.commands == ("gaussflow variants      # a comment is kept",) and b.commands == ("gaussflow variants",)
    assert lines[a.body_start - 1] == "```" == lines[a.body_end] and lines[a.body_start:a.body_end][1] == "stale line"
    assert tr.find_blocks(["```", "gaussflow derive x   # usage, no prompt", "```"]) == []


def test_same_ignores_round_off_and_whitespace_not_changes() -> None:
    assert tr.same("W2  2.980e-08  t_final: 0.4904007569", "W2 2.107e-08   t_final: 0.4904007571")
    assert tr.same("eigenvalues 149999999.7, 0.4029699285", "eigenvalues 149999999.4, 0.4029699266")
    assert not tr.same("rel_cov 0.00733", "rel_cov 0.00741")          # third digit: a change
    assert not tr.same("status: blowup", "status: converged")
    assert not tr.same("a 1 b", "a 1 b 2")
    assert not tr.same("line", "line\nextra")
