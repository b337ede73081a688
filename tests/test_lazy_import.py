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
