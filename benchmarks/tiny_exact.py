"""Tiny exact task (EVALUATION.md task 2): a random Markov chain small enough that the sampler's whole output
distribution is computed by enumeration, so TV and KL to the data distribution are exact, not estimates.

    python benchmarks/tiny_exact.py                     # V = 4, L = 5, M in {4, 8, 16, 32}

The exact distributions come from `lsd_schedulers.metrics.exact` (pushed forward one step at a time over all
(V + 1)^L token strings, MASK included).
Writes benchmarks/results/tiny-exact.json.
"""

import argparse
import time

import torch
from common import distil_all, hand_made, keep_best_power, learned_values, variant, write_results

from lsd_schedulers import LSDDiscreteScheduler
from lsd_schedulers.metrics.exact import all_strings, exact_metrics, exact_output_distribution
from lsd_schedulers.metrics.exact import markov_chain_probabilities as data_distribution
from lsd_schedulers.models import MarkovChainOracle, random_chain


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--num_states", type=int, default=4)
    parser.add_argument("--seq_len", type=int, default=5)
    parser.add_argument("--chain_seed", type=int, default=0)
    parser.add_argument("--teacher_steps", type=int, default=1024)
    parser.add_argument("--train_batch_size", type=int, default=256)
    parser.add_argument("--output", default="benchmarks/results/tiny-exact.json")
    return parser.parse_args()


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(2)
    initial, transition = random_chain(args.num_states, args.chain_seed)
    oracle = MarkovChainOracle(initial, transition)
    baseline = LSDDiscreteScheduler(vocab_size=oracle.vocab_size, mask_token_id=oracle.mask_token_id)
    strings = all_strings(oracle.vocab_size, args.seq_len)
    target = data_distribution(initial, transition, strings)

    start = time.perf_counter()
    teacher_output = exact_output_distribution(oracle, variant(baseline), args.teacher_steps, strings)
    teacher = {"sampler": "tweedie", "nfe": args.teacher_steps, "metrics": exact_metrics(target, teacher_output)}
    print(f"teacher (N={args.teacher_steps}): {teacher['metrics']} in {time.perf_counter() - start:.0f} s")

    rows = []
    for steps in args.steps:
        distilled = distil_all(oracle, baseline, steps, batch_size=args.train_batch_size, seq_len=args.seq_len)
        samplers = {**hand_made(baseline), **{name: scheduler for name, (scheduler, _) in distilled.items()}}
        cells = []
        for name, scheduler in samplers.items():
            output = exact_output_distribution(oracle, scheduler, steps, strings)
            row = {"sampler": name, "nfe": steps, "metrics": exact_metrics(target, output)}
            if name in distilled:
                row.update(distill_seconds=round(distilled[name][1], 1), **learned_values(distilled[name][0]))
            cells.append(row)
        cells = keep_best_power(cells, "tv")
        for row in cells:
            print(f"  M={steps:<3} {row['sampler']:<15} {row['metrics']}", flush=True)
        rows.extend(cells)

    write_results(args.output, "tiny-exact", teacher, rows, {
        "chain": {"num_states": args.num_states, "seq_len": args.seq_len, "seed": args.chain_seed,
                  "initial": initial.tolist(), "transition": transition.tolist()},
        "distillation": {"teacher_steps": "8 M", "train_batch_size": args.train_batch_size, "seeds": "0"},
    })  # fmt: skip


if __name__ == "__main__":
    main(parse_args())
