import sys
from pathlib import Path

import torch

from lsd_schedulers import LSDPlusScheduler

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from common import variant  # noqa: E402


def test_variant_of_a_learned_sampler_keeps_its_schedule():
    learned = LSDPlusScheduler(vocab_size=5, mask_token_id=4, timesteps=[1.0, 0.7, 0.2, 0.0])
    confident = variant(learned, unmasking_order="confidence")
    assert isinstance(confident, LSDPlusScheduler) and confident.config.unmasking_order == "confidence"
    confident.set_timesteps()
    assert torch.allclose(confident.timesteps.double(), torch.tensor([1.0, 0.7, 0.2], dtype=torch.float64))
