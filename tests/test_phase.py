"""Phase diagrams: the vectorized regime rules against gaussflow.diagnostics.regimes.classify."""

from __future__ import annotations

import numpy as np
import pytest

import gaussflow as gf
from gaussflow.diagnostics.regimes import classify
from gaussflow.experiments.phase import PhaseDiagram, add_parser, classify_batch, default_family, phase_diagram
from gaussflow.integrate.batch import solve_batch
from gaussflow.integrate.solve import solve


def test_classify_batch_equals_classify_on_every_member() -> None:
    xs, ys = np.linspace(-1, 1, 12), np.linspace(-2, 2, 12)
    mats = [default_family(x, y) for y in ys for x in xs]
    A, V, S0 = (np.array([m[k] for m in mats]) for k in range(3))
    members = [gf.attention("softmax", A=a, V=v) for a, v in zip(A, V, strict=True)]
    res = solve_batch(members, S0, (0.0, 10.0), rtol=1e-7, t_eval=np.linspace(0.0, 10.0, 41))
    kinds, ranks = classify_batch(res)
    assert len(set(kinds)) >= 3
    for i in range(len(res)):
        reg = classify(res.member(i))
        assert (reg.kind, -1 if reg.rank is None else reg.rank) == (kinds[i], ranks[i]), i


@pytest.mark.parametrize("xy", [(0.5, 1.0), (-0.5, 1.0), (-0.8, -1.5), (0.0, 1.5), (0.0, 1.2), (-0.2, -0.4)])
def test_regime_equals_classify_of_solve(xy: tuple[float, float]) -> None:
    x, y = xy
    pd = phase_diagram("default", [x], [y], t_end=10.0)
    A, V, S0 = default_family(x, y)
    traj = solve(gf.attention("softmax", A=A, V=V), (np.zeros(2), S0), (0.0, 10.0))
    assert pd.kind[0, 0] == classify(traj).kind


def test_known_regimes_and_blowup_time() -> None:
    # V = I (y = 1): A + Aᵀ = 2xI, so Σ(t) = (Σ₀⁻¹ − 2xtI)⁻¹: x < 0 collapses to zero, x > 0 blows up at
    # T* = 1/(2x λ_max(Σ₀))
    pd = phase_diagram("default", [-0.5, 0.5], [1.0], t_end=10.0)
    assert pd.kind.tolist() == [["collapse_to_zero", "blowup_rank_one"]]
    lam = np.linalg.eigvalsh(default_family(0.5, 1.0)[2])[-1]
    assert abs(pd.t_blowup[0, 1] - 1.0 / lam) <= 1e-6


def test_few_samples_blowup() -> None:
    """A blow-up before the second shared sample leaves 2 samples (classify refuses those): rule 2 only."""
    S0 = np.array([[1.0, 0.3], [0.3, 0.5]])
    att = gf.attention("softmax", A=10.0 * np.eye(2), V=np.eye(2))
    res = solve_batch(att, S0, (0.0, 10.0), t_eval=np.linspace(0.0, 10.0, 41))
    assert res.member(0).t.size == 2
    kinds, ranks = classify_batch(res)
    assert (kinds[0], ranks[0]) == ("blowup_rank_one", 1)
    with pytest.raises(ValueError, match="history"):
        classify_batch(solve_batch(gf.attention("softmax", A=np.eye(2), V=np.eye(2)), S0, (0.0, 1.0)))


def test_save_load_plot(tmp_path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    pd = phase_diagram("default", np.linspace(-1, 1, 6), np.linspace(-2, 2, 5), t_end=5.0)
    p = pd.save(tmp_path / "pd.npz")
    back = PhaseDiagram.load(p)
    assert back.kind.tolist() == pd.kind.tolist() and back.family == "default"
    np.testing.assert_array_equal(back.t_blowup, pd.t_blowup)
    assert not list(tmp_path.glob("*.tmp-*"))
    ax = pd.plot()
    assert ax.get_legend() is not None


def test_cli(tmp_path) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "pd.png"
    args = parser.parse_args(["phase-diagram", "--n", "6", "--t-end", "3", "--out", str(out)])
    assert args.func(args) == 0
    assert out.exists() and out.with_suffix(".npz").exists()
    with pytest.raises(ValueError, match="--force"):
        args.func(args)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="family"):
        phase_diagram("nope", [0.0], [0.0])
    with pytest.raises(ValueError, match="xs"):
        phase_diagram("default", [], [0.0])
    with pytest.raises(ValueError, match="t_end"):
        phase_diagram("default", [0.0], [0.0], t_end=-1.0)


def test_saved_files_get_the_umask_mode_not_the_temp_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Atomic writes go through a 0600 temp file; the saved file must have the mode open() would give it."""
    import os

    import gaussflow as gf

    mask = os.umask(0)
    os.umask(mask)
    traj = gf.solve(gf.attention("softmax", A=[[-1.0]], V=[[1.0]]), gf.Gaussian([0.0], [[1.0]]), (0.0, 1.0))
    p = traj.save(tmp_path / "run.npz")
    assert os.stat(p).st_mode & 0o777 == 0o666 & ~mask


def test_leftover_guards(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 9 items in modules outside the guards work: damaged PhaseDiagram files, derive options that are
    not scalars, an unbounded head count, `reproduce --out` naming a regular file."""
    import pytest

    import gaussflow as gf
    from gaussflow._io import FileFormatError
    from gaussflow.cli import main

    bad = tmp_path / "pd.npz"
    bad.write_bytes(b"garbage")
    with pytest.raises(FileFormatError, match=r"pd\.npz"):
        PhaseDiagram.load(bad)
    from gaussflow.sphere.integrate import SphereTrajectory

    with pytest.raises(FileFormatError, match=r"pd\.npz"):
        SphereTrajectory.load(bad)
    with pytest.raises(ValueError, match="`residual`"):
        gf.derive("softmax", residual=[])
    with pytest.raises(ValueError, match="`heads`"):
        gf.derive("multihead", heads=100_000)
    f = tmp_path / "afile"
    f.write_text("x")
    assert main(["reproduce", "castin2025", "--quick", "--out", str(f)]) == 2
