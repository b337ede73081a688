"""Interop: every result object converts to plain dicts (JSON) and to tidy pandas DataFrames.

Truths: the arrays of the result itself (each DataFrame column is compared with the array entry it names,
read back by index, not through the conversion code), and ``json.dumps(..., allow_nan=False)``, which
rejects anything but plain JSON types.
"""

from __future__ import annotations

import builtins
import json

import numpy as np
import pytest

import gaussflow as gf
from gaussflow.integrate.batch import solve_batch
from gaussflow.masked import solve_masked

pd = pytest.importorskip("pandas")

LAW = gf.Gaussian([0.3, -0.2], [[1.0, 0.3], [0.3, 0.6]])
ATT = gf.attention("softmax", A=np.array([[0.3, 1.0], [-1.0, 0.2]]), V=np.eye(2))


def _json(d: dict) -> dict:
    text = json.dumps(d, allow_nan=False)
    return json.loads(text)


def _check_moments(df, t: np.ndarray, mean: np.ndarray | None, cov: np.ndarray, m: str = "alpha",
                   c: str = "Sigma") -> None:
    np.testing.assert_array_equal(df["t"].to_numpy(), t)
    d = cov.shape[-1]
    for i in range(d):
        if mean is not None:
            np.testing.assert_array_equal(df[f"{m}_{i}"].to_numpy(), mean[:, i])
        for j in range(d):
            np.testing.assert_array_equal(df[f"{c}_{i}_{j}"].to_numpy(), cov[:, i, j])


def test_trajectory_dict_and_dataframe() -> None:
    traj = gf.solve(ATT, LAW, (0.0, 1.0), t_eval=np.linspace(0.0, 1.0, 6), dense_output=True)
    d = _json(traj.to_dict())
    assert {"t", "mean", "cov", "status", "message", "t_blowup", "nfev", "variant", "params", "solver",
            "versions", "exact"} <= set(d) and "dense" not in d
    assert d["status"] == "ok" and d["exact"] is True and d["t_blowup"] is None
    np.testing.assert_array_equal(np.array(d["cov"]), traj.cov)
    df = traj.to_dataframe()
    assert len(df) == len(traj)
    _check_moments(df, traj.t, traj.mean, traj.cov)
    np.testing.assert_allclose(df["trace"], np.trace(traj.cov, axis1=1, axis2=2), rtol=1e-12)
    lam = np.linalg.eigvalsh(traj.cov)
    p = lam / lam.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(df["effective_rank"], np.exp(-(p * np.log(p)).sum(axis=1)), rtol=1e-10)


def test_particles_spectrum_and_masked() -> None:
    X0 = LAW.sample(200, 0)
    pt = gf.simulate_particles(ATT, X0, [0.0, 0.25, 0.5], keep="all")
    d = _json(pt.to_dict())
    assert d["n"] == 200 and "X" not in d
    _check_moments(pt.to_dataframe(), pt.t, pt.mean, pt.cov)

    sp = pt.spectrum()
    d = _json(sp.to_dict())
    np.testing.assert_array_equal(np.array(d["eigenvalues"]), sp.eigenvalues)
    df = sp.to_dataframe()
    np.testing.assert_array_equal(df["lambda_0"], sp.eigenvalues[:, 0])
    np.testing.assert_array_equal(df["lambda_1"], sp.eigenvalues[:, 1])
    np.testing.assert_allclose(df["stable_rank"], sp.eigenvalues.sum(1) / sp.eigenvalues[:, 0])

    laws = [LAW, gf.Gaussian([1.0, 0.0], 0.5 * np.eye(2))]
    mt = solve_masked(ATT, laws, (0.0, 0.3), t_eval=[0.0, 0.1, 0.3])
    d = _json(mt.to_dict())
    np.testing.assert_array_equal(np.array(d["cov"]), mt.cov)
    df = mt.to_dataframe()
    T, P = mt.mean.shape[:2]
    assert len(df) == T * P
    for (k, p), row in zip([(k, p) for k in range(T) for p in range(P)], df.itertuples(index=False), strict=True):
        assert row.t == mt.t[k] and row.group == p
        assert row.alpha_1 == mt.mean[k, p, 1] and row.Sigma_0_1 == mt.cov[k, p, 0, 1]


def test_batch_result() -> None:
    att = gf.attention("softmax", A=np.eye(2), V=np.eye(2))
    r = solve_batch(att, np.stack([np.eye(2), 0.25 * np.eye(2)]), (0.0, 1.0), t_eval=[0.0, 0.2, 0.4, 0.6, 0.8],
                    mean0=np.zeros(2))
    d = _json(r.to_dict())
    # Σ(t) = (Σ₀⁻¹ − 2t)⁻¹: member 0 blows up at T* = 1/2, member 1 (T* = 2) reaches t = 1
    assert d["status"] == ["blowup", "ok"] and d["t_blowup"][0] == pytest.approx(0.5, abs=1e-6)
    assert d["t_blowup"][1] is None  # NaN became None
    # history after the first member stopped (T* = 0.5) is NaN → None in JSON
    assert d["history"][0][-1][0][0] is None
    df = r.to_dataframe()
    for i in range(len(r)):
        m = r.member(i)
        sub = df[df["member"] == i]
        _check_moments(sub, m.t, m.mean, m.cov)
        assert set(sub["status"]) == {str(r.status[i])}
    assert df["t"][df["member"] == 0].max() == pytest.approx(r.t_final[0])


def test_verification_report_and_convergence_study() -> None:
    rep = gf.verify(ATT, LAW, [0.0, 0.25, 0.5], n=200, seed=0, dt=0.25, ns=(100, 200), repeats=1)
    d = _json(rep.to_dict())
    assert d["verdict"] == rep.verdict and d["ratio"] == pytest.approx(rep.ratio)
    assert d["closure_is_approximation"] is False and d["convergence"]["metric"].startswith("relative")
    df = rep.to_dataframe()
    for name in ("bw", "rel_mean_error", "rel_cov_error", "mardia_b1", "mardia_kurt_p"):
        np.testing.assert_array_equal(df[name], getattr(rep, name))
    _check_moments(df, rep.t, rep.particle_mean, rep.particle_cov, "particle_mean", "particle_cov")
    _check_moments(df, rep.t, rep.closure_mean, rep.closure_cov, "closure_mean", "closure_cov")
    cv = rep.convergence
    assert cv is not None
    cdf = cv.to_dataframe()
    np.testing.assert_array_equal(cdf["n"], cv.ns)
    np.testing.assert_array_equal(cdf["error"], cv.errors)
    np.testing.assert_allclose(cdf["error_x_sqrt_n"], cv.errors * np.sqrt(cv.ns))
    assert list(cdf["seeds"]) == [int(np.isfinite(row).sum()) for row in cv.samples]


def test_to_dataframe_without_pandas_names_the_extra(monkeypatch) -> None:
    real_import = builtins.__import__

    def no_pandas(name: str, *args, **kwargs):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    traj = gf.solve(ATT, LAW, (0.0, 0.2))
    monkeypatch.setattr(builtins, "__import__", no_pandas)
    monkeypatch.delitem(__import__("sys").modules, "pandas", raising=False)
    with pytest.raises(ImportError, match=r"pip install gaussflow\[pandas\]"):
        traj.to_dataframe()
    with pytest.raises(ImportError, match=r"pip install gaussflow\[pandas\]"):
        traj.spectrum().to_dataframe()
    json.dumps(traj.to_dict(), allow_nan=False)  # to_dict needs no pandas
