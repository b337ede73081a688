"""Short reprs and notebook LaTeX of the user-facing objects.

Truths: lengths (one line, < 200 characters whatever the size of the weights), the shapes the user passed,
and structural validity of the LaTeX (balanced braces, matched environments) plus the equations the
derivation itself states (α̇ and Σ̇ for a closing variant, the projection for a non-closing one).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import gaussflow as gf
from gaussflow.integrate.batch import solve_batch

SHORT = 200


def _balanced(tex: str) -> None:
    depth = 0
    for i, ch in enumerate(tex):
        if ch in "{}" and i > 0 and tex[i - 1] == "\\":
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0, tex[: i + 1]
    assert depth == 0, tex
    assert re.findall(r"\\begin\{(\w+)\}", tex) == re.findall(r"\\end\{(\w+)\}", tex)[::-1]


def test_twelve_head_attention_repr_is_one_short_line() -> None:
    rng = np.random.default_rng(0)
    H, k, d = 12, 64, 384
    att = gf.attention("multihead", Q=rng.standard_normal((H, k, d)), K=rng.standard_normal((H, k, d)),
                       V=rng.standard_normal((H, d, d)), W=rng.standard_normal((H, d, d)))
    r = repr(att)
    assert "\n" not in r and len(r) < SHORT, r
    assert r.startswith("Attention('multihead', d=384, heads=12, params:")
    for part in ("Q(12,64,384)", "K(12,64,384)", "V(12,384,384)", "W(12,384,384)", "beta=1"):
        assert part in r
    per_head = gf.attention("multihead", Q=np.ones((3, 2, 2)), K=np.ones((3, 2, 2)), V=np.ones((3, 2, 2)),
                            W=np.ones((3, 2, 2)), beta=[0.5, 1.0, 2.0])
    assert "beta(3)" in repr(per_head)  # distinct per-head scalars show as a stacked shape
    one = gf.attention("sigmoid", A=np.eye(2), V=np.eye(2), b=0.5)
    assert repr(one) == "Attention('sigmoid', d=2, heads=1, params: Q(2,2) K(2,2) V(2,2) beta=1 b=0.5)"


def test_result_reprs_are_short() -> None:
    att = gf.attention("softmax", A=np.eye(2), V=np.eye(2))
    law = gf.Gaussian(np.zeros(2), np.eye(2))
    objs = [
        gf.derive("multihead", heads=12), gf.derive("sigmoid"),
        gf.solve(att, law, (0.0, 1.0)),
        solve_batch(att, np.stack([np.eye(2)] * 50), (0.0, 1.0)),
        gf.simulate_particles(att, law.sample(100, 0), [0.0, 0.1]),
        gf.verify(att, law, [0.0, 0.1, 0.2], n=100, seed=0, dt=0.1, ns=(50, 100), repeats=1),
    ]
    objs += [objs[2].spectrum(), objs[-1].convergence]
    for o in objs:
        r = repr(o)
        assert "\n" not in r and len(r) < SHORT, (type(o).__name__, len(r), r[:300])
    assert repr(objs[0]) == "Closure('multihead', preserves_gaussian=True, heads=12, params: Q K V W beta)"
    rep = objs[5]
    assert repr(rep).startswith("VerificationReport('softmax', n=100, T=3, closure='exact'")


@pytest.mark.parametrize("name", ["softmax", "l2", "multihead"])
def test_closure_latex_shows_the_exact_moment_equations(name: str) -> None:
    c = gf.derive(name)
    tex = c._repr_latex_()
    assert tex.startswith("$$") and tex.endswith("$$") and tex.count("$$") == 2
    _balanced(tex)
    assert r"\dot\alpha" in tex and r"\dot\Sigma" in tex and "exact" in tex
    assert c.steps[-1].latex in tex  # the derivation's own moment equations, not a retyped formula


def test_closure_latex_of_a_non_closing_variant_is_the_projection() -> None:
    tex = gf.derive("sigmoid")._repr_latex_()
    _balanced(tex)
    assert "does not close" in tex and "approximation" in tex
    assert r"\mathbb E[\Gamma(X)]" in tex  # the projected mean equation α̇ = E[Γ(X)]


def test_report_latex_is_a_small_table() -> None:
    att = gf.attention("softmax", A=0.2 * np.eye(2), V=np.eye(2))
    rep = gf.verify(att, gf.Gaussian([0.0, 0.0], np.eye(2)), [0.0, 0.5], n=100, seed=0, dt=0.25)
    tex = rep._repr_latex_()
    assert tex.startswith("$\\begin{array}") and tex.endswith("\\end{array}$")
    _balanced(tex)
    assert tex.count(r" \\ ") == 8  # nine rows
    assert f"{rep.ratio:.3g}" in tex and f"{rep.bw[-1]:.3g}" in tex
    assert r"O(n^{-1/2})" in tex and rep.verdict.startswith("consistent with O(n^-1/2)")
