"""End-to-end tests of examples/distill.py: arguments, 2-process launch, kill-and-resume, Hub push and load."""

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import publish_to_fake_hub

from lsd_schedulers import LSDPlusScheduler
from lsd_schedulers.models import MarkovChainOracle, countdown_chain
from lsd_schedulers.sampling import generate

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "distill.py"
ACCELERATE = [
    sys.executable,
    "-m",
    "accelerate.commands.launch",
    "--num_machines",
    "1",
    "--mixed_precision",
    "no",
    "--dynamo_backend",
    "no",
]
TINY = [
    "--num_states",
    "8",
    "--seq_len",
    "32",
    "--student_steps",
    "4",
    "--teacher_steps",
    "16",
    "--train_batch_size",
    "8",
    "--split_evaluations",
    "3",
    "--refine_sweeps",
    "1",
    "--coefficient_rounds",
    "2",
    "--adam_steps_per_round",
    "5",
    "--eval_samples",
    "16",
]


def environment() -> dict:
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return env


def launch(args: list[str], processes: int = 1, **kwargs) -> subprocess.Popen:
    command = [*ACCELERATE, "--num_processes", str(processes)]
    if processes > 1:
        command.append("--multi_gpu")
    return subprocess.Popen([*command, str(SCRIPT), "--cpu", *args], env=environment(), **kwargs)


def run(args: list[str], processes: int = 1, timeout: float = 300) -> subprocess.CompletedProcess:
    process = launch(args, processes, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-3000:]
    return subprocess.CompletedProcess(process.args, process.returncode, output)


def load_distill_module():
    spec = importlib.util.spec_from_file_location("distill_example", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--student_steps", "6", "--teacher_steps", "64"], r"\(N=64\) must be a multiple of --student_steps \(M=6\)"),
        (["--student_steps", "16", "--teacher_steps", "8"], r"\(M=16\) exceeds --teacher_steps \(N=8\)"),
        (["--objective", "mse"], "invalid choice: 'mse'"),
    ],
)
def test_bad_arguments_fail_with_a_clear_message(arguments, message, capsys):
    with pytest.raises(SystemExit) as error:
        load_distill_module().parse_args(arguments)
    assert error.value.code == 2
    assert re.search(message, capsys.readouterr().err)


@pytest.mark.slow
def test_two_processes_learn_identical_parameters(tmp_path):
    run([*TINY, "--output_dir", str(tmp_path)], processes=2)
    result = json.loads((tmp_path / "distillation_results.json").read_text())
    assert result["num_processes"] == 2
    assert result["parameters_identical_across_processes"] is True
    scheduler = LSDPlusScheduler.from_pretrained(tmp_path)
    initial, transition = countdown_chain(8)
    samples = generate(MarkovChainOracle(initial, transition), scheduler, (4, 32), generator=torch.Generator())
    assert not (samples == 8).any()
    card = (tmp_path / "README.md").read_text()
    assert "| lsd_plus (spread) | 4 |" in card and "| teacher | 16 |" in card and "| spread power(" in card
    for fact in ("N = 16 steps", "M = 4 steps", "objective `path_kl`", "distillation seed 0", "evaluation seeds from"):
        assert fact in card


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_result(tmp_path):
    common = [*TINY, "--skip_evaluation", "--checkpointing_steps", "1"]
    run([*common, "--output_dir", str(tmp_path / "uninterrupted")])

    killed_dir = tmp_path / "killed"
    process = launch(
        [*common, "--output_dir", str(killed_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 120
    while not list((killed_dir / "checkpoints").glob("checkpoint-*")) and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed_dir / "scheduler_config.json").exists(), "the run finished before it could be killed"
    assert list((killed_dir / "checkpoints").glob("checkpoint-*"))

    output = run([*common, "--output_dir", str(killed_dir), "--resume_from_checkpoint", "latest"]).stdout
    assert "Resumed from" in output
    expected = LSDPlusScheduler.from_pretrained(tmp_path / "uninterrupted").config
    resumed = LSDPlusScheduler.from_pretrained(killed_dir).config
    assert resumed.coefficients == expected.coefficients
    assert resumed.timesteps == expected.timesteps


def fake_hub(cache: Path):
    """Stand-ins for create_repo / upload_folder that publish into a local Hub cache (no network)."""

    def create_repo(repo_id, exist_ok=False, token=None, **kwargs):
        return type("RepoUrl", (), {"repo_id": repo_id})()

    def upload_folder(repo_id, folder_path, ignore_patterns=(), **kwargs):
        publish_to_fake_hub(cache, repo_id, Path(folder_path), ignore=("checkpoints", "logs"))

    return create_repo, upload_folder


@pytest.mark.slow
def test_push_to_hub_then_load_by_repo_id(tmp_path, monkeypatch):
    module = load_distill_module()
    cache = tmp_path / "hub"
    create_repo, upload_folder = fake_hub(cache)
    monkeypatch.setattr(module, "create_repo", create_repo)
    monkeypatch.setattr(module, "upload_folder", upload_folder)
    args = module.parse_args(
        [
            *TINY,
            "--skip_evaluation",
            "--cpu",
            "--output_dir",
            str(tmp_path / "run"),
            "--push_to_hub",
            "--hub_model_id",
            "someone/countdown-lsdplus-4",
        ]
    )
    module.main(args)
    snapshot = next((cache / "models--someone--countdown-lsdplus-4" / "snapshots").iterdir())
    assert (snapshot / "scheduler_config.json").is_file() and (snapshot / "README.md").is_file()
    assert not (snapshot / "checkpoints").exists()
    code = (
        "from lsd_schedulers import LSDPlusScheduler;"
        "s = LSDPlusScheduler.from_pretrained('someone/countdown-lsdplus-4');"
        "print(s.config.num_inference_steps, len(s.config.timesteps))"
    )
    env = {**environment(), "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    loaded = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.split() == ["4", "5"]


@pytest.mark.slow
def test_two_processes_on_a_model_learn_identical_parameters(tmp_path):
    from conftest import tiny_text_pipeline

    from lsd_schedulers import LSDMaskedTextPipeline

    tiny_text_pipeline().save_pretrained(tmp_path / "teacher")
    output = tmp_path / "out"
    run(
        [
            "--pretrained_model_name_or_path",
            str(tmp_path / "teacher"),
            "--seq_len",
            "12",
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
            "--output_dir",
            str(output),
            "--save_pipeline",
        ],
        processes=2,
    )
    result = json.loads((output / "distillation_results.json").read_text())
    assert result["num_processes"] == 2 and result["parameters_identical_across_processes"] is True
    pipe = LSDMaskedTextPipeline.from_pretrained(output / "pipeline")
    pipe.set_progress_bar_config(disable=True)
    assert pipe(batch_size=2, seq_len=12, generator=torch.Generator().manual_seed(0)).nfe == 2
