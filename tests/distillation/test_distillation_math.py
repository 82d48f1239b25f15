import math

import pytest
import torch

from lsd_schedulers.distillation import generalized_kl, logits_from_schedule, schedule_from_logits
from lsd_schedulers.distillation.checkpointing import list_checkpoints, load_checkpoint, save_checkpoint
from lsd_schedulers.distillation.search import (
    boundary_candidates,
    golden_section_propose,
    golden_section_record,
    golden_section_start,
)
from lsd_schedulers.scheduling_lsd import power_timesteps


def test_generalized_kl_is_zero_only_at_equality_and_positive_elsewhere():
    a = torch.tensor([[0.2, 0.0, 1.5]], dtype=torch.float64)
    assert generalized_kl(a, a).item() == pytest.approx(0.0, abs=1e-12)
    assert generalized_kl(a, a * 1.3).item() > 0
    assert generalized_kl(a, torch.tensor([[0.5, 0.1, 1.0]], dtype=torch.float64)).item() > 0


def test_schedule_parameterisation_is_strictly_decreasing_from_one_to_zero():
    for logits in (torch.zeros(5), torch.randn(12, generator=torch.Generator().manual_seed(0)) * 3):
        times = schedule_from_logits(logits)
        assert times[0] == 1.0 and times[-1] == 0.0
        assert (times[1:] < times[:-1]).all()


def test_schedule_logits_round_trip():
    times = power_timesteps(8, 0.3)
    torch.testing.assert_close(schedule_from_logits(logits_from_schedule(times)), times)


def test_golden_section_finds_the_minimum_of_a_parabola():
    state = golden_section_start(-2.0, 3.0)
    for _ in range(25):
        x = golden_section_propose(state)
        golden_section_record(state, x, (x - 0.7) ** 2)
    assert state["best_x"] == pytest.approx(0.7, abs=1e-3)


def test_boundary_candidates_stay_between_the_neighbours():
    times = power_timesteps(6, 0.5)
    for index in range(1, 6):
        candidates = boundary_candidates(times, index, spread=2.0)
        assert all(float(times[index + 1]) < c < float(times[index - 1]) for c in candidates)
        assert float(times[index]) == pytest.approx(candidates[len(candidates) // 2])


def test_checkpoints_round_trip_exactly_and_keep_the_newest(tmp_path):
    state = {
        "global_step": 3,
        "parameters": {"log_coefficients": torch.tensor([math.pi, -1e-17, 0.1 + 0.2], dtype=torch.float64)},
        "optimizer": {"state": {0: {"step": torch.tensor(3.0)}}, "param_groups": [{"betas": [0.9, 0.999]}]},
    }
    for step in (1, 2, 3, 4):
        save_checkpoint(state, tmp_path, step, total_limit=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-3", "checkpoint-4"]
    loaded = load_checkpoint(tmp_path / "checkpoint-4")
    assert torch.equal(loaded["parameters"]["log_coefficients"], state["parameters"]["log_coefficients"])
    assert loaded["optimizer"]["state"][0]["step"].item() == 3.0
    assert not list(tmp_path.glob(".checkpoint-*"))


def test_unfinished_or_corrupted_checkpoints_are_not_used(tmp_path):
    save_checkpoint({"global_step": 1}, tmp_path, 1)
    (tmp_path / "checkpoint-9").mkdir()  # a folder without its state file, e.g. killed while copying
    (tmp_path / ".checkpoint-10.tmp").mkdir()
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-1"]
    (tmp_path / "checkpoint-1" / "distiller_state.json").write_text("{not json")
    with pytest.raises(ValueError, match="is corrupted"):
        load_checkpoint(tmp_path / "checkpoint-1")
    with pytest.raises(FileNotFoundError, match="not a distillation checkpoint"):
        load_checkpoint(tmp_path / "checkpoint-9")
