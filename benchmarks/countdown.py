"""Countdown (EVALUATION.md tasks 1 and 3): the exact Markov-chain oracle, or a transformer teacher trained here.

    python benchmarks/countdown.py                      # exact oracle, M in {4, 8, 16, 32}, 512 samples per cell
    python benchmarks/countdown.py --teacher_model teachers/countdown --steps 8 16 32 64   # countdown-trained
    python benchmarks/countdown.py --steps 4 --samples 64 --teacher_steps 64 --output /tmp/quick.json

With the oracle every remaining error is the sampler's; with a trained teacher the model's own error is present
too. Writes benchmarks/results/countdown-oracle.json (or countdown-trained.json); `python benchmarks/report.py`
turns them into docs/benchmarks.md.
"""

import argparse
import time

import torch
from common import distil_all, hand_made, keep_best_power, learned_values, variant, write_results

from lsd_schedulers import LSDDiscreteScheduler, MaskedDiffusionTransformer
from lsd_schedulers.metrics.evaluation import compare_samplers, countdown_metrics, sample_in_batches
from lsd_schedulers.models import MarkovChainOracle, NativeAdapter, countdown_chain


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--teacher_steps", type=int, default=1024, help="N of the teacher row")
    parser.add_argument("--num_states", type=int, default=32)
    parser.add_argument("--seq_len", type=int, default=256)
    parser.add_argument("--train_batch_size", type=int, default=32)
    parser.add_argument("--eval_seed", type=int, default=1_000_000, help="disjoint from distillation seeds (< 1000)")
    parser.add_argument(
        "--teacher_model", default=None, help="a folder from examples/train_teacher.py --mode countdown"
    )
    parser.add_argument("--output", default=None, help="default: benchmarks/results/<task>.json")
    return parser.parse_args()


def load_denoiser(args: argparse.Namespace, oracle: MarkovChainOracle):
    """The exact oracle, or the trained teacher's transformer wrapped as a denoiser."""
    if args.teacher_model is None:
        return oracle, "countdown-oracle"
    model = MaskedDiffusionTransformer.from_pretrained(f"{args.teacher_model}/transformer").eval()
    if model.config.vocab_size != oracle.vocab_size:
        raise ValueError(f"The teacher reads {model.config.vocab_size} ids; countdown V={args.num_states} needs "
                         f"{oracle.vocab_size}.")  # fmt: skip
    return NativeAdapter(model, oracle.vocab_size), "countdown-trained"


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(2)
    initial, transition = countdown_chain(args.num_states)
    oracle = MarkovChainOracle(initial, transition)
    denoiser, task = load_denoiser(args, oracle)
    baseline = LSDDiscreteScheduler(vocab_size=oracle.vocab_size, mask_token_id=oracle.mask_token_id)

    def metrics(samples):
        return countdown_metrics(samples, initial)

    start = time.perf_counter()
    teacher_samples = sample_in_batches(
        denoiser, variant(baseline), args.samples, args.seq_len, args.teacher_steps, args.eval_seed
    )
    teacher = {"sampler": "tweedie", "nfe": args.teacher_steps, "metrics": metrics(teacher_samples)}
    print(f"teacher (N={args.teacher_steps}): {teacher['metrics']} in {time.perf_counter() - start:.0f} s")

    rows = []
    for steps in args.steps:
        distilled = distil_all(denoiser, baseline, steps, batch_size=args.train_batch_size, seq_len=args.seq_len)
        samplers = {name: (scheduler, steps) for name, scheduler in hand_made(baseline).items()}
        samplers.update({name: (scheduler, steps) for name, (scheduler, _) in distilled.items()})
        cells = compare_samplers(denoiser, samplers, metrics, args.samples, args.seq_len, args.eval_seed)
        for row in cells:
            if row["sampler"] in distilled:
                scheduler, seconds = distilled[row["sampler"]]
                row.update(distill_seconds=round(seconds, 1), **learned_values(scheduler))
        cells = keep_best_power(cells, "violation_rate")
        for row in cells:
            print(f"  M={steps:<3} {row['sampler']:<15} {row['metrics']}", flush=True)
        rows.extend(cells)

    write_results(args.output or f"benchmarks/results/{task}.json", task, teacher, rows, {
        "distillation": {"teacher_steps": "8 M", "train_batch_size": args.train_batch_size, "seeds": "0 (training)",
                         "eval_seed": args.eval_seed, "samples_per_cell": args.samples, "seq_len": args.seq_len},
    })  # fmt: skip


if __name__ == "__main__":
    main(parse_args())
