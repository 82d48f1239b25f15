"""diffusers pipelines that sample masked text and VQ image models with an LSD scheduler."""

from .._lazy import lazy_exports

_EXPORTS = {
    "LSDMaskedTextPipeline": ".masked_text",
    "LSDVQImagePipeline": ".vq_image",
    "MaskedTextPipelineOutput": ".masked_text",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
