"""Examples that cannot go stale: every ``>>>`` example in README.md, the docs pages and the package's
docstrings is executed here (issue 14).

One pytest test per file (id = its path), collected when the tests are collected, so a page added later is
covered without editing this file. Every file runs under the same conditions:

* ``doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS``;
* ONE print-options setting for arrays and NumPy 2 scalars,
  ``np.set_printoptions(precision=6, suppress=True, legacy="1.25")`` (so ``np.float64(0.5)`` prints ``0.5``),
  restored after the file;
* ``np`` (NumPy) and ``gf`` (``import gaussflow as gf``) pre-bound; the examples of one file share one
  namespace, in order, like a session;
* a fresh temporary working directory (an example that saves a file does not litter the repository);
* warnings are recorded, never printed into the output; a warning that is not gaussflow's own
  (``gaussflow.errors.GaussflowWarning``) fails the file — an example showing a gaussflow warning
  demonstrates it with ``warnings.catch_warnings``.

Markdown is parsed by ``doctest.DocTestParser`` directly; fence lines (```` ``` ````) are blanked first, so a
fence closing a block is never read as part of the expected output. The truth of each example is the output
its author wrote; a failing example fails loudly with doctest's report (got vs expected) in the message.
"""

from __future__ import annotations

import doctest
import importlib
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
#: the one print-options setting of every example (docs/getting_started.rst says so to the reader)
PRINT_OPTIONS: dict[str, object] = {"precision": 6, "suppress": True, "legacy": "1.25"}
#: not source pages: what the docs build generates (git-ignored) and Sphinx's templates / static files
GENERATED_PARTS = frozenset({"_build", "auto_examples", "generated", "_templates", "_static"})
GENERATED_NAMES = frozenset({"sg_execution_times.rst"})
FENCE = re.compile(r"^[ \t]*(```|~~~)")
#: docstrings known to be stale in a file this harness's author does not own: strict xfail, so the fix turns it
#: into an XPASS failure and the entry must go (empty it, never extend it to silence a new failure)
KNOWN_STALE: dict[str, str] = {}


def page_files(root: Path = ROOT) -> list[Path]:
    """README.md and every ``docs/**/*.md`` / ``docs/**/*.rst`` source page (generated pages excluded)."""
    pages = [root / "README.md"]
    docs = root / "docs"
    for f in sorted(docs.rglob("*")) if docs.is_dir() else []:
        rel = f.relative_to(docs).parts
        if (f.suffix in {".md", ".rst"} and f.is_file() and not GENERATED_PARTS.intersection(rel)
                and f.name not in GENERATED_NAMES):
            pages.append(f)
    return [p for p in pages if p.is_file()]


def module_files(root: Path = ROOT) -> list[Path]:
    """Package modules whose text holds a ``>>>`` example (``__main__`` modules are never imported)."""
    pkg = root / "gaussflow"
    return [f for f in sorted(pkg.rglob("*.py"))
            if f.name != "__main__.py" and "__pycache__" not in f.parts and ">>>" in f.read_text(encoding="utf-8")]


def blank_fences(text: str) -> str:
    """``text`` with Markdown fence lines replaced by empty lines (line numbers kept)."""
    return "\n".join("" if FENCE.match(line) else line for line in text.split("\n"))


@dataclass(frozen=True)
class Outcome:
    """What running one file's examples gave: examples attempted, failed, doctest's report, stray warnings."""

    attempted: int
    failed: int
    report: str
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.warnings


def base_globs() -> dict[str, object]:
    import gaussflow as gf

    return {"np": np, "gf": gf, "__name__": "__doctest__"}


@contextmanager
def example_conditions(workdir: Path) -> Iterator[list[warnings.WarningMessage]]:
    """The print options, the working directory and the warning record of one file's run (all restored)."""
    old_cwd = Path.cwd()
    with np.printoptions(**PRINT_OPTIONS), warnings.catch_warnings(record=True) as caught:  # type: ignore[arg-type]
        warnings.simplefilter("always")
        os.chdir(workdir)
        try:
            yield caught
        finally:
            os.chdir(old_cwd)


def run_tests(tests: list[doctest.DocTest], workdir: Path) -> Outcome:
    """Run ``tests`` (in order) under :func:`example_conditions`; collect the report instead of printing it."""
    from gaussflow.errors import GaussflowWarning

    chunks: list[str] = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    with example_conditions(workdir) as caught:
        for test in tests:
            runner.run(test, out=chunks.append)
    stray = tuple(f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}" for w in caught
                  if not issubclass(w.category, GaussflowWarning))
    res = runner.summarize(verbose=False)
    return Outcome(res.attempted, res.failed, "".join(chunks), stray)


def run_text(text: str, name: str, workdir: Path, markdown: bool = True) -> Outcome:
    """Run every ``>>>`` example of a page's ``text`` (Markdown fences blanked when ``markdown``)."""
    src = blank_fences(text) if markdown else text
    test = doctest.DocTestParser().get_doctest(src, base_globs(), name, name, 0)
    return run_tests([test], workdir)


def run_module(module: ModuleType, workdir: Path) -> Outcome:
    """Run the ``>>>`` examples of every docstring defined in ``module`` (module globals + ``np``, ``gf``)."""
    globs = {**vars(module), **base_globs()}
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, globs=globs)
    return run_tests(sorted((t for t in tests if t.examples), key=lambda t: t.lineno or 0), workdir)


def count_examples(text: str) -> int:
    """Number of ``>>>`` examples doctest finds in a page."""
    return len(doctest.DocTestParser().get_examples(blank_fences(text)))


def _message(path: str, out: Outcome) -> str:
    parts = [f"{path}: {out.failed} of {out.attempted} examples failed"]
    if out.report:
        parts.append(out.report)
    if out.warnings:
        parts.append("warnings that are not gaussflow's (an example should not emit them):\n" + "\n".join(out.warnings))
    return "\n".join(parts)


def _rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("page", page_files(), ids=_rel)
def test_page_examples(page: Path, tmp_path: Path) -> None:
    text = page.read_text(encoding="utf-8")
    out = run_text(text, _rel(page), tmp_path, markdown=page.suffix == ".md")
    assert out.ok, _message(_rel(page), out)
    assert out.attempted == count_examples(text)


def test_readme_has_examples() -> None:
    assert count_examples((ROOT / "README.md").read_text(encoding="utf-8")) >= 10


def _docstring_params() -> list[object]:
    return [pytest.param(f, id=_rel(f), marks=[pytest.mark.xfail(reason=KNOWN_STALE[_rel(f)], strict=True)]
                         if _rel(f) in KNOWN_STALE else []) for f in module_files()]


@pytest.mark.parametrize("path", _docstring_params())
def test_docstring_examples(path: Path, tmp_path: Path) -> None:
    rel = path.relative_to(ROOT).with_suffix("")
    name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
    out = run_module(importlib.import_module(name), tmp_path)
    assert out.ok, _message(_rel(path), out)
    assert out.attempted > 0, f"{_rel(path)} has '>>>' but no docstring example was found"


# -- the harness itself can fail -----------------------------------------------------------------------------

STALE = """Some page.

```python
>>> 1 + 1
3
```
"""

GOOD = """Arrays and NumPy 2 scalars through the print options, the fence not read as output:

```python
>>> np.float64(0.5)
0.5
>>> np.array([1 / 3, 1e-12])
array([0.333333, 0.      ])
>>> with open("scratch.txt", "w") as fh:
...     fh.write("x")
1
```
"""


def test_harness_reports_a_wrong_output(tmp_path: Path) -> None:
    out = run_text(STALE, "stale.md", tmp_path)
    assert (out.attempted, out.failed) == (1, 1) and not out.ok
    assert "Expected:\n    3\nGot:\n    2" in out.report
    with pytest.raises(AssertionError, match=r"stale\.md: 1 of 1 examples failed"):
        assert out.ok, _message("stale.md", out)


def test_harness_passes_a_true_page_in_a_scratch_directory(tmp_path: Path) -> None:
    before, cwd = np.get_printoptions(), Path.cwd()
    out = run_text(GOOD, "good.md", tmp_path)
    assert out.ok and out.attempted == 3, out.report
    assert (tmp_path / "scratch.txt").read_text() == "x" and not (cwd / "scratch.txt").exists()
    assert np.get_printoptions() == before and Path.cwd() == cwd


def test_harness_fails_on_a_foreign_warning_and_keeps_gaussflow_warnings_out_of_the_output(tmp_path: Path) -> None:
    text = (">>> import warnings\n>>> warnings.warn('x', RuntimeWarning)\n"
            ">>> warnings.warn('y', gf.errors.GaussflowWarning)\n")
    out = run_text(text, "warn.md", tmp_path)
    assert out.failed == 0 and len(out.warnings) == 1 and "RuntimeWarning: x" in out.warnings[0]


def test_fence_closing_a_block_is_not_expected_output(tmp_path: Path) -> None:
    text = "```\n>>> print('a')\na\n```\n"
    assert "```" in doctest.DocTestParser().get_examples(text)[0].want
    assert run_text(text, "fence.md", tmp_path).ok
