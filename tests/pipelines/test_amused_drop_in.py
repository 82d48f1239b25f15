"""Our schedulers inside diffusers' AmusedPipeline (`pipe.scheduler = LSDDiscreteScheduler(...)`), tiny components."""

import json

import numpy as np
import pytest
import torch
from diffusers import AmusedPipeline, UVit2DModel, VQModel
from transformers import CLIPTextConfig, CLIPTextModelWithProjection, CLIPTokenizer

from lsd_schedulers import LSDDiscreteScheduler, LSDPlusScheduler


def tiny_tokenizer(folder):
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in letters:
        vocab[letter] = len(vocab)
        vocab[letter + "</w>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=16)


def tiny_amused(tmp_path, vocab_size: int, codebook_size: int, scheduler):
    torch.manual_seed(0)
    transformer = UVit2DModel(
        hidden_size=8, use_bias=False, hidden_dropout=0.0, cond_embed_dim=8, micro_cond_encode_dim=2,
        micro_cond_embed_dim=10, encoder_hidden_size=8, vocab_size=vocab_size, codebook_size=codebook_size,
        in_channels=8, block_out_channels=8, num_res_blocks=1, downsample=True, upsample=True, block_num_heads=1,
        num_hidden_layers=1, num_attention_heads=1, attention_dropout=0.0, intermediate_size=8,
        layer_norm_eps=1e-06, ln_elementwise_affine=True,
    )  # fmt: skip
    vqvae = VQModel(
        act_fn="silu", block_out_channels=[8], down_block_types=["DownEncoderBlock2D"], in_channels=3,
        latent_channels=8, layers_per_block=1, norm_num_groups=8, num_vq_embeddings=codebook_size, out_channels=3,
        sample_size=8, up_block_types=["UpDecoderBlock2D"], mid_block_add_attention=False, lookup_from_codebook=True,
    )  # fmt: skip
    text_encoder = CLIPTextModelWithProjection(
        CLIPTextConfig(bos_token_id=0, eos_token_id=1, hidden_size=8, intermediate_size=16, num_attention_heads=2,
                       num_hidden_layers=1, pad_token_id=1, vocab_size=60, projection_dim=8)
    )  # fmt: skip
    pipe = AmusedPipeline(vqvae=vqvae, tokenizer=tiny_tokenizer(tmp_path), text_encoder=text_encoder,
                          transformer=transformer, scheduler=scheduler)  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    return pipe


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
    scheduler = LSDPlusScheduler(vocab_size=40, mask_token_id=39, scored_vocab_size=32,
                                 timesteps=[1.0, 0.9, 0.5, 0.0], coefficients=[1.0, 0.8, 1.0])  # fmt: skip
    pipe = tiny_amused(tmp_path, vocab_size=40, codebook_size=32, scheduler=scheduler)
    latents = pipe(prompt="a dog", height=8, width=8, num_inference_steps=3, output_type="latent",
                   generator=torch.Generator().manual_seed(1)).images  # fmt: skip
    assert latents.max() < 32


def test_scored_vocab_size_must_leave_out_the_mask():
    with pytest.raises(ValueError, match="scored_vocab_size=40 needs absorbing noise and must not cover the mask id"):
        LSDDiscreteScheduler(vocab_size=40, mask_token_id=39, scored_vocab_size=40)
