"""Smoke test of benchmarks/objective_check.py on the exact countdown oracle (V = 8, L = 24)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}


def run_check(tmp_path, *extra):
    output = tmp_path / "check.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "objective_check.py"), "--num_states", "8", "--seq_len", "24"]
    command += ["--steps", "4", "--samples", "32", "--batches", "2", "--batch_size", "8", "--output", str(output)]
    result = subprocess.run([*command, *extra], env=ENV, capture_output=True, text=True, timeout=300)
    return result, output


def test_objective_check_scores_hand_made_and_results_rows_against_the_reference(tmp_path):
    results = tmp_path / "results.json"
    learned = [1.0, 0.8, 0.5, 0.2, 0.0]
    results.write_text(json.dumps({"rows": [{"sampler": "lsd_plus_random", "nfe": 4, "timesteps": learned}]}))
    result, output = run_check(
        tmp_path, "--hand_made", "power(0.3)", "cosine", "--results", str(results), "--rows", "lsd_plus_random"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(output.read_text())
    assert record["precision"] == "float64 (oracle)"
    rows = {row["sampler"]: row for row in record["rows"]}
    assert list(rows) == ["power(0.3)", "cosine", "lsd_plus_random"]
    assert rows["lsd_plus_random"]["timesteps"] == learned
    assert rows["power(0.3)"]["against_reference"] == {"violation_rate": [0.0, 0.0], "path_kl": [0.0, 0.0]}
    for row in rows.values():
        for metric in ("violation_rate", "path_kl"):
            # a paired difference on common random numbers is the difference of the means
            difference = row["metrics"][metric] - rows["power(0.3)"]["metrics"][metric]
            assert row["against_reference"][metric][0] == pytest.approx(difference, abs=1e-9)
    assert rows["cosine"]["against_reference"]["path_kl"][1] > 0


def test_objective_check_rejects_a_row_the_results_file_lacks(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"rows": [{"sampler": "cosine", "nfe": 4, "timesteps": None}]}))
    result, _ = run_check(tmp_path, "--results", str(results), "--rows", "lsd_plus")
    assert result.returncode != 0 and "has no row 'lsd_plus' with timesteps at M = 4" in result.stderr


def test_objective_check_scores_text_schedules_by_the_judge_per_sample(tmp_path):
    from test_text_script import tiny_judge, tiny_teacher

    tiny_teacher(tmp_path / "teacher")
    tiny_judge(tmp_path / "judge")
    output = tmp_path / "check.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "objective_check.py"), "--teacher_model"]
    command += [str(tmp_path / "teacher"), "--judge", str(tmp_path / "judge"), "--order", "spread"]
    command += ["--hand_made", "tweedie", "cosine", "--reference", "cosine", "--steps", "2", "--samples", "8"]
    command += ["--batches", "2", "--batch_size", "4", "--output", str(output)]
    result = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(output.read_text())
    assert record["task"] == "objective-check (text)" and record["precision"] == "bf16"  # the default, as countdown
    rows = {row["sampler"]: row for row in record["rows"]}
    assert list(rows) == ["tweedie", "cosine"] and rows["tweedie"]["unmasking_order"] == "spread"
    assert rows["cosine"]["against_reference"] == {"judge_nll": [0.0, 0.0], "path_kl": [0.0, 0.0]}
    difference = rows["tweedie"]["metrics"]["judge_nll"] - rows["cosine"]["metrics"]["judge_nll"]
    assert rows["tweedie"]["against_reference"]["judge_nll"][0] == pytest.approx(difference, abs=1e-9)
    assert all(row["metrics"]["judge_nll"] > 0 for row in rows.values())
