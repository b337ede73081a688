"""Progress bars (gaussflow._progress): drawn on a terminal only, silent on a pipe and with --quiet; the
long paths (particles, verify, sweep, phase-diagram, reproduce) use them; workers never draw.

The terminal is a pseudo-terminal (``os.openpty``): a subprocess gets its slave end as stderr, or
``sys.stderr`` is replaced by a file on it for an in-process library call; the master end is drained by a
thread so a full pty buffer can never block the writer.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from strategies import bounded

import gaussflow as gf
from gaussflow._progress import ProgressBar, echo, progress_bar, quiet, resolve
from gaussflow.cli import main as cli_main
from gaussflow.verify import default_example

BAR = re.compile(r"\r[^\r\n]*\[[#-]{30}\]\s+\d+\.\d%")  # "\r<desc> [####------] 42.0%"
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


class _Drain:
    """Reads the master end of a pty until EOF (all slave ends closed)."""

    def __init__(self, fd: int) -> None:
        self.fd, self.chunks = fd, []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 4096)
            except OSError:  # EIO on Linux once the slave side is closed
                return
            if not data:
                return
            self.chunks.append(data)

    def text(self) -> str:
        self.thread.join(10)
        os.close(self.fd)
        return b"".join(self.chunks).decode("utf-8", "replace")


def _cli(args: list[str], tty: bool) -> tuple[str, str]:
    """Run ``python -m gaussflow ARGS``; stderr on a pty slave (tty) or a pipe; returns (stdout, stderr)."""
    cmd = [sys.executable, "-m", "gaussflow", *args]
    if not tty:
        p = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=120)
        assert p.returncode == 0, p.stderr
        return p.stdout, p.stderr
    master, slave = os.openpty()
    drain = _Drain(master)
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=slave, text=True, env=ENV, timeout=120)
    finally:
        os.close(slave)
    err = drain.text()
    assert p.returncode == 0, err
    return p.stdout, err


@contextmanager
def _stderr_on_pty(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """``sys.stderr`` is a terminal inside the block; the list receives what was written to it."""
    master, slave = os.openpty()
    drain = _Drain(master)
    out: list[str] = []
    with os.fdopen(slave, "w", encoding="utf-8", closefd=True) as tty:
        assert tty.isatty()
        monkeypatch.setattr(sys, "stderr", tty)
        yield out
        tty.flush()
        monkeypatch.undo()
    out.append(drain.text())


# --------------------------------------------------------------------------- the bar itself


def test_bar_counts_stages_and_renders_fraction() -> None:
    buf = io.StringIO()
    with progress_bar(4, "cells", enabled=True, stream=buf) as bar:
        bar.update()
        assert bar.fraction == 0.25 and "1/4" in bar.render() and " 25.0%" in bar.render()
        with bar.stage("big", units=2):
            assert bar.postfix == "big" and bar.n == 1
        assert bar.n == 3 and bar.fraction == 0.75
        bar.update()
    text = buf.getvalue()
    assert text.endswith("\n") and "100.0%" in text.splitlines()[-1] and "4/4" in text
    assert "[" + "#" * 30 + "]" in text  # the full bar: 30 characters
    assert all(BAR.match(m.group(0)) for m in BAR.finditer(text)) and text.count("\r") >= 3


def test_nested_bar_moves_the_outer_one_and_never_draws_its_own() -> None:
    buf = io.StringIO()
    with progress_bar(2, "outer", enabled=True, stream=buf) as outer:
        with outer.stage("first"):
            with progress_bar(10.0, "inner", enabled=True, start=5.0, unit="t") as inner:
                assert inner.parent is outer and not inner.enabled
                inner.set(10.0)  # half of the inner span [5, 15] = half of the outer's current unit
                assert outer.fraction == pytest.approx(0.25)
                inner.set(15.0)
            assert outer.fraction == pytest.approx(0.5)
        assert outer.n == 1 and outer.sub == 0.0
    assert "inner" not in buf.getvalue() and "outer [" in buf.getvalue()


def test_silent_bar_writes_nothing_and_echo_clears_an_active_bar(capsys: pytest.CaptureFixture[str]) -> None:
    buf = io.StringIO()
    with progress_bar(3, "x", enabled=False, stream=buf) as bar:
        bar.update(3)
    assert buf.getvalue() == "" and bar.n == 3
    with progress_bar(3, "x", enabled=True) as bar:
        echo("hello")
    cap = capsys.readouterr()
    assert cap.out == "hello\n"
    # the line was erased (spaces then \r) before "hello" went out, and the bar redrawn after it
    assert re.search(r"\r {20,}\r\r", cap.err) and cap.err.endswith("\n")
    with quiet():
        echo("not shown")
        assert resolve(None) is False and resolve(True) is True
    assert capsys.readouterr().out == ""


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="`progress`"):
        resolve("yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`total`"):
        ProgressBar(-1)
    with pytest.raises(ValueError, match="`total`"):
        ProgressBar(float("nan"))
    assert ProgressBar(np.int64(3)).total == 3.0  # NumPy counts are counts
    with pytest.raises(ValueError, match="`progress`"):
        gf.verify(*default_example("softmax"), n=10, progress=1)  # type: ignore[arg-type]


def _resolve_on_own_pty() -> tuple[bool, bool]:
    master, slave = os.openpty()
    with os.fdopen(slave, "w") as tty:
        sys.stderr, old = tty, sys.stderr
        try:
            return tty.isatty(), resolve(None)
        finally:
            sys.stderr = old
            os.close(master)


def test_workers_never_draw() -> None:
    with bounded(60):
        with ThreadPoolExecutor(1) as ex:
            assert ex.submit(_resolve_on_own_pty).result() == (True, False)
        with ProcessPoolExecutor(1) as ex:
            assert ex.submit(_resolve_on_own_pty).result() == (True, False)


# --------------------------------------------------------------------------- library calls on a terminal


def test_particles_and_verify_draw_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    attn, law0, t = default_example("softmax")
    with bounded(60):
        with _stderr_on_pty(monkeypatch) as got:
            gf.simulate_particles(attn, law0, t, n=60, seed=1)
        assert BAR.search(got[0]) and "particles [" in got[0] and "t=1" in got[0]
        with _stderr_on_pty(monkeypatch) as got:
            rep = gf.verify(attn, law0, t[:3], n=60, ns=[20, 40], repeats=1)
        text = got[0]
        # one bar over 1 + 2 + 1 particle runs (repeats·n_max/n seeds per n), none of its own per run
        assert "verify softmax [" in text and "4/4" in text and "particles [" not in text
        assert rep.convergence is not None
        with _stderr_on_pty(monkeypatch) as got:
            gf.verify(attn, law0, t[:3], n=60, progress=False)
        assert got[0] == ""
    gf.verify(attn, law0, t[:3], n=60)  # stderr is not a terminal under pytest
    assert capsys.readouterr().err == ""


def test_sweep_draws_a_default_bar_only_without_a_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    from gaussflow.experiments.sweep import sweep

    with bounded(30):
        with _stderr_on_pty(monkeypatch) as got, ThreadPoolExecutor(2) as ex:
            assert sweep(abs, [-1, 2, -3], executor=ex) == [1, 2, 3]
        assert "sweep [" in got[0] and "3/3" in got[0]
        seen: list[tuple[int, int]] = []
        with _stderr_on_pty(monkeypatch) as got, ThreadPoolExecutor(2) as ex:
            sweep(abs, [-1, 2], executor=ex, progress=lambda k, n: seen.append((k, n)))
        assert got[0] == "" and seen[0] == (0, 2) and seen[-1] == (2, 2)


def test_phase_diagram_bar_blocks_rows_without_changing_results(capsys: pytest.CaptureFixture[str]) -> None:
    from gaussflow.experiments.phase import BLOCKS, phase_diagram

    xs, ys = np.linspace(-1, 1, 3), np.linspace(-2, 2, 2 * BLOCKS + 1)  # 21 rows: 7 blocks of 3
    with bounded(60):
        quiet_pd = phase_diagram("default", xs, ys, t_end=1.0, progress=False)
        assert capsys.readouterr().err == ""
        shown = phase_diagram("default", xs, ys, t_end=1.0, progress=True)
    err = capsys.readouterr().err
    assert f"{ys.size}/{ys.size}" in err and "rows 19-21" in err
    for name in ("kind", "rank", "status"):
        assert np.array_equal(getattr(quiet_pd, name), getattr(shown, name))
    assert np.array_equal(quiet_pd.t_blowup, shown.t_blowup, equal_nan=True)


def test_reproduce_paper_draws_in_the_parent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from gaussflow.experiments.burger2025 import reproduce_burger2025

    lines: list[str] = []
    with bounded(60), _stderr_on_pty(monkeypatch) as got:
        reproduce_burger2025(tmp_path, "quick", only=("7",), log=lines.append)
    assert "burger2025 [" in got[0] and "1/1" in got[0]
    assert lines and "figure 7 done" in lines[0] and str(tmp_path / "burger2025_fig7.png") in lines[0]


# --------------------------------------------------------------------------- the CLI on a terminal


def test_cli_bar_on_a_terminal_not_on_a_pipe_nor_with_quiet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "v.json"
    args = ["verify", "softmax", "--n", "80", "--t-end", "0.2", "--steps", "2", "--json", str(out), "--force"]
    with bounded(120):
        # a real `python -m gaussflow` process whose stderr is a terminal
        stdout, err = _cli(args, tty=True)
        assert BAR.search(err) and "verify softmax [" in err and err.endswith("\n")
        assert "verify softmax: 80 particles" in stdout and f"wrote {out}" in stdout  # what it does, where it writes
        # in-process: stderr a pipe (pytest's capture) -> no bar, same chatter
        assert cli_main(args) == 0
        cap = capsys.readouterr()
        assert cap.err == "" and "verify softmax: 80 particles" in cap.out and f"wrote {out}" in cap.out
        # stderr a terminal but --quiet -> neither bar nor chatter; the report itself is still printed
        with _stderr_on_pty(monkeypatch) as got:
            assert cli_main([*args, "--quiet"]) == 0
        stdout = capsys.readouterr().out
        assert got[0] == "" and "wrote" not in stdout and "80 particles" not in stdout and "W2(BW)" in stdout
        with _stderr_on_pty(monkeypatch) as got:
            assert cli_main(args) == 0
        assert BAR.search(got[0]) and "verify softmax [" in got[0]


def test_sphere_simulate_draws_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    from gaussflow.sphere import model, simulate

    mdl = model(np.eye(3), np.eye(3), np.eye(3))
    X0 = np.eye(3)
    with bounded(60):
        with _stderr_on_pty(monkeypatch) as got:
            simulate(mdl, X0, 1.0, 0.1)
        assert BAR.search(got[0]) and "sphere particles [" in got[0] and "t=1" in got[0]
        with _stderr_on_pty(monkeypatch) as got:
            simulate(mdl, X0, 1.0, 0.1, progress=False)
        assert got[0] == ""
    simulate(mdl, X0, 1.0, 0.1)
    assert capsys.readouterr().err == ""
