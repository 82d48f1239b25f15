"""benchmarks/export_samplers.py: the committed sampler folders are the benchmarks' learned rows, and they load and
sample with the teachers they were distilled for."""

import json
import sys
from pathlib import Path

import pytest
import torch

from lsd_schedulers import LSDMaskedTextPipeline, LSDPlusScheduler

ROOT = Path(__file__).resolve().parents[2]
SAMPLERS = ROOT / "samplers"
sys.path.insert(0, str(ROOT / "benchmarks"))
import export_samplers  # noqa: E402


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_committed_samplers_are_the_export_of_the_committed_results(tmp_path):
    export_samplers.main(["--output_dir", str(tmp_path)])
    fresh, committed = files_under(tmp_path), files_under(SAMPLERS)
    assert sorted(fresh) == sorted(committed), "run `python benchmarks/export_samplers.py` after a benchmark"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"{stale} differ from the results: run `python benchmarks/export_samplers.py`"


@pytest.mark.parametrize("task", ["text", "image", "countdown-trained"])
def test_each_folder_holds_the_learned_row_on_the_teachers_scheduler(task):
    results = json.loads((ROOT / "benchmarks" / "results" / f"{task}.json").read_text())
    teacher = json.loads((ROOT / export_samplers.TASKS[task][0] / "scheduler" / "scheduler_config.json").read_text())
    rows = [row for row in results["rows"] if row["sampler"] == "lsd_plus"]
    assert rows
    for row in rows:
        scheduler = LSDPlusScheduler.from_pretrained(SAMPLERS / f"{task}-m{row['nfe']}")
        scheduler.set_timesteps()
        assert torch.allclose(scheduler.timesteps.double(), torch.tensor(row["timesteps"][:-1]).double(), atol=1e-6)
        assert scheduler.config.coefficients == row["coefficients"]
        assert scheduler.config.unmasking_order == row["unmasking_order"]
        for field in ("vocab_size", "mask_token_id", "forward_process", "noise_schedule", "solver"):
            assert scheduler.config[field] == teacher[field]
    if task == "image":  # benchmarks/image.py gives the scheduler the 7 x 7 token grid of the 28-pixel images
        assert scheduler.config.token_grid_shape == [7, 7]


def test_the_text_sampler_drives_its_teachers_pipeline():
    pipe = LSDMaskedTextPipeline.from_pretrained(ROOT / "teachers" / "text-large")
    pipe.scheduler = LSDPlusScheduler.from_pretrained(SAMPLERS / "text-m8")
    first = pipe(batch_size=2, seq_len=32, generator=torch.Generator().manual_seed(0), output_type="seq")
    again = pipe(batch_size=2, seq_len=32, generator=torch.Generator().manual_seed(0), output_type="seq")
    other = pipe(batch_size=2, seq_len=32, generator=torch.Generator().manual_seed(1), output_type="seq")
    assert first.nfe == 8 and first.sequences.shape == (2, 32)
    assert not (first.sequences == pipe.scheduler.config.mask_token_id).any()
    assert torch.equal(first.sequences, again.sequences) and not torch.equal(first.sequences, other.sequences)


@pytest.mark.parametrize("folder", ["text-m8", "image-m8", "countdown-trained-m8"])
def test_the_model_cards_code_runs(folder, monkeypatch):
    card = (SAMPLERS / folder / "README.md").read_text()
    code = card.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(ROOT)  # the card's paths are relative to the repository
    namespace = {}
    exec(code, namespace)
    assert isinstance(namespace.get("scheduler", getattr(namespace.get("pipe"), "scheduler", None)), LSDPlusScheduler)
