import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def lsd_plus_row(sampler: str, steps: int, kept: str, refined: tuple[float, float], costs: dict) -> dict:
    verified = {"kept": kept, "seed": "cosine", "costs": costs, "differences": {"refined": list(refined)}}
    return {"sampler": sampler, "nfe": steps, "search": {"objective": "path_kl", "verified": verified}}


def test_tally_counts_the_paired_runs_and_skips_other_rows(tmp_path):
    costs = {"cosine": 2.0, "refined": 2.0, "learned": 1.9}
    rows = [
        lsd_plus_row("lsd_plus", 8, "cosine", (0.5, 0.25), costs),  # z = +2
        lsd_plus_row("lsd_plus_random", 8, "refined", (-0.3, 0.1), costs),  # z = -3
        {"sampler": "lsd_plus", "nfe": 4, "search": {"objective": "path_kl", "verified": {"kept": "x", "seed": "x"}}},
        {
            "sampler": "lsd_plus",
            "nfe": 16,
            "search": {
                "objective": "path_kl",
                "verified": {"kept": "y", "seed": "y", "batches": 0},
                "stage_seconds": {"split": 30.0, "seeds": 40.0, "refine": 20.0, "verify": 10.0},
            },
        },
        {
            "sampler": "lsd_plus_random",
            "nfe": 32,
            "search": {
                "objective": "path_kl",
                "verified": {"kept": "z", "seed": "z", "batches": 0},
                "stage_seconds": {"split": 30.0, "seeds": 40.0, "verify": 0.0},  # refine off
            },
        },
        {"sampler": "lsd", "nfe": 8, "search": {"objective": "path_kl", "verified": {"kept": "a", "seed": "a"}}},
        {**lsd_plus_row("lsd_plus", 16, "cosine", (0.1, 0.1), costs), "search": {"objective": "paper"}},
        {"sampler": "euler", "nfe": 8},
    ]
    (tmp_path / "task.json").write_text(json.dumps({"rows": rows}))
    output = tmp_path / "tally.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "search_tally.py"), "--results", str(tmp_path / "task.json")]
    subprocess.run([*command, "--output", str(output)], check=True, capture_output=True)
    tally = json.loads(output.read_text())
    summary = tally["summary"]
    assert (summary["runs"], summary["kept_seed"], summary["paired_rule_runs"]) == (5, 4, 2)
    assert (summary["refine_took_no_move"], summary["refine_off"]) == (1, 1)
    z = summary["refined_minus_seed_z"]
    assert z["mean"] == pytest.approx(-0.5)
    assert z["standard_error"] == pytest.approx(math.sqrt(12.5) / math.sqrt(2))  # sd of (+2, -3) / sqrt(2)
    assert (z["above_zero"], z["below_minus_two"]) == (1, 1)
    assert summary["coefficients_abs_relative_change"]["median"] == pytest.approx(0.05)
    assert [run["steps"] for run in tally["runs"]] == [4, 8, 16, 8, 32]  # by task, sampler, M
    # only the run that refined and timed its stages: (20 + 10) / 100
    assert summary["refine_and_verify_share"] == {"runs": 1, "median": pytest.approx(0.3), "max": pytest.approx(0.3)}
