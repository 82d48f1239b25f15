from .countdown import countdown_violations, sequence_violation_rate, unigram_kl, violation_rate

__all__ = ["countdown_violations", "sequence_violation_rate", "unigram_kl", "violation_rate"]
