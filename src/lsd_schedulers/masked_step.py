"""The absorbing step from the logits of the masked rows only: the scheduler's fast path for x0 logits.

The general path (`LSDDiscreteScheduler.jump_probabilities`, then `sample_from_jumps`) builds float64 jump
probabilities over the whole `[B, L, V]`. Here only what its draws read is computed, with `block_kernels`: with
q = softmax(power * logits) over the ids but MASK (power = Phi_k in the power form, else 1), a masked position's jump
mass is scale * sum_y p_y^power (`masked_jump_mass`; 1 when the step commits) and its token is drawn from q.

Random-number contract with the general path: for the same generator this module draws the same uniforms, with the
same shapes and in the same order, and uses each one the same way:

- random order, and every step that commits (`random_draws.sample_jumps`): one move uniform per position, then one
  token uniform per position;
- `confidence` (`unmasking_orders.sample_confidence_ordered`): one count uniform per row, one token uniform per
  position, then (temperature > 0) one Gumbel uniform per position;
- `spread`, `spread_2d` (`unmasking_orders.sample_spread_ordered`): one count uniform per row, two shift uniforms per
  row, then one token uniform per position.

Only the arithmetic differs (float32 exponentials, block sums), so a result can differ from the general path's only
where a uniform falls within rounding of a boundary, or where the confidence order breaks a tie that rounding
decides. tests/test_scheduling_lsd.py compares the two paths sample for sample.
"""

from dataclasses import dataclass

import torch

from .block_kernels import BLOCK_COLUMNS, row_argmax, sample_tilted_blocks, tilted_block_sums
from .random_draws import gumbel_noise, uniform_noise
from .unmasking_orders import choose_most_confident, choose_spread, reveal_counts


@dataclass
class MaskedRows:
    """What every order's step reads of the masked rows of `[N, V]` logits.

    Args:
        rows (`torch.Tensor`): `[n]` indices of the masked positions.
        best_token (`torch.Tensor`): `[n]` their argmax over the ids but MASK.
        best_logit (`torch.Tensor`): `[n]` the logit of that argmax.
        scale (`torch.Tensor`): the step's jump mass divided by sum_y p_y^power (`masked_jump_mass`).
        power (`float`): the tilt of q (Phi_k in the power form, else 1).
        mask_token_id (`int`): the MASK id. block (`int`): columns per block of the kernels.
    """

    rows: torch.Tensor
    best_token: torch.Tensor
    best_logit: torch.Tensor
    scale: torch.Tensor
    power: float
    mask_token_id: int
    block: int


def masked_jump_mass(scale: torch.Tensor, sums: list[torch.Tensor] | None, power: float, shape) -> torch.Tensor:
    """The jump mass of each masked row: `scale` in the linear form, scale sum_y p_y^power in the power form.

    `sums` are `tilted_block_sums` for the powers (power, 1): Z_a = 1 + R_a, and sum_y p_y^power = Z_power / Z_1^power.
    """
    if power == 1:
        return scale.expand(shape)
    return scale * (1 + sums[0].double().sum(-1)) / (1 + sums[1].double().sum(-1)) ** power


def masked_step(
    logits: torch.Tensor,
    maxima: torch.Tensor,
    sample: torch.LongTensor,
    mask_token_id: int,
    scale: torch.Tensor,
    power: float = 1.0,
    order: str = "random",
    commit: bool = False,
    temperature: float = 0.0,
    grid: tuple[int, int] | None = None,
    generator: torch.Generator | list[torch.Generator] | None = None,
) -> tuple[torch.LongTensor, torch.LongTensor]:
    """One absorbing step from x0 logits, with the law and the draws of the general path.

    Args:
        logits (`torch.Tensor`): contiguous x0 logits `[N, V]`, N the number of positions of `sample`.
        maxima (`torch.Tensor`): `block_maxima(logits, min(BLOCK_COLUMNS, V))`.
        sample (`torch.LongTensor`): the tokens at time t.
        mask_token_id (`int`): the MASK id.
        scale (`torch.Tensor`): the jump mass divided by sum_y p_y^power (the scheduler's `_masked_jump_scale`).
        power (`float`, defaults to 1.0): Phi_k in the power form, else 1.
        order (`str`, defaults to `"random"`): the unmasking order.
        commit (`bool`, defaults to `False`): the last step, which reveals every masked position (in any order).
        temperature (`float`, defaults to 0.0): the Gumbel temperature of the confidence order.
        grid (`tuple[int, int]`, *optional*): the token grid of `spread_2d`.
        generator (`torch.Generator` or `list[torch.Generator]`, *optional*): the caller's randomness.

    Returns:
        `tuple`: `(prev_sample, pred_original_sample)`.
    """
    block = min(BLOCK_COLUMNS, logits.shape[-1])
    flat_sample = sample.reshape(-1)
    rows = (flat_sample == mask_token_id).nonzero().squeeze(-1)
    best_token, best_logit = row_argmax(logits, rows, maxima, block, mask_token_id)
    if bool(torch.isneginf(best_logit).any()):
        raise ValueError("The model gives probability 0 to every token at a masked position; cannot unmask it.")
    pred_original_sample = flat_sample.clone()
    pred_original_sample[rows] = best_token
    pred_original_sample = pred_original_sample.reshape(sample.shape)
    scale = torch.ones((), dtype=torch.float64) if commit else scale
    masked = MaskedRows(rows, best_token, best_logit, scale.to(sample.device), power, mask_token_id, block)
    if order == "confidence" and not commit:
        return confidence_ordered_step(logits, sample, masked, temperature, generator), pred_original_sample
    if order != "random" and not commit:
        return spread_ordered_step(logits, sample, masked, order, grid, generator), pred_original_sample
    return random_ordered_step(logits, sample, masked, commit, generator), pred_original_sample


def random_ordered_step(
    logits: torch.Tensor,
    sample: torch.LongTensor,
    masked: MaskedRows,
    commit: bool,
    generator: torch.Generator | list[torch.Generator] | None,
) -> torch.LongTensor:
    """`sample_jumps` from the logits of the masked rows: a move uniform per position, then a token uniform."""
    rows, block, mask_id = masked.rows, masked.block, masked.mask_token_id
    move_noise = uniform_noise(tuple(sample.shape), generator, sample.device).reshape(-1)[rows]
    token_noise = uniform_noise(tuple(sample.shape), generator, sample.device).reshape(-1)[rows]
    if masked.power != 1 and not commit:
        moves = power_form_moves(logits, masked, move_noise)
    else:
        moves = move_noise < masked.scale
    movers, mover_token, mover_logit = rows[moves], masked.best_token[moves], masked.best_logit[moves]
    sums = tilted_block_sums(logits, movers, mover_logit, mover_token, block, (masked.power,), mask_id)[0]
    prev_sample = sample.reshape(-1).clone()
    prev_sample[movers] = sample_tilted_blocks(
        logits, movers, mover_logit, mover_token, block, sums, token_noise[moves], masked.power, mask_id
    )
    return prev_sample.reshape(sample.shape)


def power_form_moves(logits: torch.Tensor, masked: MaskedRows, move_noise: torch.Tensor) -> torch.Tensor:
    """Which masked rows jump, u < scale sum_y p_y^power, in the power form with random order.

    sum_y p_y^power = Z_power / Z_1^power needs a second pass over the logits; bounds in p_max = 1 / Z_1 settle
    most rows without it, and only the rows whose uniform falls between them (widened by 1e-3 for rounding) get
    the exact value.

    Args:
        logits (`torch.Tensor`): x0 logits `[N, V]`.
        masked (`MaskedRows`): the masked rows.
        move_noise (`torch.Tensor`): `[n]` the rows' move uniforms.
    """
    rows, best_token, best_logit = masked.rows, masked.best_token, masked.best_logit
    scale, power, block, mask_id = masked.scale, masked.power, masked.block, masked.mask_token_id
    # Z_1 = 1 + R_1: the maximum's weight exp(l_y - max) is 1, R_1 sums the others; p_max = 1 / Z_1
    rest = tilted_block_sums(logits, rows, best_logit, best_token, block, (1.0,), mask_id)[0]
    plain = 1 + rest.double().sum(-1)
    p_max = 1 / plain
    if power > 1:
        # p_max^power <= sum_y p_y^power <= p_max^(power - 1) sum_y p_y
        low, high = p_max**power, p_max ** (power - 1)
    else:
        # p_max^(power - 1) <= sum_y p_y^power <= K^(1 - power), K <= V - 1 tokens (concavity)
        low, high = p_max ** (power - 1), torch.full_like(p_max, (logits.shape[-1] - 1) ** (1 - power))
    moves = move_noise < scale * low * (1 - 1e-3)
    undecided = (~moves & (move_noise < scale * high * (1 + 1e-3))).nonzero().squeeze(-1)
    rest = tilted_block_sums(
        logits, rows[undecided], best_logit[undecided], best_token[undecided], block, (power,), mask_id
    )[0]
    # scale sum_y p_y^power = scale Z_power / Z_1^power
    moves[undecided] = move_noise[undecided] < scale * (1 + rest.double().sum(-1)) / plain[undecided] ** power
    return moves


def confidence_ordered_step(
    logits: torch.Tensor,
    sample: torch.LongTensor,
    masked: MaskedRows,
    temperature: float,
    generator: torch.Generator | list[torch.Generator] | None,
) -> torch.LongTensor:
    """`sample_confidence_ordered` from the logits of the masked rows: the same uniforms, count and ranking.

    Args:
        logits (`torch.Tensor`): x0 logits `[N, V]`.
        sample (`torch.LongTensor`): the tokens at time t.
        masked (`MaskedRows`): the masked rows.
        temperature (`float`): the Gumbel temperature.
        generator (`torch.Generator` or `list[torch.Generator]`, *optional*): the caller's randomness.
    """
    rows, best_token, best_logit, power = masked.rows, masked.best_token, masked.best_logit, masked.power
    block, mask_id, device = masked.block, masked.mask_token_id, sample.device
    flat_sample = sample.reshape(sample.shape[0], -1)
    count_noise = uniform_noise(flat_sample.shape[:1], generator, device)
    token_noise = uniform_noise(tuple(flat_sample.shape), generator, device).reshape(-1)[rows]
    gumbel = gumbel_noise(tuple(flat_sample.shape), generator, device) if temperature > 0 else None

    powers = (power,) if power == 1 else (power, 1.0)
    sums = tilted_block_sums(logits, rows, best_logit, best_token, block, powers, mask_id)
    candidates = sample_tilted_blocks(
        logits, rows, best_logit, best_token, block, sums[0], token_noise, power, mask_id
    )
    # log q(y) = power (l_y - max) - log Z_power = power (l_y - max) - log1p(R_power)
    log_q = power * (logits[rows, candidates].double() - best_logit.double()) - torch.log1p(sums[0].double().sum(-1))

    reveal = scatter_rows(masked_jump_mass(masked.scale, sums, power, rows.shape), rows, flat_sample.shape, 0.0)
    confidence = scatter_rows(log_q, rows, flat_sample.shape, -torch.inf)
    if gumbel is not None:
        confidence = confidence + temperature * gumbel
    eligible = (flat_sample == mask_id) & (reveal > 0)
    chosen = choose_most_confident(confidence, eligible, reveal_counts(reveal, eligible, count_noise)).view(-1)
    proposal = flat_sample.reshape(-1).clone()
    proposal[rows] = candidates
    return torch.where(chosen, proposal, flat_sample.reshape(-1)).reshape(sample.shape)


def spread_ordered_step(
    logits: torch.Tensor,
    sample: torch.LongTensor,
    masked: MaskedRows,
    order: str,
    grid: tuple[int, int] | None,
    generator: torch.Generator | list[torch.Generator] | None,
) -> torch.LongTensor:
    """`sample_spread_ordered` from the logits of the masked rows: the same uniforms, count and positions.

    Only the chosen rows get a token; in the power form every masked row's jump mass scale sum_y p_y^power is
    needed for the count.

    Args:
        logits (`torch.Tensor`): x0 logits `[N, V]`.
        sample (`torch.LongTensor`): the tokens at time t.
        masked (`MaskedRows`): the masked rows.
        order (`str`): `"spread"` or `"spread_2d"`. grid (`tuple[int, int]`, *optional*): the grid of `spread_2d`.
        generator (`torch.Generator` or `list[torch.Generator]`, *optional*): the caller's randomness.
    """
    rows, best_token, best_logit, power = masked.rows, masked.best_token, masked.best_logit, masked.power
    block, mask_id, device = masked.block, masked.mask_token_id, sample.device
    flat_sample = sample.reshape(sample.shape[0], -1)
    count_noise = uniform_noise(flat_sample.shape[:1], generator, device)
    shift_noise = uniform_noise((flat_sample.shape[0], 2), generator, device)
    token_noise = uniform_noise(tuple(flat_sample.shape), generator, device).reshape(-1)

    sums = None
    if power != 1:  # the count needs every masked row's jump mass
        sums = tilted_block_sums(logits, rows, best_logit, best_token, block, (power, 1.0), mask_id)
    reveal = scatter_rows(masked_jump_mass(masked.scale, sums, power, rows.shape), rows, flat_sample.shape, 0.0)
    eligible = (flat_sample == mask_id) & (reveal > 0)
    chosen = choose_spread(order, reveal, eligible, grid, count_noise, shift_noise).view(-1)[rows]
    movers, mover_token, mover_logit = rows[chosen], best_token[chosen], best_logit[chosen]
    if sums is None:
        mover_sums = tilted_block_sums(logits, movers, mover_logit, mover_token, block, (power,), mask_id)[0]
    else:
        mover_sums = sums[0][chosen]
    prev_sample = flat_sample.reshape(-1).clone()
    prev_sample[movers] = sample_tilted_blocks(
        logits, movers, mover_logit, mover_token, block, mover_sums, token_noise[movers], power, mask_id
    )
    return prev_sample.reshape(sample.shape)


def scatter_rows(values: torch.Tensor, rows: torch.Tensor, shape: tuple[int, ...], fill: float) -> torch.Tensor:
    """A float64 tensor of `shape` holding `values` at the flat positions `rows` and `fill` elsewhere."""
    out = torch.full((torch.Size(shape).numel(),), fill, dtype=torch.float64, device=values.device)
    return out.index_put_((rows,), values.double()).view(shape)
