import math

import pytest
import torch

from lsd_schedulers import NoiseSchedule
from lsd_schedulers.block_kernels import block_maxima, row_argmax, sample_tilted_blocks, tilted_block_sums
from lsd_schedulers.random_draws import sample_categorical, uniform_noise
from lsd_schedulers.transitions import (
    euler_absorbing_jumps,
    euler_uniform_jumps,
    log_score_from_x0,
    transition_from_jumps,
    tweedie_absorbing_jumps,
    tweedie_uniform_jumps,
    x0_from_log_score,
    x0_probabilities_from_logits,
)

VOCAB = 6
MASK = VOCAB - 1


def random_x0_probs(shape, vocab_size, mask_token_id=None, seed=0):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(*shape, vocab_size, generator=generator, dtype=torch.float64)
    return x0_probabilities_from_logits(logits, mask_token_id)


def test_x0_probabilities_give_the_mask_column_zero():
    probs = random_x0_probs((2, 3), VOCAB, MASK)
    assert (probs[..., MASK] == 0).all()
    torch.testing.assert_close(probs.sum(-1), torch.ones(2, 3, dtype=torch.float64))


def test_euler_equals_tweedie_for_absorbing_loglinear():
    schedule = NoiseSchedule("loglinear")
    sample = torch.tensor([[MASK, 2, MASK, 0, MASK]])
    x0_probs = random_x0_probs((1, 5), VOCAB, MASK)
    for t, s in [(1.0, 0.9), (0.7, 0.3), (0.2, 0.05)]:
        t, s = torch.tensor(t, dtype=torch.float64), torch.tensor(s, dtype=torch.float64)
        alpha_t, alpha_s = schedule.alpha(t), schedule.alpha(s)
        tweedie = tweedie_absorbing_jumps(x0_probs, sample, alpha_t, alpha_s, MASK)
        log_score = log_score_from_x0(x0_probs, sample, alpha_t, "absorbing")
        euler = euler_absorbing_jumps(log_score, sample, schedule.sigma(t), t - s, MASK)
        torch.testing.assert_close(euler, tweedie, rtol=1e-12, atol=1e-12)
        # every masked position is revealed with probability (t - s) / t
        revealed = tweedie.sum(-1)[sample == MASK]
        torch.testing.assert_close(revealed, torch.full_like(revealed, float((t - s) / t)))


def test_euler_differs_from_tweedie_for_absorbing_cosine():
    schedule = NoiseSchedule("cosine")
    sample = torch.full((1, 4), MASK)
    x0_probs = random_x0_probs((1, 4), VOCAB, MASK)
    t, s = torch.tensor(0.8, dtype=torch.float64), torch.tensor(0.4, dtype=torch.float64)
    alpha_t, alpha_s = schedule.alpha(t), schedule.alpha(s)
    tweedie = tweedie_absorbing_jumps(x0_probs, sample, alpha_t, alpha_s, MASK)
    euler = euler_absorbing_jumps(
        log_score_from_x0(x0_probs, sample, alpha_t, "absorbing"), sample, schedule.sigma(t), t - s, MASK
    )
    assert (euler - tweedie).abs().max() > 1e-3


def test_revealed_positions_never_jump_under_absorbing_noise():
    sample = torch.tensor([[1, MASK, 3]])
    x0_probs = random_x0_probs((1, 3), VOCAB, MASK)
    jumps = tweedie_absorbing_jumps(x0_probs, sample, torch.tensor(0.5), torch.tensor(0.9), MASK)
    transition = transition_from_jumps(jumps, sample)
    assert transition[0, 0, 1] == 1 and transition[0, 2, 3] == 1
    assert transition[0, 1, MASK] == pytest.approx(1 - 0.8)


@pytest.mark.parametrize("schedule_name", ["loglinear", "geometric", "cosine"])
def test_uniform_euler_converges_to_tweedie_as_the_step_shrinks(schedule_name):
    schedule = NoiseSchedule(schedule_name)
    sample = torch.randint(0, VOCAB, (3, 4), generator=torch.Generator().manual_seed(1))
    x0_probs = random_x0_probs((3, 4), VOCAB, seed=2)
    t = torch.tensor(0.6, dtype=torch.float64)
    log_score = log_score_from_x0(x0_probs, sample, schedule.alpha(t), "uniform")
    errors = []
    for step in [1e-2, 1e-3, 1e-4]:
        s = t - step
        tweedie = tweedie_uniform_jumps(x0_probs, sample, schedule.alpha(t), schedule.alpha(s))
        euler = euler_uniform_jumps(log_score, sample, schedule.sigma(t), torch.tensor(step, dtype=torch.float64))
        errors.append(float((euler - tweedie).abs().max() / step))
    # first-order agreement: the difference per unit time shrinks linearly with the step (x10 per decade)
    assert errors[1] < errors[0] / 5 and errors[2] < errors[1] / 5


def test_uniform_tweedie_step_to_zero_is_the_x0_posterior():
    sample = torch.randint(0, VOCAB, (2, 3), generator=torch.Generator().manual_seed(3))
    x0_probs = random_x0_probs((2, 3), VOCAB, seed=4)
    jumps = tweedie_uniform_jumps(x0_probs, sample, torch.tensor(0.3, dtype=torch.float64), torch.tensor(1.0))
    torch.testing.assert_close(transition_from_jumps(jumps, sample), x0_probs)


@pytest.mark.parametrize("process", ["absorbing", "uniform"])
def test_score_and_x0_views_round_trip(process):
    mask = MASK if process == "absorbing" else None
    sample = torch.full((2, 3), MASK) if process == "absorbing" else torch.randint(0, VOCAB, (2, 3))
    x0_probs = random_x0_probs((2, 3), VOCAB, mask, seed=5)
    alpha_t = torch.tensor(0.35, dtype=torch.float64)
    log_score = log_score_from_x0(x0_probs, sample, alpha_t, process)
    torch.testing.assert_close(x0_from_log_score(log_score, sample, alpha_t, process, mask), x0_probs)


def test_transition_rescales_jumps_that_exceed_one():
    sample = torch.tensor([[0]])
    jumps = torch.tensor([[[0.0, 0.9, 0.6]]], dtype=torch.float64)
    transition = transition_from_jumps(jumps, sample)
    torch.testing.assert_close(transition, torch.tensor([[[0.0, 0.6, 0.4]]], dtype=torch.float64))


def test_sample_categorical_matches_the_probabilities():
    probs = torch.tensor([0.5, 0.0, 0.3, 0.2], dtype=torch.float64).expand(200_000, 4)
    draws = sample_categorical(probs, torch.Generator().manual_seed(0))
    frequencies = torch.bincount(draws, minlength=4).double() / draws.numel()
    # binomial standard error is at most sqrt(0.25 / 2e5) ~ 1.1e-3: allow 5 of them
    torch.testing.assert_close(frequencies, probs[0], atol=5.6e-3, rtol=0)
    assert frequencies[1] == 0


def test_sample_categorical_keeps_tiny_probabilities_that_float32_would_lose():
    probs = torch.tensor([1 - 1e-9, 1e-9], dtype=torch.float64).expand(4_000_000, 2)
    draws = sample_categorical(probs, torch.Generator().manual_seed(0))
    # expected 0.004 draws of the rare token; its count must be possible, and the common token dominates
    assert draws.sum() <= 3


def test_sample_categorical_is_deterministic_per_generator():
    probs = random_x0_probs((8, 16), VOCAB, seed=6)
    first = sample_categorical(probs, torch.Generator().manual_seed(11))
    again = sample_categorical(probs, torch.Generator().manual_seed(11))
    other = sample_categorical(probs, torch.Generator().manual_seed(12))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_per_row_generators_reproduce_single_row_draws():
    shape = (3, 5)
    rows = uniform_noise(shape, [torch.Generator().manual_seed(seed) for seed in (7, 8, 9)])
    for index, seed in enumerate((7, 8, 9)):
        single = uniform_noise((1, 5), torch.Generator().manual_seed(seed))
        assert torch.equal(rows[index : index + 1], single)
    assert rows.dtype == torch.float64
    with pytest.raises(ValueError, match="Got 2 generators for a batch of 3"):
        uniform_noise(shape, [torch.Generator(), torch.Generator()])


# ------------------------------------------------------------------------------------------------------------------
# the absorbing fast path's row-sparse helpers
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("vocab_size", [64, 200])
def test_block_maxima_are_the_maxima_of_each_run_of_columns_and_keep_nan(vocab_size):
    logits = torch.randn(5, vocab_size, generator=torch.Generator().manual_seed(0))
    maxima = block_maxima(logits, 64)
    assert maxima.shape == (5, -(-vocab_size // 64))
    for index in range(maxima.shape[1]):
        torch.testing.assert_close(maxima[:, index], logits[:, 64 * index : 64 * (index + 1)].amax(-1))
    logits[2, vocab_size - 1] = float("nan")
    assert torch.isnan(block_maxima(logits, 64).max())


@pytest.mark.parametrize(("vocab_size", "exclude"), [(256, 255), (256, 70), (200, 199), (200, 130), (9, 8)])
def test_row_argmax_is_the_first_argmax_without_the_excluded_column(vocab_size, exclude):
    # integer logits: many ties, so "first" matters; the excluded column is often the largest
    logits = torch.randint(0, 4, (300, vocab_size), generator=torch.Generator().manual_seed(1)).float()
    logits[::3, exclude] = 10.0
    logits[4] = -torch.inf  # a row with no finite entry: index 0, as torch.max
    rows = torch.arange(0, 300, 2)
    block = min(64, vocab_size)
    index, best = row_argmax(logits, rows, block_maxima(logits, block), block, exclude)
    reference = logits[rows].clone()
    reference[:, exclude] = -torch.inf
    expected_best, expected_index = reference.max(-1)
    assert torch.equal(index, expected_index) and torch.equal(best, expected_best)


@pytest.mark.parametrize("vocab_size", [256, 200])
@pytest.mark.parametrize("power", [1.0, 0.6, 1.7])
def test_tilted_draws_equal_sample_categorical_of_the_tilted_softmax(vocab_size, power):
    exclude = 70
    logits = 2 * torch.randn(500, vocab_size, generator=torch.Generator().manual_seed(2))
    rows = torch.arange(1, 500, 2)
    block = 64
    best_token, best = row_argmax(logits, rows, block_maxima(logits, block), block, exclude)
    (rest,) = tilted_block_sums(logits, rows, best, best_token, block, (power,), exclude)
    reference = logits[rows].double() * power
    reference[:, exclude] = -torch.inf
    # Z = 1 + R: the maximum's weight is 1, R the others
    torch.testing.assert_close(
        1 + rest.double().sum(-1), torch.exp(reference.logsumexp(-1) - power * best.double()), rtol=1e-6, atol=0
    )
    uniforms = uniform_noise((rows.numel(),), torch.Generator().manual_seed(3))
    draws = sample_tilted_blocks(logits, rows, best, best_token, block, rest, uniforms, power, exclude)
    expected = sample_categorical(torch.softmax(reference, -1), torch.Generator().manual_seed(3))
    # the same uniforms through the same inverse CDF: equal unless one falls within float32 rounding of a boundary
    assert torch.equal(draws, expected)


def test_tilted_sums_keep_the_precision_of_a_near_certain_row():
    logits = torch.tensor([[0.0, 30.0, 0.0, 2.0]])
    rows, best_token, best = torch.tensor([0]), torch.tensor([1]), torch.tensor([30.0])
    (rest,) = tilted_block_sums(logits, rows, best, best_token, 4, (1.0,), exclude=3)
    # R = 2 exp(-30) ~ 1.9e-13, far below float32's resolution of 1 + R
    torch.testing.assert_close(rest.double().sum(-1), torch.tensor([2 * math.exp(-30)], dtype=torch.float64))


def test_tilted_draws_never_pick_a_token_of_weight_zero():
    logits = torch.full((4, 200), -torch.inf)
    logits[:, [3, 64, 150]] = torch.tensor([0.0, 1.0, -2.0])
    logits[:, 199] = 5.0  # the excluded column
    rows = torch.arange(4)
    best_token, best = row_argmax(logits, rows, block_maxima(logits, 64), 64, 199)
    (rest,) = tilted_block_sums(logits, rows, best, best_token, 64, (1.0,), 199)
    largest_uniform = 1 - 2.0**-53
    uniforms = torch.tensor([0.0, 0.5, 0.99, largest_uniform], dtype=torch.float64)
    draws = sample_tilted_blocks(logits, rows, best, best_token, 64, rest, uniforms, 1.0, 199)
    assert set(draws.tolist()) <= {3, 64, 150} and draws[-1] == 150


def test_seeded_generators_repeat_per_step_and_differ_across_tags_steps_and_processes():
    """One formula seeds every resumable run's generators (distillation and teacher training)."""
    from lsd_schedulers.random_draws import seeded_generator

    def draw(*parts):
        return torch.rand(4, generator=seeded_generator(*parts))

    assert torch.equal(draw(3, 1, 7, 0), draw(3, 1, 7, 0))
    others = [draw(4, 1, 7, 0), draw(3, 2, 7, 0), draw(3, 1, 8, 0), draw(3, 1, 7, 1)]
    assert all(not torch.equal(draw(3, 1, 7, 0), other) for other in others)
    assert torch.isfinite(draw(2**62, 2**20, 2**30, 7)).all()  # large parts fold into the 63-bit seed range
