"""Bad inputs to the text and image pipelines: a specific error, never a silent wrong answer."""

import math

import pytest
import torch
from conftest import tiny_text_pipeline, tiny_vq_pipeline

from lsd_schedulers import LSDDiscreteScheduler

CODEBOOK = 16


@pytest.fixture
def text():
    return tiny_text_pipeline()


@pytest.fixture
def image():
    return tiny_vq_pipeline(CODEBOOK)


def test_text_input_ids_must_be_integer_ids_of_the_vocabulary(text):
    with pytest.raises(TypeError, match="input_ids must be an integer tensor"):
        text(batch_size=1, input_ids=torch.tensor([[1.7, 2.0, 11.0]]), num_inference_steps=2)
    with pytest.raises(ValueError, match=r"input_ids holds token ids in \[1, 40\], outside the vocabulary \[0, 12\)"):
        text(batch_size=1, input_ids=torch.tensor([[1, 40, 11]]), num_inference_steps=2)
    with pytest.raises(ValueError, match="seq_len=8 disagrees with input_ids of length 3"):
        text(batch_size=1, seq_len=8, input_ids=torch.tensor([[1, 11, 11]]), num_inference_steps=2)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        text(batch_size=0, seq_len=8, num_inference_steps=2)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        text(batch_size=1, seq_len=8, num_inference_steps=2, generator=3)


def test_text_callback_cannot_change_kept_positions(text):
    template = torch.tensor(text.tokenizer("the cat sat", add_special_tokens=False)["input_ids"] + [11] * 5)

    def scribble(pipe, step, timestep, tensors):
        return {"sample": torch.zeros_like(tensors["sample"])}

    out = text(batch_size=2, input_ids=template, num_inference_steps=3, callback_on_step_end=scribble)
    assert torch.equal(out.sequences[:, :3], template[:3].expand(2, 3))


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"height": 0, "width": 0}, ValueError, "height must be an integer >= 2"),
        ({"height": 7}, ValueError, "multiples of 2"),
        ({"class_labels": [1.7]}, ValueError, r"class_labels must be integers, got \[1.7"),
        ({"class_labels": [5]}, ValueError, r"class_labels must be non-empty and lie in \[0, 3\)"),
        ({"guidance_scale": math.nan}, ValueError, "guidance_scale must be a finite number"),
        ({"num_images_per_prompt": 0}, ValueError, "num_images_per_prompt must be an integer >= 1"),
        ({"latents": torch.zeros(1, 4, 4)}, TypeError, "latents must be an integer tensor"),
        ({"latents": torch.full((1, 4, 4), 40)}, ValueError, r"latents holds token ids in \[40, 40\]"),
    ],
)
def test_image_arguments_are_checked(image, arguments, error, message):
    settings = {"class_labels": [0], "num_inference_steps": 2, "output_type": "latent", **arguments}
    with pytest.raises(error, match=message):
        image(**settings)


def test_image_pipeline_refuses_a_scheduler_that_does_not_fit(image):
    image.scheduler = LSDDiscreteScheduler(vocab_size=CODEBOOK + 1, mask_token_id=3)
    with pytest.raises(ValueError, match="scheduler's mask_token_id 3 must be the id after the codebook"):
        image(class_labels=[0], num_inference_steps=2, output_type="latent")
    image.scheduler = LSDDiscreteScheduler(vocab_size=CODEBOOK + 1, mask_token_id=None, forward_process="uniform")
    with pytest.raises(ValueError, match="needs an absorbing"):
        image(class_labels=[0], num_inference_steps=2, output_type="latent")


def test_image_callback_cannot_change_given_tokens(image):
    start = torch.full((1, 4, 4), CODEBOOK)
    start[0, 0] = torch.tensor([1, 2, 3, 4])

    def scribble(pipe, step, timestep, tensors):
        return {"latents": torch.zeros_like(tensors["latents"])}

    out = image(
        class_labels=[0], latents=start, num_inference_steps=2, output_type="latent", callback_on_step_end=scribble
    ).images
    assert torch.equal(out[0, 0], start[0, 0])
