"""Bad inputs to step(), set_timesteps() and add_noise(): a specific error, or the documented behaviour."""

import math

import pytest
import torch

from lsd_schedulers import LSDDiscreteScheduler

MASK = 8


def ready(steps=4, **fields):
    scheduler = LSDDiscreteScheduler(vocab_size=9, mask_token_id=MASK, **fields)
    scheduler.set_timesteps(steps)
    return scheduler


def logits(*shape):
    return torch.randn(*shape, 9, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    ("timestep", "message"),
    [
        (math.nan, "timestep must be a finite number"),
        (torch.tensor(math.nan), "timestep must be finite"),
        (torch.tensor([1.0, 0.5]), "per-row timesteps"),
        (torch.tensor([0.77, 0.77], dtype=torch.float64), "Timestep 0.77 is not one of"),
        (torch.tensor([]), "empty"),
        (0.3, "Timestep 0.3 is not one of"),
    ],
)
def test_timesteps_must_be_one_time_of_the_grid(timestep, message):
    with pytest.raises(ValueError, match=message):
        ready().step(logits(2, 3), timestep, torch.full((2, 3), MASK))


def test_per_row_timesteps_holding_one_time_are_accepted():
    scheduler = ready()
    out = scheduler.step(logits(2, 3), torch.tensor([1.0, 1.0]), torch.full((2, 3), MASK))
    assert out.prev_sample.shape == (2, 3)


@pytest.mark.parametrize(
    ("sample", "error", "message"),
    [
        (torch.zeros(2, 3), TypeError, "sample must be an integer tensor"),
        (torch.zeros(2, 3, dtype=torch.bool), TypeError, "sample must be an integer tensor"),
        ([[8, 8, 8]], TypeError, "sample must be a torch tensor"),
        (torch.tensor([[8, 9, 8]]), ValueError, r"outside the vocabulary \[0, 9\)"),
        (torch.tensor([[8, -1, 8]]), ValueError, r"outside the vocabulary"),
    ],
)
def test_samples_must_be_token_ids_of_the_vocabulary(sample, error, message):
    with pytest.raises(error, match=message):
        ready().step(logits(1, 3), 1.0, sample)


def test_int32_samples_are_widened_not_crashed():
    for order in ("random", "confidence", "spread"):
        out = ready(unmasking_order=order).step(logits(2, 3), 1.0, torch.full((2, 3), MASK, dtype=torch.int32))
        assert out.prev_sample.dtype == torch.int64


@pytest.mark.parametrize("order", ["random", "confidence", "spread"])
def test_an_empty_batch_returns_an_empty_batch(order):
    out = ready(unmasking_order=order).step(logits(0, 3), 1.0, torch.zeros(0, 3, dtype=torch.long))
    assert out.prev_sample.shape == (0, 3)


@pytest.mark.parametrize(
    ("output", "error", "message"),
    [
        ([[0.0] * 9] * 3, TypeError, "model_output must be a torch tensor"),
        (torch.zeros(2, 3, 8), ValueError, r"model_output has shape \(2, 3, 8\), expected \(2, 3, 9\)"),
        (torch.full((2, 3, 9), math.nan), ValueError, "model_output contains NaN"),
        (torch.full((2, 3, 9), math.inf), ValueError, r"model_output contains \+inf"),
    ],
)
def test_model_outputs_are_checked(output, error, message):
    with pytest.raises(error, match=message):
        ready().step(output, 1.0, torch.full((2, 3), MASK))


@pytest.mark.parametrize("generator", [0, "seed", [torch.Generator()], [0, 1]])
def test_generators_must_be_generators(generator):
    with pytest.raises((TypeError, ValueError), match="generator"):
        ready().step(logits(2, 3), 1.0, torch.full((2, 3), MASK), generator=generator)


@pytest.mark.parametrize("temperature", [math.nan, -1.0, (1.0, 2.0, 3.0), (1.0, math.inf), "hot"])
def test_temperatures_are_checked(temperature):
    with pytest.raises((TypeError, ValueError), match="temperature"):
        LSDDiscreteScheduler(vocab_size=9).set_timesteps(4, temperature=temperature)


@pytest.mark.parametrize("timesteps", [math.nan, -0.1, 1.5, torch.tensor([0.2, math.nan]), torch.ones(2, 2)])
def test_add_noise_rejects_times_outside_zero_one(timesteps):
    with pytest.raises(ValueError, match="timesteps must"):
        ready().add_noise(torch.zeros(2, 3, dtype=torch.long), timesteps)


def test_unscored_ids_get_probability_zero_with_full_width_logits():
    scheduler = LSDDiscreteScheduler(vocab_size=12, mask_token_id=11, scored_vocab_size=8)
    scheduler.set_timesteps(1)
    output = torch.zeros(200, 4, 12)
    output[..., 8:11] = 20.0  # the model's favourites are ids it does not score
    out = scheduler.step(output, 1.0, torch.full((200, 4), 11), torch.Generator().manual_seed(0)).prev_sample
    assert out.max() < 8


def test_uniform_noise_rejects_a_position_without_a_finite_logit():
    scheduler = LSDDiscreteScheduler(vocab_size=5, mask_token_id=None, forward_process="uniform")
    scheduler.set_timesteps(2)
    output = torch.zeros(1, 3, 5)
    output[0, 1] = -torch.inf
    with pytest.raises(ValueError, match="probability 0 to every token"):
        scheduler.step(output, 1.0, torch.zeros(1, 3, dtype=torch.long))


def test_huge_log_scores_still_leave_no_mask():
    scheduler = LSDDiscreteScheduler(vocab_size=5, prediction_type="log_score")
    scheduler.set_timesteps(2)
    sample, output = torch.full((4, 3), 4), torch.full((4, 3, 5), 720.0)
    for timestep in scheduler.timesteps:
        sample = scheduler.step(output, timestep, sample, torch.Generator().manual_seed(0)).prev_sample
    assert not (sample == 4).any()


def test_an_ambiguous_channels_layout_must_be_stated():
    """(B, H, W, V) logits with H = W = V also read as channels-first (B, V, H, W)."""
    sample = torch.full((1, 9, 9), MASK)
    output = torch.randn(1, 9, 9, 9, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="set logits_layout"):
        ready(3).step(output, 1.0, sample)
    last = ready(3, logits_layout="channels_last").step(output, 1.0, sample, torch.Generator().manual_seed(1))
    first = ready(3, logits_layout="channels_first").step(
        output.movedim(-1, 1), 1.0, sample, torch.Generator().manual_seed(1)
    )
    assert torch.equal(last.prev_sample, first.prev_sample)


def test_extreme_power_form_coefficients_sample_without_crashing():
    scheduler = LSDDiscreteScheduler(vocab_size=9, coefficient_form="power", coefficients=[1e-100, 1e-100, 1e3])
    scheduler.set_timesteps()
    sample = torch.full((3, 6), MASK)
    for timestep in scheduler.timesteps:
        sample = scheduler.step(logits(3, 6), timestep, sample, torch.Generator().manual_seed(0)).prev_sample
    assert not (sample == MASK).any()
