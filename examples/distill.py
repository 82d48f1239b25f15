"""Distil an LSD / LSD+ sampler for a frozen discrete diffusion model, then compare it with the baselines.

    accelerate launch examples/distill.py                      # countdown oracle, M = 8, LSD+, path-KL
    accelerate launch examples/distill.py --pretrained_model_name_or_path teachers/text --student_steps 16
    accelerate launch examples/distill.py --pretrained_model_name_or_path teachers/fashion-mnist --class_labels 0 7
    accelerate launch examples/distill.py --pretrained_model_name_or_path amused/amused-256 --prompts prompts.txt
    accelerate launch examples/distill.py --pretrained_model_name_or_path bert-base-cased --seq_len 64
    accelerate launch --multi_gpu --num_processes 2 examples/distill.py --cpu   # two CPU processes (gloo)

With no model it distils for the built-in countdown oracle (an exact denoiser, no download). Any model of
`lsd_schedulers.teachers.load_teacher` works: our pipeline folders, diffusers' AmusedPipeline, a transformers masked
LM (BERT-style, LLaDA, MDLM, SEDD; `--model_type` overrides the guess), local or from the Hub. The closing table
compares every sampler on evaluation seeds that distillation never used, by the held-out objective (the path-KL to
the teacher) and the samples' entropy, plus the task's own metrics where the project has them. The result is a
scheduler folder (`scheduler_config.json`, a model card `README.md`, `distillation_results.json`) that loads with
`LSDPlusScheduler.from_pretrained(output_dir)`; `--save_pipeline` also writes the whole pipeline with the distilled
scheduler inside; `--push_to_hub` uploads the folder.
"""

import argparse
import json
import logging
import math
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, set_seed
from huggingface_hub import create_repo, upload_folder
from tqdm.auto import tqdm

from lsd_schedulers import LSDDiscreteScheduler
from lsd_schedulers.distillation import DistillationConfig, LSDDistiller
from lsd_schedulers.distillation.checkpointing import (
    list_checkpoints,
    load_checkpoint,
    lock_output_dir,
    save_checkpoint,
)
from lsd_schedulers.distillation.config import OBJECTIVES, SCHEDULER_TYPES
from lsd_schedulers.distillation.objectives import DISTANCES
from lsd_schedulers.hand_made import hand_made, keep_best_power, spread_made, variant
from lsd_schedulers.metrics import load_metric
from lsd_schedulers.metrics.evaluation import markdown_table
from lsd_schedulers.models import AutocastDenoiser
from lsd_schedulers.noise_schedules import NOISE_SCHEDULES
from lsd_schedulers.sampling import generate
from lsd_schedulers.scheduling_lsd import COEFFICIENT_FORMS
from lsd_schedulers.teachers import MODEL_TYPES, Teacher, baseline_of, block_teacher, load_teacher
from lsd_schedulers.transitions import SOLVERS
from lsd_schedulers.unmasking_orders import UNMASKING_ORDERS
from lsd_schedulers.validation import check_integer

logger = get_logger(__name__)
POWER_GRID = (0.2, 0.3, 0.5)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    model = parser.add_argument_group("teacher")
    model.add_argument(
        "--pretrained_model_name_or_path", default=None, help="a folder or Hub repo id (default: the countdown oracle)"
    )
    model.add_argument("--subfolder", default=None)
    model.add_argument("--revision", default=None)
    model.add_argument("--model_type", default=None, choices=MODEL_TYPES, help="transformers models (default: guess)")
    model.add_argument("--tokenizer_name_or_path", default=None, help="when the model folder holds no tokenizer")
    model.add_argument("--trust_remote_code", action="store_true", help="models with custom code (LLaDA, MDLM)")
    model.add_argument("--num_states", type=int, default=32, help="countdown oracle: vocabulary V (MASK is id V)")
    model.add_argument("--seq_len", type=int, default=None, help="positions per sequence (countdown: 256)")
    model.add_argument(
        "--prompts",
        default=None,
        help="a text, json or csv file, one prompt per row (text prefixes, "
        "or aMUSEd's image prompts); rows cycle through them",
    )
    model.add_argument(
        "--class_labels",
        type=int,
        nargs="+",
        default=None,
        help="classes to cycle through (class-conditional image models; default every class, balanced)",
    )
    model.add_argument("--guidance_scale", type=float, default=None, help="image models (default 2.0; aMUSEd 10.0)")
    model.add_argument(
        "--block_length",
        type=int,
        default=None,
        help="semi-autoregressive decoding: learn the sampler for one block, with the previous block as context",
    )
    model.add_argument("--allow_special_tokens", action="store_true", help="let text samplers draw special ids")
    model.add_argument(
        "--mixed_precision",
        default=None,
        choices=("no", "fp16", "bf16"),
        help="autocast the model (default: accelerate's setting)",
    )
    model.add_argument("--solver", default=None, choices=SOLVERS, help="default: the teacher's")
    model.add_argument("--noise_schedule", default=None, choices=NOISE_SCHEDULES)
    model.add_argument("--coefficient_form", default=None, choices=COEFFICIENT_FORMS)
    model.add_argument(
        "--task",
        default="auto",
        choices=("auto", "countdown", "none"),
        help="countdown: also report the countdown metrics (auto: for the oracle)",
    )

    student = parser.add_argument_group("distillation")
    student.add_argument("--scheduler", default="lsd_plus", choices=SCHEDULER_TYPES)
    student.add_argument("--student_steps", type=int, default=8, help="M: model calls of the student")
    student.add_argument("--teacher_steps", type=int, default=None, help="N: teacher steps (default 8 M)")
    student.add_argument("--objective", default="path_kl", choices=OBJECTIVES)
    student.add_argument(
        "--unmasking_order",
        default="auto",
        choices=("auto", *UNMASKING_ORDERS),
        help="auto: score random and spread orders under the objective and keep the best",
    )
    student.add_argument("--distance", default="l2", choices=DISTANCES, help="paper objective only")
    student.add_argument("--relaxation", type=float, default=0.05, help="zeta, the relaxed start")
    student.add_argument("--train_batch_size", type=int, default=32, help="trajectories per process per rollout")
    student.add_argument(
        "--coefficient_rounds",
        type=int,
        default=3,
        help="Adam rounds on Phi; none under path_kl for absorbing models with linear Phi, where Phi = 1 is optimal",
    )
    student.add_argument("--adam_steps_per_round", type=int, default=30)
    student.add_argument("--learning_rate", type=float, default=0.05)
    student.add_argument("--split_evaluations", type=int, default=8)
    student.add_argument("--seed_rounds", type=int, default=3, help="successive-halving rounds scoring the seeds")
    student.add_argument(
        "--seed_race_rounds",
        type=int,
        default=8,
        help="most race rounds after the halving (finalists not told apart); also most extra batches of verify",
    )
    student.add_argument(
        "--refine_sweeps", type=int, default=0, help="sweeps of boundary moves after the seed search (path-KL LSD+)"
    )
    student.add_argument(
        "--verify_batches", type=int, default=4, help="fresh common batches comparing the result with its seed"
    )
    student.add_argument(
        "--assignment_samples",
        type=int,
        default=1,
        help="path_kl: sub-step assignments of each step's revealed set that the teacher's likelihood averages over",
    )
    student.add_argument("--seed", type=int, default=0)

    run = parser.add_argument_group("run")
    run.add_argument("--output_dir", default="outputs/lsd-countdown")
    run.add_argument("--checkpointing_steps", type=int, default=5, help="save a checkpoint every N steps")
    run.add_argument("--checkpoints_total_limit", type=int, default=3)
    run.add_argument("--resume_from_checkpoint", default=None, help='a checkpoint folder, or "latest"')
    run.add_argument("--report_to", default="none", help='"tensorboard", "wandb", "all" or "none"')
    run.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is present")
    run.add_argument(
        "--save_pipeline",
        action="store_true",
        help="also write the teacher's pipeline with the distilled scheduler inside to output_dir/pipeline",
    )
    run.add_argument("--push_to_hub", action="store_true")
    run.add_argument("--hub_model_id", default=None, help="repository id (default: the output folder's name)")
    run.add_argument("--hub_token", default=None)

    evaluation = parser.add_argument_group("evaluation")
    evaluation.add_argument("--eval_samples", type=int, default=256, help="samples per sampler for the metrics")
    evaluation.add_argument(
        "--eval_batch_size",
        type=int,
        default=None,
        help="trajectories of the held-out path-KL (default: --train_batch_size)",
    )
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
    try:
        for name in ("checkpointing_steps", "eval_samples"):
            check_integer(f"--{name}", getattr(args, name), minimum=1)
        for name in ("checkpoints_total_limit", "eval_batch_size", "block_length", "seq_len"):
            check_integer(f"--{name}", getattr(args, name), minimum=1, allow_none=True)
        distillation_config(args, args.scheduler, args.seq_len or 1)  # the run's settings, checked where they live
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    return args


def load_prompts(path: str) -> list[str]:
    """One prompt per row of a text (one per line), json / jsonl or csv file (a `prompt` or `text` column)."""
    from datasets import load_dataset

    suffix = Path(path).suffix.lower()
    kind = {".json": "json", ".jsonl": "json", ".csv": "csv"}.get(suffix, "text")
    rows = load_dataset(kind, data_files=str(path), split="train")
    column = next((name for name in ("prompt", "text") if name in rows.column_names), None)
    if column is None:
        raise ValueError(f"{path} needs a 'prompt' or 'text' column; it has {rows.column_names}.")
    prompts = [text for text in rows[column] if text and text.strip()]
    if not prompts:
        raise ValueError(f"{path} holds no prompts.")
    return prompts


def build_teacher(args: argparse.Namespace, accelerator: Accelerator) -> Teacher:
    """The frozen model as a `Teacher`, with the sampler overrides, block decoding and mixed precision applied."""
    teacher = load_teacher(
        args.pretrained_model_name_or_path,
        subfolder=args.subfolder,
        revision=args.revision,
        model_type=args.model_type,
        tokenizer_name_or_path=args.tokenizer_name_or_path,
        seq_len=args.seq_len,
        prompts=load_prompts(args.prompts) if args.prompts else None,
        class_labels=args.class_labels,
        guidance_scale=args.guidance_scale,
        allow_special_tokens=args.allow_special_tokens,
        trust_remote_code=args.trust_remote_code,
        num_states=args.num_states,
    )
    overrides = {key: getattr(args, key) for key in ("solver", "noise_schedule", "coefficient_form")}
    overrides = {key: value for key, value in overrides.items() if value is not None}
    if overrides:
        teacher.scheduler = baseline_of(teacher.scheduler, **overrides)
    if args.block_length is not None:
        teacher = block_teacher(teacher, args.block_length, args.teacher_steps, args.train_batch_size, args.seed)
    precision = args.mixed_precision or accelerator.mixed_precision
    if precision in ("fp16", "bf16") and args.pretrained_model_name_or_path not in (None, "countdown"):
        teacher.denoiser = AutocastDenoiser(teacher.denoiser, torch.float16 if precision == "fp16" else torch.bfloat16)
    return teacher


def distillation_config(args: argparse.Namespace, scheduler_type: str, seq_len: int) -> DistillationConfig:
    return DistillationConfig(
        num_student_steps=args.student_steps,
        num_teacher_steps=args.teacher_steps,
        scheduler_type=scheduler_type,
        objective=args.objective,
        unmasking_order=args.unmasking_order,
        distance=args.distance,
        relaxation=args.relaxation,
        batch_size=args.train_batch_size,
        seq_len=seq_len,
        coefficient_rounds=args.coefficient_rounds,
        adam_steps_per_round=args.adam_steps_per_round,
        learning_rate=args.learning_rate,
        split_evaluations=args.split_evaluations,
        seed_rounds=args.seed_rounds,
        seed_race_rounds=args.seed_race_rounds,
        refine_sweeps=args.refine_sweeps,
        verify_batches=args.verify_batches,
        assignment_samples=args.assignment_samples,
        seed=args.seed,
    )


def resolve_checkpoint(args: argparse.Namespace, checkpoints_dir: Path) -> Path | None:
    if args.resume_from_checkpoint is None:
        return None
    if args.resume_from_checkpoint != "latest":
        if not Path(args.resume_from_checkpoint).is_dir():
            raise FileNotFoundError(f"--resume_from_checkpoint {args.resume_from_checkpoint} is not a folder.")
        return Path(args.resume_from_checkpoint)
    found = list_checkpoints(checkpoints_dir)
    return found[-1] if found else None


def line_up(baseline: LSDDiscreteScheduler, distilled: dict[str, LSDDiscreteScheduler]) -> dict:
    """The samplers of the closing table at the student's M: hand-made ones of each order, and the distilled ones."""
    samplers = hand_made(baseline, POWER_GRID)
    if baseline.is_absorbing:  # the spread order with each hand-made schedule
        samplers.update(spread_made(baseline, ("spread",), POWER_GRID))
    return {**samplers, **distilled}


def evaluate(args, teacher: Teacher, distiller: LSDDistiller, distilled: dict) -> list[dict]:
    """The comparison table at the student's M, on evaluation seeds disjoint from distillation's.

    Every row: the held-out path-KL to the teacher (the objective on evaluation trajectories, with its standard
    error), the samples' mean unigram entropy, and the task's metrics. Of each family of hand-made schedules the
    best is kept, by the task's first metric where there is one, else by the held-out path-KL.
    """
    entropy = load_metric("unigram_entropy")
    mask = teacher.scheduler.config.mask_token_id

    def sample(scheduler, steps: int) -> torch.LongTensor:
        batches = []
        for index, start in enumerate(range(0, args.eval_samples, 128)):
            generator = torch.Generator().manual_seed(args.eval_seed + index)
            x1 = teacher.start_states(min(128, args.eval_samples - start), generator)
            batches.append(
                generate(teacher.denoiser, scheduler, num_inference_steps=steps, generator=generator, sample=x1)
            )
        return torch.cat(batches)

    def metrics_of(samples: torch.LongTensor) -> dict[str, float]:
        generated = [row[row != mask].tolist() if mask is not None else row.tolist() for row in samples]
        values = {"entropy": entropy.compute(sequences=generated)["entropy"]}
        return {**(teacher.task_metrics(samples) if teacher.task_metrics else {}), **values}

    rows = [
        {
            "sampler": "teacher",
            "nfe": args.teacher_steps,
            "unmasking_order": "random",
            "metrics": metrics_of(sample(teacher.scheduler, args.teacher_steps)),
        }
    ]
    for name, scheduler in line_up(teacher.scheduler, distilled).items():
        cost = distiller.path_kl_of_sampler(scheduler, torch.Generator().manual_seed(args.eval_seed))
        path_kl, error = distiller.mean_and_error(cost)
        rows.append(
            {
                "sampler": name,
                "nfe": args.student_steps,
                "unmasking_order": scheduler.config.unmasking_order,
                "metrics": {
                    "path_kl": path_kl,
                    "path_kl_se": error,
                    **metrics_of(sample(scheduler, args.student_steps)),
                },
            }
        )
    first = next(iter(rows[0]["metrics"])) if teacher.task_metrics else "path_kl"
    rows = keep_best_power(rows, first)
    for row in rows:  # the kept hand-made rows say which schedule won
        if "gamma" in row:
            row["sampler"] = f"power({row.pop('gamma')})"
        elif "schedule" in row:
            row["sampler"] += f" {row.pop('schedule')}"
    for row in rows:
        if row["sampler"] in distilled:
            row["sampler"] += f" ({row['unmasking_order']})"
    return rows


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run (the Hub token left out)."""
    options = []
    for key, value in sorted(vars(args).items()):
        if key == "hub_token" or value in (None, False):
            continue
        value = " ".join(map(str, value)) if isinstance(value, list) else value
        options.append(f"--{key}" if value is True else f"--{key} {value}")
    return "accelerate launch examples/distill.py " + " ".join(options)


def main(args: argparse.Namespace) -> dict:
    output_dir = Path(args.output_dir)
    accelerator = Accelerator(
        cpu=args.cpu,
        mixed_precision=args.mixed_precision,
        log_with=None if args.report_to == "none" else args.report_to,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
    )
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(message)s", level=logging.INFO)
    logger.info(accelerator.state, main_process_only=False)
    set_seed(args.seed)
    lock = lock_output_dir(output_dir) if accelerator.is_main_process else None
    if args.report_to != "none":
        accelerator.init_trackers("lsd-distill", config={k: v for k, v in vars(args).items() if k != "hub_token"})
    teacher = build_teacher(args, accelerator)
    if args.task == "countdown" and teacher.task_metrics is None:
        teacher.task_metrics = load_teacher(num_states=args.num_states, seq_len=teacher.seq_len).task_metrics
    if args.task == "none":
        teacher.task_metrics = None
    config = distillation_config(args, args.scheduler, teacher.seq_len)

    def reduce(tensor: torch.Tensor) -> torch.Tensor:
        return accelerator.reduce(tensor.to(accelerator.device), reduction="mean").cpu()

    def new_distiller(run_config: DistillationConfig) -> LSDDistiller:
        return LSDDistiller(
            teacher.denoiser,
            teacher.scheduler,
            run_config,
            accelerator.process_index,
            reduce,
            accelerator.num_processes,
            start=teacher.start_states,
        )

    distiller = new_distiller(config)
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
        "teacher": teacher.description,
        "search": distiller.search_summary(),
    }

    distilled = {}
    rows = []
    if not args.skip_evaluation:
        if config.scheduler_type == "lsd_plus":  # the coefficients-only ablation, for the table
            distilled["lsd"] = new_distiller(distillation_config(args, "lsd", teacher.seq_len)).fit().to_scheduler()
        distilled[config.scheduler_type] = distiller.to_scheduler()
        evaluator = new_distiller(replace(config, batch_size=args.eval_batch_size or args.train_batch_size))
        rows = evaluate(args, teacher, evaluator, distilled)

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        table = markdown_table(rows) if rows else None
        scheduler = distiller.save_pretrained(
            output_dir,
            teacher=f"{teacher.description}, {teacher.scheduler.config.solver} sampler",
            seconds=seconds,
            table=table,
            command=command_line(args),
            eval_seed=None if args.skip_evaluation else args.eval_seed,
            location=args.hub_model_id or str(output_dir),
        )
        if args.save_pipeline:
            save_pipeline(teacher, scheduler, output_dir / "pipeline")
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
    if lock is not None:
        lock.close()
    return result


def save_pipeline(teacher: Teacher, scheduler: LSDDiscreteScheduler, folder: Path) -> None:
    """The teacher's pipeline with the distilled scheduler inside: loading the folder samples with it."""
    if teacher.pipeline is None:
        raise ValueError("--save_pipeline: this teacher has no pipeline (the countdown oracle is a function).")
    if "block" in teacher.details:
        logger.warning("The saved pipeline samples with block decoding only if called with block_length.")
    teacher.pipeline.scheduler = variant(scheduler)
    teacher.pipeline.save_pretrained(folder)


if __name__ == "__main__":
    main(parse_args())
