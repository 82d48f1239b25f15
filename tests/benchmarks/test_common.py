import json
import os
import sys
from pathlib import Path

import pytest
import torch

from lsd_schedulers import LSDDiscreteScheduler, LSDPlusScheduler
from lsd_schedulers.distillation import LSDDistiller
from lsd_schedulers.models import MarkovChainOracle, countdown_chain

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import common  # noqa: E402
from common import (  # noqa: E402
    cache_folder,
    distil_all,
    learned_values,
    merge_rows,
    previous_results,
    variant,
    weights_digest,
)


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


def test_merge_rows_drops_a_pairing_with_a_replaced_row():
    paired = {"against": "lsd_plus", "difference": -0.1, "interval": [-0.2, 0.0]}
    rows = [
        {"sampler": "lsd_plus", "nfe": 8},
        {"sampler": "cosine", "nfe": 8, "fd_teacher_paired": paired},
        {"sampler": "cosine", "nfe": 16, "fd_teacher_paired": paired},
    ]
    merged = merge_rows(rows, [{"sampler": "lsd_plus", "nfe": 8}])
    assert "fd_teacher_paired" not in next(row for row in merged if row["nfe"] == 8 and row["sampler"] == "cosine")
    assert merged[-1]["fd_teacher_paired"] == paired  # M = 16's lsd_plus was not replaced


def test_previous_results_refuses_a_file_from_another_protocol(tmp_path):
    path = tmp_path / "result.json"
    assert previous_results(path, {"samples": 8}, lambda record: record["protocol"]) is None
    path.write_text(json.dumps({"protocol": {"samples": 8}, "rows": []}))
    assert previous_results(path, {"samples": 8}, lambda record: record["protocol"])["rows"] == []
    with pytest.raises(ValueError, match="was measured with {'samples': 8}; this run asks for {'samples': 4}"):
        previous_results(path, {"samples": 4}, lambda record: record["protocol"])


TINY = {"batch_size": 8, "seq_len": 24, "split_evaluations": 2, "refine_sweeps": 1, "verify_batches": 2}


def test_distil_all_reloads_finished_samplers_and_distils_again_when_settings_or_code_change(tmp_path, monkeypatch):
    oracle = MarkovChainOracle(*countdown_chain(8))
    baseline = LSDDiscreteScheduler(vocab_size=9, mask_token_id=8)
    cache = {"cache_dir": cache_folder(tmp_path / "task.json"), "cache_key": {"teacher_model": "oracle"}}
    assert cache["cache_dir"] == tmp_path / "task-distilled"
    first = distil_all(oracle, baseline, 4, ["lsd_plus", "jys"], 2, **cache, **TINY)
    assert sorted(path.name for path in cache["cache_dir"].iterdir()) == ["jys-m4", "lsd_plus-m4"]

    fits = []
    original_fit = LSDDistiller.fit
    monkeypatch.setattr(LSDDistiller, "fit", lambda self, *a, **k: fits.append(1) or original_fit(self, *a, **k))
    again = distil_all(oracle, baseline, 4, ["lsd_plus", "jys"], 2, **cache, **TINY)
    assert fits == []  # loaded, not distilled
    for name in ("lsd_plus", "jys"):
        (scheduler, seconds, summary), (cached, cached_seconds, cached_summary) = first[name], again[name]
        assert type(cached) is type(scheduler) and cached.config.timesteps == scheduler.config.timesteps
        assert cached.config.coefficients == scheduler.config.coefficients
        assert cached.config.unmasking_order == scheduler.config.unmasking_order
        assert cached_seconds == seconds and (cached_summary is None) == (summary is None)
    assert again["lsd_plus"][2]["best_seed"] == first["lsd_plus"][2]["best_seed"]
    # a results row keeps what the search chose and how long each stage took, not every seed's scores
    scheduler, _, summary = first["lsd_plus"]
    row_search = learned_values(scheduler, summary)["search"]
    assert set(row_search) == {"best_seed", "verified", "objective", "stage_seconds"}
    assert row_search["stage_seconds"] == summary["stage_seconds"]

    distil_all(oracle, baseline, 4, ["lsd_plus"], 2, **cache, **{**TINY, "batch_size": 4})
    assert fits == [1]  # other settings: distilled again, and the entry replaced
    monkeypatch.setattr(common, "source_digest", lambda: "other code")
    distil_all(oracle, baseline, 4, ["lsd_plus"], 2, **cache, **{**TINY, "batch_size": 4})
    assert fits == [1, 1]
    assert not list(cache["cache_dir"].glob(".*"))  # no temporary folder left behind


def test_weights_digest_follows_the_weights_not_the_clone(tmp_path):
    (tmp_path / "transformer").mkdir()
    weights = tmp_path / "transformer" / "model.safetensors"
    weights.write_bytes(b"first")
    before = weights_digest(tmp_path)
    os.utime(weights, ns=(0, 0))  # a fresh clone: same bytes, other times
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "model.safetensors").write_bytes(b"optimizer state")
    assert weights_digest(tmp_path) == before
    weights.write_bytes(b"trained further")
    assert weights_digest(tmp_path) != before
    assert weights_digest(None) is None  # the exact oracle has no folder


def test_a_killed_distillation_resumes_from_its_last_step_to_the_uninterrupted_result(tmp_path, monkeypatch, capsys):
    oracle = MarkovChainOracle(*countdown_chain(8))
    baseline = LSDDiscreteScheduler(vocab_size=9, mask_token_id=8)
    uninterrupted = distil_all(oracle, baseline, 4, ["lsd_plus"], 2, **TINY)["lsd_plus"][0]

    cache = {"cache_dir": tmp_path / "task-distilled", "cache_key": {"teacher_model": "oracle"}}
    original_step, calls = LSDDistiller.step, []

    def killed_at_the_fifth_step(self):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return original_step(self)

    monkeypatch.setattr(LSDDistiller, "step", killed_at_the_fifth_step)
    with pytest.raises(KeyboardInterrupt):
        distil_all(oracle, baseline, 4, ["lsd_plus"], 2, **cache, **TINY)
    partial = cache["cache_dir"] / "lsd_plus-m4.partial"
    assert [path.name for path in partial.iterdir()] == ["checkpoint-4"]  # the newest only
    assert not (cache["cache_dir"] / "lsd_plus-m4").exists()

    monkeypatch.setattr(LSDDistiller, "step", original_step)
    resumed, seconds, _ = distil_all(oracle, baseline, 4, ["lsd_plus"], 2, **cache, **TINY)["lsd_plus"]
    assert "resuming lsd_plus-m4.partial at step 4 of" in capsys.readouterr().out
    assert resumed.config.timesteps == uninterrupted.config.timesteps
    assert resumed.config.coefficients == uninterrupted.config.coefficients
    assert seconds > 0 and not partial.exists()  # the finished sampler is cached; its checkpoints are gone

    # checkpoints of a run with other settings are not resumed
    calls.clear()
    monkeypatch.setattr(LSDDistiller, "step", killed_at_the_fifth_step)
    with pytest.raises(KeyboardInterrupt):
        distil_all(oracle, baseline, 4, ["lsd_plus"], 2, **cache, **{**TINY, "batch_size": 4})
    monkeypatch.setattr(LSDDistiller, "step", original_step)
    distil_all(oracle, baseline, 4, ["lsd_plus"], 2, **cache, **{**TINY, "seed": 1})
    assert "holds a run with other settings; starting again" in capsys.readouterr().out
