"""Smoke test of benchmarks/antiberty.py with a tiny BERT stand-in of AntiBERTy's layout (built in code)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import tiny_bert

ROOT = Path(__file__).resolve().parents[2]


def test_antiberty_benchmark_writes_every_row_and_metric(tmp_path):
    tiny_bert(tmp_path / "model")
    output = tmp_path / "result.json"
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "antiberty.py"),
        "--model",
        str(tmp_path / "model"),
        "--steps",
        "2",
        "--samples",
        "8",
        "--teacher_steps",
        "4",
        "--length",
        "10",
        "--prefix",
        "EVQ",
        "--batch_size",
        "4",
        "--train_batch_size",
        "4",
        "--split_evaluations",
        "2",
        "--pppl_positions",
        "3",
        "--output",
        str(output),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(output.read_text())
    assert record["task"] == "antiberty" and record["sequence"]["generated"] == 7
    assert {row["sampler"] for row in record["rows"]} == {
        "euler",
        "cosine",
        "power",
        "confidence",
        "spread",
        "jys",
        "lsd_plus",
    }
    for row in [record["teacher"], *record["rows"]]:
        assert set(row["metrics"]) == {"fd_teacher", "pseudo_ppl", "identity", "entropy"}
        assert row["metrics"]["pseudo_ppl"] > 1 and 0 <= row["metrics"]["identity"] <= 1
        low, high = row["fd_teacher_interval"]
        assert 0 <= low <= row["metrics"]["fd_teacher"] <= high
    # the reference is the teacher on other seeds, so the teacher row holds the sampling-noise floor, not zero
    assert record["teacher"]["metrics"]["fd_teacher"] > 0
    assert all(text.startswith("E V Q") for text in record["teacher"]["examples"])

    # the report renders an AntiBERTy section from these results
    code = (
        "import sys, pathlib; sys.path.insert(0, sys.argv[1]); import report;"
        "report.IMAGES = pathlib.Path(sys.argv[2]); report.IMAGES.mkdir();"
        "import json; print(report.antiberty_section(json.loads(pathlib.Path(sys.argv[3]).read_text())))"
    )
    rendered = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "benchmarks"), str(tmp_path / "figures"), str(output)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rendered.returncode == 0, rendered.stderr[-3000:]
    assert "| 2 | lsd_plus" in rendered.stdout and (tmp_path / "figures" / "antiberty_fd_vs_nfe.png").exists()
