"""Registry of attention variants: one module per variant, all with the same protocol."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from . import l2, multihead, sigmoid, sinkhorn, softmax, unnormalized
from ._base import Head, Param, Variant

_MODULES: tuple[ModuleType, ...] = (softmax, multihead, l2, sinkhorn, sigmoid, unnormalized)

#: name → builder ``build(**options) -> Variant``
REGISTRY: dict[str, Callable[..., Variant]] = {m.NAME: m.build for m in _MODULES}
SUMMARIES: dict[str, str] = {m.NAME: m.SUMMARY for m in _MODULES}


def variants() -> list[str]:
    """Names of the registered attention variants."""
    return list(REGISTRY)


def get_variant(name: str, **options: object) -> Variant:
    """Build the registered variant ``name`` with ``options`` (``residual``,
    ``feedforward``, ``heads`` where supported)."""
    if not isinstance(name, str) or name not in REGISTRY:
        raise ValueError(f"unknown variant {name!r}; valid names: {', '.join(REGISTRY)}")
    try:
        return REGISTRY[name](**options)
    except TypeError as exc:
        raise ValueError(f"variant {name!r} does not accept options {sorted(options)}: {exc}") from None


__all__ = ["REGISTRY", "SUMMARIES", "Head", "Param", "Variant", "get_variant", "variants"]
