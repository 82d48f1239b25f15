"""A "Jump Your Steps"-style baseline: the schedule found by derivative-free search on a KL bound, with Phi = 1.

As in Jump Your Steps (Park et al., 2024), the schedule grows from [1, 0]: every interval is split in two at the
point that minimises the path-KL of its two halves, found by golden-section search, until there are M intervals.
This is exactly the `split` stage of LSD+ with path-KL; LSD+ then refines every boundary against its final
neighbours and learns the coefficients.
"""

from dataclasses import replace

import torch

from .distiller import LSDDistiller


def jys_schedule(distiller: LSDDistiller) -> torch.Tensor:
    """The M + 1 times found by hierarchical golden-section splitting (runs the `split` stage of a fresh run)."""
    config = replace(distiller.config, scheduler_type="lsd_plus", objective="path_kl")
    search = LSDDistiller(
        distiller.denoiser,
        distiller.teacher,
        config,
        distiller.process_index,
        distiller.reduce,
        distiller.num_processes,
        distiller.start,
    )
    if config.num_student_steps == 1:
        return torch.tensor([1.0, 0.0], dtype=torch.float64)
    while search.stages[0][0] == "split" and search.global_step < search.stages[0][1]:
        search.step()
    return search.times()
