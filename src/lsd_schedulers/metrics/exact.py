"""Exact output distributions of samplers on tasks small enough to enumerate every string (the tiny exact task).

The sampler's process is a Markov chain over all (V + 1)^L token strings (MASK included). Given the current string
a random-order step factorises over positions; a spread-order step is a mixture, over its count and its shift, of
such products. Either way the exact distribution is pushed forward one step at a time.
"""

import itertools

import torch

from ..scheduling_lsd import LSDDiscreteScheduler
from ..transitions import transition_from_jumps
from ..unmasking_orders import SPREAD_ORDERS, choose_first_ranked, order_grid, spread_ranks


def all_strings(alphabet: int, length: int) -> torch.LongTensor:
    """Every string over `alphabet` symbols, in base-`alphabet` order (position 0 most significant)."""
    return torch.tensor(list(itertools.product(range(alphabet), repeat=length)), dtype=torch.long)


def markov_chain_probabilities(
    initial: torch.Tensor, transition: torch.Tensor, strings: torch.LongTensor
) -> torch.Tensor:
    # p(x) = pi(x_0) prod_i T(x_{i-1}, x_i), zero for strings containing MASK (ids >= V)
    num_states = initial.numel()
    valid = (strings < num_states).all(1)
    clean = strings.clamp_max(num_states - 1)
    probability = initial[clean[:, 0]] * transition[clean[:, :-1], clean[:, 1:]].prod(1)
    return probability * valid


def product_distribution(per_position: torch.Tensor) -> torch.Tensor:
    """The joint law of independent positions: `[n, L, A]` rows -> `[n, A^L]` in `all_strings` order."""
    count, length, alphabet = per_position.shape
    joint = per_position[:, 0]
    for position in range(1, length):
        # outer product over positions: p(y) = prod_i P_i(y_i | x)
        joint = joint.unsqueeze(-1) * per_position[:, position].view(count, *[1] * position, alphabet)
    return joint.reshape(count, -1)


def spread_transition(scheduler: LSDDiscreteScheduler, jumps: torch.Tensor, states: torch.LongTensor) -> torch.Tensor:
    """Exact transition rows `[n, A^L]` of a spread-order step: the mixture over the count and the cyclic shift.

    The count is floor(E + u) (floor(E) + 1 with probability frac(E)); the 1-D shift is uniform over the L offsets.
    """
    order, mask_id = scheduler.config.unmasking_order, scheduler.config.mask_token_id
    if order != "spread":
        raise ValueError(f"Exact spread transitions are implemented for the 1-D order only, not {order!r}.")
    count, length, alphabet = jumps.shape
    order_grid(order, tuple(states.shape), scheduler.config.token_grid_shape)
    is_masked = states == mask_id
    reveal = jumps.sum(-1)
    expected = (reveal * is_masked).sum(-1)
    low = torch.floor(expected)
    targets = jumps / reveal.clamp_min(1e-300).unsqueeze(-1)
    stay = torch.nn.functional.one_hot(states, alphabet).double()
    rows = torch.zeros(count, alphabet**length, dtype=torch.float64)
    for offset in range(length):
        shift = torch.full((count, 2), (offset + 0.5) / length, dtype=torch.float64)
        ranks = spread_ranks(order, count, length, None, shift)
        for extra, weight in ((0, 1 - (expected - low)), (1, expected - low)):
            counts = torch.minimum((low + extra).long(), is_masked.sum(-1))
            chosen = choose_first_ranked(ranks, is_masked, counts).unsqueeze(-1)
            per_position = torch.where(chosen, targets, stay)
            rows += (weight / length).unsqueeze(-1) * product_distribution(per_position)
    return rows


@torch.no_grad()
def exact_output_distribution(
    denoiser, scheduler: LSDDiscreteScheduler, num_steps: int | None, strings: torch.LongTensor, chunk: int = 512
) -> torch.Tensor:
    """The exact distribution over `strings` of the sampler's output, started from all-MASK.

    Args:
        denoiser (`Callable`): the model, e.g. a `MarkovChainOracle`.
        scheduler (`LSDDiscreteScheduler`): the sampler (random or `spread` order).
        num_steps (`int`, *optional*): M; defaults to the scheduler's learned count.
        strings (`torch.LongTensor`): `all_strings(vocab_size, L)`, MASK being the largest id.
        chunk (`int`, defaults to 512): states pushed forward at once.
    """
    distribution = torch.zeros(len(strings), dtype=torch.float64)
    distribution[-1] = 1.0  # the all-MASK string (MASK is the largest id)
    scheduler.set_timesteps(num_steps)
    ordered = scheduler.config.unmasking_order in SPREAD_ORDERS
    if scheduler.config.unmasking_order == "confidence":
        raise ValueError("Exact distributions of the confidence order are not implemented.")
    for index, t in enumerate(scheduler.timesteps):
        s = scheduler.schedule[index + 1]
        active = torch.nonzero(distribution > 0).squeeze(1)
        pushed = torch.zeros_like(distribution)
        for part in active.split(chunk):
            states = strings[part]
            output = denoiser(states, t.float().expand(len(part)))
            jumps, _ = scheduler.jump_probabilities(output, states, t, s, scheduler.step_coefficients[index])
            if ordered and s > 0:
                rows = spread_transition(scheduler, jumps, states)
            else:
                rows = product_distribution(transition_from_jumps(jumps, states))
            pushed += distribution[part] @ rows
        distribution = pushed
    return distribution


def exact_metrics(target: torch.Tensor, output: torch.Tensor) -> dict[str, float]:
    # TV = 1/2 sum |p - q|;  KL(p_data || q) = sum p log(p / q)
    kl = torch.where(target > 0, target * (target.log() - output.clamp_min(1e-300).log()), 0.0).sum()
    return {"tv": float(0.5 * (target - output).abs().sum()), "kl": float(kl)}
