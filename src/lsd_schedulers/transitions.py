"""Per-position reverse transitions of discrete diffusion samplers: pure functions, float64, vocabulary last.

A step from time t down to time s is built in three parts, each a small function:

1. the model output as x0 probabilities p(x_0 | x_t) or as a concrete score s(x_t, t)_y = p_t(x^{i <- y}) / p_t(x);
2. the solver's *jump* probabilities: the chance of moving to each token y other than the current one (Euler:
   the reverse rates times the step; Tweedie: the analytic posterior);
3. the transition row: the jumps plus the probability of staying, which is where the LSD coefficient acts (linear
   form), or the score raised to the coefficient (power form).

The draws from these rows are in `random_draws` and `unmasking_orders`; the absorbing step straight from logits is
in `masked_step`.
"""

import torch

FORWARD_PROCESSES = ("absorbing", "uniform")
PREDICTION_TYPES = ("x0_logits", "log_score")
SOLVERS = ("euler", "tweedie")
MAX_LOG_SCORE = 700.0  # exp overflows float64 just above 709; a score beyond e^700 saturates every jump anyway


# ----------------------------------------------------------------------------------------------------------------
# Model outputs: x0 probabilities <-> concrete scores
# ----------------------------------------------------------------------------------------------------------------


def x0_probabilities_from_logits(logits: torch.Tensor, mask_token_id: int | None) -> torch.Tensor:
    """p(x_0 | x_t) = softmax(logits) in float64, with the mask column (if any) forced to probability 0."""
    probs = logits.to(torch.float64, copy=True)
    if mask_token_id is not None:
        probs[..., mask_token_id] = -torch.inf
    # exp(l - max l) / sum exp(l - max l), in place on the one float64 copy
    probs -= probs.amax(dim=-1, keepdim=True)
    probs.exp_()
    return probs.div_(probs.sum(dim=-1, keepdim=True))


def clean_token_likelihood(sample: torch.Tensor, alpha_t: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Uniform noise: w(y) = q(x_t | x_0 = y) = alpha_t [y = x_t] + (1 - alpha_t) / V, for every y."""
    alpha_t = torch.as_tensor(alpha_t, dtype=torch.float64, device=sample.device)
    one_hot = torch.nn.functional.one_hot(sample, vocab_size).double()
    return alpha_t * one_hot + (1 - alpha_t) / vocab_size


def absorbing_log_score_from_x0(x0_probs: torch.Tensor, alpha_t: torch.Tensor) -> torch.Tensor:
    # log s_y = log(alpha_t / (1 - alpha_t)) + log p(x_0 = y | x_t)   (at masked positions)
    return torch.log(alpha_t / (1 - alpha_t)) + torch.log(x0_probs)


def absorbing_x0_from_log_score(log_score: torch.Tensor, alpha_t: torch.Tensor, mask_token_id: int) -> torch.Tensor:
    # p(x_0 = y | x_t) = s_y (1 - alpha_t) / alpha_t   (not renormalised: a scaled score keeps its scale)
    x0_probs = torch.exp(log_score.double().clamp(max=MAX_LOG_SCORE)) * ((1 - alpha_t) / alpha_t)
    x0_probs[..., mask_token_id] = 0
    return x0_probs


def uniform_log_score_from_x0(x0_probs: torch.Tensor, sample: torch.Tensor, alpha_t: torch.Tensor) -> torch.Tensor:
    # s_y = sum_x0 p(x0 | x_t) q_t(y | x0) / q_t(x_t | x0) = alpha_t r(y) + (1 - alpha_t) / V sum(r),  r = p / w
    vocab_size = x0_probs.shape[-1]
    ratio = x0_probs / clean_token_likelihood(sample, alpha_t, vocab_size)
    score = alpha_t * ratio + (1 - alpha_t) / vocab_size * ratio.sum(-1, keepdim=True)
    return torch.log(score)


def uniform_x0_from_log_score(log_score: torch.Tensor, sample: torch.Tensor, alpha_t: torch.Tensor) -> torch.Tensor:
    """Invert the uniform score: p_t(y | rest) = softmax(log s), p(x0 | rest) = (p_t - (1 - a) / V) / a, then Bayes."""
    vocab_size = log_score.shape[-1]
    # s at the current token is 1 by definition.
    log_score = log_score.double().scatter(-1, sample.unsqueeze(-1), 0.0)
    noisy_marginal = torch.softmax(log_score, dim=-1)
    x0_given_rest = ((noisy_marginal - (1 - alpha_t) / vocab_size) / alpha_t).clamp_min(0)
    posterior = x0_given_rest * clean_token_likelihood(sample, alpha_t, vocab_size)
    return posterior / posterior.sum(-1, keepdim=True)


def log_score_from_x0(
    x0_probs: torch.Tensor, sample: torch.Tensor, alpha_t: torch.Tensor, forward_process: str
) -> torch.Tensor:
    """Concrete score implied by x0 probabilities under the given forward process."""
    if forward_process == "absorbing":
        return absorbing_log_score_from_x0(x0_probs, alpha_t)
    return uniform_log_score_from_x0(x0_probs, sample, alpha_t)


def x0_from_log_score(
    log_score: torch.Tensor,
    sample: torch.Tensor,
    alpha_t: torch.Tensor,
    forward_process: str,
    mask_token_id: int | None,
) -> torch.Tensor:
    """x0 probabilities implied by a concrete score under the given forward process."""
    if forward_process == "absorbing":
        return absorbing_x0_from_log_score(log_score, alpha_t, mask_token_id)
    return uniform_x0_from_log_score(log_score, sample, alpha_t)


# ----------------------------------------------------------------------------------------------------------------
# Reverse rates and solvers: jump probabilities from t down to s (zero at the current token)
# ----------------------------------------------------------------------------------------------------------------


def absorbing_reverse_rates(
    log_score: torch.Tensor, sample: torch.Tensor, sigma_t: torch.Tensor, mask_token_id: int
) -> torch.Tensor:
    # R_y = sigma(t) s_y out of MASK; revealed tokens never move
    is_masked = (sample == mask_token_id).unsqueeze(-1)
    rates = sigma_t * torch.exp(log_score.double().clamp(max=MAX_LOG_SCORE)) * is_masked
    rates[..., mask_token_id] = 0
    return rates


def uniform_reverse_rates(log_score: torch.Tensor, sample: torch.Tensor, sigma_t: torch.Tensor) -> torch.Tensor:
    # R_y = sigma(t) / V s_y for y != x   (the reverse rate of the uniform generator)
    vocab_size = log_score.shape[-1]
    rates = sigma_t / vocab_size * torch.exp(log_score.double().clamp(max=MAX_LOG_SCORE))
    return rates.scatter(-1, sample.unsqueeze(-1), 0.0)


def euler_absorbing_jumps(
    log_score: torch.Tensor, sample: torch.Tensor, sigma_t: torch.Tensor, step_size: torch.Tensor, mask_token_id: int
) -> torch.Tensor:
    # masked -> y with (t - s) sigma(t) s_y   (tau-leaping with the reverse rates)
    return absorbing_reverse_rates(log_score, sample, step_size * sigma_t, mask_token_id)


def euler_uniform_jumps(
    log_score: torch.Tensor, sample: torch.Tensor, sigma_t: torch.Tensor, step_size: torch.Tensor
) -> torch.Tensor:
    # x -> y != x with (t - s) sigma(t) / V s_y   (tau-leaping with the reverse rates)
    return uniform_reverse_rates(log_score, sample, step_size * sigma_t)


def absorbing_unmask_probability(alpha_t: torch.Tensor, alpha_s: torch.Tensor) -> torch.Tensor:
    # P(masked at t is revealed by s) = (alpha_s - alpha_t) / (1 - alpha_t)
    return (alpha_s - alpha_t) / (1 - alpha_t)


def tweedie_absorbing_jumps(
    x0_probs: torch.Tensor, sample: torch.Tensor, alpha_t: torch.Tensor, alpha_s: torch.Tensor, mask_token_id: int
) -> torch.Tensor:
    # masked -> y with (alpha_s - alpha_t) / (1 - alpha_t) p(x_0 = y | x_t); revealed tokens never move
    is_masked = (sample == mask_token_id).unsqueeze(-1)
    return x0_probs * (absorbing_unmask_probability(alpha_t, alpha_s) * is_masked)  # one pass over the vocabulary


def euler_unmask_probability(step_size: torch.Tensor, sigma_t: torch.Tensor, alpha_t: torch.Tensor) -> torch.Tensor:
    # P(masked at t is revealed by s) = min(1, (t - s) sigma(t) alpha_t / (1 - alpha_t)), x0 probabilities summing to 1
    return (step_size * sigma_t * alpha_t / (1 - alpha_t)).clamp(max=1)


def euler_masked_jump_scale(
    step_size: torch.Tensor, sigma_t: torch.Tensor, alpha_t: torch.Tensor, power: float
) -> torch.Tensor:
    # jump mass / sum_y p_y^power = (t - s) sigma(t) r^power,  r = alpha_t / (1 - alpha_t)
    return step_size * sigma_t * (alpha_t / (1 - alpha_t)) ** power


def tweedie_masked_jump_scale(alpha_t: torch.Tensor, alpha_s: torch.Tensor, power: float) -> torch.Tensor:
    # jump mass / sum_y p_y^power = (alpha_s - alpha_t) / (1 - alpha_t) r^(power - 1),  x0_y = s_y^power / r
    return absorbing_unmask_probability(alpha_t, alpha_s) * (alpha_t / (1 - alpha_t)) ** (power - 1)


def tweedie_uniform_jumps(
    x0_probs: torch.Tensor, sample: torch.Tensor, alpha_t: torch.Tensor, alpha_s: torch.Tensor
) -> torch.Tensor:
    # p(x_s = y | x_t) = q(x_t | x_s = y) sum_x0 p(x0 | x_t) q(y | x0) / q(x_t | x0); zero at the current token
    vocab_size = x0_probs.shape[-1]
    ratio = x0_probs / clean_token_likelihood(sample, alpha_t, vocab_size)
    marginal_s = alpha_s * ratio + (1 - alpha_s) / vocab_size * ratio.sum(-1, keepdim=True)
    posterior = clean_token_likelihood(sample, alpha_t / alpha_s, vocab_size) * marginal_s
    posterior = posterior / posterior.sum(-1, keepdim=True)
    return posterior.scatter(-1, sample.unsqueeze(-1), 0.0)


# ----------------------------------------------------------------------------------------------------------------
# Transition rows and the LSD coefficient
# ----------------------------------------------------------------------------------------------------------------


def scale_jumps_linear(jumps: torch.Tensor, coefficient: float | torch.Tensor) -> torch.Tensor:
    # LSD, linear form (paper Eq. 5): the step uses Phi_k s instead of s, so every jump probability is scaled by Phi_k
    if not torch.is_tensor(coefficient) and coefficient == 1:
        return jumps  # the baseline sampler's steps: nothing to scale
    return jumps * coefficient


def scale_log_score_power(log_score: torch.Tensor, coefficient: float | torch.Tensor) -> torch.Tensor:
    # LSD, power form: log s -> Phi_k log s; a score of 0 (log s = -inf) stays 0, with a zero gradient in Phi_k
    finite = torch.isfinite(log_score)
    return torch.where(finite, coefficient * torch.where(finite, log_score, 0.0), log_score)


def transition_from_jumps(jumps: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
    """Add the stay probability 1 - sum(jumps) at the current token; rescale rows whose jumps exceed 1."""
    total = jumps.sum(-1, keepdim=True)
    jumps = jumps / total.clamp_min(1.0)
    stay = (1 - jumps.sum(-1, keepdim=True)).clamp_min(0)
    return jumps.scatter_add(-1, sample.unsqueeze(-1), stay)


def commit_jumps(jumps: torch.Tensor, sample: torch.Tensor, mask_token_id: int) -> torch.Tensor:
    """Final absorbing step: renormalise the jumps of masked positions so that no MASK is left."""
    is_masked = (sample == mask_token_id).unsqueeze(-1)
    total = jumps.sum(-1, keepdim=True)
    if bool(((total <= 0) & is_masked).any()):
        raise ValueError("The model gives probability 0 to every token at a masked position; cannot unmask it.")
    return torch.where(is_masked, jumps / total.clamp_min(torch.finfo(torch.float64).tiny), jumps)
