"""The documentation is self-contained: no pointers to files a user of the repository does not have, and
every ``docs/math.md §N`` reference names a section that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MATH = ROOT / "docs" / "math.md"
#: where user-facing text lives: no pointer outside the repository at all
USER_FACING = ("gaussflow", "docs", "README.md")
#: tests and benchmarks cite the same reference for the mathematics (they may name developer tools)
SCANNED = (*USER_FACING, "tests", "benchmarks")
SUFFIXES = {".py", ".md", ".txt", ".toml", ".rst", ".tex"}
#: references to the project's private notes (this file names them only inside the pattern)
NOTES = re.compile(r"\bMATH\b|\bEXPERIMENTS\b|MATH\.md|EXPERIMENTS\.md")
OUTSIDE = re.compile(r"\.\./shared|/work/shared")
REF = re.compile(r"docs/math\.md\s*§\s*(\d+)(?:\s*[–-]\s*§?\s*(\d+))?")
HEADING = re.compile(r"^##\s+(\d+)\.\s+(.+?)\s*$", re.M)


def _files(roots: tuple[str, ...] = SCANNED) -> list[Path]:
    out: list[Path] = []
    for name in roots:
        p = ROOT / name
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            out += [f for f in sorted(p.rglob("*")) if f.is_file() and f.suffix in SUFFIXES
                    and "__pycache__" not in f.parts and f.resolve() != Path(__file__).resolve()]
    return out


def _sections() -> dict[int, str]:
    return {int(n): title for n, title in HEADING.findall(MATH.read_text(encoding="utf-8"))}


def _slug(title: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    s = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return s.replace(" ", "-")


def test_math_reference_exists_with_numbered_sections() -> None:
    secs = _sections()
    assert MATH.is_file()
    assert sorted(secs) == list(range(1, len(secs) + 1)) and len(secs) >= 6


def test_no_reference_to_private_notes() -> None:
    user = set(_files(USER_FACING))
    bad = []
    for f in _files():
        for k, line in enumerate(f.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if NOTES.search(line) or (f in user and OUTSIDE.search(line)):
                bad.append(f"{f.relative_to(ROOT)}:{k}: {line.strip()}")
    assert not bad, "references to files users do not have (cite docs/math.md §N instead):\n" + "\n".join(bad)


def test_every_section_reference_resolves() -> None:
    secs = _sections()
    bad, n_refs = [], 0
    for f in _files():
        for k, line in enumerate(f.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for m in REF.finditer(line):
                n_refs += 1
                for g in m.groups():
                    if g is not None and int(g) not in secs:
                        bad.append(f"{f.relative_to(ROOT)}:{k}: §{g} (sections: {sorted(secs)})")
    assert n_refs > 0
    assert not bad, "\n".join(bad)


def test_math_internal_links_and_section_signs_resolve() -> None:
    text = MATH.read_text(encoding="utf-8")
    secs = _sections()
    anchors = {_slug(f"{n}. {t}") for n, t in secs.items()} | {"references"}
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert links and set(links) <= anchors, set(links) - anchors
    for n in re.findall(r"§\s*(\d+)", text):
        assert int(n) in secs, f"docs/math.md cites its own §{n}, which does not exist"


@pytest.mark.parametrize("topic", ["∂t μ + div(μ Γ[μ]) = 0", "A := β KᵀQ", "Lemma (affine velocities",
                                   "Stein's lemma", "Tilting", "T\\* = 1/λ_max(N)", "Rank histograms",
                                   "np.random.seed(40)"])
def test_math_covers_the_brief(topic: str) -> None:
    assert topic in MATH.read_text(encoding="utf-8")


def test_packaging_files() -> None:
    """LICENSE (MIT, as pyproject says), CITATION.cff with the package version, py.typed, a changelog."""
    import gaussflow as gf

    root = Path(__file__).resolve().parents[1]
    assert "MIT License" in (root / "LICENSE").read_text()
    assert 'license = { text = "MIT" }' in (root / "pyproject.toml").read_text()
    cff = (root / "CITATION.cff").read_text()
    assert f"version: {gf.__version__}\n" in cff and "arXiv:2501.18322" in cff
    assert (root / "gaussflow" / "py.typed").exists()
    assert f"## {gf.__version__}" in (root / "CHANGELOG.md").read_text()


def test_one_version_source() -> None:
    """pyproject reads the version from gaussflow/version.py (no second literal); the installed metadata agrees."""
    import importlib.metadata
    import tomllib

    import gaussflow as gf

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["hatch"]["version"]["path"] == "gaussflow/version.py"
    assert importlib.metadata.version("gaussflow") == gf.__version__
