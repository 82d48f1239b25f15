"""benchmarks/report.py renders the text section from a results file, next to the existing sections."""

import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def report(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import report

    monkeypatch.setattr(report, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(report, "DOCS", tmp_path / "docs")
    monkeypatch.setattr(report, "IMAGES", tmp_path / "docs" / "images")
    monkeypatch.setattr(report, "README", tmp_path / "README.md")
    (tmp_path / "README.md").write_text(f"# Title\n\n{report.GLANCE_BEGIN}\nstale\n{report.GLANCE_END}\n\nProse.\n")
    (tmp_path / "docs").mkdir()
    yield report
    sys.modules.pop("report", None)


def fake_text_record() -> dict:
    def row(sampler, nfe, gen_ppl, entropy, mauve, **extra):
        return {
            "sampler": sampler,
            "nfe": nfe,
            "metrics": {"gen_ppl": gen_ppl, "entropy": entropy, "mauve": mauve},
            **extra,
        }

    rows = []
    for nfe, scale in ((8, 2.0), (16, 1.5)):
        rows += [
            row("euler", nfe, 300 * scale, 4.1, 0.2 / scale),
            row("confidence", nfe, 150 * scale, 3.6, 0.3 / scale),
            row("power", nfe, 250 * scale, 4.1, 0.25 / scale, gamma=0.7),
            row("lsd_plus", nfe, 120 * scale, 4.0, 0.5 / scale, distill_seconds=95.0, coefficients=[1.0] * nfe),
        ]
    return {
        "task": "text",
        "command": "python benchmarks/text.py --samples 256",
        "machine": "2-core CPU",
        "date": "2026-01-01",
        "teacher": {"sampler": "tweedie", "nfe": 256, "metrics": {"gen_ppl": 100.0, "entropy": 4.05, "mauve": 0.8}},
        "data": {"metrics": {"gen_ppl": 40.0, "entropy": 4.1, "mauve": 0.97}, "examples": ["a", "b"]},
        "rows": rows,
        "gap_closed": {"gen_ppl": {"8": 0.9, "16": 0.875}, "mauve": {"8": 0.43, "16": 0.4}},
        "distillation": {
            "teacher_steps": "8 M",
            "train_batch_size": 32,
            "seeds": "0 (training)",
            "eval_seed": 1000000,
            "samples_per_cell": 256,
            "seq_len": 64,
        },
        "evaluation": {
            "judge": "SmolLM2-135M-Instruct",
            "judge_precision": "bf16",
            "power_grid": [0.5, 0.7],
            "power_selected_by": "gen_ppl",
        },
    }


def test_text_section_has_the_table_gap_and_plot(report, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "text.json").write_text(json.dumps(fake_text_record()))
    report.main()
    page = (tmp_path / "docs" / "benchmarks.md").read_text()
    assert "## Text, teacher trained here" in page and "![text metrics vs NFE](images/text_vs_nfe.png)" in page
    assert (tmp_path / "docs" / "images" / "text_vs_nfe.png").stat().st_size > 10_000
    assert "| 8 | 90% | 43% | 4.000 |" in page and "| 16 | 88% | 40% | 4.000 |" in page
    assert "| | held-out text | 40.0000 | 4.1000 | 0.9700 | |" in page
    assert "| 8 | power (gamma=0.7) | 500.0000 | 4.1000 | 0.1250 |" in page
    assert "over gamma in {0.5, 0.7} by gen_ppl" in page


def test_existing_sections_still_render_next_to_the_text_section(report, tmp_path):
    committed = ROOT / "benchmarks" / "results"
    shutil.copytree(committed, tmp_path / "results")
    (tmp_path / "results" / "text.json").write_text(json.dumps(fake_text_record()))
    report.main()
    page = (tmp_path / "docs" / "benchmarks.md").read_text()
    if (committed / "countdown-oracle.json").exists():
        assert "## Countdown with the exact oracle" in page
    if (committed / "tiny-exact.json").exists():
        assert "## Tiny exact task" in page
    assert page.index("## Text, teacher trained here") > 0


def test_text_section_shows_intervals_commands_and_per_row_distillation(report, tmp_path):
    record = fake_text_record()
    record["teacher"]["gen_ppl_interval"] = [90.0, 111.0]
    for row in record["rows"]:
        if row["nfe"] == 16:
            row["gen_ppl_interval"] = [0.9 * row["metrics"]["gen_ppl"], 1.1 * row["metrics"]["gen_ppl"]]
        if row["sampler"] == "lsd_plus":
            row["distillation"] = {
                "teacher_steps": 8 * row["nfe"] // (1 + (row["nfe"] == 16)),
                "train_batch_size": 8,
                "split_evaluations": 4,
                **({"assignment_samples": 16} if row["nfe"] == 16 else {}),
            }
    record["commands"] = ["python benchmarks/text.py --steps 8", "python benchmarks/text.py --steps 16 --append"]
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "text.json").write_text(json.dumps(record))
    report.main()
    page = (tmp_path / "docs" / "benchmarks.md").read_text()
    assert "| gen_ppl 95% | distill s |" in page and "| 256 | teacher (tweedie) |" in page
    assert "| 0.8000 | 90-111 | |" in page  # the teacher
    assert "| 8 | euler | 600.0000 | 4.1000 | 0.1000 | |  |" in page  # no interval recorded, no distillation
    assert "| 16 | euler | 450.0000 | 4.1000 | 0.1333 | 405-495 |  |" in page
    assert "| | held-out text | 40.0000 | 4.1000 | 0.9700 | | |" in page
    assert "- `python benchmarks/text.py --steps 16 --append`" in page
    assert "N = 8 M, 8 trajectories per rollout, 4 golden-section evaluations per boundary at M = 8" in page
    assert (
        "N = 4 M, 8 trajectories per rollout, 4 golden-section evaluations per boundary, 16 sub-step assignments per "
        "step at M = 16" in page
    )


def test_rows_ahead_of_lsd_plus_are_told_apart_only_when_their_intervals_are(report):
    def row(sampler, distance, low, high):
        return {"sampler": sampler, "metrics": {"fd_teacher": distance}, "fd_teacher_interval": [low, high]}

    learned = row("lsd_plus", 3.0, 2.0, 4.0)
    assert report.beats_every_row([learned, row("euler", 8.0, 6.0, 10.0)], "fd_teacher") == "yes"
    close, far = row("cosine", 2.5, 1.5, 3.5), row("jys", 1.0, 0.5, 1.5)
    assert report.beats_every_row([learned, close], "fd_teacher") == "**no**: cosine (all within the 95% intervals)"
    assert report.beats_every_row([learned, close, far], "fd_teacher") == "**no**: cosine, jys (intervals apart: jys)"
    plain = [{"sampler": name, "metrics": {"kl": value}} for name, value in (("lsd_plus", 0.2), ("cosine", 0.1))]
    assert report.beats_every_row(plain, "kl") == "**no**: cosine"
    # a row from before the metric was added: no verdict (not "yes" over the rows that happen to have it)
    unmeasured = {"sampler": "euler", "metrics": {"fd_classifier": 100.0}}
    assert report.beats_every_row([learned, unmeasured], "fd_teacher") == "not measured on every row"
    assert report.beats_every_row([learned, close, unmeasured], "fd_teacher") == "not measured on every row"


def test_readme_table_is_regenerated_between_its_markers(report, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    record = fake_text_record()
    for row in record["rows"]:
        row["gen_ppl_interval"] = [row["metrics"]["gen_ppl"] * 0.9, row["metrics"]["gen_ppl"] * 1.1]
    for nfe, scale in ((8, 2.0), (16, 1.5)):
        record["rows"] += [
            {"sampler": sampler, "nfe": nfe, "metrics": {"gen_ppl": gen_ppl * scale, "entropy": 4.0, "mauve": 0.3}}
            for sampler, gen_ppl in (("cosine", 280), ("jys", 260), ("spread", 120))
        ]
    record["rows"][3]["unmasking_order"] = "spread"  # lsd_plus at M = 8
    record["rows"] = [row for row in record["rows"] if not (row["nfe"] == 16 and row["sampler"] == "jys")]
    (results / "text.json").write_text(json.dumps(record))
    report.main()
    readme = (tmp_path / "README.md").read_text()
    assert "stale" not in readme and readme.startswith("# Title") and readme.endswith("\n\nProse.\n")
    # the ties for the lowest are both bold; a row's +- is the median half-width of its intervals (here 10%)
    assert (
        "| text, text-large teacher (SmolLM2 perplexity, +-10%) | 8 | 600 | 560 | 500 | 520 | **240** "
        "| **240** (spread) | 100 (N = 256) |" in readme
    )
    # M = 16 lacks a jys row, so it is left out rather than shown with a hole
    assert "| 16 |" not in readme


def test_paired_fd_teacher_decides_which_rows_ahead_are_apart_and_gets_a_column(report, tmp_path):
    def row(sampler, distance, low, high, paired=None):
        record = {
            "sampler": sampler,
            "nfe": 8,
            "metrics": {"fd_teacher": distance},
            "fd_teacher_interval": [low, high],
        }
        if paired:
            record["fd_teacher_paired"] = {
                "against": "lsd_plus",
                "difference": paired[0],
                "interval": list(paired[1:]),
            }
        return record

    learned = row("lsd_plus", 3.0, 2.0, 4.0)
    # own intervals overlap; the paired interval of cosine minus lsd_plus lies below 0, that of jys does not
    cosine, jys = row("cosine", 2.5, 1.5, 3.5, (-0.5, -0.8, -0.2)), row("jys", 2.8, 1.8, 3.8, (-0.2, -0.6, 0.2))
    assert report.beats_every_row([learned, cosine, jys], "fd_teacher") == (
        "**no**: cosine, jys (paired intervals apart: cosine)"
    )
    assert report.beats_every_row([learned, jys], "fd_teacher") == "**no**: jys (all within the paired 95% intervals)"

    record = {
        "task": "text",
        "command": "python benchmarks/text.py --samples 512 --output benchmarks/results/text-separation.json",
        "machine": "2-core CPU",
        "date": "2026-01-01",
        "teacher": {"sampler": "tweedie", "nfe": 256, "metrics": {"fd_teacher": 1.0}},
        "rows": [learned, cosine, jys],
        "distillation": {"samples_per_cell": 512},
    }
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "text-separation.json").write_text(json.dumps(record))
    report.main()
    page = (tmp_path / "docs" / "benchmarks.md").read_text()
    assert "## Text at 512 samples per cell" in page
    assert "| fd_teacher minus lsd_plus (paired 95%) | distill s |" in page
    assert "| 8 | cosine | 2.5000 | 1.5000-3.5000 | -0.5000 (-0.8000 to -0.2000) |  |" in page
    assert "| 8 | lsd_plus | 3.0000 | 2.0000-4.0000 | |  |" in page
