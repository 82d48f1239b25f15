from .config import DistillationConfig
from .distiller import LSDDistiller
from .objectives import generalized_kl, path_kl_interval_loss, teacher_continuation
from .parameters import StudentParameters, logits_from_schedule, schedule_from_logits

__all__ = [
    "DistillationConfig",
    "LSDDistiller",
    "StudentParameters",
    "generalized_kl",
    "logits_from_schedule",
    "path_kl_interval_loss",
    "schedule_from_logits",
    "teacher_continuation",
]
