"""Validation at the public boundary: one ValueError that names the offending argument.

Truth: the documented contract (STYLE "Values and errors"): the message contains the
argument's name in backticks (e.g. "`Sigma`") or, for names, lists the valid choices.
Valid borderline inputs (singular Σ, Σ symmetric up to rounding) must be accepted.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import gaussflow as gf

I2 = np.eye(2)
NAN_2x2 = np.array([[np.nan, 0.0], [0.0, 1.0]])


@pytest.fixture(scope="module")
def att() -> gf.Attention:
    return gf.attention("softmax", Q=I2, K=np.array([[1.0, 0.5], [0.0, 1.0]]), V=I2, beta=0.5)


def raises_naming(name: str, fn, *args, **kwargs) -> str:
    with pytest.raises(ValueError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert f"`{name}`" in msg, msg
    return msg


# --------------------------------------------------------------------------- names and options


@pytest.mark.parametrize("fn", [gf.derive, gf.attention])
def test_unknown_variant_lists_valid_names(fn) -> None:
    with pytest.raises(ValueError, match="unknown variant 'nope'") as info:
        fn("nope")
    for name in gf.variants():
        assert name in str(info.value)


def test_variant_must_be_name_or_variant() -> None:
    raises_naming("variant", gf.derive, 3)


def test_unknown_parameter() -> None:
    with pytest.raises(ValueError, match=re.escape("unknown parameter(s) ['Z']")) as info:
        gf.attention("softmax", Q=I2, K=I2, V=I2, Z=1.0)
    assert "accepted" in str(info.value)


def test_missing_parameter() -> None:
    raises_naming("V", gf.attention, "softmax", Q=I2, K=I2)


def test_heads_only_for_multihead() -> None:
    raises_naming("heads", gf.attention, "softmax", heads=2, Q=I2, K=I2, V=I2)
    with pytest.raises(ValueError, match="heads"):
        gf.derive("softmax", heads=2)


def test_heads_must_be_positive_and_match_the_stack() -> None:
    raises_naming("heads", gf.derive, "multihead", heads=0)
    stack = np.stack([I2, I2])
    raises_naming("Q", gf.attention, "multihead", heads=3, Q=stack, K=stack, V=stack, W=stack)


def test_shortcut_misuse() -> None:
    with pytest.raises(ValueError, match="`A`"):
        gf.attention("softmax", A=I2, Q=I2, V=I2)
    with pytest.raises(ValueError, match="`A`"):
        gf.attention("l2", A=I2, V=I2)


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("bad", "params"),
    [
        ("V", {"Q": I2, "K": I2, "V": np.eye(3)}),
        ({"Q", "K"}, {"Q": np.ones((2, 3)), "K": I2, "V": I2}),  # d = 3 from Q vs d = 2 from K
        ("K", {"Q": I2, "K": np.ones((3, 2)), "V": I2}),  # k = 2 from Q vs k = 3 from K
        ("V", {"Q": I2, "K": I2, "V": np.ones(2)}),  # wrong number of dimensions
    ],
)
def test_mismatched_shapes(bad, params) -> None:
    with pytest.raises(ValueError) as info:
        gf.attention("softmax", **params)
    names = {bad} if isinstance(bad, str) else bad
    assert any(f"`{n}`" in str(info.value) for n in names), str(info.value)


def test_feedforward_shapes() -> None:
    raises_naming("b_ff", gf.attention, "softmax", feedforward=True, Q=I2, K=I2, V=I2, W_ff=I2, b_ff=np.zeros(3))


@pytest.mark.parametrize("name", ["Q", "K", "V"])
def test_nan_parameter(name: str) -> None:
    params = {"Q": I2, "K": I2, "V": I2, name: NAN_2x2}
    msg = raises_naming(name, gf.attention, "softmax", **params)
    assert "finite" in msg


def test_non_numeric_parameter() -> None:
    raises_naming("V", gf.attention, "softmax", Q=I2, K=I2, V="abc")


@pytest.mark.parametrize("beta", [0.0, -1.0, np.inf, np.nan])
def test_beta_must_be_positive(beta: float) -> None:
    raises_naming("beta", gf.attention, "softmax", Q=I2, K=I2, V=I2, beta=beta)


def test_multihead_beta_per_head() -> None:
    stack = np.stack([I2, I2])
    raises_naming("beta[1]", gf.attention, "multihead", Q=stack, K=stack, V=stack, W=stack, beta=[1.0, -1.0])


def test_sigmoid_bias_must_be_finite() -> None:
    raises_naming("b", gf.attention, "sigmoid", Q=I2, K=I2, V=I2, b=np.nan)


# --------------------------------------------------------------------------- state


def test_non_symmetric_sigma(att: gf.Attention) -> None:
    msg = raises_naming("Sigma", att.moment_rhs, np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]))
    assert "symmetric" in msg


def test_non_psd_sigma(att: gf.Attention) -> None:
    msg = raises_naming("Sigma", att.moment_rhs, np.zeros(2), np.diag([1.0, -1.0]))
    assert "semi-definite" in msg
    raises_naming("Sigma", att.velocity, np.zeros((3, 2)), np.zeros(2), np.diag([1.0, -1e-3]))


@pytest.mark.parametrize("Sigma", [np.eye(3), np.ones(2), NAN_2x2])
def test_bad_sigma_shape_or_entries(att: gf.Attention, Sigma: np.ndarray) -> None:
    raises_naming("Sigma", att.moment_rhs, np.zeros(2), Sigma)


@pytest.mark.parametrize("alpha", [np.zeros(3), np.zeros((2, 1)), np.array([0.0, np.nan])])
def test_bad_alpha(att: gf.Attention, alpha: np.ndarray) -> None:
    raises_naming("alpha", att.moment_rhs, alpha, I2)
    raises_naming("alpha", att.velocity, np.zeros((2, 2)), alpha, I2)


def test_bad_points(att: gf.Attention) -> None:
    raises_naming("x", att.velocity, np.zeros((4, 3)), np.zeros(2), I2)
    raises_naming("x", att.velocity, np.zeros(3), np.zeros(2), I2)
    raises_naming("x", att.velocity, np.array([[0.0, np.inf]]), np.zeros(2), I2)


def test_borderline_valid_states_are_accepted(att: gf.Attention) -> None:
    """Singular Σ and Σ symmetric/PSD up to rounding are valid (docs/math.md §1)."""
    u = np.array([0.6, 0.8])
    singular = np.outer(u, u)
    _, S_dot = att.moment_rhs(np.zeros(2), singular)
    assert np.all(np.isfinite(S_dot))
    rounded = singular + np.array([[0.0, 1e-15], [-1e-15, -1e-15]])
    att.moment_rhs(np.zeros(2), rounded)


# --------------------------------------------------------------------------- other entry points


def test_gaussian_validates() -> None:
    raises_naming("cov", gf.Gaussian, np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]]))
    raises_naming("cov", gf.Gaussian, np.zeros(2), np.eye(3))
    raises_naming("mean", gf.Gaussian, np.zeros((2, 1)), np.eye(2))


def test_explicit_needs_positive_dimension_and_a_closure() -> None:
    raises_naming("d", gf.derive("softmax").explicit, 0)
    with pytest.raises(ValueError, match="does not close"):
        gf.derive("sigmoid").explicit(2)


def test_non_closed_variant_refuses_moment_equations() -> None:
    a = gf.attention("unnormalized", Q=I2, K=I2, V=I2)
    with pytest.raises(ValueError, match="unnormalized"):
        a.moment_rhs(np.zeros(2), I2)
