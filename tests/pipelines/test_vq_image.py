"""LSDVQImagePipeline with a tiny VQModel and a tiny class-conditional transformer built in code."""

import numpy as np
import PIL.Image
import pytest
import torch
from conftest import tiny_vq_pipeline

from lsd_schedulers import LSDDiscreteScheduler, LSDPlusScheduler, LSDVQImagePipeline

CODEBOOK = 16


@pytest.fixture
def pipe():
    return tiny_vq_pipeline(CODEBOOK)


def run(pipe, seed=0, **kwargs):
    settings = {"class_labels": [0, 2], "num_images_per_prompt": 2, "num_inference_steps": 4, **kwargs}
    return pipe(generator=torch.Generator().manual_seed(seed), **settings).images


def test_every_output_type(pipe):
    tokens = run(pipe, output_type="latent")
    assert tokens.shape == (4, 4, 4) and tokens.dtype == torch.long
    assert ((tokens >= 0) & (tokens < CODEBOOK)).all()  # every MASK was revealed
    images = run(pipe, output_type="pil")
    assert len(images) == 4 and all(isinstance(image, PIL.Image.Image) and image.size == (8, 8) for image in images)
    array = run(pipe, output_type="np")
    assert isinstance(array, np.ndarray) and array.shape == (4, 8, 8, 1) and 0 <= array.min() <= array.max() <= 1
    tensor = run(pipe, output_type="pt")
    assert tensor.shape == (4, 1, 8, 8)
    # the images are the decoded tokens: same generator, same tokens, same pixels
    decoded = pipe.vqvae.decode(tokens, force_not_quantize=True, shape=(4, 4, 4, 4)).sample.clamp(-1, 1)
    assert torch.allclose(tensor, (decoded + 1) / 2, atol=1e-6)


def test_same_generator_same_images_different_seed_differs(pipe):
    a, b, c = (
        run(pipe, 1, output_type="latent"),
        run(pipe, 1, output_type="latent"),
        run(pipe, 2, output_type="latent"),
    )
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_labels_reach_the_model_and_guidance_changes_the_samples(pipe):
    seen = []

    def record(module, args, kwargs, output):
        seen.append(kwargs["class_labels"])

    hook = pipe.transformer.register_forward_hook(record, with_kwargs=True)
    run(pipe, num_inference_steps=2, guidance_scale=1.0, output_type="latent")
    assert seen[0].tolist() == [0, 0, 2, 2] and len(seen) == 2  # one call per step without guidance
    seen.clear()
    run(pipe, num_inference_steps=2, guidance_scale=3.0, output_type="latent")
    hook.remove()
    assert seen[0].tolist() == [0, 0, 2, 2, 3, 3, 3, 3] and len(seen) == 2  # conditional and null-class rows
    # a strong guidance scale moves the samples away from the unguided ones
    assert not torch.equal(run(pipe, 5, output_type="latent"), run(pipe, 5, guidance_scale=8.0, output_type="latent"))


def test_unconditional_and_given_latents(pipe):
    tokens = pipe(num_images_per_prompt=3, num_inference_steps=3, output_type="latent").images
    assert tokens.shape == (3, 4, 4)
    start = torch.full((2, 4, 4), CODEBOOK)
    start[:, 0] = torch.tensor([1, 2, 3, 4])
    out = pipe(class_labels=1, num_images_per_prompt=2, num_inference_steps=3, latents=start, output_type="latent")
    assert torch.equal(out.images[:, 0], start[:, 0]) and (out.images < CODEBOOK).all()


def test_learned_scheduler_plugs_in_callback_and_round_trip(pipe, tmp_path):
    config = {k: v for k, v in pipe.scheduler.config.items() if not k.startswith("_")}
    pipe.scheduler = LSDPlusScheduler.from_config(
        {**config, "timesteps": [1.0, 0.5, 0.1, 0.0], "unmasking_order": "confidence"}
    )
    steps = []

    def callback(pipeline, index, t, tensors):
        steps.append((index, float(t), tensors["latents"].clone()))
        return {}

    pipe(class_labels=[1], num_inference_steps=None, output_type="latent", callback_on_step_end=callback)
    assert [t for _, t, _ in steps] == [1.0, 0.5, 0.1]
    pipe.save_pretrained(tmp_path)
    loaded = LSDVQImagePipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert isinstance(loaded.scheduler, LSDPlusScheduler) and loaded.scheduler.config.unmasking_order == "confidence"
    assert loaded.transformer.config.num_classes == 3
    assert torch.equal(
        run(pipe, 4, output_type="latent", num_inference_steps=None),
        run(loaded, 4, output_type="latent", num_inference_steps=None),
    )


def test_bad_arguments_are_rejected(pipe):
    with pytest.raises(ValueError, match="output_type must be one of"):
        run(pipe, output_type="jpeg")
    with pytest.raises(ValueError, match=r"class_labels must be non-empty and lie in \[0, 3\)"):
        run(pipe, class_labels=[3])
    with pytest.raises(ValueError, match="multiples of 2"):
        run(pipe, height=5)
    with pytest.raises(ValueError, match="latents must have shape"):
        run(pipe, latents=torch.full((1, 4, 4), CODEBOOK))
    pipe.scheduler = LSDDiscreteScheduler(vocab_size=CODEBOOK + 2, mask_token_id=CODEBOOK + 1)
    with pytest.raises(ValueError, match="codebook size"):
        run(pipe)


@pytest.mark.parametrize("order", ["spread", "spread_2d"])
def test_spread_orders_generate_deterministic_images(pipe, order):
    """The pipeline hands the scheduler the token grid, so the 2-D order needs no token_grid_shape."""
    pipe.scheduler = LSDDiscreteScheduler(vocab_size=CODEBOOK + 1, mask_token_id=CODEBOOK, unmasking_order=order)
    a, b = run(pipe, 3, output_type="latent"), run(pipe, 3, output_type="latent")
    assert torch.equal(a, b) and (a < CODEBOOK).all()
    assert not torch.equal(a, run(pipe, 4, output_type="latent"))
