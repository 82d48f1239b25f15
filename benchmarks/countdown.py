"""Countdown with the exact Markov-chain oracle (EVALUATION.md task 1): every remaining error is the sampler's.

    python benchmarks/countdown.py                      # M in {4, 8, 16, 32}, 512 samples per cell
    python benchmarks/countdown.py --steps 4 --samples 64 --teacher_steps 64 --output /tmp/quick.json

Writes benchmarks/results/countdown-oracle.json; `python benchmarks/report.py` turns it into docs/benchmarks.md.
"""

import argparse
import time

import torch
from common import distil_all, hand_made, keep_best_power, learned_values, variant, write_results

from lsd_schedulers import LSDDiscreteScheduler
from lsd_schedulers.metrics.evaluation import compare_samplers, countdown_metrics, sample_in_batches
from lsd_schedulers.models import MarkovChainOracle, countdown_chain


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--teacher_steps", type=int, default=1024, help="N of the teacher row")
    parser.add_argument("--num_states", type=int, default=32)
    parser.add_argument("--seq_len", type=int, default=256)
    parser.add_argument("--train_batch_size", type=int, default=32)
    parser.add_argument("--eval_seed", type=int, default=1_000_000, help="disjoint from distillation seeds (< 1000)")
    parser.add_argument("--output", default="benchmarks/results/countdown-oracle.json")
    return parser.parse_args()


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(2)
    initial, transition = countdown_chain(args.num_states)
    oracle = MarkovChainOracle(initial, transition)
    baseline = LSDDiscreteScheduler(vocab_size=oracle.vocab_size, mask_token_id=oracle.mask_token_id)

    def metrics(samples):
        return countdown_metrics(samples, initial)

    start = time.perf_counter()
    teacher_samples = sample_in_batches(
        oracle, variant(baseline), args.samples, args.seq_len, args.teacher_steps, args.eval_seed
    )
    teacher = {"sampler": "tweedie", "nfe": args.teacher_steps, "metrics": metrics(teacher_samples)}
    print(f"teacher (N={args.teacher_steps}): {teacher['metrics']} in {time.perf_counter() - start:.0f} s")

    rows = []
    for steps in args.steps:
        distilled = distil_all(oracle, baseline, steps, batch_size=args.train_batch_size, seq_len=args.seq_len)
        samplers = {name: (scheduler, steps) for name, scheduler in hand_made(baseline).items()}
        samplers.update({name: (scheduler, steps) for name, (scheduler, _) in distilled.items()})
        cells = compare_samplers(oracle, samplers, metrics, args.samples, args.seq_len, args.eval_seed)
        for row in cells:
            if row["sampler"] in distilled:
                scheduler, seconds = distilled[row["sampler"]]
                row.update(distill_seconds=round(seconds, 1), **learned_values(scheduler))
        cells = keep_best_power(cells, "violation_rate")
        for row in cells:
            print(f"  M={steps:<3} {row['sampler']:<15} {row['metrics']}", flush=True)
        rows.extend(cells)

    write_results(args.output, "countdown-oracle", teacher, rows, {
        "distillation": {"teacher_steps": "8 M", "train_batch_size": args.train_batch_size, "seeds": "0 (training)",
                         "eval_seed": args.eval_seed, "samples_per_cell": args.samples, "seq_len": args.seq_len},
    })  # fmt: skip


if __name__ == "__main__":
    main(parse_args())
