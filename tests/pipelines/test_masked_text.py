import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import publish_to_fake_hub, tiny_bert, tiny_text_pipeline

from lsd_schedulers import LSDDiscreteScheduler, LSDMaskedTextPipeline, LSDPlusScheduler


@pytest.fixture
def pipe():
    return tiny_text_pipeline()


def test_generates_sequences_and_texts(pipe):
    out = pipe(batch_size=3, seq_len=12, num_inference_steps=4, generator=torch.Generator().manual_seed(0))
    assert out.sequences.shape == (3, 12)
    assert not (out.sequences == pipe.tokenizer.mask_token_id).any()
    assert len(out.texts) == 3 and all(isinstance(text, str) for text in out.texts)
    seq_only = pipe(
        batch_size=3,
        seq_len=12,
        num_inference_steps=4,
        output_type="seq",
        return_dict=False,
        generator=torch.Generator().manual_seed(0),
    )
    assert torch.equal(seq_only[0], out.sequences) and seq_only[1] is None


def test_same_generator_same_text_different_seed_differs(pipe):
    a = pipe(batch_size=2, seq_len=16, num_inference_steps=4, generator=torch.Generator().manual_seed(1)).sequences
    b = pipe(batch_size=2, seq_len=16, num_inference_steps=4, generator=torch.Generator().manual_seed(1)).sequences
    c = pipe(batch_size=2, seq_len=16, num_inference_steps=4, generator=torch.Generator().manual_seed(2)).sequences
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_prompt_prefix_is_kept(pipe):
    out = pipe(batch_size=2, seq_len=10, num_inference_steps=3, prompt="the cat sat", generator=torch.Generator())
    prefix = torch.tensor(pipe.tokenizer("the cat sat", add_special_tokens=False)["input_ids"])
    assert torch.equal(out.sequences[:, :3], prefix.expand(2, 3))
    assert out.texts[0].startswith("the cat sat")


def test_infill_mask_generates_only_the_marked_positions(pipe):
    template = torch.tensor(pipe.tokenizer("the dog ran far home a cat sat", add_special_tokens=False)["input_ids"])
    infill = torch.zeros(8, dtype=torch.bool)
    infill[2:5] = True
    out = pipe(
        batch_size=2, input_ids=template, infill_mask=infill, num_inference_steps=3, generator=torch.Generator()
    )
    assert torch.equal(out.sequences[:, ~infill], template[~infill].expand(2, -1))
    assert not (out.sequences == pipe.tokenizer.mask_token_id).any()


def test_learned_scheduler_plugs_in_and_callback_sees_every_step(pipe):
    config = {k: v for k, v in pipe.scheduler.config.items() if not k.startswith("_")}
    pipe.scheduler = LSDPlusScheduler.from_config(
        {**config, "timesteps": [1.0, 0.8, 0.3, 0.0], "coefficients": [1.0, 1.2, 1.0]}
    )
    seen = []

    def callback(pipeline, step, timestep, tensors):
        seen.append((step, float(timestep), tensors["sample"].clone()))
        return tensors

    out = pipe(batch_size=2, seq_len=8, callback_on_step_end=callback, generator=torch.Generator().manual_seed(0))
    assert [s for s, _, _ in seen] == [0, 1, 2]
    assert [t for _, t, _ in seen] == [1.0, 0.8, 0.3]
    assert torch.equal(seen[-1][2], out.sequences)


def test_save_and_load_round_trip_keeps_the_scheduler(pipe, tmp_path):
    config = {k: v for k, v in pipe.scheduler.config.items() if not k.startswith("_")}
    pipe.scheduler = LSDPlusScheduler.from_config({**config, "timesteps": [1.0, 0.6, 0.0]})
    pipe.save_pretrained(tmp_path)
    loaded = LSDMaskedTextPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert isinstance(loaded.scheduler, LSDPlusScheduler)
    assert loaded.scheduler.config.timesteps == [1.0, 0.6, 0.0]
    a = pipe(batch_size=2, seq_len=8, generator=torch.Generator().manual_seed(3)).sequences
    b = loaded(batch_size=2, seq_len=8, generator=torch.Generator().manual_seed(3)).sequences
    assert torch.equal(a, b)


def test_bad_arguments_are_rejected(pipe):
    with pytest.raises(ValueError, match="Pass seq_len"):
        pipe(batch_size=1, num_inference_steps=2)
    with pytest.raises(ValueError, match="output_type must be 'text' or 'seq'"):
        pipe(batch_size=1, seq_len=4, num_inference_steps=2, output_type="pil")
    with pytest.raises(ValueError, match="Got 1 prompts for batch_size=2"):
        pipe(batch_size=2, prompt=["the cat"], seq_len=6, num_inference_steps=2)


def test_load_by_repo_id_through_a_snapshot(pipe, tmp_path):
    """diffusers refuses repo ids naming a non-diffusers library; our from_pretrained downloads the snapshot first."""
    pipe.save_pretrained(tmp_path / "saved")
    cache = tmp_path / "hub"
    publish_to_fake_hub(cache, "someone/tiny-text-pipe", tmp_path / "saved")
    code = (
        "import torch; from lsd_schedulers import LSDMaskedTextPipeline;"
        "p = LSDMaskedTextPipeline.from_pretrained('someone/tiny-text-pipe'); p.set_progress_bar_config(disable=True);"
        "print(p(batch_size=1, seq_len=5, num_inference_steps=2, output_type='seq').sequences.shape)"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2] / "src"), env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "torch.Size([1, 5])" in result.stdout


def test_spread_order_keeps_the_prompt_and_reveals_every_position(pipe):
    config = {k: v for k, v in pipe.scheduler.config.items() if not k.startswith("_")}
    pipe.scheduler = LSDDiscreteScheduler.from_config({**config, "unmasking_order": "spread"})
    out = pipe(batch_size=2, seq_len=12, num_inference_steps=4, prompt="the cat", generator=torch.Generator())
    prefix = torch.tensor(pipe.tokenizer("the cat", add_special_tokens=False)["input_ids"])
    assert torch.equal(out.sequences[:, :2], prefix.expand(2, 2))
    assert not (out.sequences == pipe.tokenizer.mask_token_id).any()


@pytest.fixture
def bert_pipe(tmp_path):
    model, tokenizer = tiny_bert(tmp_path / "bert")
    with torch.no_grad():  # make the special ids the model's favourites: suppression must still keep them out
        model.cls.predictions.decoder.bias[:4] = 8.0
    scheduler = LSDDiscreteScheduler(vocab_size=25, mask_token_id=4)
    pipeline = LSDMaskedTextPipeline(transformer=model, tokenizer=tokenizer, scheduler=scheduler)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def test_bert_style_prompts_get_their_special_tokens_and_special_ids_are_never_drawn(bert_pipe):
    out = bert_pipe(
        batch_size=4, seq_len=12, prompt="A C D", num_inference_steps=3, generator=torch.Generator().manual_seed(0)
    )
    sequences = out.sequences
    assert (sequences[:, 0] == 2).all() and (sequences[:, -1] == 3).all()  # [CLS] ... [SEP], kept
    assert sequences[:, 1:4].tolist() == [[5, 6, 7]] * 4  # the prompt after [CLS]
    assert (sequences[:, 1:-1] >= 5).all()  # no pad / unk / cls / sep / mask was sampled
    assert all("[CLS]" not in text and "[SEP]" not in text and text.startswith("A C D") for text in out.texts)
    allowed = bert_pipe(
        batch_size=4,
        seq_len=12,
        num_inference_steps=3,
        allow_special_tokens=True,
        generator=torch.Generator().manual_seed(0),
    ).sequences
    assert (allowed[:, 1:-1] < 4).any()  # the model's favourite special ids come back when allowed


def test_mismatched_mask_or_vocabulary_is_a_clear_error(bert_pipe):
    bert_pipe.scheduler = LSDDiscreteScheduler(vocab_size=25)  # default mask id 24 is the residue Y
    with pytest.raises(ValueError, match=r"mask_token_id 24 is not the tokenizer's mask id 4 \('\[MASK\]'\)"):
        bert_pipe(batch_size=1, seq_len=8, num_inference_steps=2)
    bert_pipe.scheduler = LSDDiscreteScheduler(vocab_size=20, mask_token_id=4)
    with pytest.raises(ValueError, match="tokenizer has 25 ids but the scheduler's vocab_size is 20"):
        bert_pipe(batch_size=1, seq_len=8, num_inference_steps=2)


def test_one_block_as_long_as_the_sequence_is_the_plain_run(pipe):
    kwargs = {"batch_size": 3, "seq_len": 12, "num_inference_steps": 4, "output_type": "seq"}
    plain = pipe(**kwargs, generator=torch.Generator().manual_seed(5))
    blocked = pipe(**kwargs, block_length=12, generator=torch.Generator().manual_seed(5))
    assert torch.equal(plain.sequences, blocked.sequences) and plain.nfe == blocked.nfe == 4


def test_blocks_are_generated_left_to_right_with_earlier_blocks_as_context(pipe):
    mask = pipe.tokenizer.mask_token_id
    inputs = []
    hook = pipe.transformer.register_forward_hook(lambda module, args, output: inputs.append(args[0].clone()))
    out = pipe(
        batch_size=2,
        seq_len=12,
        num_inference_steps=3,
        block_length=4,
        output_type="seq",
        generator=torch.Generator().manual_seed(0),
    )
    hook.remove()
    assert out.nfe == 9 and len(inputs) == 9 and not (out.sequences == mask).any()
    for call, seen in enumerate(inputs):
        block = call // 3
        assert not (seen[:, : 4 * block] == mask).any()  # earlier blocks are complete when a block starts
        assert (seen[:, 4 * (block + 1) :] == mask).all()  # later blocks are still masked
    # the model's input in block 1 holds block 0's final tokens: later blocks condition on earlier ones
    assert torch.equal(inputs[3][:, :4], out.sequences[:, :4])
