from .adapters import (
    AmusedAdapter,
    AutocastDenoiser,
    ClassConditionalAdapter,
    DenoiserAdapter,
    LLaDAAdapter,
    MaskedLMAdapter,
    MDLMAdapter,
    NativeAdapter,
    SEDDAdapter,
    as_denoiser,
)
from .image_classifier import ImageClassifier
from .markov_oracle import MarkovChainOracle, countdown_chain, random_chain, sample_markov_chain
from .masked_transformer import MaskedDiffusionOutput, MaskedDiffusionTransformer

__all__ = [
    "AmusedAdapter",
    "AutocastDenoiser",
    "ClassConditionalAdapter",
    "DenoiserAdapter",
    "ImageClassifier",
    "LLaDAAdapter",
    "MDLMAdapter",
    "MarkovChainOracle",
    "MaskedDiffusionOutput",
    "MaskedDiffusionTransformer",
    "MaskedLMAdapter",
    "NativeAdapter",
    "SEDDAdapter",
    "as_denoiser",
    "countdown_chain",
    "random_chain",
    "sample_markov_chain",
]
