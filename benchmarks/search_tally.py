"""What the later stages of LSD+'s search (`refine`, `coefficients`) bought in every committed path-KL run.

Reads the `verified` record that each LSD+ row of the results files keeps (the seed schedule, the refined one and the
refined one with learned coefficients, scored on the same fresh batches) and writes a tally:

    python benchmarks/search_tally.py  # -> benchmarks/results/search-tally.json

Per run: which candidate `verify` kept, the refined schedule minus the seed in standard errors of the paired
difference (negative: the refinement helped), and the relative change of the cost that the learned Phi made.
Runs verified under the earlier one-batch rule (no paired differences recorded) count only in `kept`; runs whose
refinement took no move (so `verify` scored nothing) count in `kept` and in `refine_took_no_move`; runs with refine
off (`refine_sweeps = 0`, known from their stage times) count in `kept` and in `refine_off`. Runs that refined and
recorded their time per stage also give the share of the distillation that `refine` and `verify` took.
"""

import argparse
import datetime
import glob
import json
import math
import statistics
from collections.abc import Iterator
from pathlib import Path


def verified_rows(record) -> Iterator[dict]:
    """Every row (anywhere in a results record) with a path-KL LSD+ search that recorded a verification."""
    if isinstance(record, dict):
        search = record.get("search")
        if (
            isinstance(search, dict)
            and "verified" in search
            and search.get("objective") == "path_kl"
            and str(record.get("sampler", "")).startswith("lsd_plus")
        ):
            yield record
        for value in record.values():
            yield from verified_rows(value)
    elif isinstance(record, list):
        for value in record:
            yield from verified_rows(value)


def run_entry(task: str, row: dict) -> dict:
    """One run's line of the tally."""
    verified = row["search"]["verified"]
    entry = {"task": task, "sampler": row["sampler"], "steps": row.get("nfe")}
    entry.update(seed=verified["seed"], kept=verified["kept"])
    differences = verified.get("differences", {})
    if "refined" in differences:
        difference, error = differences["refined"]
        entry["refined_minus_seed"] = difference
        entry["standard_error"] = error
        # z = difference / s.e. of the paired difference
        entry["z"] = difference / error if error > 0 else 0.0
    stage_seconds = row["search"].get("stage_seconds")
    if stage_seconds is not None and "refine" not in stage_seconds:  # run with refine_sweeps = 0
        entry["refine_off"] = True
    elif verified.get("batches") == 0:  # verify had nothing to compare: the refinement took no move, Phi = 1
        entry["refine_moved"] = False
    costs = verified.get("costs", {})
    if "refined" in costs and "learned" in costs:
        # relative effect of the learned Phi: (cost(refined, Phi) - cost(refined, 1)) / cost(refined, 1)
        entry["coefficients_relative_change"] = (costs["learned"] - costs["refined"]) / costs["refined"]
    if stage_seconds and "refine" in stage_seconds and sum(stage_seconds.values()) > 0:
        entry["stage_seconds"] = stage_seconds
        late = stage_seconds["refine"] + stage_seconds.get("verify", 0.0)
        entry["refine_and_verify_share"] = late / sum(stage_seconds.values())
    return entry


def summary(entries: list[dict]) -> dict:
    """Counts and the distribution of the refinement's z over the runs under the paired rule."""
    z = [entry["z"] for entry in entries if "z" in entry]
    moves = [
        abs(entry["coefficients_relative_change"]) for entry in entries if "coefficients_relative_change" in entry
    ]
    result = {
        "runs": len(entries),
        "kept_seed": sum(entry["kept"] == entry["seed"] for entry in entries),
        "paired_rule_runs": len(z),
        "refine_took_no_move": sum(entry.get("refine_moved") is False for entry in entries),
        "refine_off": sum(entry.get("refine_off", False) for entry in entries),
    }
    if len(z) > 1:
        result["refined_minus_seed_z"] = {
            "mean": statistics.fmean(z),
            # s.e. of the mean z = sd(z) / sqrt(n)
            "standard_error": statistics.stdev(z) / math.sqrt(len(z)),
            "min": min(z),
            "max": max(z),
            "above_zero": sum(value > 0 for value in z),
            "below_minus_two": sum(value < -2 for value in z),
        }
    if moves:
        result["coefficients_abs_relative_change"] = {"median": statistics.median(moves), "max": max(moves)}
    shares = [entry["refine_and_verify_share"] for entry in entries if "refine_and_verify_share" in entry]
    if shares:
        result["refine_and_verify_share"] = {
            "runs": len(shares),
            "median": statistics.median(shares),
            "max": max(shares),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", nargs="+", default=sorted(glob.glob("benchmarks/results/*.json")))
    parser.add_argument("--output", default="benchmarks/results/search-tally.json")
    args = parser.parse_args()
    entries = []
    for file in args.results:
        if Path(file).resolve() == Path(args.output).resolve():
            continue
        task = Path(file).stem
        entries.extend(run_entry(task, row) for row in verified_rows(json.loads(Path(file).read_text())))
    entries.sort(key=lambda entry: (entry["task"], entry["sampler"], entry["steps"] or 0))
    result = {
        "command": "python benchmarks/search_tally.py",
        "date": datetime.date.today().isoformat(),
        "summary": summary(entries),
        "runs": entries,
    }
    Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    print(f"{'task':<26} {'sampler':<16} {'M':>3} {'seed':<11} {'kept':<11} {'refined-seed (z)':>17} {'Phi':>8}")
    for entry in entries:
        z = f"{entry['z']:+.2f}" if "z" in entry else "-"
        change = entry.get("coefficients_relative_change")
        phi = f"{100 * change:+.2f}%" if change is not None else "-"
        print(
            f"{entry['task']:<26} {entry['sampler']:<16} {entry['steps'] or '-':>3} {entry['seed']:<11} "
            f"{entry['kept']:<11} {z:>17} {phi:>8}"
        )
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
