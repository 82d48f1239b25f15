"""Smoke test of benchmarks/image.py and its report section with tiny random teachers and fake Fashion-MNIST files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from diffusers import VQModel

from lsd_schedulers import LSDDiscreteScheduler, LSDVQImagePipeline, MaskedDiffusionTransformer
from lsd_schedulers.models import ImageClassifier

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "data"))
from test_fashion_mnist import fake_split  # noqa: E402


def test_image_benchmark_writes_rows_grids_and_report(tmp_path):
    torch.manual_seed(0)
    vqvae = VQModel(
        in_channels=1,
        out_channels=1,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(4, 4, 4),
        layers_per_block=1,
        latent_channels=4,
        vq_embed_dim=4,
        sample_size=28,
        num_vq_embeddings=8,
        norm_num_groups=2,
        lookup_from_codebook=True,
    )
    transformer = MaskedDiffusionTransformer(
        9, 8, max_seq_len=49, hidden_size=16, num_layers=1, num_heads=2, num_classes=10
    )
    scheduler = LSDDiscreteScheduler(vocab_size=9, mask_token_id=8)
    LSDVQImagePipeline(vqvae=vqvae, transformer=transformer, scheduler=scheduler).save_pretrained(tmp_path / "teacher")
    ImageClassifier(channels=(4, 4), feature_size=8).save_pretrained(tmp_path / "classifier")
    data = tmp_path / "data"
    data.mkdir()
    fake_split(data, "t10k", 30)

    output = tmp_path / "results" / "image.json"
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "image.py"),
        "--teacher",
        str(tmp_path / "teacher"),
        "--classifier",
        str(tmp_path / "classifier"),
        "--data_dir",
        str(data),
        "--steps",
        "2",
        "--samples",
        "20",
        "--teacher_steps",
        "4",
        "--train_batch_size",
        "4",
        "--distilled",
        "lsd_plus",
        "jys",
        "--output",
        str(output),
        "--grid_dir",
        str(tmp_path / "grids"),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(output.read_text())
    assert record["task"] == "image" and record["teacher"]["nfe"] == 4
    samplers = {row["sampler"] for row in record["rows"]}
    assert samplers == {"euler", "tweedie", "cosine", "power", "confidence", "spread", "spread_2d", "jys", "lsd_plus"}
    for row in [record["teacher"], *record["rows"]]:
        assert set(row["metrics"]) == {"fd_classifier", "class_accuracy", "fd_teacher"}
        assert row["metrics"]["fd_classifier"] >= 0 and 0 <= row["metrics"]["class_accuracy"] <= 1
        low, high = row["fd_teacher_interval"]
        assert low <= row["metrics"]["fd_teacher"] <= high
    # the teacher's own samples against its samples on other seeds: the sampling floor, not zero
    assert record["teacher"]["metrics"]["fd_teacher"] > 0
    learned = next(row for row in record["rows"] if row["sampler"] == "lsd_plus")
    assert len(learned["timesteps"]) == 3 and "distill_seconds" in learned
    # every other row's distance to the teacher, minus lsd_plus's, with the paired interval
    for row in record["rows"]:
        if row is not learned:
            paired = row["fd_teacher_paired"]
            expected = row["metrics"]["fd_teacher"] - learned["metrics"]["fd_teacher"]
            assert paired["against"] == "lsd_plus" and paired["difference"] == pytest.approx(expected, abs=1e-9)
            assert paired["interval"][0] <= paired["difference"] <= paired["interval"][1]
    # the baseline carries the token grid: the 2-D spread order samples the flattened grids
    assert "spread_2d" in {row["sampler"] for row in record["rows"]}
    assert learned["unmasking_order"] in ("random", "spread", "spread_2d") and "verified" in learned["search"]
    assert (tmp_path / "grids" / "image-samples-M2.png").stat().st_size > 0

    # --append --no_hand_made reruns the distilled rows and keeps the teacher and the hand-made rows as they were
    grid_time = (tmp_path / "grids" / "image-samples-M2.png").stat().st_mtime_ns
    rerun = [
        *command[: command.index("--distilled")],
        "--distilled",
        "lsd_plus",
        *command[command.index("--output") :],
    ]
    appended = subprocess.run(
        [*rerun, "--append", "--no_hand_made"], env=env, capture_output=True, text=True, timeout=300
    )
    assert appended.returncode == 0, appended.stderr[-3000:]
    again = json.loads(output.read_text())
    assert again["teacher"] == record["teacher"] and len(again["commands"]) == 2
    assert [row["sampler"] for row in again["rows"]].count("lsd_plus") == 1
    # the kept rows lose only their pairing with the replaced lsd_plus row (it was measured on its old samples)
    assert [row for row in again["rows"] if row["sampler"] != "lsd_plus"] == [
        {key: value for key, value in row.items() if key != "fd_teacher_paired"}
        for row in record["rows"]
        if row["sampler"] != "lsd_plus"
    ]
    assert (tmp_path / "grids" / "image-samples-M2.png").stat().st_mtime_ns == grid_time  # no line-up, no grid
    other = subprocess.run(
        [*rerun, "--append", "--samples", "10"], env=env, capture_output=True, text=True, timeout=60
    )
    assert other.returncode != 0 and "was measured with" in other.stderr

    # the report renders an image section from these results
    code = (
        "import sys, pathlib; sys.path.insert(0, sys.argv[1]); import report;"
        "report.IMAGES = pathlib.Path(sys.argv[2]); report.IMAGES.mkdir();"
        "import json; record = json.loads(pathlib.Path(sys.argv[3]).read_text());"
        "print(report.image_section(record))"
    )
    rendered = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "benchmarks"), str(tmp_path / "figures"), str(output)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rendered.returncode == 0, rendered.stderr[-3000:]
    assert "| 2 | lsd_plus" in rendered.stdout and "image-samples-M2.png" in rendered.stdout
    assert "| lowest fd_teacher |" in rendered.stdout and "the sampling floor" in rendered.stdout
    assert (tmp_path / "figures" / "image_fd_vs_nfe.png").exists()
