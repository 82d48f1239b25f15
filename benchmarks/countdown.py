"""Countdown (docs/benchmarks.md, "Countdown"): the exact Markov-chain oracle, or a transformer teacher trained here.

    python benchmarks/countdown.py                      # exact oracle, M in {4, 8, 16, 32}, 512 samples per cell
    python benchmarks/countdown.py --teacher_model teachers/countdown --steps 8 16 32 64 --precision bf16
    python benchmarks/countdown.py --steps 4 --samples 64 --teacher_steps 64 --output /tmp/quick.json
    python benchmarks/countdown.py --steps 64 --append ...   # add rows to an existing results file (same protocol)

With the oracle every remaining error is the sampler's; with a trained teacher the model's own error is present
too. Writes benchmarks/results/countdown-oracle.json (or countdown-trained.json); `python benchmarks/report.py`
turns them into docs/benchmarks.md.
"""

import argparse
import time

import torch
from common import (
    DISTILLED,
    POWER_GRID,
    cache_folder,
    distil_all,
    hand_made,
    keep_best_power,
    learned_values,
    merge_rows,
    metric_search,
    previous_results,
    spread_made,
    variant,
    weights_digest,
    write_results,
)

from lsd_schedulers import LSDDiscreteScheduler, MaskedDiffusionTransformer
from lsd_schedulers.metrics.evaluation import compare_samplers, countdown_metrics, sample_in_batches
from lsd_schedulers.models import AutocastDenoiser, MarkovChainOracle, NativeAdapter, countdown_chain


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--teacher_steps", type=int, default=1024, help="N of the teacher row")
    parser.add_argument("--num_states", type=int, default=32)
    parser.add_argument("--seq_len", type=int, default=256)
    parser.add_argument("--train_batch_size", type=int, default=32)
    parser.add_argument("--split_evaluations", type=int, default=8, help="golden-section evaluations per boundary")
    parser.add_argument("--teacher_ratio", type=int, default=8, help="distillation teacher steps N = ratio * M")
    parser.add_argument(
        "--assignment_samples", type=int, default=1, help="K sub-step assignments per step in path_kl (distillation)"
    )
    parser.add_argument("--distilled", nargs="+", default=[*DISTILLED, "jys"], choices=[*DISTILLED, "jys"])
    parser.add_argument("--power_grid", type=float, nargs="+", default=list(POWER_GRID), help="gammas for `power`")
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "bf16"),
        help="bf16: the teacher under CPU autocast (about 1.7x faster); the oracle always runs in float64",
    )
    parser.add_argument("--eval_seed", type=int, default=1_000_000, help="disjoint from distillation seeds (< 1000)")
    parser.add_argument(
        "--teacher_model", default=None, help="a folder from examples/train_teacher.py --mode countdown"
    )
    parser.add_argument(
        "--metric_search",
        type=int,
        nargs="*",
        default=[4, 8, 16],
        help="the M at which to run "
        "metric_search (exact oracle only): a schedule searched on the violation rate itself",
    )
    parser.add_argument("--search_samples", type=int, default=512, help="samples per metric_search evaluation")
    parser.add_argument("--search_seed", type=int, default=5000, help="metric_search's seeds (disjoint from both)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--append", action="store_true", help="keep the file's teacher row and other rows")
    parser.add_argument("--output", default=None, help="default: benchmarks/results/<task>.json")
    return parser.parse_args()


def load_denoiser(args: argparse.Namespace, oracle: MarkovChainOracle):
    """The exact oracle, or the trained teacher's transformer wrapped as a denoiser."""
    if args.teacher_model is None:
        return oracle, "countdown-oracle"
    model = MaskedDiffusionTransformer.from_pretrained(f"{args.teacher_model}/transformer").eval()
    if model.config.vocab_size != oracle.vocab_size:
        raise ValueError(
            f"The teacher reads {model.config.vocab_size} ids; countdown V={args.num_states} needs "
            f"{oracle.vocab_size}."
        )
    denoiser = NativeAdapter(model, oracle.vocab_size)
    return (AutocastDenoiser(denoiser) if args.precision == "bf16" else denoiser), "countdown-trained"


def search_on_the_metric(args: argparse.Namespace, denoiser, baseline, steps: int, metrics):
    """The metric_search row: a random-order schedule searched on the violation rate of `--search_samples` samples
    drawn with the search seeds (common random numbers), from the best hand-made schedule on those seeds."""
    start = time.perf_counter()

    def score(scheduler) -> float:
        samples = sample_in_batches(denoiser, scheduler, args.search_samples, args.seq_len, steps, args.search_seed)
        return metrics(samples)["violation_rate"]

    hand = {name: scheduler for name, scheduler in hand_made(baseline, args.power_grid).items() if name != "euler"}
    first = min(hand, key=lambda name: score(hand[name]))
    hand[first].set_timesteps(steps)
    searched, value, evaluations = metric_search(score, baseline, steps, hand[first].schedule)
    print(f"  metric_search (M={steps}) from {first}: {value:.4f} on the search seeds, {evaluations} evaluations")
    details = {
        "start": first,
        "evaluations": evaluations,
        "search_samples": args.search_samples,
        "search_seed": args.search_seed,
        "search_violation_rate": value,
    }
    return searched, time.perf_counter() - start, details


def protocol_of(record: dict) -> dict:
    """The fields a run must share with a results file to append to it."""
    setup = record["distillation"]
    return {
        "teacher_steps": record["teacher"]["nfe"],
        "samples": setup["samples_per_cell"],
        "eval_seed": setup["eval_seed"],
        "seq_len": setup["seq_len"],
        "precision": record.get("precision", "float64 (oracle)"),
    }


def countdown_setup(args: argparse.Namespace):
    """Threads set; the chain's initial law, the denoiser (oracle or trained teacher), the task name, the baseline."""
    torch.set_num_threads(args.threads)
    initial, transition = countdown_chain(args.num_states)
    oracle = MarkovChainOracle(initial, transition)
    denoiser, task = load_denoiser(args, oracle)
    baseline = LSDDiscreteScheduler(vocab_size=oracle.vocab_size, mask_token_id=oracle.mask_token_id)
    return initial, denoiser, task, baseline


def main(args: argparse.Namespace) -> None:
    initial, denoiser, task, baseline = countdown_setup(args)

    def metrics(samples):
        return countdown_metrics(samples, initial)

    output = args.output or f"benchmarks/results/{task}.json"
    precision = args.precision if args.teacher_model else "float64 (oracle)"
    protocol = {
        "teacher_steps": args.teacher_steps,
        "samples": args.samples,
        "eval_seed": args.eval_seed,
        "seq_len": args.seq_len,
        "precision": precision,
    }
    previous = previous_results(output, protocol, protocol_of) if args.append else None
    if previous is not None:
        teacher = previous["teacher"]
    else:
        start = time.perf_counter()
        teacher_samples = sample_in_batches(
            denoiser, variant(baseline), args.samples, args.seq_len, args.teacher_steps, args.eval_seed
        )
        teacher = {"sampler": "tweedie", "nfe": args.teacher_steps, "metrics": metrics(teacher_samples)}
        print(f"teacher (N={args.teacher_steps}): {teacher['metrics']} in {time.perf_counter() - start:.0f} s")

    settings = {
        "batch_size": args.train_batch_size,
        "seq_len": args.seq_len,
        "split_evaluations": args.split_evaluations,
        "assignment_samples": args.assignment_samples,
    }
    teacher_key = {
        "teacher_model": weights_digest(args.teacher_model),
        "num_states": args.num_states,
        "precision": precision,
    }
    cache = {"cache_dir": cache_folder(output), "cache_key": teacher_key}
    powers = {f"power({gamma})" for gamma in args.power_grid}
    rows = previous["rows"] if previous is not None else []
    for steps in args.steps:
        distilled = distil_all(denoiser, baseline, steps, args.distilled, args.teacher_ratio, **cache, **settings)
        samplers = {
            name: (scheduler, steps)
            for name, scheduler in hand_made(baseline).items()
            if not name.startswith("power(") or name in powers
        }
        samplers["confidence"] = (variant(baseline, unmasking_order="confidence"), steps)
        samplers.update(
            {
                name: (scheduler, steps)
                for name, scheduler in spread_made(baseline, ["spread"], args.power_grid).items()
            }
        )
        samplers.update({name: (scheduler, steps) for name, (scheduler, _, _) in distilled.items()})
        search = None
        if args.teacher_model is None and steps in args.metric_search:
            search = search_on_the_metric(args, denoiser, baseline, steps, metrics)
            samplers["metric_search"] = (search[0], steps)
        cells = compare_samplers(denoiser, samplers, metrics, args.samples, args.seq_len, args.eval_seed)
        for row in cells:
            if row["sampler"] in distilled:
                scheduler, seconds, summary = distilled[row["sampler"]]
                row.update(distill_seconds=round(seconds, 1), **learned_values(scheduler, summary))
                row["distillation"] = {
                    "teacher_steps": args.teacher_ratio * steps,
                    "train_batch_size": args.train_batch_size,
                    "split_evaluations": args.split_evaluations,
                    **({"assignment_samples": args.assignment_samples} if args.assignment_samples > 1 else {}),
                }
            if row["sampler"] == "metric_search":
                scheduler, seconds, details = search
                row.update(distill_seconds=round(seconds, 1), **details, **learned_values(scheduler))
        cells = keep_best_power(cells, "violation_rate")
        for row in cells:
            print(f"  M={steps:<3} {row['sampler']:<15} {row['unmasking_order']:<8} {row['metrics']}", flush=True)
        rows = merge_rows(rows, cells)
        # written after every M: an interrupted run keeps the step counts it finished
        write_results(
            output,
            task,
            teacher,
            rows,
            {
                "precision": precision,
                "distillation": {
                    "teacher_steps": "8 M unless a row says otherwise",
                    "seeds": "0 (training)",
                    "eval_seed": args.eval_seed,
                    "samples_per_cell": args.samples,
                    "seq_len": args.seq_len,
                },
                "power_grid": args.power_grid,
            },
            previous,
        )


if __name__ == "__main__":
    main(parse_args())
