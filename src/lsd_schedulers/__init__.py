"""Learned few-step samplers for discrete diffusion models, as diffusers schedulers."""

from ._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "LSDDiscreteScheduler": ".scheduling_lsd",
    "LSDSchedulerOutput": ".scheduling_lsd",
    "LSDPlusScheduler": ".scheduling_lsd_plus",
    "LSDMaskedTextPipeline": ".pipelines",
    "LSDVQImagePipeline": ".pipelines",
    "MaskedTextPipelineOutput": ".pipelines",
    "MarkovChainOracle": ".models",
    "MaskedDiffusionTransformer": ".models",
    "NoiseSchedule": ".noise_schedules",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
