"""Learned Sampler Distillation: the objectives, the student's parameters, the search, checkpoints."""

from .._lazy import lazy_exports

_EXPORTS = {
    "DistillationConfig": ".config",
    "LSDDistiller": ".distiller",
    "StudentParameters": ".parameters",
    "generalized_kl": ".objectives",
    "logits_from_schedule": ".parameters",
    "path_kl_interval_loss": ".objectives",
    "schedule_from_logits": ".parameters",
    "teacher_continuation": ".objectives",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
