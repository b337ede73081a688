"""Plots: return Axes, write non-empty PNGs, and draw the right numbers (checked against closed forms)."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.axes import Axes
from strategies import Traj

from gaussflow.plot import (
    cone_coordinates,
    disk_coordinates,
    plot_eigenvalues,
    plot_ellipses,
    plot_psd_cone,
    plot_unit_disk,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"




def rot(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]])


def crossing_traj(n: int = 11) -> Traj:
    """Σ(t) = R diag(1 + t, 2 − t) Rᵀ: eigenvalue branches 2 − t and 1 + t cross at t = 1/2."""
    t = np.linspace(0.0, 1.0, n)
    R = rot(0.3)
    cov = np.array([R @ np.diag([1 + s, 2 - s]) @ R.T for s in t])
    mean = np.stack([t, t**2], axis=1)
    return Traj(t, mean, cov)


def blowup_traj() -> Traj:
    """Softmax V = I, A = diag(1, 0): Σ = diag(1/(1 − 2t), 1), T* = 1/2 (docs/math.md §4)."""
    t = 0.5 * (1.0 - np.geomspace(1.0, 1e-4, 60))
    cov = np.array([np.diag([1.0 / (1.0 - 2.0 * s), 1.0]) for s in t])
    return Traj(t, np.zeros((t.size, 2)), cov, "blowup", 0.5)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def assert_png(ax, path) -> None:
    ax.figure.savefig(path)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000


# ---------------------------------------------------------------------------------------------- coordinates
def test_cone_coordinates_hand_values():
    np.testing.assert_array_equal(cone_coordinates([[3.0, 1.0], [1.0, 2.0]]), [1.0, 2.0, 5.0])
    batch = cone_coordinates(np.stack([np.eye(2), np.diag([2.0, 0.0])]))
    np.testing.assert_array_equal(batch, [[0.0, 0.0, 2.0], [2.0, 0.0, 2.0]])


@pytest.mark.parametrize("theta", [0.0, np.pi / 8, 1.0, 2.5])
def test_rank_one_on_cone_boundary_and_unit_circle(theta):
    u = np.array([np.cos(theta), np.sin(theta)])
    S = 3.0 * np.outer(u, u)
    x, y, z = cone_coordinates(S)
    # 3uuᵀ: a − b = 3cos2θ, 2c = 3sin2θ, a + b = 3
    np.testing.assert_allclose([x, y, z], [3 * np.cos(2 * theta), 3 * np.sin(2 * theta), 3.0], atol=1e-15)
    np.testing.assert_allclose(np.hypot(x, y), z, rtol=1e-14)
    np.testing.assert_allclose(disk_coordinates(S), [np.cos(2 * theta), np.sin(2 * theta)], atol=1e-15)


def test_disk_norm_is_eigenvalue_contrast():
    S = np.array([[2.0, 0.5], [0.5, 1.0]])
    lam = np.linalg.eigvalsh(S)
    np.testing.assert_allclose(np.linalg.norm(disk_coordinates(S)), (lam[1] - lam[0]) / lam.sum(), rtol=1e-14)
    np.testing.assert_array_equal(disk_coordinates(np.eye(2)), [0.0, 0.0])
    assert np.all(np.isnan(disk_coordinates(np.zeros((2, 2)))))
    x, y, z = cone_coordinates(S)
    assert z > np.hypot(x, y)  # PD: strictly inside the cone


@pytest.mark.parametrize("bad", [np.eye(3), np.ones(2), [[1.0, 2.0], [0.0, 1.0]], [[np.nan, 0], [0, 1]]])
def test_coordinates_validate(bad):
    with pytest.raises(ValueError, match="`cov`"):
        cone_coordinates(bad)


# ---------------------------------------------------------------------------------------------- plots
def test_plot_eigenvalues_draws_tracked_branches(tmp_path):
    traj = crossing_traj()
    ax = plot_eigenvalues(traj)
    assert isinstance(ax, Axes) and ax.get_yscale() == "log"
    lines = ax.get_lines()
    assert len(lines) == 2  # no T* line when status is "ok"
    np.testing.assert_allclose(lines[0].get_ydata(), 2 - traj.t, atol=1e-12)  # straight through crossing
    np.testing.assert_allclose(lines[1].get_ydata(), 1 + traj.t, atol=1e-12)
    assert_png(ax, tmp_path / "eig.png")


def test_plot_eigenvalues_marks_blowup_time(tmp_path):
    _fig, ax0 = plt.subplots()
    ax = plot_eigenvalues(blowup_traj(), ax=ax0, log=False)
    assert ax is ax0 and ax.get_yscale() == "linear"
    vlines = [ln for ln in ax.get_lines() if np.ptp(np.asarray(ln.get_xdata(), float)) == 0]
    assert len(vlines) == 1
    np.testing.assert_array_equal(np.asarray(vlines[0].get_xdata(), float), [0.5, 0.5])
    assert_png(ax, tmp_path / "eig_blowup.png")


def test_plot_ellipses_are_one_sigma_contours(tmp_path):
    t = np.linspace(0.0, 1.0, 5)
    cov = np.array([np.array([[4.0, 1.0], [1.0, 1.0]]) * (1 + s) for s in t])
    mean = np.stack([1.0 + t, 2.0 - t], axis=1)
    ax = plot_ellipses(Traj(t, mean, cov), n=3)
    assert isinstance(ax, Axes)
    lines = ax.get_lines()
    np.testing.assert_allclose(lines[0].get_xydata(), mean)  # mean path first
    curves = [ln.get_xydata() for ln in lines[1:] if len(ln.get_xdata()) > 1]
    assert len(curves) == 3  # times 0, 0.5, 1
    for k, pts in zip([0, 2, 4], curves, strict=True):
        r = pts - mean[k]
        q = np.einsum("pi,ij,pj->p", r, np.linalg.inv(cov[k]), r)
        np.testing.assert_allclose(q, 1.0, rtol=1e-12)  # (x − α)ᵀΣ⁻¹(x − α) = 1
    assert_png(ax, tmp_path / "ellipses.png")


def test_plot_ellipses_singular_and_without_mean(tmp_path):
    @dataclass
    class NoMean:
        t: np.ndarray
        cov: np.ndarray

    t = np.linspace(0.0, 1.0, 4)
    ax = plot_ellipses(NoMean(t, np.broadcast_to(np.diag([1.0, 0.0]), (4, 2, 2))), n=8)
    seg = ax.get_lines()[1].get_xydata()
    np.testing.assert_allclose(seg[:, 1], 0.0, atol=1e-15)  # rank one: segment on the x-axis
    np.testing.assert_allclose(np.abs(seg[:, 0]).max(), 1.0)
    assert_png(ax, tmp_path / "ellipses_singular.png")


def test_plot_psd_cone(tmp_path):
    trajs = [crossing_traj(), blowup_traj()]
    ax = plot_psd_cone(trajs)
    assert ax.name == "3d"
    lines = ax.get_lines()
    assert len(lines) == 2
    x, y, z = lines[0].get_data_3d()
    np.testing.assert_allclose(np.stack([x, y, z], axis=1), cone_coordinates(trajs[0].cov), rtol=1e-14)
    assert_png(ax, tmp_path / "cone.png")
    fig = plt.figure()
    ax3 = fig.add_subplot(projection="3d")
    assert plot_psd_cone(trajs[0].cov, ax=ax3, cone=False) is ax3  # bare (n, 2, 2) array
    with pytest.raises(ValueError, match="3-D Axes"):
        plot_psd_cone(trajs[0], ax=plt.subplots()[1])


def test_plot_unit_disk(tmp_path):
    trajs = [crossing_traj(), blowup_traj()]
    ax = plot_unit_disk(trajs)
    assert isinstance(ax, Axes)
    circle = ax.get_lines()[0].get_xydata()
    np.testing.assert_allclose(np.linalg.norm(circle, axis=1), 1.0, rtol=1e-14)
    paths = [ln.get_xydata() for ln in ax.get_lines()[1:] if len(ln.get_xdata()) > 1]
    assert len(paths) == 2
    np.testing.assert_allclose(paths[1], disk_coordinates(trajs[1].cov), rtol=1e-14)
    # diag(1/(1 − 2t), 1)/tr → (1, 0) on the unit circle as t → T*
    np.testing.assert_allclose(paths[1][-1], [1.0, 0.0], atol=1e-3)
    assert_png(ax, tmp_path / "disk.png")


@pytest.mark.parametrize("plot", [plot_ellipses, plot_psd_cone, plot_unit_disk])
def test_two_d_views_reject_other_dimensions(plot):
    t = np.linspace(0.0, 1.0, 3)
    traj = Traj(t, np.zeros((3, 3)), np.broadcast_to(np.eye(3), (3, 3, 3)))
    with pytest.raises(ValueError, match="2-D trajectory"):
        plot(traj)


def test_plot_eigenvalues_any_dimension_and_bad_input():
    t = np.linspace(0.0, 1.0, 3)
    ax = plot_eigenvalues(Traj(t, np.zeros((3, 3)), np.broadcast_to(np.diag([3.0, 2.0, 0.0]), (3, 3, 3))))
    assert len(ax.get_lines()) == 3
    assert np.all(np.isnan(ax.get_lines()[2].get_ydata()))  # zero eigenvalue left out on the log axis
    with pytest.raises(ValueError, match="`traj`"):
        plot_eigenvalues(np.eye(2))
    with pytest.raises(ValueError, match="`traj_or_list`"):
        plot_unit_disk([])


# ---------------------------------------------------------------------------------------------- style
def test_every_plot_meets_the_style(tmp_path):
    """Every view: axes labelled with their quantity, no text under 8 pt (gaussflow.style.audit)."""
    from gaussflow import style

    trajs = [crossing_traj(), blowup_traj()]
    for ax in (plot_eigenvalues(blowup_traj()), plot_ellipses(trajs[0]), plot_psd_cone(trajs),
               plot_unit_disk(trajs)):
        assert style.audit(ax.figure) == []
        assert ax.figure.get_figwidth() <= style.WIDTH["double"]


def test_plot_solution_title_states_parameters(tmp_path):
    from gaussflow import style
    from gaussflow.plot import plot_solution

    params = {"Q": np.eye(2), "K": np.eye(2), "V": np.eye(2), "beta": 2.0}
    axes = plot_solution(blowup_traj(), params, "softmax")
    fig = axes[0].figure
    title = fig.get_suptitle()
    assert "softmax" in title and "A = βKᵀQ = 2I" in title and "V = I" in title and "Σ₀ = I" in title
    assert style.audit(fig) == [] and len(fig.axes) == 2
    fig.savefig(tmp_path / "sol.png")


def test_describe_params_heads_l2_and_scalars():
    from gaussflow.plot import describe_params

    heads = {"Q_1": np.eye(2), "K_1": np.eye(2), "V_1": np.eye(2), "W_1": 2 * np.eye(2), "beta_1": 1.0,
             "Q_2": np.eye(2), "K_2": -np.eye(2), "V_2": np.eye(2), "W_2": np.eye(2), "beta_2": 1.0}
    assert describe_params(heads) == "A₁ = β₁K₁ᵀQ₁ = I, C₁ = W₁V₁ = 2I; A₂ = β₂K₂ᵀQ₂ = −I, C₂ = W₂V₂ = I"
    assert describe_params({"Q": np.eye(2), "K": np.eye(2), "V": np.eye(2), "beta": 0.5}, "l2") == \
        "Q = I, K = I, β = 0.5, V = I"
    assert describe_params({"A": [[1, 2], [3, 4]], "V": np.eye(2), "b": 2.0}) == "A = [[1, 2], [3, 4]], V = I, b = 2"


def test_fmt_matrix_and_colour_key():
    from gaussflow import style

    assert style.fmt_matrix([[1.0, 0.3], [0.3, 0.5]]) == "[[1, 0.3], [0.3, 0.5]]"
    assert style.fmt_matrix(np.diag([1.0, -2.0])) == "diag(1, −2)"
    assert style.color("blowup rank one") == style.COLORS["blowup_rank_one"] == style.COLORS["diverged"]
    with pytest.raises(KeyError, match="known"):
        style.color("nope")
    with style.use():
        assert plt.rcParams["font.size"] >= style.MIN_FONT_PT


def test_phase_diagram_plot_states_the_family():
    from gaussflow import style
    from gaussflow.experiments.phase import phase_diagram

    pd = phase_diagram("default", np.linspace(-1, 1, 6), np.linspace(-2, 2, 5), t_end=3.0)
    ax = pd.plot()
    assert "A = [[x, 1], [−1, x]], V = diag(1, y)" in ax.get_title()
    assert ax.get_xlabel() != "x" and ax.get_ylabel() != "y"
    assert ax.get_legend() is not None and style.audit(ax.figure) == []
    # the colour key is outside the data area
    ax.figure.canvas.draw()
    leg = ax.get_legend().get_window_extent()
    assert leg.x0 >= ax.get_window_extent().x1


def test_verify_plot_labels_and_log_axis_without_the_start_zero():
    from gaussflow import style
    from gaussflow.verify import default_example, verify

    attn, law0, _ = default_example("softmax")
    rep = verify(attn, law0, np.linspace(0.0, 0.5, 3), n=300, seed=4, dt=0.25)
    fig = rep.plot()[0].figure
    assert style.audit(fig) == []
    title = fig.get_suptitle()
    assert "A = βKᵀQ" in title and "V = " in title and "Σ₀ = " in title
    a1 = fig.axes[1]
    assert a1.get_yscale() == "log"
    for line in a1.get_lines():
        y = np.asarray(line.get_ydata(), float)
        assert np.all(y > 0)  # the exact zero at t₀ is not drawn on the log axis


def test_every_plot_passes_kwargs_to_matplotlib_and_returns_axes():
    import matplotlib.pyplot as plt

    from gaussflow.plot import plot_eigenvalues, plot_ellipses, plot_psd_cone, plot_solution, plot_unit_disk

    traj = blowup_traj()
    for fn in (plot_eigenvalues, plot_ellipses, plot_unit_disk):
        _fig, ax = plt.subplots()
        out = fn(traj, ax=ax, lw=3.5, alpha=0.25)
        assert out is ax
        drawn = [ln for ln in ax.get_lines() if ln.get_linewidth() == 3.5]
        assert drawn and all(ln.get_alpha() == 0.25 for ln in drawn), fn.__name__
        plt.close(_fig)
    fig = plt.figure()
    ax3 = fig.add_subplot(projection="3d")
    assert plot_psd_cone(traj, ax=ax3, lw=3.5) is ax3
    assert any(ln.get_linewidth() == 3.5 for ln in ax3.get_lines())
    plt.close(fig)
    # two panels: the caller's axes are used and returned, kwargs reach both panels
    fig, pair = plt.subplots(1, 2)
    out = plot_solution(traj, ax=pair, lw=3.5)
    assert list(out) == list(pair) and fig.get_suptitle() == ""  # no title on a figure that is not ours
    assert all(any(ln.get_linewidth() == 3.5 for ln in a.get_lines()) for a in pair)
    with pytest.raises(ValueError, match="`ax` must hold exactly 2"):
        plot_solution(traj, ax=pair[:1])
    plt.close(fig)


def test_verify_report_plot_on_given_axes_with_kwargs():
    import matplotlib.pyplot as plt

    from gaussflow.verify import default_example, verify

    attn, law0, _ = default_example("softmax")
    rep = verify(attn, law0, np.linspace(0.0, 0.5, 3), n=200, seed=1, dt=0.25)
    fig, pair = plt.subplots(1, 2)
    out = rep.plot(ax=pair, lw=3.5)
    assert list(out) == list(pair)
    np.testing.assert_allclose(pair[0].get_lines()[0].get_ydata(), rep.bw)
    assert pair[0].get_lines()[0].get_linewidth() == 3.5
    with pytest.raises(ValueError, match="`ax` must hold exactly 2"):
        rep.plot(ax=[pair[0]])
    plt.close(fig)
