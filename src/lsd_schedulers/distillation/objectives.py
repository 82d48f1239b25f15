"""Distillation objectives: path-KL with teacher continuation (default), its first continuous-time form
(`rate_path_kl`), and the paper's score matching (Eq. 6/8).

Both are built from *rollouts*: trajectories sampled without gradient, whose per-step statistics are cached so that
the loss is an exact, differentiable function of the student's coefficients (and, for the paper's LSD+, its times).
"""

import math
from dataclasses import dataclass

import torch

from ..random_draws import sample_categorical, sample_jumps, uniform_noise
from ..sampling import Denoiser
from ..scheduling_lsd import LSDDiscreteScheduler

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


def bernoulli_kl(target: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    # KL(Bern(a) || Bern(b)) = a log(a / b) + (1 - a) log((1 - a) / (1 - b))
    return (
        torch.xlogy(target, target)
        - torch.xlogy(target, estimate)
        + torch.xlogy(1 - target, 1 - target)
        - torch.xlogy(1 - target, 1 - estimate)
    )


@dataclass
class RateStatistics:
    """Rate integrals over an interval for the continuous-time path KL (`rate_path_kl`, the first objective).

    With R*_j the teacher's rates on its sub-state at sub-time t_j and only positions that have not moved since x_t
    counted: `rate_integral` = sum_j dt_j R*_j, `time_integral` = sum_j dt_j,
    `rate_entropy` = sum_j dt_j sum_y R* log R*, `rate_total` = sum_j dt_j sum_y R*,
    `rate_total_entropy` = sum_j dt_j r* log r*.
    """

    rate_integral: torch.Tensor
    time_integral: torch.Tensor
    rate_entropy: torch.Tensor
    rate_total: torch.Tensor
    rate_total_entropy: torch.Tensor


@dataclass
class IntervalStatistics:
    """What the teacher's fine steps across one student interval [s, t] leave behind, started from x_t.

    Per position, with w_j the teacher's probability of moving it first at sub-step j (given the path so far) and
    p*_j the law of the token it moves to: `move_mass` = sum_j w_j, `token_mass` = sum_j w_j p*_j and
    `token_negentropy` = sum_j w_j sum_y p* log p*, so that the token term is sum_j w_j KL(p*_j || q) =
    `token_negentropy` - sum_y `token_mass`_y log q_y for any student token law q.

    The teacher's move law: absorbing noise, `reveal_probability` P* (a masked position is revealed within the
    interval with this probability, whatever the state); uniform noise, with h_j the first-move hazards of positions
    that have not moved, `hazard_total` = sum_j h_j, `stay_total` = sum_j (1 - h_j) and `hazard_negentropy` =
    sum_j h log h + (1 - h) log(1 - h).

    Forced along the student's tokens (`teacher_continuation(..., student_tokens=...)`, the default objective),
    `token_log_mass` = sum_j w_j log p*_j replaces `token_mass` and `token_negentropy`, so that the reverse token
    term sum_j w_j KL(q || p*_j) = `move_mass` sum_y q_y log q_y - sum_y q_y `token_log_mass`_y.

    With K > 1 sub-step assignments of the student's revealed set (`assignment_samples`), `assignment_log_likelihood`
    [K, B] holds, per assignment, the teacher's log-probability of the student's tokens along it, with `chosen` and
    `student_tokens` (the importance-weighted form of the forced token term, `path_kl_interval_loss`).

    `rate_statistics` holds the continuous-time rate integrals of the `rate_path_kl` objective when asked for.
    """

    sample: torch.LongTensor
    model_output: torch.Tensor
    t: torch.Tensor
    s: torch.Tensor
    num_substeps: int
    move_mass: torch.Tensor
    token_mass: torch.Tensor | None = None
    token_negentropy: torch.Tensor | None = None
    token_log_mass: torch.Tensor | None = None
    reveal_probability: torch.Tensor | None = None
    hazard_total: torch.Tensor | None = None
    stay_total: torch.Tensor | None = None
    hazard_negentropy: torch.Tensor | None = None
    rate_statistics: RateStatistics | None = None
    assignment_log_likelihood: torch.Tensor | None = None
    chosen: torch.Tensor | None = None
    student_tokens: torch.LongTensor | None = None


def reveal_substep_law(unmask_probabilities: torch.Tensor) -> torch.Tensor:
    """Absorbing: the law of the sub-step at which the teacher reveals a position, given that it does in the interval.

    pi_j = S_j rho_j / P*, with rho_j the sub-steps' unmask probabilities, S_j = prod_{l < j} (1 - rho_l) and
    P* = 1 - prod_j (1 - rho_j).

    Args:
        unmask_probabilities (`torch.Tensor`): `[J]` rho_j (`LSDDiscreteScheduler.unmask_probability`).
    """
    survival = torch.cat([unmask_probabilities.new_ones(1), torch.cumprod(1 - unmask_probabilities, 0)[:-1]])
    reveal = survival * unmask_probabilities
    return reveal / reveal.sum()


def draw_substeps(
    law: torch.Tensor, shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device
) -> torch.LongTensor:
    """Per position, the sub-step j ~ `law` (`reveal_substep_law`) at which the teacher reveals it: inverse CDF."""
    cdf = law.cumsum(0)
    cdf[-1] = 1.0  # rounding must not leave a uniform draw above the last sub-step
    return torch.searchsorted(cdf, uniform_noise(shape, generator, device), right=True)


@torch.no_grad()
def assignment_log_likelihoods(
    denoiser: Denoiser,
    teacher: LSDDiscreteScheduler,
    sample: torch.LongTensor,
    model_output: torch.Tensor,
    times: torch.Tensor,
    law: torch.Tensor,
    chosen: torch.Tensor,
    student_tokens: torch.LongTensor,
    num_assignments: int,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """The teacher's log-likelihood of the student's tokens along K random sub-step assignments, `[K, B]`.

    Each chosen position is given a sub-step j ~ pi (`reveal_substep_law`); the teacher's fine steps then reveal the
    set at those sub-steps with the student's tokens, and log p*_j(y) of each token is summed:
    log p(y | a) = sum_i log p*_{a(i)}(y_i). The teacher's law of the step's tokens is the mean over assignments,
    p(y) = E_a p(y | a), so log-mean-exp over K assignments estimates log p(y) from below, tighter as K grows.
    A model call is made only at the sub-steps where some chosen position is revealed.
    """
    batch_size, num_substeps = sample.shape[0], len(law)
    log_likelihoods = []
    for _ in range(num_assignments):
        assigned = draw_substeps(law, tuple(sample.shape), generator, sample.device)
        state, output = sample, model_output
        total = torch.zeros(batch_size, dtype=torch.float64, device=sample.device)
        for j in range(num_substeps):
            revealing = chosen & (assigned == j)
            if not revealing.any():
                continue
            if j > 0:  # the state changed at the last revealing sub-step: the model sees it at t_j
                output = denoiser(state, times[j].float().expand(batch_size))
            jumps, _ = teacher.jump_probabilities(output, state, times[j], times[j + 1])
            token_probs = jumps / jumps.sum(-1, keepdim=True).clamp_min(TINY)
            # log p*_j(y) of the student's token at each position revealed now
            log_probs = token_probs.gather(-1, student_tokens.unsqueeze(-1)).squeeze(-1).clamp_min(TINY).log()
            total += torch.where(revealing, log_probs, 0.0).flatten(1).sum(-1)
            state = torch.where(revealing, student_tokens, state)
        log_likelihoods.append(total)
    return torch.stack(log_likelihoods)


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
    chosen: torch.Tensor | None = None,
    with_rates: bool = False,
    student_tokens: torch.LongTensor | None = None,
    assignment_samples: int = 1,
) -> IntervalStatistics:
    """Run the teacher's `num_substeps` fine steps from the student's state across [s, t], accumulating statistics.

    Random order (`chosen=None`): the teacher reveals (or moves) positions by its own law, and every position that
    has not moved yet counts with the sub-step's move probability (an expectation over the teacher's own draw).
    Set orders (`chosen` given, absorbing): the student's step revealed the set `chosen`; the teacher reveals the
    same set gradually, each position at a sub-step drawn from `reveal_substep_law`, and a chosen position still
    masked at sub-step j counts with the hazard pi_j / sum_{l >= j} pi_l. Either way the token term sees how the
    teacher's predictions change while the interval's tokens are revealed one sub-step at a time.

    Forced (`student_tokens` given with `chosen`, absorbing; the default objective): the positions are revealed
    with the student's own tokens instead of the teacher's draws, so the sub-states are those of the student's step
    and the teacher's predictions p*_j score the student's tokens (the reverse KL, `token_log_mass`).

    The first fine step reuses `model_output` (the student's own call at (x_t, t)), so the teacher adds
    `num_substeps - 1` model calls per interval.

    Args:
        denoiser (`Callable`): the frozen model.
        teacher (`LSDDiscreteScheduler`): the baseline sampler.
        sample (`torch.LongTensor`): the student's state x_t. model_output (`torch.Tensor`): the model at (x_t, t).
        t (`torch.Tensor`): the interval's start. s (`torch.Tensor`): its end.
        num_substeps (`int`): J.
        generator (`torch.Generator`, *optional*): the randomness of the teacher's draws.
        chosen (`torch.Tensor`, *optional*): `[B, L]` bool, the positions the student's step revealed (set orders).
        with_rates (`bool`, defaults to `False`): also accumulate the `RateStatistics` of `rate_path_kl`.
        student_tokens (`torch.LongTensor`, *optional*): the student's state after its step (forced continuation).
        assignment_samples (`int`, defaults to 1): forced only: K > 1 scores the student's tokens along K random
            sub-step assignments (`assignment_log_likelihoods`) instead of the one path of the single estimate.
    """
    batch_size, device = sample.shape[0], sample.device
    absorbing, forced = teacher.is_absorbing, student_tokens is not None
    if forced and (chosen is None or not absorbing):
        raise ValueError("A forced continuation needs absorbing noise and the set `chosen` that the student revealed.")
    times = torch.stack([t - (t - s) * j / num_substeps for j in range(num_substeps + 1)])
    zeros = torch.zeros(sample.shape, dtype=torch.float64, device=device)
    move_mass, token_negentropy = zeros.clone(), zeros.clone()
    # sum_j w_j p*_j, or sum_j w_j log p*_j when forced (returned as `token_log_mass`)
    token_mass = torch.zeros(model_output.shape, dtype=torch.float64, device=device)
    hazard_total, stay_total, hazard_negentropy = zeros.clone(), zeros.clone(), zeros.clone()
    rates = RateStatistics(token_mass.clone(), zeros.clone(), zeros.clone(), zeros.clone(), zeros.clone())
    if absorbing:
        rho = torch.stack([teacher.unmask_probability(times[j], times[j + 1]) for j in range(num_substeps)])
    if forced and assignment_samples > 1:
        law = reveal_substep_law(rho)
        log_likelihood = assignment_log_likelihoods(
            denoiser, teacher, sample, model_output, times, law, chosen, student_tokens, assignment_samples, generator
        )
        return IntervalStatistics(
            sample,
            model_output,
            t,
            s,
            num_substeps,
            move_mass=chosen.double(),
            reveal_probability=1 - torch.prod(1 - rho),
            assignment_log_likelihood=log_likelihood,
            chosen=chosen,
            student_tokens=student_tokens,
        )
    if chosen is not None:
        law = reveal_substep_law(rho)
        remaining = law.flip(0).cumsum(0).flip(0)  # sum_{l >= j} pi_l
        assigned = draw_substeps(law, tuple(sample.shape), generator, device)
    state, output = sample, model_output
    for j in range(num_substeps):
        t_j, t_next = times[j], times[j + 1]
        if j > 0:
            output = denoiser(state, t_j.float().expand(batch_size))
        unmoved = (state == sample).double()
        if with_rates:
            _accumulate_rates(rates, teacher.reverse_rates(output, state, t_j), (t_j - t_next) * unmoved)
        if chosen is not None:
            weight = unmoved * chosen * (law[j] / remaining[j]).clamp(max=1)
        if forced:
            # only the chosen positions still masked carry weight: the teacher's step is needed at those rows alone
            move_mass += weight
            rows = (weight > 0).nonzero(as_tuple=True)
            jumps, _ = teacher.jump_probabilities(output[rows].unsqueeze(0), state[rows].unsqueeze(0), t_j, t_next)
            token_probs = jumps[0] / jumps[0].sum(-1, keepdim=True).clamp_min(TINY)
            # sum_j w_j log p*_j, the teacher's log-probabilities of the student's tokens
            token_log_probs = token_probs.clamp_min_(TINY).log_()
            token_mass.index_put_(rows, weight[rows].unsqueeze(-1) * token_log_probs, accumulate=True)
            state = torch.where(chosen & (assigned == j) & (state == sample), student_tokens, state)
            continue
        jumps, _ = teacher.jump_probabilities(output, state, t_j, t_next)
        total = jumps.sum(-1)
        if chosen is None:
            weight = unmoved * total.clamp(max=1)
            token_probs = jumps / total.clamp(min=1).unsqueeze(-1)
        else:
            token_probs = jumps / total.clamp_min(TINY).unsqueeze(-1)
        move_mass += weight
        token_mass += (unmoved if chosen is None else weight).unsqueeze(-1) * token_probs
        # sum_y w p*_y log p*_y = w (sum_y J_y log J_y - T log T) / T, with p* = J / T
        negentropy = torch.xlogy(jumps, jumps).sum(-1) - torch.xlogy(total, total)
        token_negentropy += weight * negentropy / total.clamp_min(TINY)
        if not absorbing:
            hazard = total.clamp(max=1)
            hazard_total += unmoved * hazard
            stay_total += unmoved * (1 - hazard)
            hazard_negentropy += unmoved * (torch.xlogy(hazard, hazard) + torch.xlogy(1 - hazard, 1 - hazard))
        if chosen is None:
            state = sample_jumps(jumps, state, generator) if j < num_substeps - 1 else state
        else:
            tokens = sample_categorical(jumps, generator)
            state = torch.where(chosen & (assigned == j) & (state == sample), tokens, state)
    return IntervalStatistics(
        sample,
        model_output,
        t,
        s,
        num_substeps,
        move_mass,
        token_mass=None if forced else token_mass,
        token_negentropy=None if forced else token_negentropy,
        token_log_mass=token_mass if forced else None,
        reveal_probability=1 - torch.prod(1 - rho) if absorbing else None,
        hazard_total=None if absorbing else hazard_total,
        stay_total=None if absorbing else stay_total,
        hazard_negentropy=None if absorbing else hazard_negentropy,
        rate_statistics=rates if with_rates else None,
    )


def _accumulate_rates(rates: RateStatistics, teacher_rates: torch.Tensor, weight: torch.Tensor) -> None:
    total = teacher_rates.sum(-1)
    rates.rate_integral += weight.unsqueeze(-1) * teacher_rates
    rates.time_integral += weight
    rates.rate_entropy += weight * torch.xlogy(teacher_rates, teacher_rates).sum(-1)
    rates.rate_total += weight * total
    rates.rate_total_entropy += weight * torch.xlogy(total, total)


def path_kl_interval_loss(
    student: LSDDiscreteScheduler, stats: IntervalStatistics, coefficient: torch.Tensor | float
) -> torch.Tensor:
    """The KL of one student step's output against the teacher's fine steps, student first, per sequence `[B]`.

    KL(student step || teacher steps), evaluated on the student's own states: summed over a rollout's steps it is
    the KL between the student's and the teacher's laws of the whole path (the chain rule), an upper bound on the
    KL between their samples. Per position revealed in the step: the token term sum_j w_j KL(q || p*_j), with the
    teacher forced along the student's tokens (`teacher_continuation(..., student_tokens=...)`), so that it scores
    the student's joint draw - tokens that the teacher finds incompatible cost much - plus, absorbing noise, the
    reveal-law term KL(Bern(P) || Bern(P*)) per masked position, P the student's reveal probability and P* the
    teacher's; it vanishes at Phi = 1, where the student reveals each position with the teacher's probability and
    *when* inside the interval a token appears does not reach the output. Uniform noise has no revealed set to force
    the teacher along: its statistics are the forward ones, scored by `forward_path_kl_interval_loss`.
    """
    if stats.assignment_log_likelihood is not None:
        return importance_weighted_interval_loss(student, stats, coefficient)
    if stats.token_log_mass is None:
        return forward_path_kl_interval_loss(student, stats, coefficient)
    jumps, _ = student.jump_probabilities(stats.model_output, stats.sample, stats.t, stats.s, coefficient)
    jump_total = jumps.sum(-1)
    token_probs = jumps / jump_total.clamp_min(TINY).unsqueeze(-1)
    # sum_j w_j KL(q || p*_j) = (sum_j w_j) sum_y q log q - sum_y q sum_j w_j log p*_j
    token_term = stats.move_mass * (token_probs * torch.log(token_probs.clamp_min(TINY))).sum(-1)
    token_term = token_term - (token_probs * stats.token_log_mass).sum(-1)
    return (token_term + _reveal_law_term(student, stats, jump_total, reverse=True)).flatten(1).sum(-1)


def importance_weighted_interval_loss(
    student: LSDDiscreteScheduler, stats: IntervalStatistics, coefficient: torch.Tensor | float
) -> torch.Tensor:
    """The forced path-KL of one step with the teacher's likelihood averaged over K sub-step assignments, `[B]`.

    log q(y) - log (1/K) sum_k p(y | a_k) on the student's draw y, plus the reveal-law term. The single-assignment
    estimate (K = 1, `path_kl_interval_loss`) is E_a[log q(y) - log p(y | a)], which exceeds the KL of the step by
    Jensen's gap over a: it also prices *when* inside the interval each token appears, which the output never
    shows. The gap shrinks as K grows, and the estimate decreases towards KL(student step || teacher's interval).
    """
    jumps, _ = student.jump_probabilities(stats.model_output, stats.sample, stats.t, stats.s, coefficient)
    jump_total = jumps.sum(-1)
    token_probs = jumps / jump_total.clamp_min(TINY).unsqueeze(-1)
    log_q = token_probs.gather(-1, stats.student_tokens.unsqueeze(-1)).squeeze(-1).clamp_min(TINY).log()
    log_q = torch.where(stats.chosen, log_q, 0.0).flatten(1).sum(-1)
    # log p(y) ~ log (1/K) sum_k p(y | a_k)
    num_assignments = stats.assignment_log_likelihood.shape[0]
    log_p = torch.logsumexp(stats.assignment_log_likelihood, 0) - math.log(num_assignments)
    return log_q - log_p + _reveal_law_term(student, stats, jump_total, reverse=True).flatten(1).sum(-1)


def _reveal_law_term(
    student: LSDDiscreteScheduler, stats: IntervalStatistics, jump_total: torch.Tensor, reverse: bool
) -> torch.Tensor:
    """Absorbing noise: KL between the student's and the teacher's reveal laws per masked position, `[B, L]`."""
    if bool(stats.s == 0):
        return torch.zeros_like(jump_total)  # both commit every position: the reveal laws agree
    # a student that reveals everything where the teacher keeps some masked is infinitely far: keep it finite
    estimate = jump_total.clamp(TINY, 1 - 1e-12)
    is_masked = stats.sample == student.config.mask_token_id
    target = stats.reveal_probability.to(estimate)
    estimate = torch.where(is_masked, estimate, target)
    kl = bernoulli_kl(estimate, target) if reverse else bernoulli_kl(target, estimate)
    return torch.where(is_masked, kl, 0.0)


def forward_path_kl_interval_loss(
    student: LSDDiscreteScheduler, stats: IntervalStatistics, coefficient: torch.Tensor | float
) -> torch.Tensor:
    """The teacher-first form (`forward_path_kl`, the objective before the forced one), per sequence `[B]`.

    Per position: the token term sum_j w_j KL(p*_j || q), the teacher drawing its own tokens across the interval,
    plus the KL between the teacher's and the student's move laws over the interval. Absorbing noise:
    KL(Bern(P*) || Bern(P)) per masked position. Uniform noise, where the move law depends on the state: the
    first-move hazards, sum_j KL(Bern(h*_j) || Bern(h)), with the student's move probability P spread evenly over
    the J sub-steps, 1 - h = (1 - P)^(1 / J). On the student's states but teacher first, it is not the chain rule of
    either path KL, and it under-prices steps whose tokens the teacher finds incompatible (docs/distillation.md).
    """
    if stats.token_mass is None:
        raise ValueError("forward_path_kl needs the teacher's own draws: a continuation with no student_tokens.")
    jumps, _ = student.jump_probabilities(stats.model_output, stats.sample, stats.t, stats.s, coefficient)
    jump_total = jumps.sum(-1)
    token_probs = jumps / jump_total.clamp_min(TINY).unsqueeze(-1)
    token_term = stats.token_negentropy - torch.xlogy(stats.token_mass, token_probs.clamp_min(TINY)).sum(-1)
    if student.is_absorbing:
        move_term = _reveal_law_term(student, stats, jump_total, reverse=False)
    elif bool(stats.s == 0):
        move_term = torch.zeros_like(token_term)
    else:
        move = jump_total.clamp(max=1)
        # log h = log(1 - (1 - P)^(1/J)),  log(1 - h) = log(1 - P) / J
        log_stay = torch.log1p(-move.clamp(max=1 - 1e-12)) / stats.num_substeps
        log_hazard = torch.log((-torch.expm1(log_stay)).clamp_min(TINY))
        move_term = stats.hazard_negentropy - stats.hazard_total * log_hazard - stats.stay_total * log_stay
    return (token_term + move_term).flatten(1).sum(-1)


def rate_path_kl_interval_loss(
    student: LSDDiscreteScheduler, stats: IntervalStatistics, coefficient: torch.Tensor | float
) -> torch.Tensor:
    """The first objective (`rate_path_kl`): sum_j dt_j sum_i D(R*_j,i || R_i), the continuous-time path KL, `[B]`.

    The student's step jumps with probabilities P_y = P q_y; the CTMC that makes the same jumps over the interval
    h has the constant rate R_y = -log(1 - P) / h q_y. A step that commits every position (P = 1, the last step)
    has its rate matched by construction and keeps only the token term sum_y R* log(p* / q). Its rate term
    D(r* || lambda) depends on the interval's endpoints even where the output does not, which biases schedules
    (docs/distillation.md); kept for comparison.
    """
    if stats.rate_statistics is None:
        raise ValueError("rate_path_kl needs the rate statistics: run teacher_continuation(..., with_rates=True).")
    rates, t, s = stats.rate_statistics, stats.t, stats.s
    jumps, _ = student.jump_probabilities(stats.model_output, stats.sample, t, s, coefficient)
    jump_total = jumps.sum(-1)
    commits = jump_total > 1 - 1e-9
    token_probs = jumps / jump_total.clamp_min(TINY).unsqueeze(-1)
    cross = torch.xlogy(rates.rate_integral, token_probs.clamp_min(TINY)).sum(-1)
    # D = sum R* log R* - sum R* log(lambda q) - r* + lambda, accumulated over the sub-steps
    leap_rate = (-torch.log1p(-jump_total.clamp(max=1 - 1e-9)) / (t - s)).clamp_min(TINY)
    moving = (
        rates.rate_entropy
        - cross
        - torch.xlogy(rates.rate_total, leap_rate)
        - rates.rate_total
        + rates.time_integral * leap_rate
    )
    # commit: D = sum R* log R* - r* log r* - sum R* log q
    committed = rates.rate_entropy - rates.rate_total_entropy - cross
    return torch.where(commits, committed, moving).flatten(1).sum(-1)


INTERVAL_LOSSES = {
    "path_kl": path_kl_interval_loss,
    "forward_path_kl": forward_path_kl_interval_loss,
    "rate_path_kl": rate_path_kl_interval_loss,
}


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
