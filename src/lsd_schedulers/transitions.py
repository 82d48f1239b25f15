"""Per-position reverse transitions of discrete diffusion samplers, and float64 categorical sampling.

Every tensor of probabilities here is float64 with the vocabulary in the last dimension. A step from time t down
to time s is built in three parts, each a small function:

1. the model output as x0 probabilities p(x_0 | x_t) or as a concrete score s(x_t, t)_y = p_t(x^{i <- y}) / p_t(x);
2. the solver's *jump* probabilities: the chance of moving to each token y other than the current one;
3. the transition row: the jumps plus the probability of staying, which is where the LSD coefficient acts.
"""

import math

import torch

FORWARD_PROCESSES = ("absorbing", "uniform")
PREDICTION_TYPES = ("x0_logits", "log_score")
SOLVERS = ("euler", "tweedie")
BLOCK_COLUMNS = 64  # columns per block of the two-level (block, then column) searches below
CHUNK_ELEMENTS = 1 << 19  # rows of logits are exponentiated in chunks of about this many entries
LOG2_E = math.log2(math.e)
MAX_LOG_SCORE = 700.0  # exp overflows float64 just above 709; a score beyond e^700 saturates every jump anyway


# ----------------------------------------------------------------------------------------------------------------
# Model outputs: x0 probabilities <-> concrete scores
# ----------------------------------------------------------------------------------------------------------------


def x0_probabilities_from_logits(logits: torch.Tensor, mask_token_id: int | None) -> torch.Tensor:
    """p(x_0 | x_t) = softmax(logits), with the mask column (if any) forced to probability 0."""
    logits = logits.double()
    if mask_token_id is not None:
        logits = logits.clone()
        logits[..., mask_token_id] = -torch.inf
    return torch.softmax(logits, dim=-1)


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
# Solvers: jump probabilities from t down to s (zero at the current token)
# ----------------------------------------------------------------------------------------------------------------


def absorbing_unmask_probability(alpha_t: torch.Tensor, alpha_s: torch.Tensor) -> torch.Tensor:
    # P(masked at t is revealed by s) = (alpha_s - alpha_t) / (1 - alpha_t)
    return (alpha_s - alpha_t) / (1 - alpha_t)


def tweedie_absorbing_jumps(
    x0_probs: torch.Tensor, sample: torch.Tensor, alpha_t: torch.Tensor, alpha_s: torch.Tensor, mask_token_id: int
) -> torch.Tensor:
    # masked -> y with (alpha_s - alpha_t) / (1 - alpha_t) p(x_0 = y | x_t); revealed tokens never move
    is_masked = (sample == mask_token_id).unsqueeze(-1)
    return absorbing_unmask_probability(alpha_t, alpha_s) * x0_probs * is_masked


def euler_absorbing_jumps(
    log_score: torch.Tensor, sample: torch.Tensor, sigma_t: torch.Tensor, step_size: torch.Tensor, mask_token_id: int
) -> torch.Tensor:
    # masked -> y with (t - s) sigma(t) s_y   (tau-leaping with the reverse rate sigma(t) s_y)
    is_masked = (sample == mask_token_id).unsqueeze(-1)
    jumps = step_size * sigma_t * torch.exp(log_score.double().clamp(max=MAX_LOG_SCORE)) * is_masked
    jumps[..., mask_token_id] = 0
    return jumps


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


def euler_uniform_jumps(
    log_score: torch.Tensor, sample: torch.Tensor, sigma_t: torch.Tensor, step_size: torch.Tensor
) -> torch.Tensor:
    # x -> y != x with (t - s) sigma(t) / V s_y   (reverse rate of the uniform generator)
    vocab_size = log_score.shape[-1]
    jumps = step_size * sigma_t / vocab_size * torch.exp(log_score.double().clamp(max=MAX_LOG_SCORE))
    return jumps.scatter(-1, sample.unsqueeze(-1), 0.0)


# ----------------------------------------------------------------------------------------------------------------
# Transition rows and the LSD coefficient
# ----------------------------------------------------------------------------------------------------------------


def scale_jumps_linear(jumps: torch.Tensor, coefficient: float | torch.Tensor) -> torch.Tensor:
    # LSD, linear form (paper Eq. 5): the step uses Phi_k s instead of s, so every jump probability is scaled by Phi_k
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


def sample_jumps(
    jumps: torch.Tensor, sample: torch.Tensor, generator: torch.Generator | list[torch.Generator] | None = None
) -> torch.Tensor:
    """Draw the next tokens from jump probabilities: move with probability sum(jumps), then pick the target.

    The same law as sampling `transition_from_jumps(jumps, sample)`, drawn with two float64 uniforms per position
    (one decides whether to move, one which token), so that runs with common random numbers stay coupled when the
    step sizes change: a position that moves in one run tends to move, to the same token, in the other.

    Args:
        jumps (`torch.Tensor`): jump probabilities `[..., V]`, zero at the current token.
        sample (`torch.Tensor`): current token ids `[...]`.
        generator (`torch.Generator` or `list[torch.Generator]`, *optional*): the caller's randomness.
    """
    total = jumps.sum(-1)
    move = uniform_noise(tuple(sample.shape), generator, sample.device) < total
    target = sample_categorical(jumps, generator)
    return torch.where(move & (total > 0), target, sample)


def sample_confidence_ordered(
    jumps: torch.Tensor,
    sample: torch.Tensor,
    mask_token_id: int,
    temperature: float = 0.0,
    generator: torch.Generator | list[torch.Generator] | None = None,
) -> torch.Tensor:
    """MaskGIT-style unmasking: the schedule says how many masked tokens to reveal, the model's confidence which.

    Each row reveals n = floor(E + u) tokens, E = sum of its reveal probabilities (stochastic rounding keeps the
    expected count of the random order). Every masked position draws a candidate y ~ jumps; the n positions with
    the highest log q(y) + temperature * Gumbel noise are revealed with their candidates.

    Args:
        jumps (`torch.Tensor`): jump probabilities `[B, ..., V]` (absorbing noise: from MASK only).
        sample (`torch.Tensor`): current token ids `[B, ...]`.
        mask_token_id (`int`): the MASK id.
        temperature (`float`, defaults to 0.0): Gumbel noise on the confidences (MaskGIT's choice temperature).
        generator (`torch.Generator` or `list[torch.Generator]`, *optional*): the caller's randomness.
    """
    batch = sample.shape[0]
    flat_jumps, flat_sample = jumps.reshape(batch, -1, jumps.shape[-1]), sample.reshape(batch, -1)
    is_masked = flat_sample == mask_token_id
    reveal = flat_jumps.sum(-1) * is_masked
    expected = reveal.sum(-1)
    count = torch.floor(expected + uniform_noise((batch,), generator, sample.device)).long()
    count = torch.minimum(count, is_masked.sum(-1))
    candidates = sample_categorical(flat_jumps, generator)
    # log q(y) = log(jumps_y / sum(jumps))
    confidence = torch.log(flat_jumps.gather(-1, candidates.unsqueeze(-1)).squeeze(-1)) - torch.log(reveal)
    if temperature > 0:
        gumbel = -torch.log(-torch.log(uniform_noise(tuple(flat_sample.shape), generator, sample.device)))
        confidence = confidence + temperature * gumbel
    confidence = confidence.masked_fill(~is_masked | (reveal <= 0), -torch.inf)
    rank = confidence.argsort(dim=-1, descending=True).argsort(dim=-1)
    chosen = (rank < count.unsqueeze(-1)) & is_masked & (reveal > 0)
    return torch.where(chosen, candidates, flat_sample).reshape(sample.shape)


def commit_jumps(jumps: torch.Tensor, sample: torch.Tensor, mask_token_id: int) -> torch.Tensor:
    """Final absorbing step: renormalise the jumps of masked positions so that no MASK is left."""
    is_masked = (sample == mask_token_id).unsqueeze(-1)
    total = jumps.sum(-1, keepdim=True)
    if bool(((total <= 0) & is_masked).any()):
        raise ValueError("The model gives probability 0 to every token at a masked position; cannot unmask it.")
    return torch.where(is_masked, jumps / total.clamp_min(torch.finfo(torch.float64).tiny), jumps)


# ----------------------------------------------------------------------------------------------------------------
# Randomness: float64 draws from the caller's generator(s)
# ----------------------------------------------------------------------------------------------------------------


def uniform_noise(
    shape: tuple[int, ...],
    generator: torch.Generator | list[torch.Generator] | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Float64 uniforms in [0, 1). A list of generators seeds each batch row on its own, as diffusers does.

    Args:
        shape (`tuple[int, ...]`): output shape; the first dimension is the batch.
        generator (`torch.Generator` or `list[torch.Generator]`, *optional*): one generator, or one per batch row.
        device (`torch.device`, *optional*): where the result lives. CPU generators draw on the CPU first.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    if isinstance(generator, list):
        if len(generator) != shape[0]:
            raise ValueError(f"Got {len(generator)} generators for a batch of {shape[0]}; pass one per batch row.")
        rows = [
            torch.rand((1, *shape[1:]), generator=g, device=g.device, dtype=torch.float64).to(device)
            for g in generator
        ]
        return torch.cat(rows, dim=0)
    draw_device = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=draw_device, dtype=torch.float64).to(device)


def sample_categorical(
    probs: torch.Tensor, generator: torch.Generator | list[torch.Generator] | None = None
) -> torch.Tensor:
    """Draw one index per row of `probs` (float64, last dimension the categories) by inverting the CDF.

    One float64 uniform per row: no float32 Gumbel noise, which truncates low-probability tokens.

    Args:
        probs (`torch.Tensor`): non-negative weights `[..., V]`, rows need not be normalised.
        generator (`torch.Generator` or `list[torch.Generator]`, *optional*): the caller's randomness.
    """
    probs = probs.double()
    cdf = torch.cumsum(probs, dim=-1)
    u = uniform_noise(tuple(probs.shape[:-1]), generator, probs.device).unsqueeze(-1)
    # first index whose CDF exceeds u * total: categories of probability 0 are never drawn
    index = torch.searchsorted(cdf, u * cdf[..., -1:], right=True)
    return index.squeeze(-1).clamp_max(probs.shape[-1] - 1)


# ----------------------------------------------------------------------------------------------------------------
# Absorbing steps straight from logits, for the rows that need them (the scheduler's fast path)
# ----------------------------------------------------------------------------------------------------------------


def block_maxima(logits: torch.Tensor, block: int) -> torch.Tensor:
    """Maximum of each run of `block` columns (the last run may be shorter); NaN propagates.

    One read of the logits that serves as the NaN / +inf check and tells, per row, which block holds the maximum.

    Args:
        logits (`torch.Tensor`): `[N, V]`.
        block (`int`): columns per block.

    Returns:
        `torch.Tensor`: `[N, ceil(V / block)]`.
    """
    rows, vocab_size = logits.shape
    whole = vocab_size // block * block
    maxima = logits[:, :whole].reshape(rows, whole // block, block).amax(-1)
    if whole < vocab_size:
        maxima = torch.cat([maxima, logits[:, whole:].amax(-1, keepdim=True)], dim=-1)
    return maxima


def block_values(
    logits: torch.Tensor, rows: torch.Tensor, blocks: torch.Tensor, block: int, exclude: int | None = None
) -> torch.Tensor:
    """The entries of block `blocks[i]` of row `rows[i]`, -inf at column `exclude` and past the last column.

    Args:
        logits (`torch.Tensor`): `[N, V]`, contiguous.
        rows (`torch.Tensor`): `[n]` row indices. blocks (`torch.Tensor`): `[n]` block indices.
        block (`int`): columns per block.
        exclude (`int`, *optional*): a column to read as -inf (the MASK id).

    Returns:
        `torch.Tensor`: `[n, block]`, column `blocks[i] * block + j` of row `rows[i]` at `[i, j]`.
    """
    vocab_size = logits.shape[-1]
    num_blocks = -(-vocab_size // block)
    offsets = torch.arange(block, device=logits.device)
    if vocab_size % block == 0:
        # whole blocks are contiguous runs: gather them as rows of a [N * num_blocks, block] view
        values = logits.view(-1, block).index_select(0, rows * num_blocks + blocks)
    else:
        columns = blocks.unsqueeze(-1) * block + offsets
        flat_index = rows.unsqueeze(-1) * vocab_size + columns.clamp_max(vocab_size - 1)
        values = logits.view(-1).index_select(0, flat_index.view(-1)).view(-1, block)
        values = values.masked_fill(columns >= vocab_size, -torch.inf)
    if exclude is not None:
        column = exclude % block
        values[:, column] = values[:, column].masked_fill(blocks == exclude // block, -torch.inf)
    return values


def row_argmax(
    logits: torch.Tensor, rows: torch.Tensor, maxima: torch.Tensor, block: int, exclude: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """First argmax of each row `logits[rows]` over the columns but `exclude`, found from its block maxima.

    Equal to `logits[rows]` with column `exclude` set to -inf, then `max(-1)`, but reads only two blocks per row.

    Args:
        logits (`torch.Tensor`): `[N, V]`, contiguous, without NaN.
        rows (`torch.Tensor`): `[n]` row indices.
        maxima (`torch.Tensor`): `block_maxima(logits, block)`, `[N, ceil(V / block)]`.
        block (`int`): columns per block.
        exclude (`int`, *optional*): a column that never wins (the MASK id).

    Returns:
        `tuple`: the argmax `[n]` and the maximum `[n]`.
    """
    maxima = maxima.index_select(0, rows)
    if exclude is not None:
        excluded_block = torch.full_like(rows, exclude // block)
        maxima[:, exclude // block] = block_values(logits, rows, excluded_block, block, exclude).amax(-1)
    # max and argmax return the first maximal index: the first block that holds the maximum, then its first column
    best, first_block = maxima.max(-1)
    first = block_values(logits, rows, first_block, block, exclude).argmax(-1)
    return first_block * block + first, best


def _tilted_weights(differences: torch.Tensor, power: float, out: torch.Tensor | None = None) -> torch.Tensor:
    """w = exp(power d) of d = l - max (float32, or float64 for float64 logits), in place or into `out`."""
    # w = 2^(power log2(e) d): exp2 is the cheaper kernel. A power below float32's range would turn -inf (a weight
    # of 0) into 0 * -inf = NaN: 1e-30 gives weights equal to 1 to float precision, as the power itself would.
    scale = max(power * LOG2_E, 1e-30)
    return torch.mul(differences, scale, out=differences if out is None else out).exp2_()


def tilted_block_sums(
    logits: torch.Tensor,
    rows: torch.Tensor,
    row_max: torch.Tensor,
    row_argmax: torch.Tensor,
    block: int,
    powers: tuple[float, ...] = (1.0,),
    exclude: int | None = None,
) -> list[torch.Tensor]:
    """Block sums of the weights w_y = exp(power (l_y - max_y l_y)) of the rows `logits[rows]`, for each power.

    The weights are softmax(power * logits) up to its normaliser Z = sum_y w_y. The weight of the maximum, exactly
    1, is left out of the sums: callers add it in float64 (`full_block_sums`), so that the rest R, which a confident
    model puts far below float32's resolution of 1, keeps its precision (log Z = log1p(R)). The weights are float32
    (float64 for float64 logits), made a chunk of rows at a time and read once for all powers: no `[n, V]` tensor,
    and no float64 copy of the logits, is built.

    Args:
        logits (`torch.Tensor`): `[N, V]`, contiguous.
        rows (`torch.Tensor`): `[n]` row indices.
        row_max (`torch.Tensor`): `[n]` finite maxima of the rows over the columns but `exclude`.
        row_argmax (`torch.Tensor`): `[n]` a column where each row attains its maximum (`row_argmax`).
        block (`int`): columns per block.
        powers (`tuple[float, ...]`, defaults to `(1.0,)`): the tilts (the LSD power-form coefficient).
        exclude (`int`, *optional*): a column of weight 0 (the MASK id).

    Returns:
        `list[torch.Tensor]`: per power, the block sums `[n, ceil(V / block)]` without the maximum's weight.
    """
    vocab_size = logits.shape[-1]
    whole = vocab_size // block * block
    dtype = torch.promote_types(logits.dtype, torch.float32)
    chunk = max(1, min(CHUNK_ELEMENTS // vocab_size, rows.numel()))
    # one buffer (two for two powers) serves every chunk: no allocation per chunk
    buffer = torch.empty((chunk, vocab_size), dtype=dtype, device=logits.device)
    scratch = torch.empty_like(buffer) if len(powers) > 1 else None
    sums = [[] for _ in powers]
    for start in range(0, rows.numel(), chunk):
        index = rows[start : start + chunk]
        differences = buffer[: index.numel()]
        if logits.dtype == dtype:
            torch.index_select(logits, 0, index, out=differences)
        else:
            differences.copy_(logits.index_select(0, index))
        if exclude is not None:
            differences[:, exclude] = -torch.inf
        differences.sub_(row_max[start : start + chunk].to(dtype).unsqueeze(-1))
        argmax = row_argmax[start : start + chunk].unsqueeze(-1)
        for position, (power, chunks) in enumerate(zip(powers, sums)):
            last = position == len(powers) - 1
            weights = _tilted_weights(differences, power, None if last else scratch[: index.numel()])
            weights.scatter_(-1, argmax, 0.0)  # the maximum's weight, exactly 1, is added back in float64
            block_sums = weights[:, :whole].view(-1, whole // block, block).sum(-1)
            if whole < vocab_size:
                block_sums = torch.cat([block_sums, weights[:, whole:].sum(-1, keepdim=True)], dim=-1)
            chunks.append(block_sums)
    num_blocks = -(-vocab_size // block)
    return [torch.cat(chunks) if chunks else logits.new_zeros(0, num_blocks, dtype=dtype) for chunks in sums]


def full_block_sums(block_sums: torch.Tensor, row_argmax: torch.Tensor, block: int) -> torch.Tensor:
    """Float64 block sums of all the weights: `tilted_block_sums`' plus the maximum's weight 1 in its block.

    Args:
        block_sums (`torch.Tensor`): `[n, num_blocks]` from `tilted_block_sums`.
        row_argmax (`torch.Tensor`): `[n]` the columns given to it. block (`int`): columns per block.
    """
    ones = torch.ones(row_argmax.shape + (1,), dtype=torch.float64, device=block_sums.device)
    return block_sums.double().scatter_add_(-1, (row_argmax // block).unsqueeze(-1), ones)


def sample_tilted_blocks(
    logits: torch.Tensor,
    rows: torch.Tensor,
    row_max: torch.Tensor,
    row_argmax: torch.Tensor,
    block: int,
    block_sums: torch.Tensor,
    uniforms: torch.Tensor,
    power: float = 1.0,
    exclude: int | None = None,
) -> torch.Tensor:
    """Draw y ~ softmax(power * logits[rows]) by inverse CDF, as `sample_categorical`: the first y whose CDF exceeds
    u * Z, with the weights w and Z = sum(w) of `tilted_block_sums`.

    Two levels: the block by the float64 CDF of the block sums, then the column by the float64 CDF of the chosen
    block's weights (recomputed from its logits), rescaled to end at that block's sum so that the two levels make
    one distribution; every weight keeps its float32 relative precision, and a token of weight 0 (the excluded one
    included) is never drawn.

    Args:
        logits (`torch.Tensor`): `[N, V]`, contiguous.
        rows (`torch.Tensor`): `[n]` row indices.
        row_max (`torch.Tensor`): `[n]` the maxima given to `tilted_block_sums`.
        row_argmax (`torch.Tensor`): `[n]` the columns of the maxima given to it.
        block (`int`): columns per block.
        block_sums (`torch.Tensor`): `[n, ceil(V / block)]` from `tilted_block_sums` with this power.
        uniforms (`torch.Tensor`): `[n]` float64 uniforms in [0, 1).
        power (`float`, defaults to 1.0): the tilt.
        exclude (`int`, *optional*): the column of weight 0.

    Returns:
        `torch.Tensor`: `[n]` token ids.
    """
    block_sums = full_block_sums(block_sums, row_argmax, block)
    cdf = block_sums.cumsum(-1)
    target = uniforms * cdf[:, -1]
    chosen = torch.searchsorted(cdf, target.unsqueeze(-1), right=True).squeeze(-1)
    # a target that rounding puts at the very end stays in the last block with weight, where the CDF first reaches
    # its total (sample_categorical would clamp it to the last column, whatever its weight)
    chosen = torch.minimum(chosen, torch.searchsorted(cdf, cdf[:, -1:].contiguous()).squeeze(-1))
    before = cdf.gather(-1, (chosen - 1).clamp_min(0).unsqueeze(-1)).squeeze(-1)
    before = torch.where(chosen > 0, before, 0.0)
    dtype = torch.promote_types(logits.dtype, torch.float32)
    differences = block_values(logits, rows, chosen, block, exclude).to(dtype)
    weights = _tilted_weights(differences.sub_(row_max.to(dtype).unsqueeze(-1)), power)
    inner_cdf = weights.double().cumsum(-1)
    # rescale the block's own CDF to end at its sum in `cdf`: the two levels then describe one distribution
    inner_cdf = inner_cdf * (block_sums.gather(-1, chosen.unsqueeze(-1)) / inner_cdf[:, -1:])
    inner = torch.searchsorted(inner_cdf, (target - before).unsqueeze(-1), right=True).squeeze(-1)
    inner = torch.minimum(inner, torch.searchsorted(inner_cdf, inner_cdf[:, -1:].contiguous()).squeeze(-1))
    return chosen * block + inner
