"""Distillation objectives: path-KL with teacher continuation (default) and the paper's score matching (Eq. 6/8).

Both are built from *rollouts*: trajectories sampled without gradient, whose per-step statistics are cached so that
the loss is an exact, differentiable function of the student's coefficients (and, for the paper's LSD+, its times).
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..scheduling_lsd import LSDDiscreteScheduler
from ..transitions import sample_jumps

Denoiser = Callable[[torch.LongTensor, torch.Tensor], torch.Tensor]
DISTANCES = ("l2", "l1", "kl")
TINY = 1e-30


def generalized_kl(target: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    # D(a || b) = sum_y a log(a / b) - a + b, for non-negative rates
    log_ratio = torch.log(target.clamp_min(TINY)) - torch.log(estimate.clamp_min(TINY))
    return (target * log_ratio - target + estimate).sum(-1)


def distance(target: torch.Tensor, estimate: torch.Tensor, name: str) -> torch.Tensor:
    """Per-position distance between two rate (or score) vectors, summed over the vocabulary."""
    if name == "l2":
        return (target - estimate).pow(2).sum(-1)
    if name == "l1":
        return (target - estimate).abs().sum(-1)
    return generalized_kl(target, estimate)


# ----------------------------------------------------------------------------------------------------------------
# Path-KL with teacher continuation
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class IntervalStatistics:
    """What the teacher's fine steps across one student interval [s, t] leave behind, started from x_t.

    With R*_j the teacher's rates on its sub-state at sub-time t_j and `included` the positions that have not
    moved since x_t: `rate_integral` = sum_j dt_j R*_j, `time_integral` = sum_j dt_j, `rate_entropy` =
    sum_j dt_j sum_y R* log R*, `rate_total` = sum_j dt_j sum_y R*, `rate_total_entropy` = sum_j dt_j r* log r*.
    """

    sample: torch.LongTensor
    model_output: torch.Tensor
    t: torch.Tensor
    s: torch.Tensor
    rate_integral: torch.Tensor
    time_integral: torch.Tensor
    rate_entropy: torch.Tensor
    rate_total: torch.Tensor
    rate_total_entropy: torch.Tensor


@torch.no_grad()
def teacher_continuation(
    denoiser: Denoiser,
    teacher: LSDDiscreteScheduler,
    sample: torch.LongTensor,
    model_output: torch.Tensor,
    t: torch.Tensor,
    s: torch.Tensor,
    num_substeps: int,
    generator: torch.Generator | None,
) -> IntervalStatistics:
    """Run the teacher's `num_substeps` fine steps from the student's state across [s, t], accumulating rates.

    The first fine step reuses `model_output` (the student's own call at (x_t, t)), so the teacher adds
    `num_substeps - 1` model calls per interval.
    """
    batch_size = sample.shape[0]
    state, output = sample, model_output
    zeros = torch.zeros(sample.shape, dtype=torch.float64, device=sample.device)
    rate_integral = torch.zeros(model_output.shape, dtype=torch.float64, device=sample.device)
    time_integral, rate_entropy, rate_total, rate_total_entropy = zeros.clone(), zeros.clone(), zeros.clone(), zeros
    for j in range(num_substeps):
        t_j = t - (t - s) * j / num_substeps
        t_next = t - (t - s) * (j + 1) / num_substeps
        if j > 0:
            output = denoiser(state, t_j.float().expand(batch_size))
        rates = teacher.reverse_rates(output, state, t_j)
        weight = (t_j - t_next) * (state == sample).double()
        total = rates.sum(-1)
        rate_integral += weight.unsqueeze(-1) * rates
        time_integral += weight
        rate_entropy += weight * torch.xlogy(rates, rates).sum(-1)
        rate_total += weight * total
        rate_total_entropy += weight * torch.xlogy(total, total)
        if j < num_substeps - 1:
            jumps, _ = teacher.jump_probabilities(output, state, t_j, t_next)
            state = sample_jumps(jumps, state, generator)
    return IntervalStatistics(
        sample, model_output, t, s, rate_integral, time_integral, rate_entropy, rate_total, rate_total_entropy
    )


def path_kl_interval_loss(
    student: LSDDiscreteScheduler, stats: IntervalStatistics, coefficient: torch.Tensor | float
) -> torch.Tensor:
    """Per-sequence path KL sum_j dt_j sum_i D(R*_j,i || R_i) of one student step, shape [B] (differentiable).

    The student's step jumps with probabilities P_y = P q_y; the CTMC that makes the same jumps over the interval
    h has the constant rate R_y = -log(1 - P) / h q_y. A step that commits every position (P = 1, the last step)
    has its rate matched by construction and keeps only the token term sum_y R* log(p* / q).
    """
    t, s = stats.t, stats.s
    jumps, _ = student.jump_probabilities(stats.model_output, stats.sample, t, s, coefficient)
    jump_total = jumps.sum(-1)
    commits = jump_total > 1 - 1e-9
    token_probs = jumps / jump_total.clamp_min(TINY).unsqueeze(-1)
    cross = torch.xlogy(stats.rate_integral, token_probs.clamp_min(TINY)).sum(-1)
    # D = sum R* log R* - sum R* log(lambda q) - r* + lambda, accumulated over the sub-steps
    leap_rate = (-torch.log1p(-jump_total.clamp(max=1 - 1e-9)) / (t - s)).clamp_min(TINY)
    moving = (
        stats.rate_entropy
        - cross
        - torch.xlogy(stats.rate_total, leap_rate)
        - stats.rate_total
        + stats.time_integral * leap_rate
    )
    # commit: D = sum R* log R* - r* log r* - sum R* log q
    committed = stats.rate_entropy - stats.rate_total_entropy - cross
    per_position = torch.where(commits, committed, moving)
    return per_position.flatten(1).sum(-1)


# ----------------------------------------------------------------------------------------------------------------
# The paper's objective (Eq. 6 for LSD, Eq. 8 for LSD+)
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class PaperRollout:
    """A teacher trajectory on its uniform N-step grid and a student trajectory from a (relaxed) copy of x_1.

    `teacher_scores[k]` is s(x*_{tau_k}, tau_k) at the student's uniform times (LSD); `teacher_rate_cumsum[n]` is
    int_{t_n}^1 R*(x*_t, t) dt on the teacher grid, interpolated at learned times (LSD+).
    """

    teacher_times: torch.Tensor
    teacher_scores: list[torch.Tensor]
    teacher_rate_cumsum: torch.Tensor | None
    student_samples: list[torch.LongTensor]
    student_outputs: list[torch.Tensor]


def interpolate_cumulative(cumulative: torch.Tensor, grid: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
    # C(t) on a decreasing grid t_0 = 1 > ... > t_N = 0, linear between grid points (differentiable in t)
    n = grid.numel() - 1
    position = (1 - time) * n
    lower = position.detach().floor().clamp(0, n - 1).long()
    fraction = position - lower
    return cumulative[lower] * (1 - fraction) + cumulative[lower + 1] * fraction


def paper_interval_loss(
    student: LSDDiscreteScheduler,
    rollout: PaperRollout,
    step: int,
    coefficient: torch.Tensor,
    times: torch.Tensor,
    distance_name: str,
    learn_schedule: bool,
) -> torch.Tensor:
    """The paper's loss at student step k, per sequence [B].

    LSD (Eq. 6): d(s*(x*_{t_k}, t_k), Phi_k s(x_{t_k}, t_k)) on the teacher's and the student's own states.
    LSD+ (Eq. 8): d(int_{tau_{k+1}}^{tau_k} R*(x*_t, t) dt, kappa_k Phi_k R(x_{tau_k}, tau_k)),
    with kappa_k = tau_k - tau_{k+1}.
    """
    t, s = times[step], times[step + 1]
    sample, output = rollout.student_samples[step], rollout.student_outputs[step]
    rates = student.reverse_rates(output, sample, t)
    if learn_schedule:
        grid, cumulative = rollout.teacher_times, rollout.teacher_rate_cumsum
        target = interpolate_cumulative(cumulative, grid, s) - interpolate_cumulative(cumulative, grid, t)
        estimate = (t - s) * coefficient * rates
    else:
        sigma_t = student.noise.sigma(t)
        target = rollout.teacher_scores[step]
        estimate = coefficient * rates / sigma_t
    return distance(target, estimate, distance_name).flatten(1).sum(-1)
