"""``import gaussflow`` is lazy (PEP 562): heavy dependencies load on first use of a name that needs them."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import gaussflow as gf

HEAVY = ("sympy", "matplotlib", "scipy.integrate", "scipy.linalg", "scipy.optimize", "mpmath")


def _fresh(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          timeout=120).stdout.strip()


def test_import_loads_no_heavy_dependency() -> None:
    out = _fresh(f"import sys, gaussflow; print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    assert out == "[]", f"import gaussflow loaded {out}"


def test_first_use_loads_what_it_needs() -> None:
    out = _fresh("import sys, gaussflow as gf; gf.derive; print('sympy' in sys.modules, 'matplotlib' in sys.modules)")
    assert out == "True False"


@pytest.mark.parametrize("name", gf.__all__)
def test_every_public_name_resolves(name: str) -> None:
    value = getattr(gf, name)
    assert value is not None
    assert name in dir(gf)
    if name not in ("closures", "lowtemp", "models", "sphere", "__version__"):
        # the object is the one its defining module exports (not a same-named submodule)
        assert not isinstance(value, types.ModuleType), name


def test_submodule_import_does_not_hide_the_function() -> None:
    # gaussflow.attention / .variants / .verify are modules *and* functions; loading the module keeps the function
    out = _fresh("import gaussflow as gf, gaussflow.attention, gaussflow.variants, gaussflow.verify, types; "
                 "print([isinstance(getattr(gf, n), types.FunctionType) for n in ('attention', 'variants', 'verify')])")
    assert out == "[True, True, True]"
    import gaussflow.verify.report  # noqa: F401  (a deeper import sets attributes on gaussflow.verify, not gaussflow)

    assert callable(gf.verify) and not isinstance(gf.verify, types.ModuleType)


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        gf.nonexistent  # noqa: B018
    assert not hasattr(gf, "Nonexistent")


@pytest.mark.parametrize("package", ["gaussflow", "gaussflow.symbolic"])
def test_all_matches_the_lazy_exports(package: str) -> None:
    import importlib

    pkg = importlib.import_module(package)
    assert sorted(pkg.__all__) == sorted(set(pkg._public) | ({"__version__"} if package == "gaussflow" else set()))


def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    """No package-level import cycle: each module can be the first gaussflow import of a process.

    The module-level cycle checker (tests/test_layout.py) does not see cycles through a package ``__init__``:
    ``gaussflow.kernels`` → ``symbolic.rules`` ran ``symbolic/__init__`` → ``closure`` → ``kernels`` (partial).
    One interpreter re-imports every module from a clean ``sys.modules`` (third-party modules stay loaded).
    """
    code = (
        "import importlib, pkgutil, sys\n"
        "import gaussflow\n"
        "names = [m.name for m in pkgutil.walk_packages(gaussflow.__path__, 'gaussflow.')"
        " if not m.name.endswith('__main__')]\n"
        "bad = []\n"
        "for n in names:\n"
        "    for k in [k for k in sys.modules if k == 'gaussflow' or k.startswith('gaussflow.')]:\n"
        "        del sys.modules[k]\n"
        "    try:\n"
        "        importlib.import_module(n)\n"
        "    except Exception as e:\n"
        "        bad.append(f'{n}: {e!r}'[:200])\n"
        "print(len(names)); print('\\n'.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300).stdout
    count, *bad = out.strip().splitlines()
    assert int(count) > 100 and bad == [], "\n".join(bad)


def test_cli_imports_only_the_named_command() -> None:
    """``gaussflow variants`` does not load verify's SciPy statistics or phase-diagram's batch integrator."""
    out = _fresh("import sys; from gaussflow.cli import build_parser; p = build_parser('variants'); "
                 "p.parse_args(['variants']); "
                 "print(sorted(m for m in ('gaussflow.verify.core', 'gaussflow.integrate.batch', 'scipy.stats') "
                 "if m in sys.modules))")
    assert out == "[]"
    full = _fresh("from gaussflow.cli import COMMANDS, build_parser; p = build_parser(); "
                  "sub = [a for a in p._actions if a.dest == 'command'][0]; "
                  "print(sorted(sub.choices) == sorted(COMMANDS))")
    assert full == "True"
