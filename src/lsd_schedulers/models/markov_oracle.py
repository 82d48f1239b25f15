"""An exact denoiser for data drawn from a first-order Markov chain, and the "countdown" chain.

The clean sequence x_0 is the hidden state sequence of an HMM whose emission at position j is the forward process
q(x_t^j | x_0^j). Forward-backward then gives the exact posterior p(x_0^i | x_t) at every position i, which is what a
perfectly trained denoiser would predict. All recursions run in float64 with per-step normalisation. Under absorbing
noise the same posterior has a closed form in the nearest revealed neighbours (`absorbing_chain_log_posteriors`), read
from tables of log T^k computed in float64 and kept in float32, the dtype of the logits.
"""

import torch

from ..noise_schedules import NoiseSchedule
from ..transitions import FORWARD_PROCESSES, clean_token_likelihood


def check_markov_chain(initial: torch.Tensor, transition: torch.Tensor, atol: float = 1e-6) -> None:
    """Raise a `TypeError` or `ValueError` unless `initial` [V] and `transition` [V, V] form a valid Markov chain.

    Args:
        initial (`torch.Tensor`): distribution of the first state, shape [V].
        transition (`torch.Tensor`): row-stochastic matrix, `transition[a, b] = p(next = b | current = a)`.
        atol (`float`, defaults to 1e-6): tolerance on the sums to 1.
    """
    if not isinstance(initial, torch.Tensor) or not isinstance(transition, torch.Tensor):
        raise TypeError("initial and transition must be torch tensors.")
    if initial.dim() != 1 or initial.numel() == 0:
        raise ValueError(f"initial must have shape [V] with V >= 1, got shape {tuple(initial.shape)}.")
    num_states = initial.shape[0]
    if transition.shape != (num_states, num_states):
        raise ValueError(
            f"transition must have shape [V, V] = [{num_states}, {num_states}], got shape {tuple(transition.shape)}."
        )
    for name, tensor in (("initial", initial), ("transition", transition)):
        if tensor.is_complex() or not tensor.is_floating_point():
            raise ValueError(f"{name} must be a real floating point tensor, got dtype {tensor.dtype}.")
        if not torch.isfinite(tensor).all():
            raise ValueError(f"{name} must be finite.")
        if (tensor < 0).any():
            raise ValueError(f"{name} must be non-negative.")
    initial_sum = initial.double().sum()
    if (initial_sum - 1).abs() > atol:
        raise ValueError(f"initial must sum to 1 (within {atol}), got {initial_sum.item()}.")
    row_error = (transition.double().sum(dim=1) - 1).abs()
    if (row_error > atol).any():
        bad_row = int(row_error.argmax())
        raise ValueError(
            f"transition rows must sum to 1 (within {atol}); row {bad_row} sums to "
            f"{transition[bad_row].double().sum().item()}."
        )


def floored_transition(transition: torch.Tensor, floor: float) -> torch.Tensor:
    """Mix a transition matrix with the uniform one so that no transition has probability zero (when floor > 0).

    Args:
        transition (`torch.Tensor`): row-stochastic matrix [V, V].
        floor (`float`): weight of the uniform matrix, in [0, 1].
    """
    # T_used = (1 - floor) T + floor / V
    return (1 - floor) * transition + floor / transition.shape[-1]


def normalize_rows(weights: torch.Tensor) -> torch.Tensor:
    """Divide by the sum over the last dimension (0 / 0 gives NaN: a context of probability zero).

    Args:
        weights (`torch.Tensor`): non-negative weights [..., V].
    """
    # w / sum_y w(y)
    return weights / weights.sum(dim=-1, keepdim=True)


def markov_chain_posteriors(initial: torch.Tensor, transition: torch.Tensor, emission: torch.Tensor) -> torch.Tensor:
    """Posterior marginals p(x_0^i | x_t) of an HMM by forward-backward with per-step normalisation.

    Args:
        initial (`torch.Tensor`): distribution of x_0^0, shape [V] float64.
        transition (`torch.Tensor`): row-stochastic matrix [V, V] float64.
        emission (`torch.Tensor`): q(x_t^j | x_0^j = y) up to a factor per position, shape [B, L, V] float64.

    Returns:
        `torch.Tensor`: posteriors [B, L, V] float64, each row summing to 1 (NaN rows where p(x_t) = 0).
    """
    length, num_states = emission.shape[1:]
    # one matmul per position advances both passes: [a_{j-1}, e_{L-j} b_{L-j}] @ [[T, 0], [0, T^T]]
    both_transitions = torch.block_diag(transition, transition.T)
    # a_0(y) ∝ pi(y) e_0(y); b_{L-1}(y) = 1 / V
    forward_messages = [normalize_rows(initial * emission[:, 0])]
    backward_messages = [torch.full_like(emission[:, 0], 1.0 / num_states)]
    for j in range(1, length):
        # a_j(y) ∝ sum_z a_{j-1}(z) T(z, y) e_j(y);  b_{L-1-j}(z) ∝ sum_y T(z, y) e_{L-j}(y) b_{L-j}(y)
        previous = torch.cat([forward_messages[-1], emission[:, length - j] * backward_messages[-1]], dim=-1)
        forward, backward = torch.matmul(previous, both_transitions).unflatten(-1, (2, num_states)).unbind(-2)
        forward_messages.append(normalize_rows(forward * emission[:, j]))
        backward_messages.append(normalize_rows(backward))
    # p(x_0^j = y | x_t) ∝ a_j(y) b_j(y)
    return normalize_rows(torch.stack(forward_messages, dim=1) * torch.stack(backward_messages[::-1], dim=1))


def neighbour_tables(
    initial: torch.Tensor, transition: torch.Tensor, length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """What a masked position learns from its nearest revealed neighbour, by distance k = 0..length and token x, as
    log-probabilities. Token V stands for "none": the start of the sequence on the left, the end on the right.

    Args:
        initial (`torch.Tensor`): distribution of x_0^0, shape [V].
        transition (`torch.Tensor`): row-stochastic matrix [V, V].
        length (`int`): the longest sequence the tables serve.

    Returns:
        `tuple[torch.Tensor, torch.Tensor]`: `left[k, x, y]` = log T^k(x, y) and `left[k, V, y]` = log (pi T^(k-1))(y);
        `right[k, x, y]` = log T^k(y, x) and `right[k, V, y]` = 0; both of shape [length + 1, V + 1, V].
    """
    powers = [torch.eye(initial.shape[0], dtype=transition.dtype, device=transition.device)]
    for _ in range(length):
        # T^k = T^(k-1) T
        powers.append(powers[-1] @ transition)
    powers = torch.stack(powers)
    # the start is a virtual token before position 0: k steps after it the chain has law pi T^(k-1)
    start = torch.cat([torch.zeros_like(initial).unsqueeze(0), initial @ powers[:-1]]).unsqueeze(1)
    left = torch.cat([powers, start], dim=1)
    right = torch.cat([powers.mT, torch.ones_like(start)], dim=1)
    return left.log(), right.log()


def absorbing_chain_log_posteriors(
    left_table: torch.Tensor, right_table: torch.Tensor, sample: torch.LongTensor, num_states: int
) -> torch.Tensor:
    """Log-posteriors log p(x_0^i | x_t) of a Markov chain under absorbing noise, without a sequential pass.

    A revealed token pins its position, so a masked position depends only on its nearest revealed neighbours a < i < b:
    p(x_0^i = y | x_t) = T^(i-a)(x_a, y) T^(b-i)(y, x_b) / T^(b-a)(x_a, x_b), with the start's law pi T^i when nothing
    is revealed to the left and 1 when nothing is revealed to the right. Equal to `markov_chain_posteriors` with the
    absorbing emission (1 at a mask, [y = x_t] elsewhere), and NaN at every position of a sequence whose revealed
    tokens have probability zero.

    Args:
        left_table, right_table (`torch.Tensor`): `neighbour_tables(initial, transition, L')` with L' >= L, in the
            dtype of the result.
        sample (`torch.LongTensor`): noisy ids [B, L] in [0, V]; id V is the mask token.
        num_states (`int`): V.

    Returns:
        `torch.Tensor`: log-posteriors [B, L, V].
    """
    batch_size, length = sample.shape
    positions = torch.arange(length, device=sample.device).expand_as(sample)
    revealed = sample != num_states
    # the nearest revealed position at or before i (-1: the start), and at or after i (L: the end)
    left = torch.where(revealed, positions, -1).cummax(dim=1).values
    right = torch.where(revealed, positions, length).flip(1).cummin(dim=1).values.flip(1)
    with_ends = torch.cat([sample, sample.new_full((batch_size, 1), num_states)], dim=1)  # index -1 and L: "none"
    left_token, right_token = with_ends.gather(1, left % (length + 1)), with_ends.gather(1, right)
    # log T^(b-a)(x_a, x_b): the interval's probability (0 when nothing is revealed after i: rows sum to 1)
    interval = left_table[(right - left).clamp(max=length), left_token, right_token.clamp(max=num_states - 1)]
    interval = interval.masked_fill(right == length, 0.0)
    log_posteriors = left_table[positions - left, left_token] + right_table[right - positions, right_token]
    log_posteriors -= interval.unsqueeze(-1)
    # p(x_t) = prod over revealed b of p(x_b | the revealed token before it, or the start): zero makes it NaN
    before = torch.cat([left.new_full((batch_size, 1), -1), left[:, :-1]], dim=1)
    token_before = with_ends.gather(1, before % (length + 1))
    segment = left_table[positions - before, token_before, sample.clamp(max=num_states - 1)]
    impossible = (revealed & segment.isneginf()).any(dim=1)
    if impossible.any():
        log_posteriors[impossible] = float("nan")
    return log_posteriors


class MarkovChainOracle(torch.nn.Module):
    """Exact denoiser p(x_0^i | x_t) for data drawn from a first-order Markov chain.

    Contexts that the chain gives probability zero (which a sampler can reach after an error) get a defined answer
    because the denoiser uses the floored transition matrix (1 - floor) T + floor / V. With `floor=0` such a context
    gives NaN logits at every position of that sequence.

    Args:
        initial (`torch.Tensor`): distribution of the first token, shape [V].
        transition (`torch.Tensor`): row-stochastic matrix [V, V], `transition[a, b] = p(next = b | current = a)`.
        forward_process (`str`, defaults to `"absorbing"`): `"absorbing"` (token V is the mask) or `"uniform"`.
        noise_schedule (`NoiseSchedule`, *optional*): gives alpha(t) for uniform noise; defaults to
            `NoiseSchedule()`. Absorbing noise does not need it (the posterior does not depend on t).
        floor (`float`, defaults to 1e-4): weight of the uniform transition mixed into `transition`, in [0, 1].
    """

    def __init__(
        self,
        initial: torch.Tensor,
        transition: torch.Tensor,
        forward_process: str = "absorbing",
        noise_schedule: NoiseSchedule | None = None,
        floor: float = 1e-4,
    ):
        super().__init__()
        check_markov_chain(initial, transition)
        if forward_process not in FORWARD_PROCESSES:
            raise ValueError(f"Unknown forward_process {forward_process!r}; expected one of {FORWARD_PROCESSES}.")
        if not 0 <= floor <= 1:
            raise ValueError(f"floor must lie in [0, 1], got {floor}.")
        self.forward_process = forward_process
        self.noise_schedule = noise_schedule if noise_schedule is not None else NoiseSchedule()
        self.floor = floor
        self.num_states = initial.shape[0]
        self.mask_token_id = self.num_states if forward_process == "absorbing" else None
        self.vocab_size = self.num_states + 1 if forward_process == "absorbing" else self.num_states
        self.register_buffer("initial", initial.detach().to(torch.float64).clone())
        self.register_buffer("transition", transition.detach().to(torch.float64).clone())
        self.register_buffer("transition_used", floored_transition(self.transition, floor))

    def _tables(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """`neighbour_tables` of the floored chain in float32, kept for the longest length seen (absorbing noise)."""
        cached = getattr(self, "_cached_tables", None)
        if cached is None or len(cached[0]) <= length or cached[0].device != self.transition_used.device:
            tables = neighbour_tables(self.initial, self.transition_used, length)
            self._cached_tables = tuple(table.float() for table in tables)
        return self._cached_tables

    def _check_sample(self, sample: torch.Tensor) -> None:
        if not isinstance(sample, torch.Tensor):
            raise TypeError(f"sample must be a torch.LongTensor, got {type(sample).__name__}.")
        if sample.dtype != torch.long:
            raise ValueError(f"sample must have dtype torch.long, got {sample.dtype}.")
        if sample.dim() != 2 or sample.shape[0] == 0 or sample.shape[1] == 0:
            raise ValueError(f"sample must have shape [B, L] with B, L >= 1, got shape {tuple(sample.shape)}.")
        if (sample < 0).any() or (sample >= self.vocab_size).any():
            bad = sample[(sample < 0) | (sample >= self.vocab_size)][0].item()
            raise ValueError(f"sample contains token id {bad} outside [0, vocab_size={self.vocab_size}).")

    def _alpha(self, timestep: torch.Tensor | float | None, batch_size: int) -> torch.Tensor:
        if timestep is None:
            raise ValueError("timestep is required for uniform noise.")
        timestep = torch.as_tensor(timestep, dtype=torch.float64, device=self.initial.device)
        if timestep.dim() == 0:
            timestep = timestep.expand(batch_size)
        if timestep.shape != (batch_size,):
            raise ValueError(
                f"timestep must be a scalar or have shape [B] = [{batch_size}], got {tuple(timestep.shape)}."
            )
        if not ((timestep >= 0) & (timestep <= 1)).all():
            raise ValueError("timestep must lie in [0, 1].")
        return self.noise_schedule.alpha(timestep).to(self.initial.device)

    def forward(self, sample: torch.LongTensor, timestep: torch.Tensor | float | None = None) -> torch.Tensor:
        """Exact log-posteriors log p(x_0^i | x_t).

        Args:
            sample (`torch.LongTensor`): noisy ids x_t, shape [B, L], in [0, vocab_size).
            timestep (`torch.Tensor` or `float`, *optional*): t as a scalar or shape [B]; required for uniform noise,
                ignored for absorbing noise.

        Returns:
            `torch.Tensor`: float32 logits [B, L, vocab_size]; for absorbing noise the mask column is -inf.
        """
        self._check_sample(sample)
        sample = sample.to(self.initial.device)
        if self.forward_process == "absorbing":
            logits = sample.new_empty((*sample.shape, self.vocab_size), dtype=torch.float32)
            logits[..., : self.num_states] = absorbing_chain_log_posteriors(
                *self._tables(sample.shape[1]), sample, self.num_states
            )
            logits[..., self.mask_token_id] = float("-inf")
            return logits
        # e(y) = q(x_t | x_0 = y) = alpha [y == x_t] + (1 - alpha) / V
        alpha = self._alpha(timestep, sample.shape[0]).view(-1, 1, 1)
        emission = clean_token_likelihood(sample, alpha, self.num_states)
        return markov_chain_posteriors(self.initial, self.transition_used, emission).log().float()


def countdown_chain(num_states: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """The "countdown" chain: a token n > 0 is followed by n - 1; after 0 any of the V tokens follows uniformly.

    Args:
        num_states (`int`, defaults to 32): V.

    Returns:
        `tuple[torch.Tensor, torch.Tensor]`: the stationary distribution [V] (used as the initial distribution) and
        the transition matrix [V, V], both float64.
    """
    if num_states < 1:
        raise ValueError(f"num_states must be >= 1, got {num_states}.")
    transition = torch.zeros(num_states, num_states, dtype=torch.float64)
    # T(n, n - 1) = 1 for n >= 1
    transition[torch.arange(1, num_states), torch.arange(num_states - 1)] = 1.0
    # T(0, m) = 1 / V
    transition[0] = 1.0 / num_states
    # pi(n) ∝ V - n
    initial = num_states - torch.arange(num_states, dtype=torch.float64)
    return initial / initial.sum(), transition


def random_chain(num_states: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A random chain with every transition possible and peaked rows (so that token order matters): the tiny task.

    Args:
        num_states (`int`): V. seed (`int`): the chain's seed.

    Returns:
        `tuple[torch.Tensor, torch.Tensor]`: the initial distribution [V] and the transition matrix [V, V], float64.
    """
    generator = torch.Generator().manual_seed(seed)
    initial = torch.softmax(torch.randn(num_states, generator=generator, dtype=torch.float64), 0)
    transition = torch.softmax(2.5 * torch.randn(num_states, num_states, generator=generator, dtype=torch.float64), 1)
    return initial, transition


def sample_markov_chain(
    initial: torch.Tensor,
    transition: torch.Tensor,
    batch_size: int,
    length: int,
    generator: torch.Generator | None = None,
) -> torch.LongTensor:
    """Exact ancestral samples of a Markov chain by inverse-CDF sampling with float64 uniforms.

    Args:
        initial (`torch.Tensor`): distribution of the first state, shape [V].
        transition (`torch.Tensor`): row-stochastic matrix [V, V].
        batch_size (`int`): number of sequences B.
        length (`int`): sequence length L.
        generator (`torch.Generator`, *optional*): source of the uniforms, for reproducible samples.

    Returns:
        `torch.LongTensor`: samples [B, L] in [0, V).
    """
    check_markov_chain(initial, transition)
    if batch_size < 0 or length < 0:
        raise ValueError(f"batch_size and length must be >= 0, got {batch_size} and {length}.")
    device = initial.device
    # F(y) = sum_{z <= y} p(z) / sum_z p(z), so that F(V - 1) = 1 exactly and a state of probability 0 is never drawn
    initial_cdf = initial.double().cumsum(dim=0)
    initial_cdf = initial_cdf / initial_cdf[-1]
    transition_cdf = transition.double().cumsum(dim=1)
    transition_cdf = transition_cdf / transition_cdf[:, -1:]
    uniforms = torch.rand(length, batch_size, generator=generator, dtype=torch.float64, device=device)
    samples = torch.empty(batch_size, length, dtype=torch.long, device=device)
    if length == 0:
        return samples
    # x = min{y : F(y) > u}
    samples[:, 0] = torch.searchsorted(initial_cdf, uniforms[0], right=True)
    for j in range(1, length):
        rows = transition_cdf[samples[:, j - 1]]
        samples[:, j] = torch.searchsorted(rows, uniforms[j].unsqueeze(-1), right=True).squeeze(-1)
    return samples
