"""Smoke test of benchmarks/countdown.py with a tiny random transformer teacher (the countdown-trained task)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from lsd_schedulers import MaskedDiffusionTransformer

ROOT = Path(__file__).resolve().parents[2]


def test_countdown_benchmark_writes_every_row(tmp_path):
    MaskedDiffusionTransformer(9, 8, max_seq_len=16, hidden_size=16, num_layers=1, num_heads=2).save_pretrained(
        tmp_path / "teacher" / "transformer"
    )
    output = tmp_path / "result.json"
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "countdown.py"),
        "--num_states",
        "8",
        "--seq_len",
        "16",
        "--steps",
        "2",
        "--samples",
        "8",
        "--teacher_steps",
        "4",
        "--train_batch_size",
        "4",
        "--precision",
        "bf16",
        "--teacher_model",
        str(tmp_path / "teacher"),
        "--output",
        str(output),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(output.read_text())
    assert record["task"] == "countdown-trained" and record["teacher"]["nfe"] == 4 and record["precision"] == "bf16"
    samplers = {row["sampler"] for row in record["rows"]}
    expected = {
        "euler",
        "tweedie",
        "cosine",
        "power",
        "confidence",
        "spread",
        "jys",
        "lsd",
        "lsd_plus",
        "lsd_plus_random",
        "lsd_paper",
        "lsd_plus_paper",
    }
    assert samplers == expected
    for row in record["rows"]:
        assert set(row["metrics"]) == {"violation_rate", "sequence_violation_rate", "unigram_kl"}

    # --append adds an M with its own distillation settings and keeps the teacher row
    appended = [*command, "--append", "--steps", "3", "--distilled", "lsd_plus", "--teacher_ratio", "2"]
    result = subprocess.run(appended, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    grown = json.loads(output.read_text())
    assert grown["teacher"] == record["teacher"] and len(grown["commands"]) == 2
    # 6 hand-made (euler, tweedie, cosine, power, confidence, spread) + lsd_plus
    assert [row["nfe"] for row in grown["rows"]] == [2] * len(record["rows"]) + [3] * 7
    lsd_plus = next(row for row in grown["rows"] if row["nfe"] == 3 and row["sampler"] == "lsd_plus")
    assert lsd_plus["distillation"] == {"teacher_steps": 6, "train_batch_size": 4, "split_evaluations": 8}
