"""Fault tier: a sweep killed with SIGKILL resumes with nothing lost or recomputed; damaged or planted
files of every kind give one documented error (``gaussflow._io.FileFormatError``, a ``ValueError``
naming the file), and no file a user loads is ever unpickled."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import pytest

import gaussflow as gf
from gaussflow._io import FileFormatError
from gaussflow.experiments.sweep import sweep

ROOT = Path(gf.__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def square(p: int) -> dict:
    return {"p": p, "sq": np.array([p * p], dtype=np.int64), "f": float(p) / 3, "t": (p, "x"), "nan": float("nan")}


def _same(a: list, b: list) -> bool:
    def eq(x: object, y: object) -> bool:
        if isinstance(x, np.ndarray):
            return isinstance(y, np.ndarray) and x.dtype == y.dtype and np.array_equal(x, y)
        if isinstance(x, dict):
            return isinstance(y, dict) and x.keys() == y.keys() and all(eq(x[k], y[k]) for k in x)
        if isinstance(x, tuple | list):
            return type(x) is type(y) and len(x) == len(y) and all(map(eq, x, y))
        if isinstance(x, float) and np.isnan(x):
            return isinstance(y, float) and np.isnan(y)
        return type(x) is type(y) and x == y

    return eq(a, b)


# --------------------------------------------------------------------------- SIGKILL and resume

_SCRIPT = textwrap.dedent("""
    import sys, time
    from concurrent.futures import ThreadPoolExecutor
    from gaussflow.experiments.sweep import sweep
    def fn(p):
        with open(sys.argv[2], "a") as fh:
            fh.write(f"{p}\\n")
        time.sleep(0.02)
        return {"p": p, "v": [p * 0.5, p ** 2]}
    with ThreadPoolExecutor(1) as ex:
        print(sweep(fn, list(range(int(sys.argv[3]))), executor=ex, checkpoint=sys.argv[1]))
""")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigkill_at_random_point_resumes_without_loss_or_recompute(tmp_path: Path, seed: int) -> None:
    ck, marker, n = tmp_path / "ck", tmp_path / "calls.txt", 40
    rng = np.random.default_rng(seed)
    proc = subprocess.Popen([sys.executable, "-c", _SCRIPT, str(ck), str(marker), str(n)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    want = int(rng.integers(3, 25))  # kill once this many points have started
    while time.monotonic() < deadline and (not marker.exists() or len(marker.read_text().split()) < want):
        time.sleep(0.005)
    time.sleep(float(rng.uniform(0, 0.03)))  # anywhere inside a point: compute, write, rename
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    stored = {f.name for f in ck.glob("*.npz")}
    first_calls = marker.read_text().split()
    assert 0 < len(stored) < n
    second = subprocess.run([sys.executable, "-c", _SCRIPT, str(ck), str(marker), str(n)], env=ENV,
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == str([{"p": p, "v": [p * 0.5, p ** 2]} for p in range(n)])
    recomputed = marker.read_text().split()[len(first_calls):]
    assert len(recomputed) == n - len(stored)  # only the points without a stored file ran again
    assert len({f.name for f in ck.glob("*.npz")}) == n and not list(ck.glob("*.tmp-*"))


def test_resumed_results_equal_uninterrupted(tmp_path: Path) -> None:
    grid = list(range(6))
    with ThreadPoolExecutor(2) as ex:
        fresh = sweep(square, grid, executor=ex)
        first = sweep(square, grid, executor=ex, checkpoint=tmp_path / "ck")
    again = sweep(square, grid[::-1], executor=ThreadPoolExecutor(1), checkpoint=tmp_path / "ck")[::-1]
    assert _same(fresh, [square(p) for p in grid]) and _same(first, fresh) and _same(again, fresh)


# --------------------------------------------------------------------------- no pickle, fingerprints


class _Evil:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("touch PWNED",))


def test_planted_pickle_never_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ck = tmp_path / "ck"
    sweep(abs, [-1, -2], executor=ThreadPoolExecutor(1), checkpoint=ck)
    payload = pickle.dumps(_Evil())
    victim = next(ck.glob("*.npz"))
    victim.write_bytes(payload)  # a pickle under the point file's name
    with pytest.raises(FileFormatError, match=victim.name):
        sweep(abs, [-1, -2], executor=ThreadPoolExecutor(1), checkpoint=ck)
    (ck / "deadbeef.pkl").write_bytes(payload)  # the old format's file name
    with pytest.raises(ValueError, match="pickle"):
        sweep(abs, [-1, -2], executor=ThreadPoolExecutor(1), checkpoint=ck)
    np.savez(victim.with_suffix(""), header=np.array([_Evil()], dtype=object))  # object array inside an npz
    (ck / "deadbeef.pkl").unlink()
    with pytest.raises(FileFormatError, match=victim.name):
        sweep(abs, [-1, -2], executor=ThreadPoolExecutor(1), checkpoint=ck)
    assert not (tmp_path / "PWNED").exists()


def test_cli_sweep_with_planted_pickle(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"variant": "softmax", "t_end": 0.2, "mean": [0.0], "cov": [[1.0]],
                                "params": {"V": [[1.0]]}, "grid": {"A": [[[0.5]], [[1.0]]]}}))
    out = tmp_path / "out"
    (out / "checkpoint").mkdir(parents=True)
    (out / "checkpoint" / "x.pkl").write_bytes(pickle.dumps(_Evil()))
    r = subprocess.run([sys.executable, "-m", "gaussflow", "sweep", str(spec), "--out", str(out), "--workers", "1"],
                       env=ENV, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 2 and "pickle" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "PWNED").exists()


def test_reused_directory_with_other_function_or_grid_is_refused(tmp_path: Path) -> None:
    ck = tmp_path / "ck"
    with ThreadPoolExecutor(1) as ex:
        assert sweep(abs, [-1, -2], executor=ex, checkpoint=ck) == [1, 2]
        with pytest.raises(ValueError, match="different function"):
            sweep(str, [-1, -2], executor=ex, checkpoint=ck)
        with pytest.raises(ValueError, match="different grid"):
            sweep(abs, [-1, -2, -3], executor=ex, checkpoint=ck)
        with pytest.raises(ValueError, match="different function"):
            sweep(partial(round, ndigits=1), [-1, -2], executor=ex, checkpoint=ck)
        assert sweep(abs, [-2, -1], executor=ex, checkpoint=ck) == [2, 1]  # same grid re-ordered


def test_unstorable_result_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot be checkpointed"):
        sweep(lambda p: object(), [1], executor=ThreadPoolExecutor(1), checkpoint=tmp_path / "ck")


# --------------------------------------------------------------------------- damaged checkpoint files


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "other_key", "bad_header"])
def test_damaged_point_file(tmp_path: Path, damage: str) -> None:
    ck = tmp_path / "ck"
    sweep(square, [1, 2], executor=ThreadPoolExecutor(1), checkpoint=ck)
    files = sorted(ck.glob("*.npz"))
    f = files[0]
    if damage == "empty":
        f.write_bytes(b"")
    elif damage == "truncated":
        f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2])
    elif damage == "garbage":
        f.write_bytes(os.urandom(300))
    elif damage == "other_key":
        f.write_bytes(files[1].read_bytes())
    else:
        np.savez(f.with_suffix(""), header=np.array("{not json"))
    with pytest.raises(FileFormatError, match=f.name) as info:
        sweep(square, [1, 2], executor=ThreadPoolExecutor(1), checkpoint=ck)
    assert info.value.path == str(f)


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", "\xff\xfe"])
def test_damaged_manifest(tmp_path: Path, text: str) -> None:
    ck = tmp_path / "ck"
    sweep(abs, [1], executor=ThreadPoolExecutor(1), checkpoint=ck)
    (ck / "manifest.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(FileFormatError, match=r"manifest\.json"):
        sweep(abs, [1], executor=ThreadPoolExecutor(1), checkpoint=ck)


# --------------------------------------------------------------------------- damaged result files


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "pickle", "no_metadata", "string_X"])
def test_damaged_particle_trajectory(tmp_path: Path, damage: str) -> None:
    att = gf.attention("softmax", A=[[0.5]], V=[[1.0]])
    p = gf.simulate_particles(att, gf.Gaussian([0.0], [[1.0]]), [0.0, 0.1], n=8, seed=0, keep="all").save(
        tmp_path / "cloud.npz")
    raw = p.read_bytes()
    if damage == "empty":
        p.write_bytes(b"")
    elif damage == "truncated":
        p.write_bytes(raw[:-50])
    elif damage == "garbage":
        p.write_bytes(os.urandom(len(raw)))
    elif damage == "pickle":
        p.write_bytes(pickle.dumps(_Evil()))
    else:
        with np.load(p) as z:
            arrays = {k: z[k] for k in z.files}
        if damage == "no_metadata":
            del arrays["metadata"]
        else:
            arrays["X"] = arrays["X"].astype(str)
        np.savez(p.with_suffix(""), **arrays)
    with pytest.raises(FileFormatError, match=r"cloud\.npz"):
        gf.ParticleTrajectory.load(p)
    assert not (tmp_path / "PWNED").exists()


def test_cli_reports_a_damaged_sweep_checkpoint_in_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"variant": "softmax", "t_end": 0.2, "mean": [0.0], "cov": [[1.0]],
                                "params": {"V": [[1.0]]}, "grid": {"A": [[[0.5]], [[1.0]]]}}))
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "gaussflow", "sweep", str(spec), "--out", str(out), "--workers", "1"]
    first = subprocess.run(argv, env=ENV, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    victim = next((out / "checkpoint").glob("*.npz"))
    victim.write_bytes(victim.read_bytes()[:40])
    again = subprocess.run([*argv, "--force"], env=ENV, capture_output=True, text=True, timeout=120)
    lines = again.stderr.strip().splitlines()
    assert again.returncode == 2 and len(lines) == 1 and victim.name in lines[0], again.stderr
