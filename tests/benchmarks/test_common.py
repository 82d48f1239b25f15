import json
import sys
from pathlib import Path

import pytest
import torch

from lsd_schedulers import LSDPlusScheduler

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from common import merge_rows, previous_results, variant  # noqa: E402


def test_variant_of_a_learned_sampler_keeps_its_schedule():
    learned = LSDPlusScheduler(vocab_size=5, mask_token_id=4, timesteps=[1.0, 0.7, 0.2, 0.0])
    confident = variant(learned, unmasking_order="confidence")
    assert isinstance(confident, LSDPlusScheduler) and confident.config.unmasking_order == "confidence"
    confident.set_timesteps()
    assert torch.allclose(confident.timesteps.double(), torch.tensor([1.0, 0.7, 0.2], dtype=torch.float64))


def test_merge_rows_replaces_the_same_sampler_and_step_count_and_orders_by_step_count():
    rows = [
        {"sampler": "euler", "nfe": 8, "v": 1},
        {"sampler": "cosine", "nfe": 8, "v": 2},
        {"sampler": "euler", "nfe": 32, "v": 3},
    ]
    new = [{"sampler": "cosine", "nfe": 8, "v": 4}, {"sampler": "euler", "nfe": 16, "v": 5}]
    merged = merge_rows(rows, new)
    assert [(row["nfe"], row["sampler"], row["v"]) for row in merged] == [
        (8, "euler", 1),
        (8, "cosine", 4),
        (16, "euler", 5),
        (32, "euler", 3),
    ]


def test_previous_results_refuses_a_file_from_another_protocol(tmp_path):
    path = tmp_path / "result.json"
    assert previous_results(path, {"samples": 8}, lambda record: record["protocol"]) is None
    path.write_text(json.dumps({"protocol": {"samples": 8}, "rows": []}))
    assert previous_results(path, {"samples": 8}, lambda record: record["protocol"])["rows"] == []
    with pytest.raises(ValueError, match="was measured with {'samples': 8}; this run asks for {'samples': 4}"):
        previous_results(path, {"samples": 4}, lambda record: record["protocol"])
