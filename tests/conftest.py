import json
import shutil
from pathlib import Path

import torch
from diffusers import AmusedPipeline, UVit2DModel, VQModel
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import CLIPTextConfig, CLIPTextModelWithProjection, CLIPTokenizer, PreTrainedTokenizerFast

from lsd_schedulers import LSDDiscreteScheduler, LSDMaskedTextPipeline, LSDVQImagePipeline, MaskedDiffusionTransformer


class FixedLogitsDenoiser:
    """A deterministic stand-in model: logits depend on position and on the number of masked tokens."""

    def __init__(self, vocab_size: int, seq_len: int, seed: int = 0, mask_token_id: int | None = None):
        generator = torch.Generator().manual_seed(seed)
        self.table = torch.randn(seq_len, vocab_size, generator=generator) * 2
        self.mask_token_id = mask_token_id
        self.calls = 0

    def __call__(self, sample: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        logits = self.table.expand(sample.shape[0], -1, -1).clone()
        # depend on the state, so that different trajectories see different outputs
        logits += 0.1 * (sample.unsqueeze(-1) % 3).float()
        return logits


def publish_to_fake_hub(cache: Path, repo_id: str, folder: Path, ignore: tuple[str, ...] = ()) -> Path:
    """Lay `folder` out as the Hub cache does for `repo_id` (refs/main -> snapshot), so that offline loading by
    repo id (HF_HUB_OFFLINE=1, HF_HUB_CACHE=cache) finds it. Returns the snapshot folder."""
    revision = "0" * 40
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / revision
    shutil.copytree(folder, snapshot, ignore=shutil.ignore_patterns(*ignore))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot


# ----------------------------------------------------------------------------------------------------------------
# Tiny components of every supported model kind, built in code
# ----------------------------------------------------------------------------------------------------------------


def tiny_clip_tokenizer(folder):
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
        hidden_size=8,
        use_bias=False,
        hidden_dropout=0.0,
        cond_embed_dim=8,
        micro_cond_encode_dim=2,
        micro_cond_embed_dim=10,
        encoder_hidden_size=8,
        vocab_size=vocab_size,
        codebook_size=codebook_size,
        in_channels=8,
        block_out_channels=8,
        num_res_blocks=1,
        downsample=True,
        upsample=True,
        block_num_heads=1,
        num_hidden_layers=1,
        num_attention_heads=1,
        attention_dropout=0.0,
        intermediate_size=8,
        layer_norm_eps=1e-06,
        ln_elementwise_affine=True,
    )
    vqvae = VQModel(
        act_fn="silu",
        block_out_channels=[8],
        down_block_types=["DownEncoderBlock2D"],
        in_channels=3,
        latent_channels=8,
        layers_per_block=1,
        norm_num_groups=8,
        num_vq_embeddings=codebook_size,
        out_channels=3,
        sample_size=8,
        up_block_types=["UpDecoderBlock2D"],
        mid_block_add_attention=False,
        lookup_from_codebook=True,
    )
    text_encoder = CLIPTextModelWithProjection(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            hidden_size=8,
            intermediate_size=16,
            num_attention_heads=2,
            num_hidden_layers=1,
            pad_token_id=1,
            vocab_size=60,
            projection_dim=8,
        )
    )
    pipe = AmusedPipeline(
        vqvae=vqvae,
        tokenizer=tiny_clip_tokenizer(tmp_path),
        text_encoder=text_encoder,
        transformer=transformer,
        scheduler=scheduler,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


WORDS = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "far", "home"]
RESIDUES = list("ACDEFGHIKLMNPQRSTVWY")


def tiny_word_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {word: index for index, word in enumerate(WORDS)}
    vocab["[UNK]"], vocab["[MASK]"] = len(vocab), len(vocab) + 1
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", mask_token="[MASK]")


def tiny_text_pipeline() -> LSDMaskedTextPipeline:
    tokenizer = tiny_word_tokenizer()
    vocab_size, mask = len(tokenizer), tokenizer.mask_token_id
    torch.manual_seed(0)
    transformer = MaskedDiffusionTransformer(
        vocab_size, mask, max_seq_len=32, hidden_size=16, num_layers=1, num_heads=2
    )
    scheduler = LSDDiscreteScheduler(vocab_size=vocab_size, mask_token_id=mask)
    pipeline = LSDMaskedTextPipeline(transformer=transformer, tokenizer=tokenizer, scheduler=scheduler)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def tiny_vqvae(codebook: int = 16) -> VQModel:
    return VQModel(
        in_channels=1,
        out_channels=1,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        block_out_channels=(8, 8),
        layers_per_block=1,
        latent_channels=4,
        vq_embed_dim=4,
        sample_size=8,
        num_vq_embeddings=codebook,
        norm_num_groups=4,
        lookup_from_codebook=True,
    )


def tiny_vq_pipeline(codebook: int = 16, num_classes: int | None = 3) -> LSDVQImagePipeline:
    torch.manual_seed(0)
    transformer = MaskedDiffusionTransformer(
        codebook + 1, codebook, max_seq_len=16, hidden_size=16, num_layers=1, num_heads=2, num_classes=num_classes
    )
    scheduler = LSDDiscreteScheduler(vocab_size=codebook + 1, mask_token_id=codebook)
    pipeline = LSDVQImagePipeline(vqvae=tiny_vqvae(codebook), transformer=transformer, scheduler=scheduler)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def tiny_bert(folder: Path):
    """A BERT masked LM with AntiBERTy's vocabulary layout ([PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4),
    saved with its tokenizer to `folder`."""
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *RESIDUES]))
    tokenizer = BertTokenizer(str(folder / "vocab.txt"), do_lower_case=False)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=25,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    model = BertForMaskedLM(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model, tokenizer
