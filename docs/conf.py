"""Sphinx configuration of the gaussflow documentation site (``make docs``).

The site has three sources:

* the Markdown pages in ``docs/*.md`` (read by myst-parser),
* the API reference, generated from the docstrings (autosummary + numpydoc): the page lists of
  ``docs/api/generated/`` are written by :func:`write_api_pages` below from each module's ``__all__``,
  so a public name added to the package appears in the reference without editing any page,
* the tutorials, sphinx-gallery scripts in the top-level ``examples/`` folder that are *executed* during
  the build (a tutorial that breaks fails the build, and with it CI).

Warnings are errors (``sphinx-build -W``).
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import gaussflow  # noqa: E402

project = "gaussflow"
author = "the gaussflow authors"
copyright = "2026, the gaussflow authors"
release = gaussflow.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "api/generated/*.examples", "**.ipynb_checkpoints", "auto_examples/*.py",
                    "auto_examples/*.ipynb", "auto_examples/*.zip", "auto_examples/*.json",
                    "auto_examples/*.md5", "auto_examples/*.pickle", "auto_examples/*.codeobj.json"]
templates_path = ["_templates"]
html_theme = "alabaster"
html_title = f"gaussflow {release}"
html_theme_options = {
    "description": "Closed Gaussian moment dynamics of attention, derived symbolically",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "240px",
}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}

# -- Markdown (myst) ---------------------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# -- API reference ---------------------------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autosummary_ignore_module_all = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()
numpydoc_xref_param_type = False
add_module_names = False

#: the modules whose public names (``__all__``) make up the API reference, with a page title each
API_MODULES: dict[str, str] = {
    "gaussflow": "Top level: derive, attention, solve, particles, verify",
    "gaussflow.sphere": "Tokens on the sphere",
    "gaussflow.lowtemp": "Low temperature",
    "gaussflow.models": "Trained transformers",
    "gaussflow.closures": "Closure kinds",
    "gaussflow.plot": "Plots",
    "gaussflow.experiments.sweep": "Sweeps with checkpoints",
    "gaussflow.experiments.phase": "Phase diagrams",
}


#: public names listed on their API page without an autodoc entry yet, with the reason (each is a docstring whose
#: markup does not render and whose file is being changed by someone else; remove the entry once it is fixed)
PENDING: dict[str, str] = {}


def public_names(module_name: str) -> dict[str, list[str]]:
    """The names in a module's ``__all__`` grouped as ``modules``, ``classes``, ``functions`` and ``data``.

    Parameters
    ----------
    module_name : str
        Dotted module name, e.g. ``"gaussflow.sphere"``.

    Returns
    -------
    dict of str to list of str
        Names per group, in ``__all__`` order; submodules named in ``__all__`` are listed under ``modules``.
    """
    module = importlib.import_module(module_name)
    groups: dict[str, list[str]] = {"modules": [], "classes": [], "functions": [], "data": []}
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.ismodule(obj):
            groups["modules"].append(name)
        elif inspect.isclass(obj):
            groups["classes"].append(name)
        elif callable(obj):
            groups["functions"].append(name)
        else:
            groups["data"].append(name)
    return groups


def write_api_pages(out: Path = DOCS / "api" / "generated") -> list[Path]:
    """Write one autosummary page per module of :data:`API_MODULES` into ``out``.

    Parameters
    ----------
    out : Path
        Output directory (``docs/api/generated``, not committed).

    Returns
    -------
    list of Path
        The pages written; a page whose text is unchanged is not rewritten (keeps incremental builds), and
        stubs of names no longer listed are deleted.
    """
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    keep: set[str] = set()
    for module_name, title in API_MODULES.items():
        groups = public_names(module_name)
        pending = [n for names in groups.values() for n in names if f"{module_name}.{n}" in PENDING]
        groups = {g: [n for n in names if n not in pending] for g, names in groups.items()}
        heading = f"``{module_name}`` — {title}"
        lines = [heading, "=" * len(heading), "", f".. automodule:: {module_name}", "   :no-members:", "",
                 f".. currentmodule:: {module_name}", ""]
        for group, label in (("classes", "Classes"), ("functions", "Functions"), ("data", "Data")):
            names = groups[group]
            if not names:
                continue
            lines += [label, "-" * len(label), "", ".. autosummary::", "   :toctree: .", ""]
            if group == "classes":
                lines.insert(len(lines) - 1, "   :template: class.rst")
            lines += [f"   {n}" for n in names] + [""]
        if pending:
            lines += ["Not yet rendered", "----------------", ""]
            lines += [f"* ``{n}`` — {PENDING[f'{module_name}.{n}']}; see ``help({module_name}.{n})``"
                      for n in pending] + [""]
        if groups["modules"]:
            lines += ["Subpackages", "-----------", ""]
            lines += [f"* :doc:`{module_name}.{n}`" for n in groups["modules"]] + [""]
        page = out / f"{module_name}.rst"
        text = "\n".join(lines)
        if not page.exists() or page.read_text(encoding="utf-8") != text:
            page.write_text(text, encoding="utf-8")
        written.append(page)
        keep.update(f"{module_name}.{n}.rst" for g in ("classes", "functions", "data") for n in groups[g])
    # autosummary never deletes a stub: drop those of names no longer listed (else "not in any toctree")
    keep.update(p.name for p in written)
    for stale in out.glob("*.rst"):
        if stale.name not in keep:
            stale.unlink()
    return written



# -- Docstrings as reStructuredText -------------------------------------------------------------------------------
# gaussflow's docstrings write absolute values and norms in plain text (|x|, |m_p − m_c|); reST would read
# |...| as a substitution reference. Outside literal text (``...``, roles, literal blocks, doctests) a bar is
# escaped before numpydoc sees the docstring.
_LITERAL_SPAN = re.compile(r"(``.*?``|:[a-z:]+:`[^`]*`|`[^`]*`_?)")


def escape_bars(lines: list[str]) -> None:
    """Escape ``|`` in place in docstring ``lines`` outside literal text (spans, ``::`` blocks, doctests).

    Parameters
    ----------
    lines : list of str
        The docstring lines, as autodoc passes them (modified in place).
    """
    literal_indent: int | None = None
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if literal_indent is not None:
            if not stripped or indent > literal_indent:
                continue
            literal_indent = None
        if stripped.startswith((">>>", "... ")) or "|" not in line:
            if line.rstrip().endswith("::"):
                literal_indent = indent
            continue
        parts = _LITERAL_SPAN.split(line)
        lines[i] = "".join(p if k % 2 else re.sub(r"(?<!\\)\|", r"\\|", p) for k, p in enumerate(parts))
        if line.rstrip().endswith("::"):
            literal_indent = indent


def _process_docstring(app: object, what: str, name: str, obj: object, options: object, lines: list[str]) -> None:
    escape_bars(lines)


def _write_api_pages(app: object, config: object) -> None:
    write_api_pages()


def setup(app: object) -> None:
    """Write the API pages before autosummary reads them; escape docstring bars before numpydoc (400 < 500)."""
    # config-inited: before Sphinx lists the source files, so the pages (and their stubs) exist on a fresh clone
    app.connect("config-inited", _write_api_pages)  # type: ignore[attr-defined]
    app.connect("autodoc-process-docstring", _process_docstring, priority=400)  # type: ignore[attr-defined]

# -- Gallery ----------------------------------------------------------------------------------------------------


sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    # every script sets the print options of the getting-started page itself (first lines), so a script copied
    # out of the site prints what the site shows
    "reset_modules": ("matplotlib",),
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "show_memory": False,
    "min_reported_time": 0,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
}
