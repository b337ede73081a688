"""to_dict / to_dataframe on the results outside the Gaussian core (sphere particles, phase diagrams)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gaussflow.sphere import integrate as sphere_integrate
from gaussflow.sphere.integrate import SphereTrajectory


def test_sphere_trajectory_table_order_parameter() -> None:
    # two frames written by hand: all tokens at one point (|m| = 1), then a weighted antipodal pair + one token
    e1, e2 = np.eye(3)[0], np.eye(3)[1]
    X = np.stack([np.stack([e1, e1, e1]), np.stack([e1, -e1, e2])])
    w = np.array([0.25, 0.25, 0.5])
    traj = SphereTrajectory(t=np.array([0.0, 1.0]), X=X, weights=w)
    df = traj.to_dataframe()
    assert list(df.columns) == ["t", "mean_0", "mean_1", "mean_2", "order"]
    np.testing.assert_allclose(df["order"], [1.0, 0.5])  # m(1) = 0.5·e2
    np.testing.assert_allclose(df[["mean_0", "mean_1", "mean_2"]].to_numpy()[1], [0.0, 0.5, 0.0])
    d = traj.to_dict()
    assert json.loads(json.dumps(d))["X"][1][2] == [0.0, 1.0, 0.0]
    assert d["weights"] == [0.25, 0.25, 0.5]


def test_sphere_run_collapses_in_the_table() -> None:
    from gaussflow.sphere import model

    rng = np.random.default_rng(0)
    X0 = rng.standard_normal((12, 3))
    X0 /= np.linalg.norm(X0, axis=1, keepdims=True)
    traj = sphere_integrate.simulate(model(np.eye(3), np.eye(3), np.eye(3), beta=1.0), X0, 20.0, 0.1, every=50)
    order = traj.to_dataframe()["order"].to_numpy()
    # the order parameter of the self-attention flow with V = I grows to ~1 (clustering)
    assert order[0] < 0.9 and order[-1] > 0.999


def test_to_dataframe_without_pandas_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def fake(name: str, *a: object, **k: object) -> object:
        if name == "pandas":
            raise ImportError("no pandas")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    traj = SphereTrajectory(t=np.zeros(1), X=np.ones((1, 1, 1)), weights=np.ones(1))
    with pytest.raises(ImportError, match=r"pip install gaussflow\[pandas\]"):
        traj.to_dataframe()


def test_points_on_sphere_returns_axes_and_passes_kwargs() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gaussflow.sphere.plot import points_on_sphere

    fig = plt.figure()
    ax = fig.add_subplot(projection="3d")
    X = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    assert points_on_sphere(ax, X, alpha=0.5) is ax
    sizes = [len(c.get_offsets()) for c in ax.collections]
    assert sum(sizes) == 3 and all(c.get_alpha() == 0.5 for c in ax.collections)
    plt.close(fig)


def test_phase_diagram_table_maps_grid_cells() -> None:
    from gaussflow.experiments.phase import PhaseDiagram

    xs, ys = np.array([0.0, 1.0, 2.0]), np.array([-1.0, 1.0])
    kind = np.array([["blowup", "collapse", "blowup"], ["bounded", "blowup", "collapse"]])
    pdg = PhaseDiagram(xs, ys, kind, rank=np.array([[1, 0, 2], [-1, 1, 0]]), status=np.full((2, 3), "ok"),
                       t_blowup=np.array([[0.5, np.nan, 0.7], [np.nan, 0.2, np.nan]]), t_end=3.0)
    df = pdg.to_dataframe()
    assert len(df) == 6 and list(df.columns) == ["x", "y", "kind", "rank", "status", "t_blowup"]
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            row = df[(df.x == x) & (df.y == y)].iloc[0]
            assert row.kind == kind[i, j] and row["rank"] == pdg.rank[i, j]
    assert df.kind.value_counts().to_dict() == pdg.counts()
    d = json.loads(json.dumps(pdg.to_dict()))
    assert d["t_blowup"][0][1] is None and d["kind"][1][2] == "collapse" and d["t_end"] == 3.0


def test_phase_diagram_plot_passes_kwargs() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import gaussflow as gf

    pdg = gf.phase_diagram("default", xs=np.linspace(0.2, 1.0, 3), ys=np.linspace(0.5, 1.5, 3), t_end=2.0,
                           progress=False)
    fig, ax = plt.subplots()
    assert pdg.plot(ax=ax, alpha=0.4) is ax
    assert ax.collections[0].get_alpha() == 0.4
    plt.close(fig)
