import json
import subprocess
import sys

import pytest
import torch
from diffusers import DDPMScheduler

from lsd_schedulers import LSDDiscreteScheduler, LSDPlusScheduler
from lsd_schedulers.models import MarkovChainOracle, countdown_chain
from lsd_schedulers.sampling import generate

VOCAB = 9
MASK = 8


def make_scheduler(**overrides):
    config = {"vocab_size": VOCAB, "mask_token_id": MASK, **overrides}
    return LSDDiscreteScheduler(**config)


def random_logits(shape, seed=0):
    return torch.randn(*shape, VOCAB, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def countdown_oracle():
    initial, transition = countdown_chain(8)
    return MarkovChainOracle(initial, transition)


# ------------------------------------------------------------------------------------------------------------------
# diffusers contract
# ------------------------------------------------------------------------------------------------------------------


def test_save_load_round_trip_keeps_coefficients_bit_exact(tmp_path):
    coefficients = torch.rand(7, generator=torch.Generator().manual_seed(0), dtype=torch.float64).add(0.5).tolist()
    scheduler = make_scheduler(coefficients=coefficients, coefficient_form="power", solver="euler")
    scheduler.save_pretrained(tmp_path)
    loaded = LSDDiscreteScheduler.from_pretrained(tmp_path)
    assert loaded.config.coefficients == coefficients
    assert loaded.config.num_inference_steps == 7
    for key in ("vocab_size", "mask_token_id", "solver", "coefficient_form", "forward_process", "noise_schedule"):
        assert loaded.config[key] == scheduler.config[key]


def test_from_pretrained_reads_a_subfolder(tmp_path):
    make_scheduler(coefficients=[1.0, 0.5, 2.0]).save_pretrained(tmp_path / "scheduler")
    loaded = LSDDiscreteScheduler.from_pretrained(tmp_path, subfolder="scheduler")
    assert loaded.config.coefficients == [1.0, 0.5, 2.0]


def test_mask_token_id_defaults_to_the_last_id_and_is_saved_explicitly(tmp_path):
    scheduler = LSDDiscreteScheduler(vocab_size=VOCAB)
    assert scheduler.config.mask_token_id == VOCAB - 1
    scheduler.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "scheduler_config.json").read_text())
    assert saved["mask_token_id"] == VOCAB - 1
    assert "mask_token_id" not in saved.get("_use_default_values", [])


def test_tuple_and_dataclass_outputs_are_equal():
    scheduler = make_scheduler()
    scheduler.set_timesteps(4)
    sample = torch.full((2, 5), MASK)
    logits = random_logits((2, 5))
    t = scheduler.timesteps[0]
    as_dict = scheduler.step(logits, t, sample, generator=torch.Generator().manual_seed(3))
    as_tuple = scheduler.step(logits, t, sample, generator=torch.Generator().manual_seed(3), return_dict=False)
    assert isinstance(as_tuple, tuple)
    assert torch.equal(as_dict.prev_sample, as_tuple[0])
    assert torch.equal(as_dict.pred_original_sample, as_tuple[1])


def run(scheduler, denoiser, generator, batch_size=16, seq_len=32, steps=8):
    return generate(denoiser, scheduler, (batch_size, seq_len), steps, generator=generator)


@pytest.mark.parametrize("forward_process", ["absorbing", "uniform"])
def test_same_generator_same_samples_and_different_seeds_differ(forward_process, countdown_oracle):
    if forward_process == "absorbing":
        scheduler, denoiser = LSDDiscreteScheduler(vocab_size=9, mask_token_id=8), countdown_oracle
    else:
        initial, transition = countdown_chain(8)
        scheduler = LSDDiscreteScheduler(vocab_size=8, forward_process="uniform")
        denoiser = MarkovChainOracle(initial, transition, forward_process="uniform")
    first = run(scheduler, denoiser, torch.Generator().manual_seed(0))
    again = run(scheduler, denoiser, torch.Generator().manual_seed(0))
    other = run(scheduler, denoiser, torch.Generator().manual_seed(1))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_successive_batches_from_one_generator_differ(countdown_oracle):
    scheduler = make_scheduler()
    generator = torch.Generator().manual_seed(0)
    first = run(scheduler, countdown_oracle, generator)
    second = run(scheduler, countdown_oracle, generator)
    assert not torch.equal(first, second)


def test_per_sample_generators_make_each_row_reproducible(countdown_oracle):
    scheduler = make_scheduler()
    seeds = [5, 6, 7]
    batch = run(scheduler, countdown_oracle, [torch.Generator().manual_seed(s) for s in seeds], batch_size=3)
    for row, seed in enumerate(seeds):
        single = run(scheduler, countdown_oracle, [torch.Generator().manual_seed(seed)], batch_size=1)
        assert torch.equal(batch[row : row + 1], single)


def test_one_model_call_per_step_and_no_mask_left():
    calls = []

    def denoiser(sample, t):
        calls.append(float(t[0]))
        return random_logits(sample.shape, seed=len(calls))

    for solver in ("tweedie", "euler"):
        for scheduler in (
            make_scheduler(solver=solver, noise_schedule="cosine"),
            make_scheduler(solver=solver, coefficients=[0.3] * 6),
            make_scheduler(solver=solver, coefficients=[0.5, 2.0, 0.7, 1.5, 1.0, 0.4], coefficient_form="power"),
        ):
            calls.clear()
            out = generate(denoiser, scheduler, (4, 12), 6, generator=torch.Generator().manual_seed(0))
            assert len(calls) == 6
            assert calls[0] == 1.0 and all(a > b > 0 for a, b in zip(calls, calls[1:]))
            assert not (out == MASK).any()


def test_timesteps_are_floats_in_unit_interval_decreasing():
    for spacing in ("linear", "cosine", "power"):
        scheduler = make_scheduler(timestep_spacing=spacing, timestep_power=0.3)
        scheduler.set_timesteps(8)
        t = scheduler.timesteps
        assert t.dtype == torch.float64 and t.shape == (8,)
        assert t[0] == 1.0 and (t > 0).all() and (t[1:] < t[:-1]).all()
        assert scheduler.schedule[-1] == 0.0


def test_custom_timesteps_are_used():
    scheduler = make_scheduler()
    scheduler.set_timesteps(timesteps=[1.0, 0.6, 0.1])
    assert scheduler.num_inference_steps == 3
    assert scheduler.schedule.tolist() == [1.0, 0.6, 0.1, 0.0]


def test_add_noise_masks_the_expected_share():
    scheduler = make_scheduler()
    clean = torch.randint(0, MASK, (64, 256), generator=torch.Generator().manual_seed(0))
    noisy = scheduler.add_noise(clean, 0.3, generator=torch.Generator().manual_seed(1))
    masked_share = (noisy == MASK).double().mean().item()
    expected = 1 - scheduler.noise.alpha(torch.tensor(0.3)).item()
    # 16384 Bernoulli draws: standard error ~ 0.0036; allow 5 of them
    assert masked_share == pytest.approx(expected, abs=0.018)
    assert torch.equal(noisy[noisy != MASK], clean[noisy != MASK])


def test_add_noise_uniform_and_per_row_times():
    scheduler = LSDDiscreteScheduler(vocab_size=VOCAB, forward_process="uniform")
    clean = torch.zeros(2, 4096, dtype=torch.long)
    noisy = scheduler.add_noise(clean, torch.tensor([0.0, 1.0]), generator=torch.Generator().manual_seed(0))
    assert torch.equal(noisy[0], clean[0])
    # at t = 1 the token is uniform: about 1/9 of positions stay 0 (standard error ~0.005)
    assert (noisy[1] == 0).double().mean().item() == pytest.approx(1 / VOCAB + (1 - 1 / VOCAB) * 1e-3, abs=0.025)


# ------------------------------------------------------------------------------------------------------------------
# the math, through the scheduler
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("solver", ["tweedie", "euler"])
@pytest.mark.parametrize("noise_schedule", ["loglinear", "cosine", "geometric"])
@pytest.mark.parametrize("coefficient", [1.0, 0.6])
def test_share_of_masked_tokens_revealed_matches_the_formula(noise_schedule, coefficient, solver):
    scheduler = make_scheduler(noise_schedule=noise_schedule, coefficients=[coefficient] * 4, solver=solver)
    scheduler.set_timesteps(4)
    sample = torch.full((64, 256), MASK)
    index = 1
    t, s = scheduler.schedule[index], scheduler.schedule[index + 1]
    out = scheduler.step(
        random_logits((64, 256)), scheduler.timesteps[index], sample, torch.Generator().manual_seed(0)
    )
    alpha_t, alpha_s = scheduler.noise.alpha(t), scheduler.noise.alpha(s)
    if solver == "tweedie":
        expected = coefficient * float((alpha_s - alpha_t) / (1 - alpha_t))
    else:
        expected = min(1.0, coefficient * float((t - s) * scheduler.noise.sigma(t) * alpha_t / (1 - alpha_t)))
    revealed = (out.prev_sample != MASK).double().mean().item()
    # 16384 independent Bernoulli draws: standard error <= 0.0039; tolerance is 5 standard errors
    assert revealed == pytest.approx(expected, abs=0.02)


def test_euler_and_tweedie_give_identical_samples_for_absorbing_loglinear(countdown_oracle):
    tweedie = LSDDiscreteScheduler(vocab_size=9, solver="tweedie")
    euler = LSDDiscreteScheduler(vocab_size=9, solver="euler")
    a = run(tweedie, countdown_oracle, torch.Generator().manual_seed(4))
    b = run(euler, countdown_oracle, torch.Generator().manual_seed(4))
    assert torch.equal(a, b)


@pytest.mark.parametrize("form", ["linear", "power"])
def test_unit_coefficients_equal_the_baseline_exactly(form, countdown_oracle):
    baseline = LSDDiscreteScheduler(vocab_size=9)
    learned = LSDDiscreteScheduler(vocab_size=9, coefficients=[1.0] * 8, coefficient_form=form)
    a = run(baseline, countdown_oracle, torch.Generator().manual_seed(2))
    b = run(learned, countdown_oracle, torch.Generator().manual_seed(2))
    assert torch.equal(a, b)


def test_revealed_tokens_never_change_under_absorbing_noise(countdown_oracle):
    history = []
    generate(
        countdown_oracle,
        LSDDiscreteScheduler(vocab_size=9, coefficients=[1.7, 0.4, 1.2, 1.0, 0.8, 1.0], coefficient_form="power"),
        (8, 64),
        generator=torch.Generator().manual_seed(0),
        callback=lambda index, t, sample: history.append(sample.clone()),
    )
    for before, after in zip(history, history[1:]):
        revealed = before != 8
        assert torch.equal(after[revealed], before[revealed])


def test_power_form_sharpens_the_token_distribution():
    p0 = torch.tensor([0.5, 0.3, 0.2])
    logits = torch.full((20000, 1, VOCAB), -torch.inf)
    logits[..., :3] = p0.log()
    scheduler = make_scheduler(coefficients=[1.0, 2.0, 1.0], coefficient_form="power")
    scheduler.set_timesteps(3)
    t = scheduler.timesteps[1]
    out = scheduler.step(logits, t, torch.full((20000, 1), MASK), torch.Generator().manual_seed(0)).prev_sample
    revealed = out[out != MASK]
    frequencies = torch.bincount(revealed, minlength=3)[:3].double() / revealed.numel()
    expected = p0**2 / (p0**2).sum()  # temperature 1 / Phi
    # several thousand revealed draws: standard error < 0.01; tolerance 0.03
    torch.testing.assert_close(frequencies, expected.double(), atol=0.03, rtol=0)


def test_pred_original_sample_is_the_most_likely_token_at_masked_positions():
    scheduler = make_scheduler()
    scheduler.set_timesteps(2)
    sample = torch.tensor([[MASK, 3]])
    logits = random_logits((1, 2))
    out = scheduler.step(logits, 1.0, sample, torch.Generator().manual_seed(0))
    assert out.pred_original_sample[0, 0] == logits[0, 0, :MASK].argmax()
    assert out.pred_original_sample[0, 1] == 3


def test_log_score_models_sample_like_their_x0_equivalent(countdown_oracle):
    """A SEDD-style model that returns log scores gives the same samples as its x0 form."""
    x0_scheduler = LSDDiscreteScheduler(vocab_size=9)
    score_scheduler = LSDDiscreteScheduler(vocab_size=9, prediction_type="log_score")

    def score_model(sample, t):
        alpha = score_scheduler.noise.alpha(t[0])
        return countdown_oracle(sample).double() + torch.log(alpha / (1 - alpha))

    a = run(x0_scheduler, countdown_oracle, torch.Generator().manual_seed(9))
    b = run(score_scheduler, score_model, torch.Generator().manual_seed(9))
    assert (a != b).double().mean() < 0.01  # equal up to float32 rounding of the oracle's logits


# ------------------------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------------------------


def test_wrong_logits_shape_is_rejected():
    scheduler = make_scheduler()
    scheduler.set_timesteps(4)
    with pytest.raises(ValueError, match=r"model_output has shape \(2, 5, 8\), expected \(2, 5, 9\)"):
        scheduler.step(torch.zeros(2, 5, 8), 1.0, torch.full((2, 5), MASK))


def test_nan_or_inf_logits_are_rejected():
    scheduler = make_scheduler()
    scheduler.set_timesteps(4)
    logits = random_logits((1, 3))
    logits[0, 1, 2] = float("nan")
    with pytest.raises(ValueError, match="model_output contains NaN"):
        scheduler.step(logits, 1.0, torch.full((1, 3), MASK))
    logits[0, 1, 2] = float("inf")
    with pytest.raises(ValueError, match=r"model_output contains \+inf"):
        scheduler.step(logits, 1.0, torch.full((1, 3), MASK))


def test_tokens_outside_the_vocabulary_are_rejected():
    scheduler = make_scheduler()
    scheduler.set_timesteps(4)
    with pytest.raises(ValueError, match=r"outside the vocabulary \[0, 9\)"):
        scheduler.step(random_logits((1, 2)), 1.0, torch.tensor([[MASK, 9]]))
    with pytest.raises(TypeError, match="integer tensor of token ids"):
        scheduler.step(random_logits((1, 2)), 1.0, torch.zeros(1, 2))


def test_mask_id_outside_the_vocabulary_is_rejected():
    with pytest.raises(ValueError, match=r"mask_token_id 9 is outside the vocabulary \[0, 9\)"):
        LSDDiscreteScheduler(vocab_size=9, mask_token_id=9)
    with pytest.raises(ValueError, match="Uniform noise has no MASK token"):
        LSDDiscreteScheduler(vocab_size=9, forward_process="uniform", mask_token_id=3)


def test_unknown_options_are_rejected():
    with pytest.raises(ValueError, match="Unknown solver 'heun'"):
        make_scheduler(solver="heun")
    with pytest.raises(ValueError, match="Unknown coefficient_form 'exp'"):
        make_scheduler(coefficient_form="exp")
    with pytest.raises(ValueError, match="Unknown noise_schedule 'linear'"):
        make_scheduler(noise_schedule="linear")


def test_wrong_coefficient_count_is_rejected():
    with pytest.raises(ValueError, match="Got 3 coefficients for num_inference_steps=4"):
        make_scheduler(num_inference_steps=4, coefficients=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"coefficients\[1\] must be a finite number > 0"):
        make_scheduler(coefficients=[1.0, float("nan")])
    with pytest.raises(ValueError, match=r"coefficients\[1\] must be a finite number > 0"):
        make_scheduler(coefficients=[1.0, -0.5])


def test_step_count_that_learned_coefficients_do_not_cover_names_both_counts():
    scheduler = make_scheduler(coefficients=[1.0] * 8)
    with pytest.raises(ValueError, match="learned values are for 8 steps, but 16 steps were requested"):
        scheduler.set_timesteps(16)
    scheduler.set_timesteps()
    assert scheduler.num_inference_steps == 8


def test_bad_custom_schedules_are_rejected():
    scheduler = make_scheduler()
    with pytest.raises(ValueError, match="strictly decreasing"):
        scheduler.set_timesteps(timesteps=[1.0, 0.5, 0.7])
    with pytest.raises(ValueError, match="start at 1.0 and end at 0.0"):
        scheduler.set_timesteps(timesteps=[0.9, 0.5])
    with pytest.raises(ValueError, match="start at 1.0 and end at 0.0"):
        scheduler.set_timesteps(timesteps=[1.2, 0.5])
    with pytest.raises(ValueError, match="disagrees with 2 custom timesteps"):
        scheduler.set_timesteps(3, timesteps=[1.0, 0.5])


def test_step_before_set_timesteps_or_at_a_foreign_time_is_rejected():
    scheduler = make_scheduler()
    with pytest.raises(RuntimeError, match="Call set_timesteps"):
        scheduler.step(random_logits((1, 2)), 1.0, torch.full((1, 2), MASK))
    scheduler.set_timesteps(4)
    with pytest.raises(ValueError, match="Timestep 0.6 is not one of this scheduler's timesteps"):
        scheduler.step(random_logits((1, 2)), 0.6, torch.full((1, 2), MASK))


def test_corrupted_config_file_is_rejected(tmp_path):
    make_scheduler().save_pretrained(tmp_path)
    path = tmp_path / "scheduler_config.json"
    path.write_text(path.read_text()[:-20])
    with pytest.raises(OSError, match="not a valid JSON file"):
        LSDDiscreteScheduler.from_pretrained(tmp_path)


def test_config_with_invalid_values_is_rejected_on_load(tmp_path):
    make_scheduler(coefficients=[1.0, 1.0]).save_pretrained(tmp_path)
    path = tmp_path / "scheduler_config.json"
    config = json.loads(path.read_text())
    config["coefficients"] = [1.0, 1.0, 1.0]
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="Got 3 coefficients for num_inference_steps=2"):
        LSDDiscreteScheduler.from_pretrained(tmp_path)
    config["coefficients"] = "oops"
    path.write_text(json.dumps(config))
    with pytest.raises(TypeError, match="coefficients must be a list of numbers"):
        LSDDiscreteScheduler.from_pretrained(tmp_path)


def test_foreign_config_is_rejected(tmp_path):
    DDPMScheduler().save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="written for 'DDPMScheduler', not for an LSD scheduler"):
        LSDDiscreteScheduler.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="written for 'DDPMScheduler'"):
        LSDPlusScheduler.from_pretrained(tmp_path)


# ------------------------------------------------------------------------------------------------------------------
# confidence-ordered unmasking (MaskGIT)
# ------------------------------------------------------------------------------------------------------------------


def test_confidence_order_reveals_the_scheduled_count_of_most_confident_tokens():
    scheduler = make_scheduler(unmasking_order="confidence")
    scheduler.set_timesteps(4)
    logits = torch.zeros(2, 40, VOCAB)
    logits[:, :10, 3] = 12.0  # positions 0..9 are near certain, the others uniform over 8 tokens
    sample = torch.full((2, 40), MASK)
    out = scheduler.step(logits, 1.0, sample, generator=torch.Generator().manual_seed(0)).prev_sample
    revealed = out != MASK
    expected = 40 * float(scheduler.schedule[0] - scheduler.schedule[1]) / float(scheduler.schedule[0])
    assert all(int(row.sum()) in (int(expected), int(expected) + 1) for row in revealed)  # floor(E + u)
    assert revealed[:, :10].all() and (out[:, :10] == 3).all()


def test_confidence_order_keeps_the_expected_reveal_count():
    scheduler = make_scheduler(unmasking_order="confidence", confidence_temperature=1.0)
    scheduler.set_timesteps(3)
    t = scheduler.timesteps[1]
    counts = []
    for seed in range(200):
        sample = torch.full((1, 7), MASK)
        out = scheduler.step(random_logits((1, 7), seed), t, sample, torch.Generator().manual_seed(seed)).prev_sample
        counts.append(int((out != MASK).sum()))
    alpha_t, alpha_s = scheduler.noise.alpha(t), scheduler.noise.alpha(scheduler.schedule[2])
    expected = 7 * float((alpha_s - alpha_t) / (1 - alpha_t))
    # stochastic rounding: each count is floor or ceil of E, and the mean is E (200 draws, sd < 0.04)
    assert set(counts) <= {int(expected), int(expected) + 1}
    assert sum(counts) / len(counts) == pytest.approx(expected, abs=0.12)


def test_confidence_order_is_deterministic_and_leaves_no_mask(countdown_oracle):
    scheduler = LSDDiscreteScheduler(vocab_size=9, unmasking_order="confidence", confidence_temperature=0.5)
    a = run(scheduler, countdown_oracle, torch.Generator().manual_seed(0))
    b = run(scheduler, countdown_oracle, torch.Generator().manual_seed(0))
    c = run(scheduler, countdown_oracle, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not (a == 8).any()


def test_confidence_order_needs_absorbing_noise():
    with pytest.raises(ValueError, match="unmasking_order='confidence' needs absorbing noise"):
        LSDDiscreteScheduler(vocab_size=9, forward_process="uniform", unmasking_order="confidence")
    with pytest.raises(ValueError, match="Unknown unmasking_order 'entropy'"):
        make_scheduler(unmasking_order="entropy")


@pytest.mark.parametrize("solver", ["tweedie", "euler"])
@pytest.mark.parametrize("form", ["linear", "power"])
def test_masked_fast_path_has_the_law_of_the_general_step(solver, form):
    """The absorbing step skips unmasked and non-moving positions; its reveal share and token frequencies must
    match the general jump probabilities."""
    scheduler = make_scheduler(noise_schedule="cosine", solver=solver, coefficients=[1.3] * 4, coefficient_form=form)
    scheduler.set_timesteps(4)
    index = 1
    t, s = scheduler.schedule[index], scheduler.schedule[index + 1]
    logits = random_logits((1, 1)).expand(40000, 1, VOCAB)
    sample = torch.full((40000, 1), MASK)
    sample[:100] = 2  # revealed positions stay as they are
    out = scheduler.step(logits, scheduler.timesteps[index], sample, torch.Generator().manual_seed(0)).prev_sample
    assert (out[:100] == 2).all()
    jumps, _ = scheduler.jump_probabilities(logits[:1], sample[100:101], t, s, scheduler.step_coefficients[index])
    frequencies = torch.bincount(out[100:, 0], minlength=VOCAB).double() / 39900
    expected = jumps[0, 0].clone()
    expected[MASK] = 1 - expected.sum()
    # 39900 draws: standard errors below 0.0025; tolerance 0.01
    torch.testing.assert_close(frequencies, expected, atol=0.01, rtol=0)


def general_step(scheduler, logits, sample, index, generator):
    """The step through the full float64 jump probabilities (the path the fast one replaces)."""
    t, s = scheduler.schedule[index], scheduler.schedule[index + 1]
    jumps, x0_probs = scheduler.jump_probabilities(logits, sample, t, s, scheduler.step_coefficients[index])
    prev_sample = scheduler.sample_from_jumps(jumps, sample, generator, is_last_step=bool(s == 0), index=index)
    return prev_sample, scheduler._point_estimate(x0_probs, sample)


@pytest.mark.parametrize("solver", ["tweedie", "euler"])
@pytest.mark.parametrize("form", ["linear", "power"])
@pytest.mark.parametrize(
    ("order", "temperature"),
    [("random", 0.0), ("confidence", 0.0), ("confidence", 0.8), ("spread", 0.0), ("spread_2d", 0.0)],
)
def test_masked_fast_path_draws_the_samples_of_the_general_step(solver, form, order, temperature):
    """Same generator, same samples: the fast path draws the general path's uniforms and uses them the same way.

    Its float32 exponentials can only change a draw whose uniform lies within rounding of a boundary (or a
    confidence tie that rounding breaks); with these logits and seeds that does not happen. V = 200 is not a
    multiple of the 64-column blocks and the mask id sits inside one; power coefficients below and above 1.
    """
    vocab_size, mask = 200, 70
    scheduler = LSDDiscreteScheduler(
        vocab_size=vocab_size,
        mask_token_id=mask,
        solver=solver,
        coefficient_form=form,
        unmasking_order=order,
        confidence_temperature=temperature,
        coefficients=[1.3, 0.95, 1.6, 0.9, 1.2],
        noise_schedule="cosine",
        token_grid_shape=[5, 8],
    )
    scheduler.set_timesteps(5)
    logits_generator = torch.Generator().manual_seed(1)
    sample = torch.full((6, 40), mask)
    for index, timestep in enumerate(scheduler.timesteps):
        logits = 2 * torch.randn(6, 40, vocab_size, generator=logits_generator)
        fast = scheduler.step(logits, timestep, sample, torch.Generator().manual_seed(index))
        prev_sample, pred_original_sample = general_step(
            scheduler, logits, sample, index, torch.Generator().manual_seed(index)
        )
        assert torch.equal(fast.prev_sample, prev_sample)
        assert torch.equal(fast.pred_original_sample, pred_original_sample)
        sample = fast.prev_sample
    assert not (sample == mask).any()


@pytest.mark.parametrize("order", ["random", "confidence", "spread"])
def test_masked_fast_path_matches_the_general_step_for_an_oracle_and_per_row_generators(order, countdown_oracle):
    """Float64 logits with exact zeros (log 0 = -inf) and per-row generators, on the Markov-chain oracle."""
    scheduler = LSDDiscreteScheduler(vocab_size=9, unmasking_order=order, coefficients=[2.0, 0.6, 1.3, 1.0])
    scheduler.set_timesteps(4)
    sample = torch.full((5, 32), 8)
    for index, timestep in enumerate(scheduler.timesteps):
        logits = countdown_oracle(sample, timestep.expand(5))
        seeds = [10 * index + row for row in range(5)]
        fast = scheduler.step(logits, timestep, sample, [torch.Generator().manual_seed(seed) for seed in seeds])
        prev_sample, _ = general_step(
            scheduler, logits, sample, index, [torch.Generator().manual_seed(seed) for seed in seeds]
        )
        assert torch.equal(fast.prev_sample, prev_sample)
        sample = fast.prev_sample


def test_masked_position_without_a_finite_logit_is_rejected():
    scheduler = make_scheduler()
    scheduler.set_timesteps(4)
    logits = random_logits((1, 3))
    logits[0, 1, :MASK] = -torch.inf
    with pytest.raises(ValueError, match="probability 0 to every token at a masked position"):
        scheduler.step(logits, 1.0, torch.full((1, 3), MASK))


def test_amused_positional_order_is_read_and_ambiguous_calls_are_refused():
    scheduler = make_scheduler(unmasking_order="confidence")
    scheduler.set_timesteps(4, (2.0, 0.0), "cpu")  # AmusedPipeline: (steps, temperature, device)
    torch.testing.assert_close(scheduler.confidence_temperatures, torch.linspace(2, 0, 4, dtype=torch.float64))
    scheduler.set_timesteps(3, "cpu", [1.0, 0.6, 0.3])  # diffusers' order: (steps, device, timesteps)
    assert scheduler.timesteps.tolist() == [1.0, 0.6, 0.3] and scheduler.confidence_temperatures is None
    with pytest.raises(TypeError, match="two temperatures"):
        scheduler.set_timesteps(4, 2.0, temperature=1.0)
    with pytest.raises(TypeError, match="must be a device"):
        scheduler.set_timesteps(4, 2.0, [1.0, 0.5, 0.25, 0.1])


def test_importing_the_math_does_not_import_diffusers_or_transformers():
    """The package exports lazily: the noise schedules need torch only."""
    code = (
        "import sys, lsd_schedulers.noise_schedules, lsd_schedulers.time_grids, lsd_schedulers.transitions;"
        "print(sorted(m for m in ('diffusers', 'transformers', 'accelerate') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
    code = "import lsd_schedulers as l; print(l.LSDPlusScheduler.__name__, 'LSDPlusScheduler' in dir(l))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.stdout.split() == ["LSDPlusScheduler", "True"], result.stderr[-2000:]
