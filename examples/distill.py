"""Distil an LSD / LSD+ sampler for a frozen discrete diffusion model, then compare it with the baselines.

    accelerate launch examples/distill.py                      # countdown oracle, M = 8, LSD+, path-KL
    accelerate launch examples/distill.py --student_steps 16 --scheduler lsd --objective paper
    accelerate launch --multi_gpu --num_processes 2 examples/distill.py --cpu   # two CPU processes (gloo)

With no arguments it distils for the built-in countdown oracle (an exact denoiser, no download) and prints a
comparison table on evaluation seeds that distillation never used. The result is a scheduler folder
(`scheduler_config.json`, a model card `README.md` and `distillation_results.json`) that loads with
`LSDPlusScheduler.from_pretrained(output_dir)` and can be pushed to the Hub with `--push_to_hub`.
"""

import argparse
import json
import logging
import math
import time
from dataclasses import asdict
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, set_seed
from huggingface_hub import create_repo, upload_folder
from tqdm.auto import tqdm

from lsd_schedulers import LSDDiscreteScheduler
from lsd_schedulers.distillation import DistillationConfig, LSDDistiller
from lsd_schedulers.distillation.checkpointing import list_checkpoints, load_checkpoint, save_checkpoint
from lsd_schedulers.distillation.config import OBJECTIVES
from lsd_schedulers.metrics.evaluation import compare_samplers, countdown_metrics, markdown_table
from lsd_schedulers.models import MarkovChainOracle, countdown_chain
from lsd_schedulers.scheduling_lsd import UNMASKING_ORDERS

logger = get_logger(__name__)
TEACHERS = ("countdown",)
POWER_GRID = (0.2, 0.3, 0.5)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    model = parser.add_argument_group("teacher")
    model.add_argument("--teacher", default="countdown", choices=TEACHERS, help="the frozen denoiser")
    model.add_argument("--num_states", type=int, default=32, help="countdown vocabulary V (MASK is id V)")
    model.add_argument("--seq_len", type=int, default=256)
    model.add_argument("--solver", default="tweedie", choices=("tweedie", "euler"))
    model.add_argument("--noise_schedule", default="loglinear", choices=("loglinear", "cosine", "geometric"))
    model.add_argument("--coefficient_form", default="linear", choices=("linear", "power"))

    student = parser.add_argument_group("distillation")
    student.add_argument("--scheduler", default="lsd_plus", choices=("lsd", "lsd_plus"))
    student.add_argument("--student_steps", type=int, default=8, help="M: model calls of the student")
    student.add_argument("--teacher_steps", type=int, default=None, help="N: teacher steps (default 8 M)")
    student.add_argument("--objective", default="path_kl", choices=OBJECTIVES)
    student.add_argument(
        "--unmasking_order",
        default="auto",
        choices=("auto", *UNMASKING_ORDERS),
        help="auto: score random and spread orders under the objective and keep the best",
    )
    student.add_argument("--distance", default="l2", choices=("l2", "l1", "kl"), help="paper objective only")
    student.add_argument("--relaxation", type=float, default=0.05, help="zeta, the relaxed start")
    student.add_argument("--train_batch_size", type=int, default=32, help="trajectories per process per rollout")
    student.add_argument("--coefficient_rounds", type=int, default=3)
    student.add_argument("--adam_steps_per_round", type=int, default=30)
    student.add_argument("--learning_rate", type=float, default=0.05)
    student.add_argument("--split_evaluations", type=int, default=8)
    student.add_argument("--refine_sweeps", type=int, default=1)
    student.add_argument("--seed", type=int, default=0)

    run = parser.add_argument_group("run")
    run.add_argument("--output_dir", default="outputs/lsd-countdown")
    run.add_argument("--checkpointing_steps", type=int, default=5, help="save a checkpoint every N steps")
    run.add_argument("--checkpoints_total_limit", type=int, default=3)
    run.add_argument("--resume_from_checkpoint", default=None, help='a checkpoint folder, or "latest"')
    run.add_argument("--report_to", default="none", help='"tensorboard", "wandb", "all" or "none"')
    run.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is present")
    run.add_argument("--push_to_hub", action="store_true")
    run.add_argument("--hub_model_id", default=None, help="repository id (default: the output folder's name)")
    run.add_argument("--hub_token", default=None)

    evaluation = parser.add_argument_group("evaluation")
    evaluation.add_argument("--eval_samples", type=int, default=256)
    evaluation.add_argument("--eval_seed", type=int, default=1_000_000, help="disjoint from distillation seeds")
    evaluation.add_argument("--skip_evaluation", action="store_true")

    args = parser.parse_args(argv)
    if args.teacher_steps is None:
        args.teacher_steps = 8 * args.student_steps
    if args.student_steps < 1:
        parser.error(f"--student_steps must be positive, got {args.student_steps}")
    if args.student_steps > args.teacher_steps:
        parser.error(f"--student_steps (M={args.student_steps}) exceeds --teacher_steps (N={args.teacher_steps})")
    if args.teacher_steps % args.student_steps:
        parser.error(
            f"--teacher_steps (N={args.teacher_steps}) must be a multiple of --student_steps (M={args.student_steps})"
        )
    return args


def build_teacher(args: argparse.Namespace) -> tuple[MarkovChainOracle, LSDDiscreteScheduler, torch.Tensor]:
    """The frozen denoiser, its baseline sampler, and the data's unigram distribution (for metrics)."""
    initial, transition = countdown_chain(args.num_states)
    oracle = MarkovChainOracle(initial, transition)
    baseline = LSDDiscreteScheduler(
        vocab_size=oracle.vocab_size,
        mask_token_id=oracle.mask_token_id,
        solver=args.solver,
        noise_schedule=args.noise_schedule,
        coefficient_form=args.coefficient_form,
    )
    return oracle, baseline, initial


def distillation_config(args: argparse.Namespace, scheduler_type: str) -> DistillationConfig:
    return DistillationConfig(
        num_student_steps=args.student_steps,
        num_teacher_steps=args.teacher_steps,
        scheduler_type=scheduler_type,
        objective=args.objective,
        unmasking_order=args.unmasking_order,
        distance=args.distance,
        relaxation=args.relaxation,
        batch_size=args.train_batch_size,
        seq_len=args.seq_len,
        coefficient_rounds=args.coefficient_rounds,
        adam_steps_per_round=args.adam_steps_per_round,
        learning_rate=args.learning_rate,
        split_evaluations=args.split_evaluations,
        refine_sweeps=args.refine_sweeps,
        seed=args.seed,
    )


def resolve_checkpoint(args: argparse.Namespace, checkpoints_dir: Path) -> Path | None:
    if args.resume_from_checkpoint is None:
        return None
    if args.resume_from_checkpoint != "latest":
        return Path(args.resume_from_checkpoint)
    found = list_checkpoints(checkpoints_dir)
    return found[-1] if found else None


def evaluate(args, denoiser, baseline, stationary, distilled: dict[str, LSDDiscreteScheduler]) -> list[dict]:
    """The comparison table at the student's M, on evaluation seeds disjoint from distillation's."""
    m = args.student_steps

    def variant(**overrides):
        config = {k: v for k, v in baseline.config.items() if not k.startswith("_")}
        return LSDDiscreteScheduler.from_config({**config, **overrides})

    samplers = {
        "teacher": (variant(solver="tweedie"), args.teacher_steps),
        "euler": (variant(solver="euler"), m),
        "tweedie": (variant(solver="tweedie"), m),
        "cosine": (variant(timestep_spacing="cosine"), m),
    }
    samplers.update({f"power({g})": (variant(timestep_spacing="power", timestep_power=g), m) for g in POWER_GRID})
    for g in POWER_GRID:  # the spread order with each hand-made schedule
        samplers[f"spread power({g})"] = (
            variant(timestep_spacing="power", timestep_power=g, unmasking_order="spread"),
            m,
        )
    samplers.update({name: (scheduler, m) for name, scheduler in distilled.items()})
    rows = compare_samplers(
        denoiser, samplers, lambda x: countdown_metrics(x, stationary), args.eval_samples, args.seq_len, args.eval_seed
    )
    for row in rows:
        row["sampler"] += (
            f" ({distilled[row['sampler']].config.unmasking_order})" if row["sampler"] in distilled else ""
        )
    # keep the best power schedule of each order (chosen on the evaluation metric: the strongest hand-made baselines)
    kept = []
    for prefix in ("power(", "spread power("):
        group = [row for row in rows if row["sampler"].startswith(prefix)]
        kept.append(min(group, key=lambda row: row["metrics"]["violation_rate"]))
    return [row for row in rows if "power(" not in row["sampler"] or any(row is best for best in kept)]


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run (the Hub token left out)."""
    options = []
    for key, value in sorted(vars(args).items()):
        if key == "hub_token" or value in (None, False):
            continue
        options.append(f"--{key}" if value is True else f"--{key} {value}")
    return "accelerate launch examples/distill.py " + " ".join(options)


def main(args: argparse.Namespace) -> dict:
    output_dir = Path(args.output_dir)
    accelerator = Accelerator(
        cpu=args.cpu,
        log_with=None if args.report_to == "none" else args.report_to,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
    )
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(message)s", level=logging.INFO)
    logger.info(accelerator.state, main_process_only=False)
    set_seed(args.seed)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
    if args.report_to != "none":
        accelerator.init_trackers("lsd-distill", config={k: v for k, v in vars(args).items() if k != "hub_token"})

    denoiser, baseline, stationary = build_teacher(args)
    config = distillation_config(args, args.scheduler)

    def reduce(tensor: torch.Tensor) -> torch.Tensor:
        return accelerator.reduce(tensor.to(accelerator.device), reduction="mean").cpu()

    distiller = LSDDistiller(denoiser, baseline, config, accelerator.process_index, reduce, accelerator.num_processes)
    checkpoints_dir = output_dir / "checkpoints"
    checkpoint = resolve_checkpoint(args, checkpoints_dir)
    if checkpoint is not None:
        distiller.load_state_dict(load_checkpoint(checkpoint))
        logger.info(f"Resumed from {checkpoint} at step {distiller.global_step}")

    start = time.perf_counter()
    progress = tqdm(
        total=distiller.total_steps, initial=distiller.global_step, disable=not accelerator.is_local_main_process
    )
    progress.set_description(f"{config.scheduler_type} M={config.num_student_steps}")
    while not distiller.finished:
        log = distiller.step()
        numbers = {k: v for k, v in log.items() if isinstance(v, (int, float)) and math.isfinite(v)}
        accelerator.log(numbers, step=distiller.global_step)
        progress.update(1)
        progress.set_postfix(stage=log["stage"], **{k: round(v, 3) for k, v in numbers.items() if k != "step"})
        if distiller.global_step % args.checkpointing_steps == 0 or distiller.finished:
            accelerator.wait_for_everyone()
            if accelerator.is_main_process:
                save_checkpoint(
                    distiller.state_dict(), checkpoints_dir, distiller.global_step, args.checkpoints_total_limit
                )
    progress.close()
    seconds = time.perf_counter() - start

    # every process must hold the same learned values
    learned = torch.cat([distiller.coefficients(), distiller.times()]).to(accelerator.device)
    gathered = accelerator.gather(learned.unsqueeze(0)).cpu()
    result = {
        "distill_seconds": round(seconds, 1),
        "num_processes": accelerator.num_processes,
        "parameters_identical_across_processes": bool((gathered == gathered[0]).all()),
        "config": asdict(config),
    }

    distilled = {}
    if config.scheduler_type == "lsd_plus" and not args.skip_evaluation:
        # the coefficients-only ablation, for the table
        lsd = LSDDistiller(
            denoiser, baseline, distillation_config(args, "lsd"), accelerator.process_index, reduce,
            accelerator.num_processes,
        )  # fmt: skip
        distilled["lsd"] = lsd.fit().to_scheduler()
    distilled[config.scheduler_type] = distiller.to_scheduler()

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        rows = [] if args.skip_evaluation else evaluate(args, denoiser, baseline, stationary, distilled)
        table = markdown_table(rows) if rows else None
        scheduler = distiller.save_pretrained(
            output_dir,
            teacher=f"the exact countdown oracle (V={args.num_states}, L={args.seq_len}), {args.solver} sampler",
            seconds=seconds,
            table=table,
            command=command_line(args),
            eval_seed=None if args.skip_evaluation else args.eval_seed,
            location=args.hub_model_id or str(output_dir),
        )
        result.update(rows=rows, scheduler=dict(scheduler.config))
        (output_dir / "distillation_results.json").write_text(json.dumps(result, indent=2, default=str))
        print(
            f"\nDistilled {config.scheduler_type} for M={config.num_student_steps} in {seconds:.0f} s -> {output_dir}"
        )
        print(table or "")
        if args.push_to_hub:
            repo_id = create_repo(args.hub_model_id or output_dir.name, exist_ok=True, token=args.hub_token).repo_id
            upload_folder(
                repo_id=repo_id,
                folder_path=output_dir,
                commit_message=f"Distilled {config.scheduler_type} sampler, M={config.num_student_steps}",
                ignore_patterns=["checkpoints/*", "logs/*", ".*"],
                token=args.hub_token,
            )
    accelerator.end_training()
    return result


if __name__ == "__main__":
    main(parse_args())
