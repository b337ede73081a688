"""sweep(): same results on every executor, resume without recomputation, atomic checkpoint writes."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from gaussflow.experiments.sweep import grid_points, sweep

# the module itself (``gaussflow.experiments.sweep`` the attribute is the function exported by the package)
sweep_mod = importlib.import_module("gaussflow.experiments.sweep")


def work(p: dict) -> dict:
    """Module level, hence picklable: a result with a numpy array."""
    rng = np.random.default_rng(int(p["seed"]))
    return {"a": p["a"], "x": rng.standard_normal(3) * p["a"]}


def _truth(points: list[dict]) -> list[dict]:
    return [work(p) for p in points]


def _same(r1: list[dict], r2: list[dict]) -> bool:
    if len(r1) != len(r2):
        return False
    return all(a["a"] == b["a"] and np.array_equal(a["x"], b["x"]) for a, b in zip(r1, r2, strict=True))


GRID = {"a": [1.0, 2.0, 3.0], "seed": [0, 1]}


def test_grid_points_product_order() -> None:
    pts = grid_points(GRID)
    assert pts[:3] == [{"a": 1.0, "seed": 0}, {"a": 1.0, "seed": 1}, {"a": 2.0, "seed": 0}]
    assert len(pts) == 6
    assert grid_points([3, 1]) == [3, 1]


def test_identical_on_serial_thread_process(tmp_path: Path) -> None:
    truth = _truth(grid_points(GRID))
    with ThreadPoolExecutor(2) as ex:
        r_thread = sweep(work, GRID, executor=ex)
    with ProcessPoolExecutor(2) as ex:
        r_proc = sweep(work, GRID, executor=ex, checkpoint=tmp_path / "ck")
    r_resumed = sweep(work, GRID, executor=ThreadPoolExecutor(1), checkpoint=tmp_path / "ck")  # all loaded
    r_default = sweep(work, GRID)  # ProcessPoolExecutor(os.cpu_count())
    assert _same(r_thread, truth) and _same(r_proc, truth) and _same(r_resumed, truth) and _same(r_default, truth)


def test_resume_after_kill_does_not_recompute(tmp_path: Path) -> None:
    """A child process sweeps serially and os._exit()s while computing point 4; a second run must compute
    only the points the first did not finish (each computation appends a line to a marker file)."""
    ck, marker = tmp_path / "ck", tmp_path / "calls.txt"
    script = textwrap.dedent(f"""
        import os, sys, time
        from concurrent.futures import ThreadPoolExecutor
        from gaussflow.experiments.sweep import sweep
        def fn(p):
            with open({str(marker)!r}, "a") as fh:
                fh.write(f"{{p}}\\n")
            if p == 4 and len(sys.argv) > 1:
                time.sleep(0.5)  # let the main thread store the finished points, then die hard
                os._exit(3)
            return p * p
        with ThreadPoolExecutor(1) as ex:
            print(sweep(fn, range(8), executor=ex, checkpoint={str(ck)!r}))
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(sweep_mod.__file__).resolve().parents[1])}
    first = subprocess.run([sys.executable, "-c", script, "kill"], env=env, capture_output=True, text=True)
    assert first.returncode == 3, first.stderr
    assert len(list(ck.glob("*.npz"))) == 4  # points 0..3 finished and stored
    assert not list(ck.glob("*.tmp-*"))
    calls_first = marker.read_text().split()
    second = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == str([p * p for p in range(8)])
    calls_second = marker.read_text().split()[len(calls_first):]
    assert sorted(map(int, calls_second)) == [4, 5, 6, 7]


def test_interrupted_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ck = tmp_path / "ck"
    real_replace = os.replace
    calls = {"n": 0}

    def flaky_replace(src, dst):  # the 3rd result write dies between writing the temp file and renaming
        if str(dst).endswith(".npz"):
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(sweep_mod.os, "replace", flaky_replace)
    with pytest.raises(KeyboardInterrupt), ThreadPoolExecutor(1) as ex:
        sweep(work, GRID, executor=ex, checkpoint=ck)
    monkeypatch.setattr(sweep_mod.os, "replace", real_replace)
    stored = list(ck.glob("*.npz"))
    assert len(stored) == 2
    assert not list(ck.glob("*.tmp-*"))
    for f in stored:  # every stored file is a complete result (JSON header + arrays, no pickle)
        import json

        with np.load(f, allow_pickle=False) as z:
            assert set(json.loads(str(z["header"]))["result"]) == {"a", "x"}
    assert _same(sweep(work, GRID, executor=ThreadPoolExecutor(1), checkpoint=ck), _truth(grid_points(GRID)))


def test_progress_and_bad_input(tmp_path: Path) -> None:
    seen = []
    with ThreadPoolExecutor(1) as ex:
        sweep(abs, [-1, -2], executor=ex, progress=lambda d, n: seen.append((d, n)))
    assert seen == [(0, 2), (1, 2), (2, 2)]
    with pytest.raises(ValueError, match="grid"):
        sweep(abs, 5)
    with pytest.raises(ValueError, match="JSON"):
        sweep(abs, [object()])
    with pytest.raises(ValueError, match="executor"):
        sweep(abs, [1], executor="threads")  # type: ignore[arg-type]
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ValueError, match="checkpoint"):
        sweep(abs, [1], executor=ThreadPoolExecutor(1), checkpoint=f)


def test_dask_executor(tmp_path: Path) -> None:
    """The optional `distributed` extra (installed by `make test`): a LocalCluster executor gives the
    serial results, checkpoints them, and a second run reads them back without recomputing."""
    distributed = pytest.importorskip("distributed")
    ck = tmp_path / "ck"
    with distributed.Client(distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False)) as c:
        assert sweep(abs, [-1, 2, -3], executor=c.get_executor(), checkpoint=ck) == [1, 2, 3]
    assert len(list(ck.glob("*.npz"))) == 3
    # resumed elsewhere: every point comes from the checkpoint (the executor refuses any work)
    assert sweep(abs, [-1, 2, -3], executor=_NoWork(), checkpoint=ck) == [1, 2, 3]


class _NoWork(ThreadPoolExecutor):
    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        raise AssertionError(f"point {args} was recomputed")
