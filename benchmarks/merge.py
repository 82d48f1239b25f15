"""Merge copies of a results file that appending runs grew side by side into the file they were copied from.

    cp benchmarks/results/text.json /tmp/a.json; cp benchmarks/results/text.json /tmp/b.json
    python benchmarks/text.py --append --steps 16 --samplers lsd_plus --output /tmp/a.json &
    python benchmarks/text.py --append --steps 16 --samplers jys --output /tmp/b.json &
    wait; python benchmarks/merge.py benchmarks/results/text.json /tmp/a.json /tmp/b.json

(copy `<name>-teacher-reference.safetensors` beside each copy too, for text runs that measure fd_teacher). Each copy
must hold what the file held when it was copied: the same task, teacher row and settings, and the file's commands
first. The result is what the runs would have written appending one after another: the rows each copy added replace
rows of the same sampler and M, its new commands are listed with `--output` pointing at the file, and `gap_closed` is
recomputed from the merged rows.
"""

import argparse
import json
import shlex
from pathlib import Path

from common import commands_of, gap_closed, merge_rows, write_record

PER_RUN = ("rows", "command", "commands", "date", "machine", "gap_closed")  # the fields a run may change


def with_output(command: str, output: str) -> str:
    """`command` with its `--output` argument replaced by `output`."""
    words = shlex.split(command)
    for index, word in enumerate(words):
        if word == "--output":
            words[index + 1] = output
        elif word.startswith("--output="):
            words[index] = f"--output={output}"
    return shlex.join(words)


def merge_records(base: dict, copies: dict[str, dict], output: str) -> dict:
    """`base` with the rows and commands that each copy added to it.

    Args:
        base (`dict`): the results record the copies were made from.
        copies (`dict[str, dict]`): path -> results record of each copy, merged in this order.
        output (`str`): the path the merged commands name as their `--output`.
    """
    shared = {key: value for key, value in base.items() if key not in PER_RUN}
    base_commands = commands_of(base)
    merged = dict(base)
    rows, commands = base["rows"], list(base_commands)
    for path, record in copies.items():
        differing = sorted(key for key in {*shared, *record} - set(PER_RUN) if shared.get(key) != record.get(key))
        if differing:
            raise ValueError(f"{path} is not a copy of the same run: its {', '.join(differing)} differ.")
        added = commands_of(record)
        if added[: len(base_commands)] != base_commands:
            raise ValueError(f"{path} does not start with the file's commands: it was not copied from it.")
        rows = merge_rows(rows, [row for row in record["rows"] if row not in base["rows"]])  # what this run added
        commands += [with_output(command, output) for command in added[len(base_commands) :]]
        merged.update(date=record["date"], machine=record["machine"])
    merged.update(rows=rows, command=commands[-1], commands=commands)
    if "gap_closed" in base:
        merged["gap_closed"] = gap_closed(rows, base["teacher"], base["evaluation"]["metrics"])
    return merged


def main(args: argparse.Namespace) -> None:
    base = json.loads(Path(args.results).read_text())
    copies = {path: json.loads(Path(path).read_text()) for path in args.copies}
    merged = merge_records(base, copies, args.results)
    write_record(args.results, merged)
    print(f"merged {len(copies)} cop{'y' if len(copies) == 1 else 'ies'}: {len(merged['rows'])} rows")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", help="the results file the copies were made from; rewritten in place")
    parser.add_argument("copies", nargs="+", help="the copies, merged in this order (later rows win)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
