"""Our schedulers inside diffusers' AmusedPipeline (`pipe.scheduler = LSDDiscreteScheduler(...)`), tiny components."""

import numpy as np
import pytest
import torch
from conftest import tiny_amused

from lsd_schedulers import LSDDiscreteScheduler, LSDPlusScheduler


@pytest.mark.parametrize("order", ["random", "confidence", "spread", "spread_2d"])
def test_lsd_scheduler_drops_into_amused_pipeline(tmp_path, order):
    scheduler = LSDDiscreteScheduler(vocab_size=32, mask_token_id=31, noise_schedule="cosine", unmasking_order=order)
    pipe = tiny_amused(tmp_path, vocab_size=32, codebook_size=32, scheduler=scheduler)
    kwargs = {"prompt": "a cat", "height": 8, "width": 8, "num_inference_steps": 4, "guidance_scale": 2.0}
    latents = pipe(**kwargs, output_type="latent", generator=torch.Generator().manual_seed(0)).images
    assert latents.shape == (1, 8, 8) and not (latents == 31).any()
    again = pipe(**kwargs, output_type="latent", generator=torch.Generator().manual_seed(0)).images
    assert torch.equal(latents, again)
    image = pipe(**kwargs, output_type="np", generator=torch.Generator().manual_seed(0)).images
    assert image.shape == (1, 8, 8, 3) and np.isfinite(image).all()
    # AmusedPipeline passes its (2, 0) temperature positionally; it anneals the confidence noise
    torch.testing.assert_close(pipe.scheduler.confidence_temperatures, torch.linspace(2, 0, 4, dtype=torch.float64))


def test_amused_style_vocabulary_with_unscored_special_ids(tmp_path):
    """Like aMUSEd (codebook 8192, mask id 8255), the model scores fewer ids than it reads."""
    scheduler = LSDPlusScheduler(
        vocab_size=40,
        mask_token_id=39,
        scored_vocab_size=32,
        timesteps=[1.0, 0.9, 0.5, 0.0],
        coefficients=[1.0, 0.8, 1.0],
    )
    pipe = tiny_amused(tmp_path, vocab_size=40, codebook_size=32, scheduler=scheduler)
    latents = pipe(
        prompt="a dog",
        height=8,
        width=8,
        num_inference_steps=3,
        output_type="latent",
        generator=torch.Generator().manual_seed(1),
    ).images
    assert latents.max() < 32


def test_scored_vocab_size_must_leave_out_the_mask():
    with pytest.raises(ValueError, match="scored_vocab_size=40 needs absorbing noise and must not cover the mask id"):
        LSDDiscreteScheduler(vocab_size=40, mask_token_id=39, scored_vocab_size=40)
