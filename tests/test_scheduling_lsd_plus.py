import json

import pytest
import torch

from lsd_schedulers import LSDDiscreteScheduler, LSDPlusScheduler
from lsd_schedulers.models import MarkovChainOracle, countdown_chain
from lsd_schedulers.sampling import generate

LEARNED = {"timesteps": [1.0, 0.93, 0.71, 0.38, 0.0], "coefficients": [1.1, 0.9, 1.3, 1.0]}


def test_learned_timesteps_drive_the_model_calls():
    scheduler = LSDPlusScheduler(vocab_size=9, **LEARNED)
    assert scheduler.config.num_inference_steps == 4
    scheduler.set_timesteps()
    assert scheduler.timesteps.tolist() == LEARNED["timesteps"][:-1]
    assert scheduler.schedule.tolist() == LEARNED["timesteps"]


def test_save_load_round_trip_keeps_timesteps_and_coefficients_bit_exact(tmp_path):
    generator = torch.Generator().manual_seed(0)
    inner = torch.rand(15, generator=generator, dtype=torch.float64).sort(descending=True).values.tolist()
    timesteps = [1.0, *inner, 0.0]
    coefficients = (torch.rand(16, generator=generator, dtype=torch.float64) + 0.5).tolist()
    LSDPlusScheduler(vocab_size=33, timesteps=timesteps, coefficients=coefficients).save_pretrained(tmp_path / "s")
    loaded = LSDPlusScheduler.from_pretrained(tmp_path, subfolder="s")
    assert loaded.config.timesteps == timesteps
    assert loaded.config.coefficients == coefficients
    loaded.set_timesteps()
    assert loaded.schedule.tolist() == timesteps


def test_conversion_between_lsd_and_lsd_plus():
    lsd = LSDDiscreteScheduler(vocab_size=9, coefficients=[0.8, 1.2], solver="euler")
    plus = LSDPlusScheduler.from_config(lsd.config)
    assert isinstance(plus, LSDPlusScheduler)
    assert plus.config.coefficients == [0.8, 1.2] and plus.config.solver == "euler"
    assert plus.config.timesteps is None
    back = LSDDiscreteScheduler.from_config(LSDPlusScheduler(vocab_size=9, **LEARNED).config)
    assert isinstance(back, LSDDiscreteScheduler)
    assert back.config.coefficients == LEARNED["coefficients"]


def test_without_learned_values_lsd_plus_samples_like_the_baseline():
    initial, transition = countdown_chain(8)
    oracle = MarkovChainOracle(initial, transition)
    a = generate(oracle, LSDDiscreteScheduler(vocab_size=9), (8, 32), 5, generator=torch.Generator().manual_seed(0))
    b = generate(oracle, LSDPlusScheduler(vocab_size=9), (8, 32), 5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("timesteps", "message"),
    [
        ([1.0, 0.5, 0.6, 0.0], "strictly decreasing"),
        ([1.0, 0.5, 0.5, 0.0], "strictly decreasing"),
        ([0.9, 0.5, 0.2, 0.0], "start at 1.0 and end at 0.0"),
        ([1.0, 0.5, 0.2, 0.1], "start at 1.0 and end at 0.0"),
        ([1.0, 0.5, float("nan"), 0.0], r"timesteps\[2\] must be a finite number"),
    ],
)
def test_invalid_learned_timesteps_are_rejected(timesteps, message):
    with pytest.raises(ValueError, match=message):
        LSDPlusScheduler(vocab_size=9, timesteps=timesteps)


def test_timesteps_length_must_match_the_step_count():
    with pytest.raises(ValueError, match=r"A schedule for 3 steps needs 4 times \(1, ..., 0\), got 5"):
        LSDPlusScheduler(vocab_size=9, num_inference_steps=3, timesteps=LEARNED["timesteps"])
    with pytest.raises(ValueError, match="Got 3 coefficients for num_inference_steps=4"):
        LSDPlusScheduler(vocab_size=9, timesteps=LEARNED["timesteps"], coefficients=[1.0, 1.0, 1.0])


def test_learned_timesteps_fix_the_step_count():
    scheduler = LSDPlusScheduler(vocab_size=9, timesteps=LEARNED["timesteps"])
    with pytest.raises(ValueError, match="learned values are for 4 steps, but 8 steps were requested"):
        scheduler.set_timesteps(8)


def test_invalid_timesteps_in_a_saved_config_are_rejected_on_load(tmp_path):
    LSDPlusScheduler(vocab_size=9, **LEARNED).save_pretrained(tmp_path)
    path = tmp_path / "scheduler_config.json"
    config = json.loads(path.read_text())
    config["timesteps"] = [1.0, 0.2, 0.71, 0.38, 0.0]
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="strictly decreasing"):
        LSDPlusScheduler.from_pretrained(tmp_path)
