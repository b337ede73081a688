"""Bad input to solve() / propagate(): one ValueError naming the argument, never another exception."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gaussflow as gf
from gaussflow.integrate.propagate import propagate
from gaussflow.integrate.solve import solve
from gaussflow.trajectory import Trajectory

ATT = gf.attention("softmax", A=[[0.3, 0.1], [-0.2, 0.4]], V=[[0.5, 0.2], [0.0, 0.4]])
LAW = gf.Gaussian([0.1, -0.2], [[1.0, 0.2], [0.2, 0.5]])


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"law0": ([0.0, 0.0], [[1.0, 0.5], [0.0, 1.0]])}, "law0.cov"),  # non-symmetric
        ({"law0": ([0.0, 0.0], [[1.0, 0.0], [0.0, -1.0]])}, "law0.cov"),  # not PSD
        ({"law0": ([0.0, 0.0], [[np.nan, 0.0], [0.0, 1.0]])}, "law0.cov"),
        ({"law0": ([0.0, np.inf], np.eye(2))}, "law0.mean"),
        ({"law0": ([0.0, 0.0], np.eye(3))}, "law0.cov"),
        ({"law0": np.eye(2)}, "law0"),
        ({"law0": gf.Gaussian(np.zeros(3), np.eye(3))}, "law0"),  # d mismatch with attn
        ({"t_span": (1.0, 0.0)}, "t_span"),  # reversed
        ({"t_span": (0.0, 0.0)}, "t_span"),
        ({"t_span": (0.0, np.inf)}, "t_span"),
        ({"t_span": (np.nan, 1.0)}, "t_span"),
        ({"t_span": (0.0, 1.0, 2.0)}, "t_span"),
        ({"t_span": "ab"}, "t_span"),
        ({"t_eval": [0.0, 2.0]}, "t_eval"),  # outside t_span
        ({"t_eval": [-0.5, 0.5]}, "t_eval"),
        ({"t_eval": [0.5, 0.2]}, "t_eval"),  # not increasing
        ({"t_eval": [[0.5]]}, "t_eval"),
        ({"t_eval": []}, "t_eval"),
        ({"form": "cholesky"}, "form"),
        ({"form": ["full"]}, "form"),
        ({"method": "Euler"}, "method"),
        ({"method": 3}, "method"),
        ({"rtol": 0.0}, "rtol"),
        ({"rtol": -1e-3}, "rtol"),
        ({"rtol": np.array([1e-3, 1e-3])}, "rtol"),
        ({"atol": np.nan}, "atol"),
        ({"blowup_threshold": 0.5}, "blowup_threshold"),
        ({"stationary_tol": -1.0}, "stationary_tol"),
        ({"max_nfev": 0}, "max_nfev"),
        ({"attn": "softmax"}, "attn"),
        ({"attn": lambda t: 3.0}, "attn"),
        ({"attn": lambda: ATT}, "attn"),  # not callable as attn(t)
        ({"attn": gf.attention("softmax", A=np.eye(3), V=np.eye(3))}, "law0"),  # d mismatch
        ({"attn": gf.attention("sigmoid", A=np.eye(2), V=np.eye(2)), "form": "factor"}, "form"),  # no J
    ],
)
def test_bad_input_names_the_argument(kwargs: dict[str, Any], named: str) -> None:
    args: dict[str, Any] = {"attn": ATT, "law0": LAW, "t_span": (0.0, 1.0)} | kwargs
    with pytest.raises(ValueError, match=f"`{named}"):
        solve(**args)


def test_gaussian_constructor_rejects_bad_cov_before_solve() -> None:
    with pytest.raises(ValueError, match="`cov`"):
        solve(ATT, gf.Gaussian([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]]), (0.0, 1.0))


def test_time_dependent_attention_changing_dimension_is_named() -> None:
    other = gf.attention("softmax", A=np.eye(3), V=np.eye(3))
    with pytest.raises(ValueError, match=r"`attn`\(0\.\d+"):
        solve(lambda t: ATT if t < 0.3 else other, LAW, (0.0, 1.0))


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ((ATT, LAW, 0, 0.1), "layers"),
        ((ATT, LAW, 2.5, 0.1), "layers"),
        ((ATT, LAW, 3, 0.0), "step"),
        ((ATT, LAW, 3, np.nan), "step"),
        (([ATT, ATT], LAW, 3, 0.1), "layers"),
        (([], LAW, None, 0.1), "attn"),
        (([ATT, "x"], LAW, None, 0.1), r"attn\[1\]"),
        ((ATT, ([0.0], [[1.0]]), 3, 0.1), "law0"),
    ],
)
def test_propagate_bad_input_names_the_argument(args: tuple[Any, ...], named: str) -> None:
    with pytest.raises(ValueError, match=f"`{named}"):
        propagate(*args)


# --------------------------------------------------------------------------- fuzzing

_junk = st.sampled_from([
    None, "x", "", [], {}, 0, -1, 1e308, -0.0, np.nan, np.inf, -np.inf, True, object(), [np.nan],
    [[1.0, 2.0], [3.0]], np.zeros((2, 2, 2)), np.array([1.0, np.nan]), b"1", 1j, (0.0,), lambda t: None,
])
_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


def _arrays(shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    return st.lists(_floats, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))).map(
        lambda xs: np.array(xs, dtype=float).reshape(shape))


_covs = st.one_of(
    _junk,
    st.sampled_from([(1, 1), (2, 2), (2, 3), (3, 3), (2,), (0, 0)]).flatmap(_arrays),
    st.tuples(st.floats(-2, 2), st.floats(-2, 2), st.floats(-2, 2)).map(  # valid-ish PSD or not
        lambda abc: np.array([[abc[0], abc[1]], [abc[1], abc[2]]])),
)
_means = st.one_of(_junk, st.sampled_from([(1,), (2,), (3,), (2, 1)]).flatmap(_arrays),
                   st.tuples(st.floats(-3, 3), st.floats(-3, 3)).map(np.array))
_spans = st.one_of(_junk, st.tuples(_floats, _floats), st.tuples(st.floats(-1, 1), st.floats(-1, 2)),
                   st.lists(_floats, max_size=3))
_attns = st.one_of(
    st.just(ATT),
    _junk,
    st.tuples(st.floats(-3, 3), st.floats(-3, 3), st.floats(-3, 3)).map(
        lambda x: gf.attention("softmax", A=[[x[0], x[1]], [0.0, x[2]]], V=[[x[2], 0.0], [x[1], x[0]]])),
)


_VALID: dict[str, Any] = {
    "attn": ATT, "mean": np.array([0.1, -0.2]), "cov": np.array([[1.0, 0.2], [0.2, 0.5]]), "t_span": (0.0, 1.0),
    "t_eval": None, "form": None, "method": "DOP853", "rtol": 1e-6, "atol": 1e-9, "blowup_threshold": 1e8,
    "stationary_tol": 1e-10,
}
_BAD: dict[str, st.SearchStrategy[Any]] = {
    "attn": _attns,
    "mean": _means,
    "cov": _covs,
    "t_span": _spans,
    "t_eval": st.one_of(_junk, st.lists(st.floats(-1, 2), max_size=4), st.lists(_floats, max_size=3)),
    "form": st.one_of(st.sampled_from(["full", "factor", "FULL", ""]), _junk),
    "method": st.one_of(st.sampled_from(["RK45", "RK23", "LSODA", "Radau", "rk45"]), _junk),
    "rtol": st.one_of(_floats, _junk),
    "atol": st.one_of(_floats, _junk),
    "blowup_threshold": st.one_of(_floats, _junk),
    "stationary_tol": st.one_of(_floats, _junk),
}


@st.composite
def _inputs(draw: st.DrawFn) -> dict[str, Any]:
    """Valid arguments with 1–3 of them replaced by junk, odd shapes, non-finite or random values."""
    names = draw(st.lists(st.sampled_from(sorted(_BAD)), min_size=1, max_size=3, unique=True))
    args = dict(_VALID)
    for n in names:
        args[n] = draw(_BAD[n])
    args["as_gaussian"] = draw(st.booleans())
    return args


@pytest.mark.filterwarnings("ignore:At least one element of `rtol` is too small")
@settings(max_examples=200, derandomize=True, deadline=None,
          suppress_health_check=(HealthCheck.too_slow, HealthCheck.filter_too_much))
@given(args=_inputs())
def test_fuzz_solve_returns_trajectory_or_value_error(args: dict[str, Any]) -> None:
    a = dict(args)
    mean, cov, as_gaussian = a.pop("mean"), a.pop("cov"), a.pop("as_gaussian")
    attn, t_span = a.pop("attn"), a.pop("t_span")
    try:
        law0 = gf.Gaussian(mean, cov) if as_gaussian else (mean, cov)
        out = solve(attn, law0, t_span, max_nfev=3000, **a)
    except ValueError as exc:
        assert "`" in str(exc)  # names an argument
        return
    assert isinstance(out, Trajectory)
    assert out.status in ("ok", "blowup", "converged", "failed")
    assert np.all(np.isfinite(out.cov)) and np.all(np.isfinite(out.mean))
