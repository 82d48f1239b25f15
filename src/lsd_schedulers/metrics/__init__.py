from pathlib import Path

from .countdown import countdown_violations, sequence_violation_rate, unigram_kl, violation_rate

__all__ = ["countdown_violations", "load_metric", "sequence_violation_rate", "unigram_kl", "violation_rate"]


EVALUATE_MODULES = Path(__file__).parent / "evaluate_modules"


def load_metric(name: str, **kwargs):
    """Load one of our evaluate modules by path (works offline).

    Args:
        name (`str`): `"unigram_entropy"` (token ids), `"generative_perplexity"` (texts, SmolLM2 judge), `"mauve"`
            (texts or features against references; needs the `text-metrics` extra), `"classifier_frechet_distance"`
            (image features) or `"class_accuracy"` (predicted against requested classes).
        **kwargs: passed to `evaluate.load`.
    """
    import evaluate

    path = EVALUATE_MODULES / f"{name}.py"
    if not path.is_file():
        available = sorted(p.stem for p in EVALUATE_MODULES.glob("*.py"))
        raise ValueError(f"Unknown metric {name!r}; available: {available}.")
    return evaluate.load(str(path), **kwargs)
