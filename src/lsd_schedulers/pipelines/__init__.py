from .masked_text import LSDMaskedTextPipeline, MaskedTextPipelineOutput
from .vq_image import LSDVQImagePipeline

__all__ = ["LSDMaskedTextPipeline", "LSDVQImagePipeline", "MaskedTextPipelineOutput"]
