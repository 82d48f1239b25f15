"""Write the benchmarks' learned LSD+ samplers as Hub-ready folders, one per teacher and step count.

    python benchmarks/export_samplers.py                    # samplers/<task>-m<M>/ for every committed row
    hf upload <user>/<task>-m<M> samplers/<task>-m<M>   # share one (with Hub access)

Each folder holds `scheduler_config.json` - the teacher's own scheduler with the learned times, coefficients and
unmasking order of the results file's `lsd_plus` row - and a model card: the teacher, how the sampler was distilled
and chosen, and the benchmark's rows at that step count. `samplers/README.md` indexes them. Only teachers that ship
in this repository are exported, so every folder can be tried here:

    pipe = LSDMaskedTextPipeline.from_pretrained("teachers/text-large")
    pipe.scheduler = LSDPlusScheduler.from_pretrained("samplers/text-m8")
"""

import argparse
import json
from pathlib import Path

from huggingface_hub import ModelCard

from lsd_schedulers import LSDDiscreteScheduler, LSDPlusScheduler, LSDVQImagePipeline
from lsd_schedulers.distillation.model_card import CARD_METADATA
from lsd_schedulers.hand_made import public_config, variant

ROOT = Path(__file__).resolve().parents[1]

# results file -> (teacher folder, how to sample with the sampler, the metric of the index)
TASKS = {
    "text": (
        "teachers/text-large",
        "from lsd_schedulers import LSDMaskedTextPipeline, LSDPlusScheduler\n\n"
        'pipe = LSDMaskedTextPipeline.from_pretrained("teachers/text-large")\n'
        'pipe.scheduler = LSDPlusScheduler.from_pretrained("{folder}")\n'
        "texts = pipe(batch_size=4, seq_len=128, generator=torch.Generator().manual_seed(0)).texts",
        "gen_ppl",
    ),
    "image": (
        "teachers/fashion-mnist",
        "from lsd_schedulers import LSDPlusScheduler, LSDVQImagePipeline\n\n"
        'pipe = LSDVQImagePipeline.from_pretrained("teachers/fashion-mnist")\n'
        'pipe.scheduler = LSDPlusScheduler.from_pretrained("{folder}")\n'
        "images = pipe(class_labels=list(range(10)), guidance_scale=2.0, "
        "generator=torch.Generator().manual_seed(0)).images",
        "fd_classifier",
    ),
    "countdown-trained": (
        "teachers/countdown",
        "from lsd_schedulers import LSDPlusScheduler, MaskedDiffusionTransformer\n\n"
        'model = MaskedDiffusionTransformer.from_pretrained("teachers/countdown/transformer")\n'
        'scheduler = LSDPlusScheduler.from_pretrained("{folder}")',
        "violation_rate",
    ),
}

CARD = (
    CARD_METADATA
    + """
# LSD+ sampler for `{teacher}`, {steps} steps

A learned {steps}-step sampler (Learnable Sampler Distillation, arXiv 2509.19962) for the masked diffusion model in
`{teacher}` of the `lsd_schedulers` repository, distilled against the model's own {teacher_steps}-step sampler.
Its schedule is `{schedule}` in `{order}` order:

```python
import torch
{usage}
```

## What was learned

- time schedule: {times}
- coefficients: {coefficients}
- unmasking order: `{order}`
- chosen by the seed search ({objective}): {search}
- distillation: {seconds:.0f} s on a 2-core CPU

## Benchmark at M = {steps}

From `benchmarks/results/{task}.json` ({samples}); the `lsd_plus` row is this sampler. What each column measures,
and which way is better, is in docs/benchmarks.md.

{table}
"""
)


def teacher_scheduler(task: str, teacher: Path) -> LSDDiscreteScheduler:
    """The teacher's sampler as its benchmark set it up (the image benchmark adds the token grid)."""
    if task == "image":
        pipe = LSDVQImagePipeline.from_pretrained(teacher)
        return variant(pipe.scheduler, token_grid_shape=pipe.token_grid_shape)
    return LSDDiscreteScheduler.from_pretrained(teacher / "scheduler")


def learned_scheduler(baseline: LSDDiscreteScheduler, row: dict) -> LSDPlusScheduler:
    """The teacher's sampler with a results row's learned times, coefficients and unmasking order.

    Args:
        baseline (`LSDDiscreteScheduler`): the teacher's sampler (`teacher_scheduler`).
        row (`dict`): an `lsd_plus` row of a results file.
    """
    learned = {
        "timesteps": row["timesteps"],
        "coefficients": row["coefficients"],
        "num_inference_steps": row["nfe"],
        "unmasking_order": row["unmasking_order"],
    }
    return LSDPlusScheduler.from_config({**public_config(baseline), **learned})


def format_value(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 1 else f"{value:.4g}"


def rows_table(rows: list[dict], metrics: list[str]) -> str:
    """Markdown: one line per row (sampler, its schedule or order where it has one, each metric)."""
    lines = ["| sampler | " + " | ".join(metrics) + " |", "| --- |" + " ---: |" * len(metrics)]
    for row in rows:
        name = row["sampler"]
        if "schedule" in row:
            name += f" ({row['schedule']})"
        elif "gamma" in row:
            name += f" ({row['gamma']})"
        values = [format_value(row["metrics"][m]) if m in row["metrics"] else "" for m in metrics]
        lines.append(f"| {name} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def search_words(search: dict) -> str:
    """The search record of a results row in a sentence: the kept seed and its margin, or that it was kept."""
    best = search.get("best_seed", {})
    words = f"best seed `{best.get('order', '?')}` / `{best.get('seed', '?')}`"
    if "margin" in best:
        margin = best["margin"]
        words += (
            f", ahead of `{margin['runner_up']}` by {-margin['difference']:.3g} +- {margin['standard_error']:.2g} "
            "(path-KL, common random numbers)"
        )
    kept = search.get("verified", {}).get("kept")
    return words + (f"; kept: {kept}" if kept else "")


def export(task: str, results: dict, output_dir: Path) -> list[dict]:
    """Write one folder per `lsd_plus` row of a task's results; returns the index entries."""
    teacher_name, usage, metric = TASKS[task]
    baseline = teacher_scheduler(task, ROOT / teacher_name)
    teacher_row = {**results["teacher"], "sampler": f"teacher (N = {results['teacher']['nfe']})"}
    entries = []
    for row in [row for row in results["rows"] if row["sampler"] == "lsd_plus"]:
        steps = row["nfe"]
        folder = output_dir / f"{task}-m{steps}"
        scheduler = learned_scheduler(baseline, row)
        scheduler.save_pretrained(folder)
        others = [other for other in results["rows"] if other["nfe"] == steps]
        metrics = list(row["metrics"])
        best = row.get("search", {}).get("best_seed", {})
        card = CARD.format(
            teacher=teacher_name,
            steps=steps,
            teacher_steps=row.get("distillation", {}).get("teacher_steps", f"{steps * 8}"),
            schedule=best.get("seed", "learned"),
            order=row["unmasking_order"],
            usage=usage.format(folder=f"samplers/{folder.name}"),
            times="[" + ", ".join(f"{t:.4f}" for t in scheduler.config.timesteps) + "]",
            coefficients="none (Phi = 1)" if row["coefficients"] is None else str(row["coefficients"]),
            objective=row.get("search", {}).get("objective", "path_kl"),
            search=search_words(row.get("search", {})),
            seconds=row["distill_seconds"],
            task=task,
            samples=f"{results['distillation']['samples_per_cell']} samples per cell",
            table=rows_table([teacher_row, *others], metrics),
        )
        ModelCard(card).save(folder / "README.md")
        entries.append(
            {
                "folder": folder.name,
                "teacher": teacher_name,
                "steps": steps,
                "order": row["unmasking_order"],
                "schedule": best.get("seed", "learned"),
                "metric": metric,
                "value": row["metrics"][metric],
                "teacher_value": results["teacher"]["metrics"][metric],
            }
        )
    return entries


def index(entries: list[dict]) -> str:
    lines = [
        "# Learned samplers",
        "",
        "LSD+ samplers distilled by the benchmarks for the teachers in `teachers/`, written by",
        "`python benchmarks/export_samplers.py` from `benchmarks/results/*.json`. Each folder is a diffusers",
        "scheduler (`LSDPlusScheduler.from_pretrained(folder)`) and a model card, for `hf upload`.",
        "",
        "| folder | teacher | M | order | schedule | metric | this sampler | teacher |",
        "| --- | --- | ---: | --- | --- | --- | ---: | ---: |",
    ]
    for entry in entries:
        lines.append(
            f"| [{entry['folder']}]({entry['folder']}/README.md) | `{entry['teacher']}` | {entry['steps']} | "
            f"{entry['order']} | {entry['schedule']} | {entry['metric']} | {format_value(entry['value'])} | "
            f"{format_value(entry['teacher_value'])} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results_dir", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--output_dir", default=str(ROOT / "samplers"))
    args = parser.parse_args(argv)
    output_dir = Path(args.output_dir)
    entries = []
    for task in TASKS:
        path = Path(args.results_dir) / f"{task}.json"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run benchmarks/{task.split('-')[0]}.py first.")
        entries += export(task, json.loads(path.read_text()), output_dir)
    (output_dir / "README.md").write_text(index(entries))
    print(f"{len(entries)} samplers written to {output_dir}")


if __name__ == "__main__":
    main()
