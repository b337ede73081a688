"""``gaussflow reproduce alcalde2026 --quick``: outputs, summary numbers, the window metric."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gaussflow.experiments.alcalde2026 import OUTPUTS, window


def test_window_on_a_synthetic_curve() -> None:
    """W2 = c + e^{−t} + (t/T)²: floor ≈ c, reached when e^{−t} ≈ 0.1c, left when c + (t/T)² = 2·floor."""
    t = np.linspace(0, 200, 200001)
    c, T = 1e-3, 1e4
    w = window(t, c + np.exp(-t) + (t / T) ** 2)
    assert abs(w["floor"] - c) < 5e-6  # min of e^{−t} + (t/T)² ≈ 2.6e-6
    assert abs(w["t_reach"] - np.log(1 / (0.1 * w["floor"]))) < 0.05
    assert w["t_leave"] is None  # (200/T)² = 4e-4 < c: never doubles
    w = window(t, c + np.exp(-t) + (t / 2e3) ** 2)
    assert w["t_leave"] is not None and abs(w["t_leave"] - 2e3 * np.sqrt(2 * w["floor"] - c)) < 1e-2


def test_reproduce_quick(tmp_path) -> None:
    from gaussflow.cli import build_parser

    args = build_parser().parse_args(["reproduce", "alcalde2026", "--quick", "--out", str(tmp_path)])
    assert args.func(args) == 0
    for name in OUTPUTS:
        assert (tmp_path / f"alcalde2026_{name}").exists(), name
    s = json.loads((tmp_path / "alcalde2026_summary.json").read_text())
    assert s["size"] == "quick"
    for r in s["gaussian"]["blowup"]:
        assert abs(r["T_solver"] - r["T_closed_form"]) < 1e-8 * r["T_closed_form"]
    rows = {r["beta"]: r for r in s["concentration"]["interval"]}
    # interval floors: O(ln β/β), far below the bound √(log(β+1)/β)
    for b, r in rows.items():
        assert 0.9 < r["floor"] * b / np.log(b) < 1.3
        assert r["floor"] < 0.6 * np.sqrt(np.log(b + 1) / b)
    with pytest.raises(ValueError, match="overwrite"):  # no --force: refuses
        args.func(args)


@pytest.mark.parametrize("bad", ["huge"])
def test_reproduce_bad_size(bad: str, tmp_path) -> None:
    from gaussflow.experiments.alcalde2026 import reproduce_alcalde2026

    with pytest.raises(ValueError, match="size"):
        reproduce_alcalde2026(tmp_path, size=bad)
