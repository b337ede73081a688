"""gaussflow: closed Gaussian moment dynamics of attention, derived symbolically.

>>> import gaussflow as gf
>>> gf.derive("softmax").preserves_gaussian
True
"""

from . import closures
from .attention import Attention, attention
from .diagnostics.oracles import softmax_blowup_time
from .diagnostics.regimes import Regime, classify
from .diagnostics.spectrum import Spectrum, spectrum
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
from .version import __version__

#: subpackages loaded on first use (``gf.sphere.energy(...)``), so ``import gaussflow`` stays light
_LAZY_SUBPACKAGES: tuple[str, ...] = ("lowtemp", "models", "sphere")


def __getattr__(name: str) -> object:
    if name in _LAZY_SUBPACKAGES:
        import importlib

        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Attention",
    "BatchResult",
    "Certificate",
    "Closure",
    "ExplicitForm",
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
