"""The documentation site (issue 14): everything a user needs is there, structurally.

The build itself (``make docs``: ``sphinx-build -W``, tutorials executed) takes minutes and runs in CI after
``make test``; these tests check, in well under a second each, what would otherwise only show as a missing page:

* every tutorial topic of the issue has a gallery script in ``examples/`` that uses the capability's API;
* every registered paper has its section in the reproduction tutorial;
* every public name (``__all__`` of each API module) gets an API page entry, from the page generator in
  ``docs/conf.py`` (so a name added later is documented without editing a page);
* every page in ``docs/`` is in the table of contents (Sphinx warns otherwise, and ``-W`` fails);
* the docstring pre-processing escapes plain-text bars (|x|) and nothing literal;
* ``make docs`` keeps warnings as errors and CI runs it.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"

#: tutorial topic (issue 14, deliverable 1) → (script, API strings the script must use)
TOPICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "derive a custom variant": ("plot_01_custom_variant.py", ("Variant.from_score", "gf.derive(")),
    "solve and read the spectrum": ("plot_02_solve_spectrum.py", ("gf.solve(", ".spectrum()", ".classify()")),
    "verify against particles": ("plot_03_verify_particles.py", ("gf.verify(", "gf.simulate_particles(")),
    "reproduce the papers": ("plot_04_reproduce.py", ("gaussflow reproduce", "--quick", "--full")),
    "sweeps on a dask cluster": ("plot_05_sweep_dask.py", ("gf.sweep(", "get_executor()", "Client(")),
    "the sphere model": ("plot_06_sphere.py", ("gaussflow.sphere", "gs.simulate(")),
    "low temperature": ("plot_07_lowtemp.py", ("gf.lowtemp.", "beta=np.inf")),
}
CONVENTION = 'np.set_printoptions(precision=6, suppress=True, legacy="1.25")'


@pytest.fixture(scope="module")
def conf() -> ModuleType:
    """docs/conf.py as a module (importing it has no side effects beyond importing gaussflow)."""
    spec = importlib.util.spec_from_file_location("gaussflow_docs_conf", DOCS / "conf.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("topic", sorted(TOPICS))
def test_every_tutorial_topic_has_an_executed_script(topic: str) -> None:
    script, needles = TOPICS[topic]
    path = EXAMPLES / script
    assert path.is_file(), f"tutorial {topic!r}: {path} is missing"
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)  # a syntax error would only show at build time otherwise
    doc = ast.get_docstring(tree)
    assert doc, f"{script}: no module docstring (the gallery page's title and introduction)"
    title = doc.strip().splitlines()
    assert len(title) >= 2 and set(title[1]) == {"="}, f"{script}: the docstring must start with a title"
    for needle in needles:
        assert needle in text, f"tutorial {topic!r} ({script}) does not use {needle!r}"
    assert CONVENTION in text, f"{script}: must set the site's print options ({CONVENTION})"
    # executed by sphinx-gallery: the file name matches its filename_pattern
    assert re.search(r"/plot_", f"/{script}")


def test_gallery_has_readme_and_no_stray_scripts() -> None:
    assert (EXAMPLES / "README.txt").is_file()
    scripts = {p.name for p in EXAMPLES.glob("*.py")}
    assert scripts == {script for script, _ in TOPICS.values()}, "a script that is not listed here is untested"


def test_every_paper_has_a_section_in_the_reproduction_tutorial() -> None:
    from gaussflow.experiments import PAPERS

    text = (EXAMPLES / "plot_04_reproduce.py").read_text(encoding="utf-8")
    for paper in PAPERS:
        assert f"``{paper}``" in text, f"paper {paper!r} has no row in examples/plot_04_reproduce.py"


def test_api_pages_list_every_public_name(conf: ModuleType, tmp_path: Path) -> None:
    pages = conf.write_api_pages(tmp_path)
    assert {p.stem for p in pages} == set(conf.API_MODULES)
    for module_name in conf.API_MODULES:
        module = importlib.import_module(module_name)
        text = (tmp_path / f"{module_name}.rst").read_text(encoding="utf-8")
        entries = set(re.findall(r"^   (\w+)$", text, flags=re.M))  # autosummary entries
        links = set(re.findall(rf":doc:`{re.escape(module_name)}\.(\w+)`", text))  # subpackages
        pending = {n for n in module.__all__ if f"{module_name}.{n}" in conf.PENDING}
        for name in pending:
            assert f"* ``{name}`` — " in text, f"{module_name}.{name} is pending but not listed on its page"
        missing = sorted(set(module.__all__) - entries - links - pending)
        assert not missing, f"{module_name}: public names without an API entry: {missing}"
        for sub in links:
            assert f"{module_name}.{sub}" in conf.API_MODULES, f"{module_name}.{sub} is linked but has no page"


def test_pending_api_entries_are_still_public(conf: ModuleType) -> None:
    # a pending entry is temporary: it must name a public object (remove it once its docstring renders)
    for dotted in conf.PENDING:
        module_name, name = dotted.rsplit(".", 1)
        assert module_name in conf.API_MODULES and name in importlib.import_module(module_name).__all__, dotted


def test_api_covers_the_documented_modules(conf: ModuleType) -> None:
    want = {"gaussflow", "gaussflow.sphere", "gaussflow.lowtemp", "gaussflow.models", "gaussflow.closures",
            "gaussflow.plot", "gaussflow.experiments.sweep", "gaussflow.experiments.phase"}
    assert want <= set(conf.API_MODULES)
    index = (DOCS / "api" / "index.rst").read_text(encoding="utf-8")
    for module_name in conf.API_MODULES:
        assert f"generated/{module_name}\n" in index, f"docs/api/index.rst does not list {module_name}"


def test_public_names_groups_by_kind(conf: ModuleType) -> None:
    groups = conf.public_names("gaussflow")
    assert "solve" in groups["functions"] and "Trajectory" in groups["classes"]
    assert {"sphere", "lowtemp", "models", "closures"} <= set(groups["modules"])
    assert "__version__" in groups["data"]


def test_every_page_is_in_the_table_of_contents() -> None:
    index = (DOCS / "index.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"^   ([\w/]+)\s*$", index, flags=re.M))
    generated = {"index", "sg_execution_times"}  # the root, and sphinx-gallery's timing page (an orphan, gitignored)
    pages = ({p.stem for p in DOCS.glob("*.md")} | {p.stem for p in DOCS.glob("*.rst")}) - generated
    assert pages - listed == set(), f"pages missing from docs/index.rst: {sorted(pages - listed)}"
    assert {"getting_started", "auto_examples/index", "api/index", "math", "architecture"} <= listed
    for name in listed - {"auto_examples/index", "api/index"}:
        assert (DOCS / f"{name}.md").is_file() or (DOCS / f"{name}.rst").is_file(), f"toctree entry {name}: no page"


def test_getting_started_states_the_conventions() -> None:
    text = (DOCS / "getting_started.rst").read_text(encoding="utf-8")
    for needle in ("make run", "make test", "make docs", "import gaussflow as gf", CONVENTION,
                   "gf.derive(", "gf.solve(", "gf.verify("):
        assert needle in text, f"getting_started.rst does not mention {needle!r}"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["max |x| over x"], [r"max \|x\| over x"]),
        (["the norm |m_p − m_c| and ``a|b``"], [r"the norm \|m_p − m_c\| and ``a|b``"]),
        ([":math:`|x|` is |x|"], [r":math:`|x|` is \|x\|"]),
        ([r"already \|escaped\|"], [r"already \|escaped\|"]),
        ([">>> abs(-1) | 2"], [">>> abs(-1) | 2"]),
        (["Layout::", "", "    a | b", "back |here|"], ["Layout::", "", "    a | b", r"back \|here\|"]),
        (["no bars at all"], ["no bars at all"]),
    ],
)
def test_docstring_bars_are_escaped_outside_literals(conf: ModuleType, lines: list[str],
                                                      expected: list[str]) -> None:
    conf.escape_bars(lines)
    assert lines == expected


def test_make_docs_treats_warnings_as_errors_and_ci_builds_it() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    target = re.search(r"^docs:.*\n((?:\t.*\n)+)", makefile, flags=re.M)
    assert target, "Makefile has no docs target"
    assert "sphinx-build -W --keep-going -b html docs docs/_build/html" in target.group(1)
    assert "OPENBLAS_NUM_THREADS=1" in target.group(1) and "MPLBACKEND=Agg" in target.group(1)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert "make docs" in ci and ci.index("make docs") > ci.index("make test")
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    for path in ("docs/_build/", "docs/auto_examples/", "docs/api/generated/", "docs/sg_execution_times.rst"):
        assert path in ignored, f".gitignore does not ignore {path} (the HTML is not committed)"
