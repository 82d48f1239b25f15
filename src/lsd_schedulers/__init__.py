"""Learned few-step samplers for discrete diffusion models, as diffusers schedulers."""

from .models import MarkovChainOracle, MaskedDiffusionTransformer
from .noise_schedules import NoiseSchedule
from .pipelines import LSDMaskedTextPipeline, LSDVQImagePipeline, MaskedTextPipelineOutput
from .scheduling_lsd import LSDDiscreteScheduler, LSDSchedulerOutput
from .scheduling_lsd_plus import LSDPlusScheduler

__version__ = "0.1.0"

__all__ = [
    "LSDDiscreteScheduler",
    "LSDMaskedTextPipeline",
    "LSDPlusScheduler",
    "LSDVQImagePipeline",
    "LSDSchedulerOutput",
    "MarkovChainOracle",
    "MaskedDiffusionTransformer",
    "MaskedTextPipelineOutput",
    "NoiseSchedule",
]
