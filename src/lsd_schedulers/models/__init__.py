"""Denoisers: the exact Markov-chain oracle, our masked transformer, adapters for Hub models, a judge."""

from .._lazy import lazy_exports

_EXPORTS = {
    "AmusedAdapter": ".adapters",
    "AutocastDenoiser": ".adapters",
    "ClassConditionalAdapter": ".adapters",
    "DenoiserAdapter": ".adapters",
    "ImageClassifier": ".image_classifier",
    "LLaDAAdapter": ".adapters",
    "MDLMAdapter": ".adapters",
    "MarkovChainOracle": ".markov_oracle",
    "MaskedDiffusionOutput": ".masked_transformer",
    "MaskedDiffusionTransformer": ".masked_transformer",
    "MaskedLMAdapter": ".adapters",
    "NativeAdapter": ".adapters",
    "SEDDAdapter": ".adapters",
    "as_denoiser": ".adapters",
    "countdown_chain": ".markov_oracle",
    "random_chain": ".markov_oracle",
    "sample_markov_chain": ".markov_oracle",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
