"""Tiny exact task (docs/benchmarks.md): a random Markov chain small enough that the sampler's whole output
distribution is computed by enumeration, so TV and KL to the data distribution are exact, not estimates.

    python benchmarks/tiny_exact.py                     # V = 4, L = 5, M in {4, 8, 16, 32}

The exact distributions come from `lsd_schedulers.metrics.exact` (pushed forward one step at a time over all
(V + 1)^L token strings, MASK included).
Writes benchmarks/results/tiny-exact.json.
"""

import argparse
import functools
import time

import torch
from common import (
    distil_all,
    hand_made,
    keep_best_power,
    learned_values,
    metric_search,
    spread_made,
    variant,
    write_results,
)

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

    def kl_of(scheduler, steps: int) -> float:
        return exact_metrics(target, exact_output_distribution(oracle, scheduler, steps, strings))["kl"]

    rows = []
    for steps in args.steps:
        distilled = distil_all(oracle, baseline, steps, batch_size=args.train_batch_size, seq_len=args.seq_len)
        hand = hand_made(baseline)
        samplers = {**hand, **spread_made(baseline, ["spread"])}
        samplers.update({name: scheduler for name, (scheduler, _, _) in distilled.items()})
        # the ceiling of random-order schedules: coordinate search on the exact KL, from the best hand-made schedule
        start = time.perf_counter()
        kl_at_m = functools.partial(kl_of, steps=steps)
        first = min((name for name in hand if name != "euler"), key=lambda name: kl_at_m(hand[name]))
        hand[first].set_timesteps(steps)
        searched, _, evaluations = metric_search(kl_at_m, baseline, steps, hand[first].schedule, sweeps=3)
        samplers["metric_search"] = searched
        search_seconds = time.perf_counter() - start
        cells = []
        for name, scheduler in samplers.items():
            output = exact_output_distribution(oracle, scheduler, steps, strings)
            row = {
                "sampler": name,
                "nfe": steps,
                "unmasking_order": scheduler.config.unmasking_order,
                "metrics": exact_metrics(target, output),
            }
            if name in distilled:
                scheduler, seconds, search = distilled[name]
                row.update(distill_seconds=round(seconds, 1), **learned_values(scheduler, search))
            if name == "metric_search":
                row.update(
                    distill_seconds=round(search_seconds, 1),
                    start=first,
                    evaluations=evaluations,
                    **learned_values(scheduler),
                )
            cells.append(row)
        cells = keep_best_power(cells, "kl")
        for row in cells:
            print(f"  M={steps:<3} {row['sampler']:<15} {row['unmasking_order']:<8} {row['metrics']}", flush=True)
        rows.extend(cells)

    write_results(
        args.output,
        "tiny-exact",
        teacher,
        rows,
        {
            "chain": {
                "num_states": args.num_states,
                "seq_len": args.seq_len,
                "seed": args.chain_seed,
                "initial": initial.tolist(),
                "transition": transition.tolist(),
            },
            "distillation": {"teacher_steps": "8 M", "train_batch_size": args.train_batch_size, "seeds": "0"},
            "selection": "power and spread: the best hand-made schedule of each order by exact KL",
        },
    )


if __name__ == "__main__":
    main(parse_args())
