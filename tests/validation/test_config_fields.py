"""Every scheduler config field against wrong types, NaN, inf, empty and extreme values: a specific error that names
the field, on construction and on loading a saved config file."""

import json
import math

import pytest
import torch

from lsd_schedulers import LSDDiscreteScheduler, LSDPlusScheduler

VALID = {"vocab_size": 9, "mask_token_id": 8}
WRONG_TYPES = ["1", [1.0], {"a": 1}, True]
# field -> values of the right type that are out of range, and whether None is allowed
NUMBERS = {
    "vocab_size": ([1, 0, -3], False),
    "noise_eps": ([0.0, 1.0, -0.1, math.nan, math.inf], False),
    "sigma_min": ([0.0, -1.0, math.nan, math.inf], False),
    "sigma_max": ([0.0, -1.0, math.nan, math.inf], False),
    "timestep_power": ([0.0, -1.0, math.nan, math.inf], False),
    "num_inference_steps": ([0, -2], True),
    "confidence_temperature": ([-0.5, math.nan, math.inf], False),
    "scored_vocab_size": ([0, -1, 9], True),
}


def build(**fields):
    return LSDDiscreteScheduler(**{**VALID, **fields})


@pytest.mark.parametrize("field", sorted(NUMBERS))
def test_numeric_fields_reject_wrong_types_with_their_name(field):
    for value in WRONG_TYPES + ([] if NUMBERS[field][1] else [None]):
        with pytest.raises((TypeError, ValueError), match=field):
            build(**{field: value})


@pytest.mark.parametrize("field", sorted(NUMBERS))
def test_numeric_fields_reject_out_of_range_values_with_their_name(field):
    for value in NUMBERS[field][0]:
        with pytest.raises(ValueError, match=field):
            build(**{field: value})


CHOICES = [
    "forward_process",
    "noise_schedule",
    "prediction_type",
    "solver",
    "timestep_spacing",
    "coefficient_form",
    "unmasking_order",
    "logits_layout",
]


@pytest.mark.parametrize("field", CHOICES)
def test_choice_fields_name_the_allowed_values(field):
    for value in ("nonsense", None, 3):
        with pytest.raises(ValueError, match=f"Unknown {field}"):
            build(**{field: value})


@pytest.mark.parametrize(
    ("coefficients", "error", "message"),
    [
        ([], ValueError, "coefficients must not be empty"),
        ("1.0", TypeError, "coefficients must be a list of numbers"),
        ([1.0, None], TypeError, r"coefficients\[1\] must be a finite number"),
        ([1.0, "2"], TypeError, r"coefficients\[1\] must be a finite number"),
        ([1.0, math.nan], ValueError, r"coefficients\[1\]"),
        ([1.0, -1.0], ValueError, r"coefficients\[1\] must be a finite number > 0"),
        ([1.0, 1e-320 * 0], ValueError, r"coefficients\[1\]"),
    ],
)
def test_coefficients_are_a_non_empty_list_of_positive_numbers(coefficients, error, message):
    with pytest.raises(error, match=message):
        build(coefficients=coefficients)


@pytest.mark.parametrize(
    ("timesteps", "error", "message"),
    [
        ([1.0, "0.5", 0.0], TypeError, r"timesteps\[1\]"),
        ([1.0, None, 0.0], TypeError, r"timesteps\[1\]"),
        ([], ValueError, "timesteps must not be empty"),
        ([1.0, math.inf, 0.0], ValueError, r"timesteps\[1\]"),
        ([1.0, 0.7, 0.8, 0.0], ValueError, "strictly decreasing"),
    ],
)
def test_learned_timesteps_are_validated(timesteps, error, message):
    with pytest.raises(error, match=message):
        LSDPlusScheduler(**VALID, timesteps=timesteps)


def test_a_grid_that_rounds_to_zero_is_refused_when_steps_are_set():
    scheduler = build(timestep_spacing="power", timestep_power=1e4)
    with pytest.raises(ValueError, match="timestep_power=10000.0 gives the grid .* not strictly decreasing"):
        scheduler.set_timesteps(4)


def test_token_grid_shape_and_mask_id_are_checked():
    for grid in ([3], [3, 0], [3, 2.5], "3x3"):
        with pytest.raises(ValueError, match="token_grid_shape"):
            build(token_grid_shape=grid)
    with pytest.raises(TypeError, match="mask_token_id must be an integer"):
        build(mask_token_id=7.5)


def test_scored_vocab_size_with_the_default_mask_id():
    scheduler = LSDDiscreteScheduler(vocab_size=10, scored_vocab_size=8)  # mask id defaults to 9
    assert scheduler.config.mask_token_id == 9
    with pytest.raises(ValueError, match="scored_vocab_size=10 needs absorbing noise and must not cover"):
        LSDDiscreteScheduler(vocab_size=10, scored_vocab_size=10)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('"some/other-repo"', "must hold a JSON object of config fields, got a JSON str"),
        ("[1, 2]", "must hold a JSON object of config fields, got a JSON list"),
    ],
)
def test_a_config_file_must_hold_a_json_object(tmp_path, content, message):
    (tmp_path / "scheduler_config.json").write_text(content)
    with pytest.raises(ValueError, match=message):
        LSDDiscreteScheduler.from_pretrained(tmp_path)


def test_fields_of_a_loaded_config_are_validated_like_constructor_arguments(tmp_path):
    build().save_pretrained(tmp_path)
    path = tmp_path / "scheduler_config.json"
    original = path.read_text()
    for field, value in (
        ("noise_eps", "0.001"),
        ("timestep_power", None),
        ("num_inference_steps", "4"),
        ("scored_vocab_size", "8"),
        ("confidence_temperature", None),
    ):
        config = json.loads(original)
        config[field] = value
        path.write_text(json.dumps(config))
        with pytest.raises((TypeError, ValueError), match=field):
            LSDDiscreteScheduler.from_pretrained(tmp_path)


def test_from_config_refuses_a_string():
    with pytest.raises(TypeError, match="from_config takes a config dict"):
        LSDDiscreteScheduler.from_config("some/repo")


def test_diffusers_contract_compatibles_len_and_init_noise_sigma():
    scheduler = build()
    assert set(scheduler.compatibles) == {LSDDiscreteScheduler, LSDPlusScheduler}
    assert len(scheduler) == 0
    scheduler.set_timesteps(10)
    assert len(scheduler) == 10 and scheduler.init_noise_sigma == 1.0
    assert torch.equal(scheduler.scale_model_input(torch.ones(2, 3, dtype=torch.long), 1.0), torch.ones(2, 3))
