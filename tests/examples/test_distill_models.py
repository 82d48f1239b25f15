"""examples/distill.py on every supported model kind, with tiny components built in code (run in-process)."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from conftest import tiny_amused, tiny_bert, tiny_text_pipeline, tiny_vq_pipeline

from lsd_schedulers import LSDMaskedTextPipeline, LSDPlusScheduler, LSDVQImagePipeline, MaskedDiffusionTransformer
from lsd_schedulers.teachers import guess_model_type, load_teacher

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "--student_steps",
    "2",
    "--teacher_steps",
    "4",
    "--train_batch_size",
    "4",
    "--split_evaluations",
    "2",
    "--coefficient_rounds",
    "1",
    "--adam_steps_per_round",
    "2",
    "--eval_samples",
    "8",
    "--cpu",
]


def distill(arguments: list[str]) -> dict:
    spec = importlib.util.spec_from_file_location("distill_example", ROOT / "examples" / "distill.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(module.parse_args([*TINY, *arguments]))


def check_result(output: Path, result: dict) -> LSDPlusScheduler:
    scheduler = LSDPlusScheduler.from_pretrained(output)
    assert scheduler.config.num_inference_steps == 2 and len(scheduler.config.timesteps) == 3
    names = [row["sampler"] for row in result["rows"]]
    assert names[0] == "teacher" and any(name.startswith("lsd_plus (") for name in names)
    for row in result["rows"][1:]:
        assert row["metrics"]["path_kl"] >= 0 and row["metrics"]["path_kl_se"] >= 0 and row["metrics"]["entropy"] > 0
    assert "unmasking order" in (output / "README.md").read_text()
    return scheduler


def test_text_pipeline_with_prompts_from_a_csv_file_and_save_pipeline(tmp_path):
    tiny_text_pipeline().save_pretrained(tmp_path / "teacher")
    (tmp_path / "prompts.csv").write_text("prompt\nthe cat\na dog ran\n")
    output = tmp_path / "out"
    result = distill(
        [
            "--pretrained_model_name_or_path",
            str(tmp_path / "teacher"),
            "--seq_len",
            "12",
            "--prompts",
            str(tmp_path / "prompts.csv"),
            "--output_dir",
            str(output),
            "--save_pipeline",
        ]
    )
    scheduler = check_result(output, result)
    # the saved pipeline samples with the distilled scheduler inside
    pipe = LSDMaskedTextPipeline.from_pretrained(output / "pipeline")
    pipe.set_progress_bar_config(disable=True)
    assert isinstance(pipe.scheduler, LSDPlusScheduler)
    assert pipe.scheduler.config.timesteps == scheduler.config.timesteps
    out = pipe(batch_size=2, seq_len=12, prompt="the cat", generator=torch.Generator().manual_seed(0))
    assert out.nfe == 2 and all(text.startswith("the cat") for text in out.texts)


def test_prompts_are_kept_in_the_distillation_trajectories(tmp_path):
    pipe = tiny_text_pipeline()
    pipe.save_pretrained(tmp_path / "teacher")
    teacher = load_teacher(str(tmp_path / "teacher"), seq_len=10, prompts=["the cat", "a dog ran"])
    states = teacher.start_states(4, torch.Generator().manual_seed(0))
    prompt = pipe.tokenizer("the cat", add_special_tokens=False)["input_ids"]
    assert states[0, :2].tolist() == prompt and states[2, :2].tolist() == prompt  # rows cycle through the prompts
    assert (states[0, 2:] == pipe.tokenizer.mask_token_id).all()


def test_class_conditional_image_pipeline_with_class_labels_and_guidance(tmp_path):
    tiny_vq_pipeline().save_pretrained(tmp_path / "teacher")
    output = tmp_path / "out"
    result = distill(
        [
            "--pretrained_model_name_or_path",
            str(tmp_path / "teacher"),
            "--class_labels",
            "0",
            "2",
            "--guidance_scale",
            "3.0",
            "--output_dir",
            str(output),
            "--save_pipeline",
        ]
    )
    check_result(output, result)
    assert "classes [0, 2], guidance 3.0" in result["teacher"]
    pipe = LSDVQImagePipeline.from_pretrained(output / "pipeline")
    assert isinstance(pipe.scheduler, LSDPlusScheduler) and pipe.scheduler.config.token_grid_shape == [4, 4]
    teacher = load_teacher(str(tmp_path / "teacher"), class_labels=[0, 2])
    assert teacher.denoiser.labels_for(5, torch.device("cpu")).tolist() == [0, 2, 0, 2, 0]


def test_transformer_and_scheduler_folder_with_the_countdown_metrics(tmp_path):
    MaskedDiffusionTransformer(9, 8, max_seq_len=16, hidden_size=16, num_layers=1, num_heads=2).save_pretrained(
        tmp_path / "teacher" / "transformer"
    )
    from lsd_schedulers import LSDDiscreteScheduler

    LSDDiscreteScheduler(vocab_size=9, mask_token_id=8).save_pretrained(tmp_path / "teacher" / "scheduler")
    output = tmp_path / "out"
    result = distill(
        [
            "--pretrained_model_name_or_path",
            str(tmp_path / "teacher"),
            "--task",
            "countdown",
            "--num_states",
            "8",
            "--output_dir",
            str(output),
        ]
    )
    check_result(output, result)
    assert "violation_rate" in result["rows"][0]["metrics"]


@pytest.mark.parametrize("model_type", [None, "llada"])
def test_transformers_masked_lm_folder(tmp_path, model_type):
    tiny_bert(tmp_path / "bert")
    output = tmp_path / "out"
    arguments = [
        "--pretrained_model_name_or_path",
        str(tmp_path / "bert"),
        "--seq_len",
        "10",
        "--output_dir",
        str(output),
        "--save_pipeline",
    ]
    result = distill(arguments + (["--model_type", model_type] if model_type else []))
    check_result(output, result)
    assert f"({model_type or 'masked_lm'})" in result["teacher"]
    pipe = LSDMaskedTextPipeline.from_pretrained(output / "pipeline")
    pipe.set_progress_bar_config(disable=True)
    sequences = pipe(batch_size=3, seq_len=10, generator=torch.Generator().manual_seed(0)).sequences
    assert (sequences[:, 0] == 2).all() and (sequences[:, -1] == 3).all() and (sequences[:, 1:-1] >= 5).all()


def test_model_types_are_guessed_from_the_config():
    def config(model_type, architectures=None):
        return type("Config", (), {"model_type": model_type, "architectures": architectures})()

    assert guess_model_type(config("bert", ["BertForMaskedLM"])) == "masked_lm"
    assert guess_model_type(config("llada", ["LLaDAModelLM"])) == "llada"
    assert guess_model_type(config("custom", ["MDLMForDiffusion"])) == "mdlm"
    assert guess_model_type(config("sedd")) == "sedd"


def test_amused_pipeline_with_prompts(tmp_path):
    from lsd_schedulers import LSDDiscreteScheduler

    scheduler = LSDDiscreteScheduler(vocab_size=32, mask_token_id=31, noise_schedule="cosine")
    pipe = tiny_amused(tmp_path, vocab_size=32, codebook_size=32, scheduler=scheduler)
    pipe.save_pretrained(tmp_path / "teacher")
    (tmp_path / "prompts.txt").write_text("a cat\na dog\n")
    output = tmp_path / "out"
    result = distill(
        [
            "--pretrained_model_name_or_path",
            str(tmp_path / "teacher"),
            "--prompts",
            str(tmp_path / "prompts.txt"),
            "--guidance_scale",
            "2.0",
            "--seq_len",
            "16",
            "--output_dir",
            str(output),
        ]
    )
    scheduler = check_result(output, result)
    assert scheduler.config.mask_token_id == 31 and scheduler.config.token_grid_shape == [4, 4]
    with pytest.raises(ValueError, match="needs prompts"):
        load_teacher(str(tmp_path / "teacher"))


def test_block_decoding_learns_a_later_block_with_the_first_as_context(tmp_path):
    tiny_text_pipeline().save_pretrained(tmp_path / "teacher")
    output = tmp_path / "out"
    result = distill(
        [
            "--pretrained_model_name_or_path",
            str(tmp_path / "teacher"),
            "--seq_len",
            "12",
            "--block_length",
            "4",
            "--output_dir",
            str(output),
        ]
    )
    check_result(output, result)
    assert result["config"]["seq_len"] == 4 and "block 4:8" in result["teacher"]
    teacher = load_teacher(str(tmp_path / "teacher"), seq_len=12)
    from lsd_schedulers.teachers import block_teacher

    block = block_teacher(teacher, 4, 4, num_contexts=3)
    states = block.start_states(5, None)
    assert states.shape == (5, 4) and (states == 11).all()  # the block starts masked
    full = block.denoiser.full(states)
    assert not (full[:, :4] == 11).any() and (full[:, 8:] == 11).all()  # context block generated, later ones masked
    with pytest.raises(ValueError, match="fewer than two blocks"):
        block_teacher(teacher, 12, 4, num_contexts=2)


def test_results_file_records_the_search(tmp_path):
    output = tmp_path / "out"
    result = distill(["--num_states", "8", "--seq_len", "16", "--output_dir", str(output), "--skip_evaluation"])
    stored = json.loads((output / "distillation_results.json").read_text())
    assert stored["search"]["unmasking_order"] == result["search"]["unmasking_order"]
    assert "verified" in stored["search"] and stored["rows"] == []
