"""gaussflow: closed Gaussian moment dynamics of attention, derived symbolically.

``import gaussflow`` is light: every public name below is imported from its module on first use (PEP 562), so
SymPy, matplotlib and the integrators load only when a derivation, a plot or a solve needs them
(docs/conventions.md: import time measured by ``benchmarks/import_time.py``).

>>> import gaussflow as gf
>>> gf.derive("softmax").preserves_gaussian
True
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from ._lazy import attach
from .version import __version__

#: public name → the module (relative to the package) that defines it
_EXPORTS: dict[str, tuple[str, ...]] = {
    "attention": ("Attention", "attention"),
    "diagnostics.oracles": ("softmax_blowup_time",),
    "diagnostics.regimes": ("Regime", "classify"),
    "diagnostics.spectrum": ("Spectrum", "spectrum"),
    "experiments.phase": ("PhaseDiagram", "phase_diagram"),
    "errors": ("ApproximateClosureWarning", "GaussflowWarning"),
    "experiments.sweep": ("sweep",),
    "gaussian": ("Gaussian",),
    "integrate.batch": ("BatchResult", "solve_batch"),
    "integrate.propagate": ("propagate",),
    "integrate.solve": ("solve",),
    "masked": ("MaskedClosure", "MaskedTrajectory", "masked_closure", "masked_reduction_proved", "solve_masked"),
    "particles.engine": ("ParticleOverflowError", "ParticleTrajectory", "particle_velocity", "simulate_particles",
                         "sinkhorn_plan"),
    "status": ("Status",),
    "symbolic": ("Certificate", "Closure", "ExplicitForm", "Step", "derive"),
    "trajectory": ("Trajectory", "TrajectoryError"),
    "variants": ("Head", "Param", "Variant", "variants"),
    "verify": ("VerificationReport", "bures_wasserstein", "mardia", "verify"),
}
#: subpackages loaded on first use (``gf.sphere.energy(...)``)
_LAZY_SUBPACKAGES: tuple[str, ...] = ("closures", "lowtemp", "models", "sphere")

if TYPE_CHECKING:  # pragma: no cover - static analysers see the eager imports
    from . import closures, lowtemp, models, sphere
    from .attention import Attention, attention
    from .diagnostics.oracles import softmax_blowup_time
    from .diagnostics.regimes import Regime, classify
    from .diagnostics.spectrum import Spectrum, spectrum
    from .errors import ApproximateClosureWarning, GaussflowWarning
    from .experiments.phase import PhaseDiagram, phase_diagram
    from .experiments.sweep import sweep
    from .gaussian import Gaussian
    from .integrate.batch import BatchResult, solve_batch
    from .integrate.propagate import propagate
    from .integrate.solve import solve
    from .masked import MaskedClosure, MaskedTrajectory, masked_closure, masked_reduction_proved, solve_masked
    from .particles.engine import (
        ParticleOverflowError,
        ParticleTrajectory,
        particle_velocity,
        simulate_particles,
        sinkhorn_plan,
    )
    from .status import Status
    from .symbolic import Certificate, Closure, ExplicitForm, Step, derive
    from .trajectory import Trajectory, TrajectoryError
    from .variants import Head, Param, Variant, variants
    from .verify import VerificationReport, bures_wasserstein, mardia, verify


class _Package(types.ModuleType):
    """The package module: a submodule import never hides the public function of the same name.

    ``gaussflow.attention``, ``gaussflow.variants`` and ``gaussflow.verify`` are both modules and the functions they
    define; Python's import system sets ``gaussflow.<child> = <module>`` after a submodule loads, which would replace
    the function. Eager imports used to rebind the function afterwards; here the assignment itself is redirected.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _WHERE:
            value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        super().__setattr__(name, value)


__getattr__, __dir__, _public = attach(__name__, _EXPORTS, _LAZY_SUBPACKAGES)
_WHERE: dict[str, str] = {name: module for module, names in _EXPORTS.items() for name in names}
sys.modules[__name__].__class__ = _Package


__all__ = [
    "ApproximateClosureWarning",
    "Attention",
    "BatchResult",
    "Certificate",
    "Closure",
    "ExplicitForm",
    "GaussflowWarning",
    "Gaussian",
    "Head",
    "MaskedClosure",
    "MaskedTrajectory",
    "Param",
    "ParticleOverflowError",
    "ParticleTrajectory",
    "PhaseDiagram",
    "Regime",
    "Spectrum",
    "Status",
    "Step",
    "Trajectory",
    "TrajectoryError",
    "Variant",
    "VerificationReport",
    "__version__",
    "attention",
    "bures_wasserstein",
    "classify",
    "closures",
    "derive",
    "lowtemp",
    "mardia",
    "masked_closure",
    "masked_reduction_proved",
    "models",
    "particle_velocity",
    "phase_diagram",
    "propagate",
    "simulate_particles",
    "sinkhorn_plan",
    "softmax_blowup_time",
    "solve",
    "solve_batch",
    "solve_masked",
    "spectrum",
    "sphere",
    "sweep",
    "variants",
    "verify",
]
