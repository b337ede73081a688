"""CLI: thin shim; exit codes and one-line errors."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
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
    assert "preserves_gaussian: True" in out and "def moments(" in out and "_solve(" in out


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


def test_solve_reports_the_oracle_blowup_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Built-in example: V = I, A + Aᵀ ≻ 0, so T* = 1/λ_max(Σ₀^{1/2}(A + Aᵀ)Σ₀^{1/2}) (docs/math.md §4)."""
    import numpy as np
    import scipy.linalg

    from gaussflow.cli import SOLVE_DEFAULTS

    A = np.array(SOLVE_DEFAULTS["A"])
    S0 = np.array(SOLVE_DEFAULTS["cov"])
    h = scipy.linalg.sqrtm(S0).real
    t_star = 1.0 / np.linalg.eigvalsh(h @ (A + A.T) @ h).max()
    png, npz = tmp_path / "b.png", tmp_path / "b.npz"
    assert main(["solve", "softmax", "--plot", str(png), "--save", str(npz)]) == 0
    out = capsys.readouterr().out
    reported = float(out.split("blow-up time T*:")[1].split()[0])
    assert abs(reported - t_star) / t_star < 1e-6
    assert "blowup_rank_one" in out
    assert png.stat().st_size > 10_000 and npz.exists()
    assert main(["solve", "softmax", "--plot", str(png)]) == 2  # no overwrite without --force


def test_solve_params_file_and_bad_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "layer.toml"
    f.write_text('A = [[-1.0, 0.0], [0.0, -2.0]]\nV = [[1.0, 0.0], [0.0, 1.0]]\ncov = [[1.0, 0.0], [0.0, 1.0]]\n')
    assert main(["solve", "softmax", "--params", str(f), "--t-end", "3"]) == 0
    out = capsys.readouterr().out
    # S = A + Aᵀ ≺ 0, V = I: Σ(t) = (I − tS)⁻¹ = diag(1/(1 + 2t), 1/(1 + 4t)) (docs/math.md §4)
    lam = [float(v) for v in out.split("final eigenvalues of Sigma:")[1].splitlines()[0].split(",")]
    assert abs(lam[0] - 1 / 7) < 1e-8 and abs(lam[1] - 1 / 13) < 1e-8
    assert main(["solve", "softmax", "--A", "[[1, 2"]) == 2
    assert "`--A` must be JSON" in capsys.readouterr().err


def test_sweep_cli_blowup_times_scale_like_one_over_beta(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Softmax, V = I: A = βKᵀQ, so T*(β) = T*(1)/β (docs/math.md §4 closed form); resumable, no silent overwrite."""
    import json

    import numpy as np

    from gaussflow.diagnostics.oracles import softmax_blowup_time

    spec = tmp_path / "spec.toml"
    spec.write_text('variant = "softmax"\nt_end = 10.0\nmean = [0.0, 0.0]\ncov = [[1.0, 0.3], [0.3, 0.5]]\n'
                    "[params]\nQ = [[1.0, 0.5], [-0.5, 0.2]]\nK = [[1.0, 0.0], [0.0, 1.0]]\n"
                    "V = [[1.0, 0.0], [0.0, 1.0]]\n[grid]\nbeta = [0.5, 1.0, 2.0]\n")
    out = tmp_path / "run"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1"]) == 0
    rows = json.loads((out / "sweep.json").read_text())
    t1 = softmax_blowup_time(np.array([[1.0, 0.3], [0.3, 0.5]]), np.array([[1.0, 0.5], [-0.5, 0.2]]))
    for row in rows:
        assert row["t_blowup"] == pytest.approx(t1 / row["point"]["params"]["beta"], rel=1e-6)
    assert main(["sweep", str(spec), "--out", str(out)]) == 2
    assert main(["sweep", str(spec), "--out", str(out), "--force", "--workers", "1"]) == 0


def test_every_registered_paper_is_a_reproduce_subcommand() -> None:
    from gaussflow.cli import build_parser
    from gaussflow.experiments import PAPERS, paper

    assert "castin2025" in PAPERS
    for name in PAPERS:
        a = build_parser().parse_args(["reproduce", name, "--quick", "--out", "/tmp/x"])
        assert (a.paper, a.quick, a.full, a.force, a.out) == (name, True, False, False, "/tmp/x")
        mod = paper(name)
        assert callable(mod.main) and callable(mod.add_arguments)
    with pytest.raises(ValueError, match="`paper`"):
        paper("nope2099")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["reproduce", "nope2099"])


# --------------------------------------------------------------------------- help text of every flag


def _parsers(p: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, p
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, q in a.choices.items():
                yield from _parsers(q, f"{path} {name}")


def test_every_flag_has_help_and_shows_its_default() -> None:
    """Every action of every sub-parser (each `reproduce` paper's too), -h and --version aside, has help text,
    and a non-None default appears in it via %(default)s (a store_true flag's default is its absence)."""
    from gaussflow.cli import build_parser
    from gaussflow.experiments import PAPERS

    parsers = dict(_parsers(build_parser(), "gaussflow"))
    assert {f"gaussflow reproduce {p}" for p in PAPERS} <= set(parsers)
    assert {"gaussflow sphere classify", "gaussflow sphere simulate", "gaussflow sweep"} <= set(parsers)
    bad = []
    for path, p in parsers.items():
        for a in p._actions:
            if isinstance(a, argparse._HelpAction | argparse._VersionAction):
                continue
            name = f"{path} {'/'.join(a.option_strings) or a.dest}"
            if not (a.help or "").strip():
                bad.append(f"{name}: no help")
            elif (a.default is not None and not isinstance(a, argparse._StoreTrueAction | argparse._SubParsersAction)
                  and "%(default)s" not in a.help):
                bad.append(f"{name}: default {a.default!r} not shown")
        p.format_help()  # every %(...)s expands
    assert not bad, "\n".join(bad)


def test_flags_the_issue_named_have_real_help() -> None:
    from gaussflow.cli import build_parser

    parsers = dict(_parsers(build_parser(), "gaussflow"))

    def help_of(path: str, flag: str) -> str:
        (a,) = [a for a in parsers[path]._actions if flag in a.option_strings]
        return a.help % {"default": a.default}

    assert "factor" in help_of("gaussflow solve", "--form") and "LLᵀ" in help_of("gaussflow solve", "--form")
    assert "relative tolerance" in help_of("gaussflow solve", "--rtol") and "1e-10" in help_of("gaussflow solve",
                                                                                              "--rtol")
    assert "V(y − x)" in help_of("gaussflow solve", "--residual")
    assert "processes" in help_of("gaussflow reproduce castin2025", "--workers")
    assert "processes" in help_of("gaussflow sweep", "--workers")
    # --family default says what the default family is: its formulas, from default_family's docstring
    fam = help_of("gaussflow phase-diagram", "--family")
    assert "A = [[x, 1], [−1, x]]" in fam and "V = diag(1, y)" in fam


def test_every_command_has_quiet_and_derive_defines_its_symbols(capsys: pytest.CaptureFixture[str]) -> None:
    from gaussflow.cli import build_parser

    for path, p in _parsers(build_parser(), "gaussflow"):
        if not any(isinstance(a, argparse._SubParsersAction) for a in p._actions) and path != "gaussflow":
            assert any("--quiet" in a.option_strings for a in p._actions), path
    assert main(["derive", "l2"]) == 0
    out = capsys.readouterr().out
    formulas, _, block = out.partition("  where\n")
    # every name on the right-hand sides is defined below them (P is defined inline; .T is notation)
    rhs = " ".join(line.split("= ", 1)[1] for line in formulas.splitlines()[1:])
    names = set(re.findall(r"\b([A-Za-z]\w*)\b", rhs)) - {"P", "T"}
    assert {"A", "B", "V", "I", "Sigma", "alpha", "x"} <= names
    for name in names:
        assert re.search(rf"(^|[ ;,]){re.escape(name)}( =|:)", block, re.M), name
    assert "A = beta*K.T*Q" in block and "B = beta*K.T*K" in block and "I: the d×d identity" in block
    assert main(["derive", "sigmoid"]) == 0
    block = capsys.readouterr().out.partition("  where\n")[2]
    assert "sigma2 = Sigma in d = 1" in block and "LogisticMoment0 = Λ₀(m, v)" in block and "b: bias" in block
