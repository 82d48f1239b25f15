"""Kernels on `[N, V]` logits that read only what a masked step needs, a block of columns at a time.

A step of an absorbing sampler needs, per masked row, the argmax (for `pred_original_sample`), the normaliser of
softmax(power * logits) (for the jump mass of the power form and the confidence of the drawn token) and one draw
from that softmax. These kernels give them from the logits without a float64 `[N, V]` copy: block maxima in one
pass (which also finds NaN and +inf), float32 exp2 weights a chunk of rows at a time, and a two-level (block, then
column) inverse-CDF draw equal in law to `random_draws.sample_categorical`.
"""

import math

import torch

BLOCK_COLUMNS = 64  # columns per block of the two-level (block, then column) searches
CHUNK_ELEMENTS = 1 << 19  # rows of logits are exponentiated in chunks of about this many entries
LOG2_E = math.log2(math.e)


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
