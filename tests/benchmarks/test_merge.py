import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from merge import merge_records, with_output  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BASE_COMMAND = "python benchmarks/text.py --steps 8 --samplers euler --output benchmarks/results/text.json"


def text_record(rows: list[dict], commands: list[str]) -> dict:
    return {
        "task": "text",
        "command": commands[-1],
        "commands": commands,
        "machine": "2-core CPU",
        "date": "2026-12-06",
        "teacher": {"sampler": "tweedie", "nfe": 256, "metrics": {"gen_ppl": 800.0, "mauve": 0.2}},
        "rows": rows,
        "gap_closed": {},
        "evaluation": {"metrics": ["gen_ppl", "mauve"], "teacher_weights": "abc"},
    }


def row(sampler: str, nfe: int, gen_ppl: float) -> dict:
    return {"sampler": sampler, "nfe": nfe, "metrics": {"gen_ppl": gen_ppl, "mauve": 0.1}}


def appended(base: dict, new_rows: list[dict], command: str) -> dict:
    """What an appending run on a copy of `base` writes."""
    rows = [r for r in base["rows"] if (r["sampler"], r["nfe"]) not in {(n["sampler"], n["nfe"]) for n in new_rows}]
    return {**base, "rows": rows + new_rows, "commands": [*base["commands"], command], "command": command}


def test_merge_takes_each_copys_rows_and_commands_and_recomputes_the_gap():
    base = text_record([row("euler", 8, 1400.0), row("lsd_plus", 8, 1000.0)], [BASE_COMMAND])
    plus = appended(base, [row("lsd_plus", 16, 900.0)], "python benchmarks/text.py --steps 16 --output /tmp/a.json")
    later = appended(base, [row("euler", 16, 1200.0), row("lsd_plus", 8, 950.0)], "python x.py --output=/tmp/b.json")
    merged = merge_records(base, {"a": plus, "b": later}, "benchmarks/results/text.json")
    cells = {(r["sampler"], r["nfe"]): r["metrics"]["gen_ppl"] for r in merged["rows"]}
    assert cells == {("euler", 8): 1400.0, ("lsd_plus", 8): 950.0, ("lsd_plus", 16): 900.0, ("euler", 16): 1200.0}
    assert [r["nfe"] for r in merged["rows"]] == sorted(r["nfe"] for r in merged["rows"])
    assert merged["commands"] == [
        BASE_COMMAND,
        "python benchmarks/text.py --steps 16 --output benchmarks/results/text.json",
        "python x.py --output=benchmarks/results/text.json",
    ]
    assert merged["command"] == merged["commands"][-1]
    # (euler - lsd_plus) / (euler - teacher): (1400 - 950) / 600 at M = 8, (1200 - 900) / 400 at M = 16
    assert merged["gap_closed"]["gen_ppl"] == {"8": 0.75, "16": 0.75}
    assert base["rows"] == [row("euler", 8, 1400.0), row("lsd_plus", 8, 1000.0)]  # the inputs are left as they were


def test_a_copy_does_not_undo_what_an_earlier_copy_replaced():
    base = text_record([row("euler", 8, 1400.0), row("lsd_plus", 8, 1000.0)], [BASE_COMMAND])
    replaced = appended(base, [row("lsd_plus", 8, 950.0)], "python x.py --output a.json")
    untouched = appended(base, [row("euler", 16, 1200.0)], "python x.py --output b.json")
    merged = merge_records(base, {"a": replaced, "b": untouched}, "text.json")
    assert [(r["sampler"], r["nfe"], r["metrics"]["gen_ppl"]) for r in merged["rows"]] == [
        ("euler", 8, 1400.0),
        ("lsd_plus", 8, 950.0),
        ("euler", 16, 1200.0),
    ]


def test_merge_refuses_a_copy_of_another_run():
    base = text_record([row("euler", 8, 1400.0)], [BASE_COMMAND])
    other_teacher = {**appended(base, [], "python x.py"), "teacher": {"sampler": "tweedie", "nfe": 128}}
    with pytest.raises(ValueError, match="teacher differ"):
        merge_records(base, {"copy.json": other_teacher}, "text.json")
    not_copied = text_record([row("euler", 8, 1400.0)], ["python benchmarks/text.py --steps 4"])
    with pytest.raises(ValueError, match="does not start with the file's commands"):
        merge_records(base, {"copy.json": not_copied}, "text.json")


def test_with_output_keeps_quoted_arguments():
    command = "python benchmarks/text.py --samplers 'power(0.5)' --output /tmp/x.json"
    assert with_output(command, "out dir/text.json") == (
        "python benchmarks/text.py --samplers 'power(0.5)' --output 'out dir/text.json'"
    )


def test_merge_script_rewrites_the_file_in_place(tmp_path):
    base = text_record([row("euler", 8, 1400.0)], [BASE_COMMAND])
    copy = appended(base, [row("lsd_plus", 8, 1100.0)], "python benchmarks/text.py --output /tmp/a.json")
    (tmp_path / "text.json").write_text(json.dumps(base))
    (tmp_path / "a.json").write_text(json.dumps(copy))
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "merge.py"), str(tmp_path / "text.json"), str(tmp_path / "a.json")],
        check=True,
        capture_output=True,
    )
    merged = json.loads((tmp_path / "text.json").read_text())
    assert [r["sampler"] for r in merged["rows"]] == ["euler", "lsd_plus"]
    assert merged["gap_closed"]["gen_ppl"] == {"8": 0.5}
    assert not (tmp_path / "text.json.partial").exists()
