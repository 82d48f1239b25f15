"""A "Jump Your Steps"-style baseline: the schedule found by derivative-free search on a KL bound, Phi = 1.

As in Jump Your Steps (Park et al., 2024), the schedule is refined hierarchically: starting from [1, 0], every
interval is split in two at the point that minimises the path-KL of its two halves, found by golden-section
search, until there are M intervals (M a power of two; otherwise the last level splits the longest intervals).
"""

import torch

from .distiller import LSDDistiller
from .objectives import path_kl_interval_loss
from .rollouts import path_kl_rollout, student_prefix
from .search import golden_section_propose, golden_section_record, golden_section_start


def split_cost(distiller: LSDDistiller, times: list[float], index: int, split: float, step: int) -> float:
    """Path-KL of the two halves when the interval [times[index + 1], times[index]] is split at `split`."""
    trial = torch.tensor([*times[: index + 1], split, *times[index + 1 :]], dtype=torch.float64)
    ones = torch.ones(len(trial) - 1, dtype=torch.float64)
    generator = distiller.generator(5, step)
    start = distiller.start_states(generator)
    sample = student_prefix(distiller.denoiser, distiller.student, trial, ones, start, index, generator)
    stats, _ = path_kl_rollout(
        distiller.denoiser, distiller.student, distiller.teacher, trial, ones, sample, distiller.config.substeps,
        generator, first_step=index, last_step=index + 2,
    )  # fmt: skip
    return distiller.mean_over_processes(sum(path_kl_interval_loss(distiller.student, item, 1.0) for item in stats))


def jys_schedule(distiller: LSDDistiller, evaluations_per_split: int = 8) -> torch.Tensor:
    """The M + 1 times found by hierarchical golden-section splitting (common random numbers per split).

    Args:
        distiller (`LSDDistiller`): gives the denoiser, the samplers, the batch and M.
        evaluations_per_split (`int`, defaults to 8): golden-section evaluations for each new boundary.
    """
    num_steps = distiller.config.num_student_steps
    times, step = [1.0, 0.0], 0
    while len(times) - 1 < num_steps:
        intervals = len(times) - 1
        splits = min(intervals, num_steps - intervals)
        # split the longest intervals first (all of them while M is a power of two)
        order = sorted(range(intervals), key=lambda i: times[i + 1] - times[i])[:splits]
        refined = list(times)
        for index in sorted(order, reverse=True):
            upper, lower = times[index], times[index + 1]
            state = golden_section_start(0.02, 0.98)
            for _ in range(evaluations_per_split):
                fraction = golden_section_propose(state)
                split = lower + fraction * (upper - lower)
                golden_section_record(state, fraction, split_cost(distiller, times, index, split, step))
            step += 1
            refined.insert(index + 1, lower + state["best_x"] * (upper - lower))
        times = refined
    return torch.tensor(times, dtype=torch.float64)
