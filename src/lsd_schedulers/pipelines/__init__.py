from .masked_text import LSDMaskedTextPipeline, MaskedTextPipelineOutput

__all__ = ["LSDMaskedTextPipeline", "MaskedTextPipelineOutput"]
