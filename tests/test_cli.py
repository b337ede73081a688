"""CLI: thin shim; exit codes and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import gaussflow as gf
from gaussflow.cli import main


def test_variants_lists_every_registered_variant(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["variants"]) == 0
    out = capsys.readouterr().out
    for n in gf.variants():
        assert n in out
    assert "not closed" in out


def test_derive_prints_closure_and_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["derive", "l2", "--code"]) == 0
    out = capsys.readouterr().out
    assert "preserves_gaussian: True" in out and "def moments(" in out and "np.linalg" in out


def test_unknown_variant_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["derive", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown variant 'nope'" in err[0] and "softmax" in err[0]


def test_out_never_overwrites_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["derive", "softmax", "--out", str(tmp_path)]) == 0
    first = (tmp_path / "softmax.tex").read_text()
    (tmp_path / "softmax.tex").write_text("mine")
    assert main(["derive", "softmax", "--out", str(tmp_path)]) == 2
    assert (tmp_path / "softmax.tex").read_text() == "mine"
    assert "--force" in capsys.readouterr().err
    assert main(["derive", "softmax", "--out", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "softmax.tex").read_text() == first


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["derive", "--help"])
    assert exc.value.code == 0
    assert "examples:" in capsys.readouterr().out
