"""Distillation settings, command-line arguments and checkpoint files: refused with a message naming what is wrong."""

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

from lsd_schedulers import LSDDiscreteScheduler
from lsd_schedulers.distillation import DistillationConfig, LSDDistiller
from lsd_schedulers.distillation.checkpointing import load_checkpoint, lock_output_dir, save_checkpoint
from lsd_schedulers.models import MarkovChainOracle, countdown_chain

ROOT = Path(__file__).resolve().parents[2]
SMALL = {
    "num_student_steps": 2,
    "num_teacher_steps": 4,
    "batch_size": 4,
    "seq_len": 8,
    "split_evaluations": 2,
    "coefficient_rounds": 1,
    "adam_steps_per_round": 2,
}


def distill_module():
    spec = importlib.util.spec_from_file_location("distill_example", ROOT / "examples" / "distill.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("refine_sweeps", -1),
        ("coefficient_rounds", -2),
        ("adam_steps_per_round", 0),
        ("split_evaluations", 0),
        ("batch_size", 0),
        ("seq_len", -4),
        ("seed", -1),
        ("learning_rate", 0.0),
        ("learning_rate", math.nan),
        ("refine_sweeps", 1.5),
        ("batch_size", "8"),
        ("seed_powers", []),
        ("seed_powers", [0.3, -1.0]),
    ],
)
def test_distillation_settings_name_the_wrong_field(field, value):
    with pytest.raises((TypeError, ValueError), match=field):
        DistillationConfig(**{**SMALL, field: value})


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--checkpointing_steps", "0"], "--checkpointing_steps must be an integer >= 1"),
        (["--checkpoints_total_limit", "0"], "--checkpoints_total_limit must be an integer >= 1"),
        (["--checkpoints_total_limit", "-1"], "--checkpoints_total_limit must be an integer >= 1"),
        (["--eval_samples", "0"], "--eval_samples must be an integer >= 1"),
        (["--split_evaluations", "0"], "split_evaluations must be an integer >= 1"),
        (["--adam_steps_per_round", "0"], "adam_steps_per_round must be an integer >= 1"),
        (["--refine_sweeps", "-1"], "refine_sweeps must be an integer >= 0"),
        (["--coefficient_rounds", "-1"], "coefficient_rounds must be an integer >= 0"),
        (["--relaxation", "1.5"], "relaxation (zeta) must lie in [0, 1)"),
        (["--block_length", "0"], "--block_length must be an integer >= 1"),
    ],
)
def test_command_line_arguments_fail_before_any_work(arguments, message, capsys):
    with pytest.raises(SystemExit) as error:
        distill_module().parse_args(arguments)
    assert error.value.code == 2 and message in capsys.readouterr().err.replace("\\", "")


@pytest.fixture(scope="module")
def oracle():
    initial, transition = countdown_chain(6)
    return MarkovChainOracle(initial, transition)


def distiller(oracle, **teacher_fields):
    teacher = LSDDiscreteScheduler(vocab_size=7, mask_token_id=6, **teacher_fields)
    return LSDDistiller(oracle, teacher, DistillationConfig(**SMALL))


def test_a_checkpoint_of_another_teacher_is_refused(oracle):
    """A run resumed with other teacher settings (solver, noise schedule, vocabulary) would mislabel the result."""
    state = distiller(oracle).state_dict()
    with pytest.raises(ValueError, match=r"different teacher sampler: \['solver'\] differ"):
        distiller(oracle, solver="euler").load_state_dict(state)
    with pytest.raises(ValueError, match=r"different teacher sampler: \['noise_schedule'\] differ"):
        distiller(oracle, noise_schedule="cosine").load_state_dict(state)
    other = LSDDistiller(
        MarkovChainOracle(*countdown_chain(5)), LSDDiscreteScheduler(vocab_size=6), DistillationConfig(**SMALL)
    )
    with pytest.raises(ValueError, match=r"\['mask_token_id', 'vocab_size'\] differ"):
        other.load_state_dict(state)


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda state: [state], "must be a JSON object, got a list"),
        (lambda state: {k: v for k, v in state.items() if k != "optimizer"}, r"lacks \['optimizer'\]"),
        (lambda state: {**state, "global_step": 10_000}, r"global_step must be an integer in \[0, \d+\]"),
        (lambda state: {**state, "global_step": -1}, r"global_step must be an integer in"),
        (
            lambda state: {
                **state,
                "parameters": {
                    **state["parameters"],
                    "log_coefficients": torch.tensor([math.nan, 0.0], dtype=torch.float64),
                },
            },
            "parameter log_coefficients is not a finite tensor",
        ),
    ],
)
def test_broken_checkpoints_are_refused(oracle, tmp_path, mangle, message):
    run = distiller(oracle)
    run.step()
    save_checkpoint(mangle(run.state_dict()), tmp_path, 1)
    with pytest.raises(ValueError, match=message):
        distiller(oracle).load_state_dict(load_checkpoint(tmp_path / "checkpoint-1"))


def test_checkpoint_limits_must_keep_at_least_one(tmp_path):
    for limit in (0, -1):
        with pytest.raises(ValueError, match="checkpoints_total_limit must be an integer >= 1"):
            save_checkpoint({"global_step": 1}, tmp_path, 1, total_limit=limit)
    assert not list(tmp_path.glob("checkpoint-*"))


def test_two_runs_cannot_share_an_output_folder(tmp_path):
    first = lock_output_dir(tmp_path)
    with pytest.raises(RuntimeError, match="Another run is writing to"):
        lock_output_dir(tmp_path)
    first.close()
    lock_output_dir(tmp_path).close()  # free again once the first run ends


def test_json_checkpoints_keep_nan_visible(tmp_path):
    save_checkpoint({"parameters": {"x": torch.tensor([math.nan])}}, tmp_path, 3)
    text = (tmp_path / "checkpoint-3" / "distiller_state.json").read_text()
    assert "NaN" in text and json.loads(text)
