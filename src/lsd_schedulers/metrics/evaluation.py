"""Sample with several schedulers on fresh seeds and score the countdown samples (tables for scripts and cards)."""

import time
from collections.abc import Callable

import torch

from ..sampling import Denoiser, generate
from ..scheduling_lsd import LSDDiscreteScheduler
from .countdown import sequence_violation_rate, unigram_kl, violation_rate


def sample_in_batches(
    denoiser: Denoiser,
    scheduler: LSDDiscreteScheduler,
    num_samples: int,
    seq_len: int,
    num_inference_steps: int | None,
    seed: int,
    batch_size: int = 128,
    start: Callable[[int, torch.Generator], torch.LongTensor] | None = None,
) -> torch.LongTensor:
    """`num_samples` sequences, batch b drawn with a generator seeded `seed + b` (fresh noise in every batch).

    `start(batch_size, generator)` gives x_1 with conditioning in place (`Teacher.start_states`); default all MASK.
    """
    batches = []
    for index, first in enumerate(range(0, num_samples, batch_size)):
        size = min(batch_size, num_samples - first)
        generator = torch.Generator().manual_seed(seed + index)
        x1 = start(size, generator) if start is not None else None
        batches.append(
            generate(denoiser, scheduler, (size, seq_len), num_inference_steps, generator=generator, sample=x1)
        )
    return torch.cat(batches)


def countdown_metrics(samples: torch.LongTensor, stationary: torch.Tensor) -> dict[str, float]:
    """violation_rate, sequence_violation_rate and unigram_kl of countdown samples."""
    num_states = stationary.numel()
    return {
        "violation_rate": violation_rate(samples, num_states),
        "sequence_violation_rate": sequence_violation_rate(samples, num_states),
        "unigram_kl": unigram_kl(samples, stationary, num_states),
    }


def compare_samplers(
    denoiser: Denoiser,
    samplers: dict[str, tuple[LSDDiscreteScheduler, int]],
    metrics: Callable[[torch.LongTensor], dict[str, float]],
    num_samples: int,
    seq_len: int,
    seed: int,
    batch_size: int = 128,
    start: Callable[[int, torch.Generator], torch.LongTensor] | None = None,
) -> list[dict]:
    """One row per sampler: `{"sampler", "nfe", "unmasking_order", "metrics", "sample_seconds"}`, all on the same
    evaluation seeds.

    Args:
        denoiser (`Callable`): the frozen model.
        samplers (`dict`): name -> (scheduler, number of steps).
        metrics (`Callable`): samples -> dict of metric values.
        num_samples (`int`): sequences per sampler.
        seq_len (`int`): sequence length.
        seed (`int`): first evaluation seed; keep it disjoint from the seeds used in distillation.
        batch_size (`int`, defaults to 128): sequences per batch.
        start (`Callable`, *optional*): x_1 with conditioning in place (see `sample_in_batches`).
    """
    rows = []
    for name, (scheduler, steps) in samplers.items():
        began = time.perf_counter()
        samples = sample_in_batches(denoiser, scheduler, num_samples, seq_len, steps, seed, batch_size, start)
        seconds = time.perf_counter() - began
        rows.append(
            {
                "sampler": name,
                "nfe": steps,
                "unmasking_order": scheduler.config.unmasking_order,
                "metrics": metrics(samples),
                "sample_seconds": round(seconds, 2),
            }
        )
    return rows


def markdown_table(rows: list[dict]) -> str:
    """The rows as a markdown table, one column per metric."""
    metric_names = list(dict.fromkeys(name for row in rows for name in row["metrics"]))
    lines = [
        "| sampler | NFE | " + " | ".join(metric_names) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in metric_names) + " |",
    ]
    for row in rows:
        values = " | ".join(f"{row['metrics'][name]:.4f}" if name in row["metrics"] else "" for name in metric_names)
        lines.append(f"| {row['sampler']} | {row['nfe']} | {values} |")
    return "\n".join(lines)
