"""Student and teacher trajectories, sampled without gradient, that the objectives are computed on."""

from collections.abc import Iterator

import torch

from ..random_draws import random_tokens, sample_jumps, uniform_noise
from ..sampling import Denoiser, initial_noise
from ..scheduling_lsd import LSDDiscreteScheduler
from ..time_grids import linear_timesteps
from .objectives import IntervalStatistics, PaperRollout, teacher_continuation


def relaxed_start(
    scheduler: LSDDiscreteScheduler, sample: torch.LongTensor, relaxation: float, generator: torch.Generator | None
) -> torch.LongTensor:
    """A copy of x_1 with a share `relaxation` (zeta) of its noisy positions replaced by random non-MASK tokens
    (Eq. 9-10); positions given as conditioning (revealed tokens of a prompt) are kept."""
    if relaxation <= 0:
        return sample
    config = scheduler.config
    data_vocab = config.vocab_size - (1 if config.forward_process == "absorbing" else 0)
    replace = uniform_noise(tuple(sample.shape), generator, sample.device) < relaxation
    if config.forward_process == "absorbing":
        replace &= sample == config.mask_token_id
    skip_id = config.mask_token_id if config.forward_process == "absorbing" else None
    tokens = random_tokens(tuple(sample.shape), data_vocab, generator, sample.device, skip_id)
    return torch.where(replace, tokens, sample)


@torch.no_grad()
def student_step(
    denoiser: Denoiser,
    student: LSDDiscreteScheduler,
    sample: torch.LongTensor,
    t: torch.Tensor,
    s: torch.Tensor,
    coefficient: torch.Tensor,
    generator: torch.Generator | None,
) -> tuple[torch.LongTensor, torch.Tensor]:
    """One student step from t to s in the student's unmasking order; returns the next state and the model output
    at (x_t, t)."""
    output = denoiser(sample, t.float().expand(sample.shape[0]))
    jumps, _ = student.jump_probabilities(output, sample, t, s, coefficient)
    return student.sample_from_jumps(jumps, sample, generator, is_last_step=bool(s == 0)), output


@torch.no_grad()
def path_kl_steps(
    denoiser: Denoiser,
    student: LSDDiscreteScheduler,
    teacher: LSDDiscreteScheduler,
    times: torch.Tensor,
    coefficients: torch.Tensor,
    start: torch.LongTensor,
    num_substeps: int,
    generator: torch.Generator | None,
    first_step: int = 0,
    last_step: int | None = None,
    with_rates: bool = False,
    forced: bool = True,
    assignment_samples: int = 1,
) -> Iterator[tuple[IntervalStatistics, torch.LongTensor]]:
    """Walk the student from `start` at times[first_step]; at each step run the teacher across the interval.

    `forced` (absorbing noise; the `path_kl` objective): the teacher reveals the student's set with the student's
    tokens (along `assignment_samples` sub-step assignments of the set, `teacher_continuation`). Otherwise
    (`forward_path_kl`, `rate_path_kl`) it draws its own tokens, and under a set order (any but `random`) reveals the
    set that the student's step revealed.
    Yields, step after step from `first_step` to `last_step - 1`, the step's statistics and the student's state after
    it, so that a caller can use a step's statistics and let them go before the next step is computed.
    """
    last_step = len(times) - 1 if last_step is None else last_step
    forced = forced and student.is_absorbing and not with_rates
    set_order = student.config.unmasking_order != "random"
    sample = start
    for k in range(first_step, last_step):
        t, s = times[k], times[k + 1]
        next_sample, output = student_step(denoiser, student, sample, t, s, coefficients[k], generator)
        chosen = None
        if forced or (set_order and s > 0):
            mask_id = student.config.mask_token_id
            chosen = (sample == mask_id) & (next_sample != mask_id)
        statistics = teacher_continuation(
            denoiser,
            teacher,
            sample,
            output,
            t,
            s,
            num_substeps,
            generator,
            chosen,
            with_rates,
            student_tokens=next_sample if forced else None,
            assignment_samples=assignment_samples,
        )
        sample = next_sample
        yield statistics, sample


@torch.no_grad()
def student_prefix(
    denoiser: Denoiser,
    student: LSDDiscreteScheduler,
    times: torch.Tensor,
    coefficients: torch.Tensor,
    start: torch.LongTensor,
    num_steps: int,
    generator: torch.Generator | None,
) -> torch.LongTensor:
    """The student's state after its first `num_steps` steps (no teacher work)."""
    sample = start
    for k in range(num_steps):
        sample, _ = student_step(denoiser, student, sample, times[k], times[k + 1], coefficients[k], generator)
    return sample


@torch.no_grad()
def paper_rollout(
    denoiser: Denoiser,
    student: LSDDiscreteScheduler,
    teacher: LSDDiscreteScheduler,
    times: torch.Tensor,
    coefficients: torch.Tensor,
    shape: tuple[int, int],
    num_teacher_steps: int,
    relaxation: float,
    learn_schedule: bool,
    generator: torch.Generator | None,
) -> PaperRollout:
    """The paper's setting: teacher (N uniform steps) and student (M steps) start from one x_1, relaxed by zeta."""
    x1 = initial_noise(teacher, shape, generator)
    num_student_steps = len(times) - 1
    stride = num_teacher_steps // num_student_steps
    teacher_times = linear_timesteps(num_teacher_steps)
    sample, scores, increments = x1, [], []
    for n in range(num_teacher_steps):
        t, s = teacher_times[n], teacher_times[n + 1]
        output = denoiser(sample, t.float().expand(shape[0]))
        rates = teacher.reverse_rates(output, sample, t)
        if not learn_schedule and n % stride == 0:
            scores.append(rates / teacher.noise.sigma(t))
        if learn_schedule:
            increments.append((t - s) * rates)
        jumps, _ = teacher.jump_probabilities(output, sample, t, s)
        sample = sample_jumps(jumps, sample, generator)
    cumulative = None
    if learn_schedule:
        # C(t_n) = int_{t_n}^1 R* dt on the teacher grid, C(t_0) = 0
        integrals = torch.cumsum(torch.stack(increments), dim=0)
        cumulative = torch.cat([torch.zeros_like(integrals[:1]), integrals])
    student_samples, student_outputs = [], []
    sample = relaxed_start(student, x1, relaxation, generator)
    for k in range(num_student_steps):
        student_samples.append(sample)
        sample, output = student_step(denoiser, student, sample, times[k], times[k + 1], coefficients[k], generator)
        student_outputs.append(output)
    return PaperRollout(
        teacher_times=teacher_times,
        teacher_scores=scores,
        teacher_rate_cumsum=cumulative,
        student_samples=student_samples,
        student_outputs=student_outputs,
    )
