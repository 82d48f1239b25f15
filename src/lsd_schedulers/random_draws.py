"""Random draws of the samplers, all float64 and all from the caller's generator(s).

Every random choice of a step goes through `uniform_noise`, so that a seeded generator (or one generator per batch
row, as diffusers allows) fixes the samples, and two samplers given the same generator draw the same uniforms in the
same order (common random numbers: distillation compares schedules on them).
"""

import torch


def seeded_generator(seed: int, tag: int, step: int, process: int = 0) -> torch.Generator:
    """A CPU generator for one step of a resumable run, seeded by (seed, tag, step, process).

    A rerun or a resume draws the same numbers at the same step; tags keep a run's streams apart, processes keep
    data-parallel ranks disjoint.
    """
    # ((seed * 1_000_003 + tag) * 100_003 + step) * 1_009 + process, folded into 63 bits
    mixed = ((seed * 1_000_003 + tag) * 100_003 + step) * 1_009 + process
    return torch.Generator().manual_seed(mixed % (2**63))


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


def gumbel_noise(
    shape: tuple[int, ...],
    generator: torch.Generator | list[torch.Generator] | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    # g = -log(-log u), u ~ U[0, 1)
    return -torch.log(-torch.log(uniform_noise(shape, generator, device)))


def random_tokens(
    shape: tuple[int, ...],
    num_tokens: int,
    generator: torch.Generator | list[torch.Generator] | None = None,
    device: torch.device | str | None = None,
    skip_id: int | None = None,
) -> torch.LongTensor:
    """Token ids drawn uniformly from `num_tokens` ids: 0..num_tokens - 1, or, with `skip_id`, 0..num_tokens but it.

    Args:
        shape (`tuple[int, ...]`): output shape; the first dimension is the batch.
        num_tokens (`int`): how many ids can be drawn.
        generator (`torch.Generator` or `list[torch.Generator]`, *optional*): the caller's randomness.
        device (`torch.device`, *optional*): where the result lives.
        skip_id (`int`, *optional*): an id never drawn (the MASK id); the ids above it shift up by one.
    """
    tokens = (uniform_noise(shape, generator, device) * num_tokens).long()
    if skip_id is not None:
        tokens = tokens + (tokens >= skip_id).long()
    return tokens


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
