"""Reveal orders of masked samplers: which masked positions a step reveals, once the schedule has said how many.

A masked sampler's step decides how many positions to reveal (the schedule) and which (the order). An order that
depends only on which positions are revealed, not on the values being drawn, keeps the sampler exact in the
many-step limit; the few-step error is the dependence between the tokens revealed in the same step, so orders that
reveal far-apart positions together help when dependence decays with distance (docs/schedulers.md).

- `confidence` (MaskGIT): the positions whose drawn tokens the model is most sure of, with optional Gumbel noise.
- `spread`: a low-discrepancy permutation of the positions (bit-reversal, i.e. van der Corput), cyclically shifted
  by a random offset per sequence and step; a step reveals the `n` masked positions that come first in it.
- `spread_2d`: the same over a token grid, with a Halton (2, 3) order of the cells and a random toroidal shift.

All take their count from `reveal_counts`, n = floor(E + u) with E the expected number of reveals of the random
order (stochastic rounding keeps that expectation). Every draw uses the caller's uniforms, so a seeded generator
gives the same choice. The choosing functions here serve both the general step (from jump probabilities) and the
fast one (`masked_step`, from logits).
"""

from functools import lru_cache

import torch

from .random_draws import gumbel_noise, sample_categorical, uniform_noise

SPREAD_ORDERS = ("spread", "spread_2d")
UNMASKING_ORDERS = ("random", "confidence", *SPREAD_ORDERS)


@lru_cache(maxsize=64)
def bit_reversal_ranks(length: int) -> torch.LongTensor:
    """Rank of each of `length` positions in the van der Corput order 0, L/2, L/4, 3L/4, ... (bit-reversed indices).

    Args:
        length (`int`): the number of positions L; when it is not a power of 2, the bit-reversal permutation of the
            next power of 2 is filtered to the indices below L.
    """
    bits = max(1, (length - 1).bit_length())
    order = [int(format(k, f"0{bits}b")[::-1], 2) for k in range(2**bits)]
    order = torch.tensor([position for position in order if position < length], dtype=torch.long)
    ranks = torch.empty(length, dtype=torch.long)
    ranks[order] = torch.arange(length)
    return ranks


def radical_inverse(index: int, base: int) -> float:
    # van der Corput: the digits of `index` in `base`, mirrored about the radix point
    value, scale = 0.0, 1.0 / base
    while index:
        index, digit = divmod(index, base)
        value += digit * scale
        scale /= base
    return value


@lru_cache(maxsize=64)
def halton_ranks(height: int, width: int) -> torch.LongTensor:
    """Rank of each cell of a `height` x `width` grid (row-major) in the order a Halton sequence first visits it.

    Point k of the sequence is (radical_inverse(k, 2), radical_inverse(k, 3)) in the unit square, falling in cell
    (floor(y * height), floor(x * width)); cells are ranked by their first visit (MaskGIT's Halton scheduler).

    Args:
        height (`int`): grid rows. width (`int`): grid columns.
    """
    cells, ranks, index = height * width, torch.full((height * width,), -1, dtype=torch.long), 0
    visited = 0
    while visited < cells and index < 256 * cells:
        row = int(radical_inverse(index, 3) * height)
        column = int(radical_inverse(index, 2) * width)
        if ranks[row * width + column] < 0:
            ranks[row * width + column] = visited
            visited += 1
        index += 1
    unvisited = (ranks < 0).nonzero().squeeze(-1)  # never for sane grids; kept in raster order for safety
    ranks[unvisited] = torch.arange(visited, cells)
    return ranks


def spread_ranks(
    order: str, batch_size: int, positions: int, grid: tuple[int, int] | None, shift_noise: torch.Tensor
) -> torch.LongTensor:
    """Per-sequence ranks of the positions in a spread order, shifted cyclically by the given uniforms.

    Args:
        order (`str`): `"spread"` (1-D bit-reversal) or `"spread_2d"` (Halton over `grid`).
        batch_size (`int`): B. positions (`int`): L, the positions per sequence.
        grid (`tuple[int, int]`, *optional*): (height, width) with height * width = L (`spread_2d` only).
        shift_noise (`torch.Tensor`): `[B, 2]` float64 uniforms; the 1-D order reads the first column.

    Returns:
        `torch.LongTensor`: `[B, L]`, a permutation of 0..L-1 per row (lower ranks are revealed first).
    """
    device = shift_noise.device
    if order == "spread":
        base = bit_reversal_ranks(positions).to(device)
        offset = (shift_noise[:, 0] * positions).long().clamp_max(positions - 1)
        # rank of position i = base rank of (i + offset) mod L
        index = (torch.arange(positions, device=device) + offset.unsqueeze(-1)) % positions
        return base[index]
    height, width = grid
    base = halton_ranks(height, width).to(device).view(height, width)
    row_shift = (shift_noise[:, 0] * height).long().clamp_max(height - 1)
    column_shift = (shift_noise[:, 1] * width).long().clamp_max(width - 1)
    rows = (torch.arange(height, device=device) + row_shift.unsqueeze(-1)) % height  # [B, H]
    columns = (torch.arange(width, device=device) + column_shift.unsqueeze(-1)) % width  # [B, W]
    return base[rows.unsqueeze(-1), columns.unsqueeze(-2)].reshape(batch_size, positions)


def reveal_counts(
    reveal_probabilities: torch.Tensor, is_masked: torch.Tensor, count_noise: torch.Tensor
) -> torch.LongTensor:
    """How many positions each sequence reveals: n = floor(E + u), E = sum of the masked positions' probabilities.

    Args:
        reveal_probabilities (`torch.Tensor`): `[B, L]` float64, each masked position's reveal probability.
        is_masked (`torch.Tensor`): `[B, L]` bool.
        count_noise (`torch.Tensor`): `[B]` float64 uniforms.
    """
    expected = (reveal_probabilities * is_masked).sum(-1)
    return torch.minimum(torch.floor(expected + count_noise).long(), is_masked.sum(-1))


def choose_first_ranked(ranks: torch.LongTensor, is_masked: torch.Tensor, counts: torch.LongTensor) -> torch.Tensor:
    """The `counts[b]` masked positions of lowest rank in each row `b` (ranks are a permutation per row).

    Args:
        ranks (`torch.LongTensor`): `[B, L]`. is_masked (`torch.Tensor`): `[B, L]` bool.
        counts (`torch.LongTensor`): `[B]`, at most the number of masked positions.

    Returns:
        `torch.Tensor`: `[B, L]` bool, the chosen positions.
    """
    positions = ranks.shape[-1]
    keys = torch.where(is_masked, ranks, ranks + positions)  # unmasked positions rank after every masked one
    threshold = keys.sort(-1).values.gather(-1, (counts - 1).clamp_min(0).unsqueeze(-1))
    return is_masked & (keys <= threshold) & (counts > 0).unsqueeze(-1)


def choose_most_confident(confidence: torch.Tensor, eligible: torch.Tensor, counts: torch.LongTensor) -> torch.Tensor:
    """The `counts[b]` eligible positions of highest confidence in each row `b`.

    Args:
        confidence (`torch.Tensor`): `[B, L]` float64 scores (log q of the drawn token, plus any Gumbel noise).
        eligible (`torch.Tensor`): `[B, L]` bool, the masked positions that can be revealed.
        counts (`torch.LongTensor`): `[B]`, at most the number of eligible positions.

    Returns:
        `torch.Tensor`: `[B, L]` bool, the chosen positions.
    """
    confidence = confidence.masked_fill(~eligible, -torch.inf)
    rank = confidence.argsort(dim=-1, descending=True).argsort(dim=-1)
    return (rank < counts.unsqueeze(-1)) & eligible


def order_grid(order: str, sample_shape: tuple[int, ...], grid_shape: list[int] | None) -> tuple[int, int] | None:
    """The token grid of a 2-D order: the sample's own `(B, H, W)` shape, else the config's `token_grid_shape`.

    Args:
        order (`str`): the unmasking order. sample_shape (`tuple`): the sample's shape.
        grid_shape (`list[int]`, *optional*): the scheduler's `token_grid_shape`.
    """
    if order != "spread_2d":
        return None
    positions = 1
    for size in sample_shape[1:]:
        positions *= size
    if len(sample_shape) == 3:
        grid = tuple(sample_shape[1:])
        if grid_shape is not None and tuple(grid_shape) != grid:
            raise ValueError(f"The sample's token grid {grid} differs from token_grid_shape {grid_shape}.")
        return grid
    if grid_shape is None or grid_shape[0] * grid_shape[1] != positions:
        raise ValueError(
            f"unmasking_order='spread_2d' needs the token grid: pass samples of shape (B, H, W) or set "
            f"token_grid_shape=[H, W] with H * W = {positions} for flattened samples (got {grid_shape})."
        )
    return tuple(grid_shape)


def choose_spread(
    order: str,
    reveal_probabilities: torch.Tensor,
    is_masked: torch.Tensor,
    grid: tuple[int, int] | None,
    count_noise: torch.Tensor,
    shift_noise: torch.Tensor,
) -> torch.Tensor:
    """The positions a spread-order step reveals: the count from the schedule, the positions from the order.

    Args:
        order (`str`): `"spread"` or `"spread_2d"`.
        reveal_probabilities (`torch.Tensor`): `[B, L]` float64 reveal probabilities of the masked positions.
        is_masked (`torch.Tensor`): `[B, L]` bool.
        grid (`tuple[int, int]`, *optional*): the token grid of `spread_2d`.
        count_noise (`torch.Tensor`): `[B]` uniforms. shift_noise (`torch.Tensor`): `[B, 2]` uniforms.

    Returns:
        `torch.Tensor`: `[B, L]` bool.
    """
    batch_size, positions = is_masked.shape
    counts = reveal_counts(reveal_probabilities, is_masked, count_noise)
    ranks = spread_ranks(order, batch_size, positions, grid, shift_noise)
    return choose_first_ranked(ranks, is_masked, counts)


def sample_confidence_ordered(
    jumps: torch.Tensor,
    sample: torch.Tensor,
    mask_token_id: int,
    temperature: float = 0.0,
    generator: torch.Generator | list[torch.Generator] | None = None,
) -> torch.Tensor:
    """MaskGIT-style unmasking: the schedule says how many masked tokens to reveal, the model's confidence which.

    Each row reveals n = floor(E + u) tokens (`reveal_counts`). Every masked position draws a candidate y ~ jumps;
    the n positions with the highest log q(y) + temperature * Gumbel noise are revealed with their candidates. The
    uniforms are drawn in this order: the count `[B]`, one token uniform per position, then (temperature > 0) one
    Gumbel uniform per position; the scheduler's fast path draws the same ones.

    Args:
        jumps (`torch.Tensor`): jump probabilities `[B, ..., V]` (absorbing noise: from MASK only).
        sample (`torch.Tensor`): current token ids `[B, ...]`.
        mask_token_id (`int`): the MASK id.
        temperature (`float`, defaults to 0.0): Gumbel noise on the confidences (MaskGIT's choice temperature).
        generator (`torch.Generator` or `list[torch.Generator]`, *optional*): the caller's randomness.
    """
    batch_size, device = sample.shape[0], sample.device
    flat_jumps, flat_sample = jumps.reshape(batch_size, -1, jumps.shape[-1]), sample.reshape(batch_size, -1)
    count_noise = uniform_noise((batch_size,), generator, device)
    candidates = sample_categorical(flat_jumps, generator)
    reveal = flat_jumps.sum(-1)
    # log q(y) = log(jumps_y / sum(jumps))
    confidence = torch.log(flat_jumps.gather(-1, candidates.unsqueeze(-1)).squeeze(-1)) - torch.log(reveal)
    if temperature > 0:
        confidence = confidence + temperature * gumbel_noise(tuple(flat_sample.shape), generator, device)
    eligible = (flat_sample == mask_token_id) & (reveal > 0)
    chosen = choose_most_confident(confidence, eligible, reveal_counts(reveal, eligible, count_noise))
    return torch.where(chosen, candidates, flat_sample).reshape(sample.shape)


def sample_spread_ordered(
    jumps: torch.Tensor,
    sample: torch.LongTensor,
    mask_token_id: int,
    order: str,
    grid: tuple[int, int] | None,
    generator: torch.Generator | list[torch.Generator] | None = None,
) -> torch.LongTensor:
    """A spread-order step from jump probabilities: reveal the chosen positions with tokens drawn from the jumps.

    The uniforms are drawn in this order: the count `[B]`, the shift `[B, 2]`, then one token uniform per position
    (`sample_categorical`); the scheduler's fast path draws the same ones.

    Args:
        jumps (`torch.Tensor`): jump probabilities `[B, ..., V]` (from MASK only).
        sample (`torch.LongTensor`): current token ids `[B, ...]`.
        mask_token_id (`int`): the MASK id.
        order (`str`): `"spread"` or `"spread_2d"`.
        grid (`tuple[int, int]`, *optional*): the token grid of `spread_2d` (`order_grid`).
        generator (`torch.Generator` or `list[torch.Generator]`, *optional*): the caller's randomness.
    """
    batch_size, device = sample.shape[0], sample.device
    flat_jumps, flat_sample = jumps.reshape(batch_size, -1, jumps.shape[-1]), sample.reshape(batch_size, -1)
    count_noise = uniform_noise((batch_size,), generator, device)
    shift_noise = uniform_noise((batch_size, 2), generator, device)
    candidates = sample_categorical(flat_jumps, generator)
    reveal = flat_jumps.sum(-1)
    is_masked = (flat_sample == mask_token_id) & (reveal > 0)
    chosen = choose_spread(order, reveal, is_masked, grid, count_noise, shift_noise)
    return torch.where(chosen, candidates, flat_sample).reshape(sample.shape)
