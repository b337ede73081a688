"""gaussflow: closed Gaussian moment dynamics of attention, derived symbolically."""

from .symbolic import Certificate, Closure, ExplicitForm, Step, derive
from .variants import Head, Param, Variant, variants

__version__ = "0.1.0"

__all__ = [
    "Certificate", "Closure", "ExplicitForm", "Head", "Param", "Step", "Variant",
    "derive", "variants", "__version__",
]
