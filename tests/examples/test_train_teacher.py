"""examples/train_teacher.py on tiny settings: both modes train, save a loadable teacher, and resume exactly."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lsd_schedulers import LSDDiscreteScheduler, LSDMaskedTextPipeline, LSDVQImagePipeline, MaskedDiffusionTransformer
from lsd_schedulers.models import ImageClassifier
from lsd_schedulers.sampling import generate

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "train_teacher.py"
TINY_MODEL = [
    "--hidden_size",
    "16",
    "--num_layers",
    "1",
    "--num_heads",
    "2",
    "--train_batch_size",
    "4",
    "--lr_warmup_steps",
    "1",
    "--cpu",
]
PARAGRAPH = "The quick brown fox jumps over the lazy dog. A cat sat on the mat and looked at the moon.\n\n"


def train(args: list[str]) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *TINY_MODEL, *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr


def weights(folder: Path) -> dict:
    return load_file(folder / "transformer" / "diffusion_pytorch_model.safetensors")


@pytest.mark.slow
def test_countdown_teacher_trains_saves_and_resumes_exactly(tmp_path):
    countdown = [
        "--mode",
        "countdown",
        "--num_states",
        "8",
        "--seq_len",
        "16",
        "--checkpointing_steps",
        "2",
        "--max_train_steps",
        "4",
    ]
    train([*countdown, "--output_dir", str(tmp_path / "full")])
    assert (tmp_path / "full" / "README.md").read_text().count("examples/train_teacher.py") == 1

    # a run that died after its step-2 checkpoint: only that checkpoint is left; resuming must reach the same weights
    shutil.copytree(
        tmp_path / "full" / "checkpoints" / "checkpoint-2", tmp_path / "resumed" / "checkpoints" / "checkpoint-2"
    )
    log = train([*countdown, "--output_dir", str(tmp_path / "resumed"), "--resume_from_checkpoint", "latest"])
    assert "at step 2" in log
    full, resumed = weights(tmp_path / "full"), weights(tmp_path / "resumed")
    assert all(torch.equal(full[name], resumed[name]) for name in full)

    model = MaskedDiffusionTransformer.from_pretrained(tmp_path / "resumed" / "transformer")
    scheduler = LSDDiscreteScheduler.from_pretrained(tmp_path / "resumed" / "scheduler")
    samples = generate(lambda x, t: model(x, t).logits, scheduler, (2, 16), 4, generator=torch.Generator())
    assert samples.shape == (2, 16) and not (samples == 8).any()


@pytest.mark.slow
def test_a_committed_teacher_folder_alone_resumes_its_run(tmp_path):
    """A fresh clone has the saved teacher and its training_state.json but no checkpoints/: the run continues from
    the saved (here bf16) weights and step, with rebuilt optimizer moments, and refuses a model of another shape."""
    countdown = ["--mode", "countdown", "--num_states", "8", "--seq_len", "16", "--checkpointing_steps", "2"]
    train([*countdown, "--max_train_steps", "2", "--save_dtype", "bfloat16", "--output_dir", str(tmp_path / "run")])
    shutil.rmtree(tmp_path / "run" / "checkpoints")
    saved = weights(tmp_path / "run")
    assert all(tensor.dtype == torch.bfloat16 for tensor in saved.values())

    resume = [*countdown, "--max_train_steps", "4", "--output_dir", str(tmp_path / "run"), "--resume_from_checkpoint"]
    log = train([*resume, "latest"])
    assert "Resumed the weights of" in log and "at step 2" in log
    state = json.loads((tmp_path / "run" / "training_state.json").read_text())
    assert state["global_step"] == 4 and state["optimizer_start_step"] == 2
    continued = weights(tmp_path / "run")
    assert all(torch.isfinite(continued[name]).all() for name in continued)
    assert any(not torch.equal(continued[name], saved[name].float()) for name in saved)
    card = (tmp_path / "run" / "README.md").read_text()
    assert "for 4 steps" in card and "Training in progress" not in card and "hours of training in all" in card
    # its exact checkpoint at step 4 records where the moments started, so resuming from it keeps the warm-up
    assert json.loads((tmp_path / "run" / "checkpoints" / "checkpoint-4" / "training_state.json").read_text()) == state

    shutil.rmtree(tmp_path / "run" / "checkpoints")
    refused = subprocess.run(
        [sys.executable, str(SCRIPT), *TINY_MODEL, *resume, "latest", "--max_train_steps", "6", "--hidden_size", "32"],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode != 0 and "holds a model of another shape" in refused.stderr


@pytest.mark.slow
def test_text_teacher_trains_a_tokenizer_saves_a_pipeline_and_resumes_exactly(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for index in range(3):
        (corpus / f"part{index}.txt").write_text(PARAGRAPH * 20)
    (tmp_path / "held_out.txt").write_text("The dog sat on the moon and looked at the quick cat.\n\n" * 10)
    text = [
        "--mode",
        "text",
        "--train_files",
        str(corpus / "*.txt"),
        "--tokenizer_vocab_size",
        "300",
        "--seq_len",
        "16",
        "--checkpointing_steps",
        "2",
        "--max_train_steps",
        "4",
        "--validation_files",
        str(tmp_path / "held_out.txt"),
        "--validation_steps",
        "2",
    ]
    train([*text, "--output_dir", str(tmp_path / "text")])
    validation = json.loads((tmp_path / "text" / "training_state.json").read_text())["validation"]
    assert validation["step"] == 4 and validation["blocks"] > 0 and 0 < validation["loss"] < 20
    assert f"Held-out loss at step 4: {validation['loss']:.4f}" in (tmp_path / "text" / "README.md").read_text()
    pipe = LSDMaskedTextPipeline.from_pretrained(tmp_path / "text")
    pipe.set_progress_bar_config(disable=True)
    assert len(pipe.tokenizer) <= 300 and pipe.tokenizer.mask_token == "[MASK]"
    # the card's command can be pasted into a shell: the glob stays quoted
    assert f"--train_files '{corpus / '*.txt'}'" in (tmp_path / "text" / "README.md").read_text()
    out = pipe(batch_size=2, seq_len=16, num_inference_steps=4, generator=torch.Generator().manual_seed(0))
    assert len(out.texts) == 2 and not (out.sequences == pipe.tokenizer.mask_token_id).any()

    # a run that died after its step-2 checkpoint keeps its tokenizer and reaches the same weights on resuming
    resumed = tmp_path / "resumed"
    shutil.copytree(tmp_path / "text" / "checkpoints" / "checkpoint-2", resumed / "checkpoints" / "checkpoint-2")
    shutil.copytree(tmp_path / "text" / "tokenizer", resumed / "tokenizer")
    log = train([*text, "--output_dir", str(resumed), "--resume_from_checkpoint", "latest"])
    assert "at step 2" in log and f"Using the tokenizer saved in {resumed / 'tokenizer'}" in log
    full, again = weights(tmp_path / "text"), weights(resumed)
    assert all(torch.equal(full[name], again[name]) for name in full)
    # the held-out loss draws its masks from a fixed seed: the same weights score the same
    assert json.loads((resumed / "training_state.json").read_text())["validation"] == validation
    # a tokenizer of another vocabulary size in the folder is refused, not silently mixed in
    refused = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *TINY_MODEL,
            *text,
            "--tokenizer_vocab_size",
            "200",
            "--output_dir",
            str(resumed),
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode != 0 and "use another --output_dir" in refused.stderr


def test_bad_arguments_are_rejected():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--mode", "text", "--output_dir", "x"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "--mode text needs --train_files" in result.stderr
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--mode", "countdown", "--validation_files", "a.txt", "--output_dir", "x"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "--validation_files is for --mode text" in result.stderr


@pytest.mark.slow
def test_image_teachers_train_resume_and_load(tmp_path):
    """vqvae -> image (a loadable LSDVQImagePipeline) -> classifier, on 40 random 28x28 images in IDX files."""
    sys.path.insert(0, str(ROOT / "tests" / "data"))
    from test_fashion_mnist import fake_split

    data = tmp_path / "fashion"
    data.mkdir()
    fake_split(data, "train", 40)
    fake_split(data, "t10k", 20, seed=1)
    common = ["--data_dir", str(data), "--checkpointing_steps", "2"]
    vqvae = ["--mode", "vqvae", *common, "--max_train_steps", "4", "--num_vq_embeddings", "16"]
    train([*vqvae, "--output_dir", str(tmp_path / "vq")])
    shutil.copytree(
        tmp_path / "vq" / "checkpoints" / "checkpoint-2", tmp_path / "vq2" / "checkpoints" / "checkpoint-2"
    )
    assert "at step 2" in train([*vqvae, "--output_dir", str(tmp_path / "vq2"), "--resume_from_checkpoint", "latest"])
    full, resumed = (load_file(tmp_path / name / "diffusion_pytorch_model.safetensors") for name in ("vq", "vq2"))
    assert all(torch.equal(full[name], resumed[name]) for name in full)

    train(
        [
            "--mode",
            "image",
            *common,
            "--vqvae",
            str(tmp_path / "vq"),
            "--max_train_steps",
            "2",
            "--output_dir",
            str(tmp_path / "image"),
        ]
    )
    pipe = LSDVQImagePipeline.from_pretrained(tmp_path / "image")
    pipe.set_progress_bar_config(disable=True)
    assert pipe.transformer.config.num_classes == 10 and pipe.scheduler.config.vocab_size == 17
    images = pipe(class_labels=[3, 7], num_inference_steps=3, guidance_scale=2.0, output_type="pt").images
    assert images.shape == (2, 1, 28, 28)

    train(["--mode", "classifier", *common, "--max_train_steps", "2", "--output_dir", str(tmp_path / "classifier")])
    classifier = ImageClassifier.from_pretrained(tmp_path / "classifier")
    assert classifier(images * 2 - 1).shape == (2, 10)
    assert "Test accuracy:" in (tmp_path / "classifier" / "README.md").read_text()


def test_image_mode_needs_a_vqvae():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--mode", "image", "--output_dir", "x"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "--mode image needs --vqvae" in result.stderr
