"""The model card written next to a distilled scheduler's config."""

from huggingface_hub import ModelCard

from .config import DistillationConfig

# the Hub metadata of every sampler card
CARD_METADATA = """---
library_name: diffusers
tags:
- lsd_schedulers
- discrete-diffusion
- scheduler
---
"""

CARD_TEMPLATE = (
    CARD_METADATA
    + """
# {kind} sampler, {num_student_steps} steps

A learned few-step sampler (Learnable Sampler Distillation, arXiv 2509.19962) distilled with `lsd_schedulers`.
Load it with:

```python
from lsd_schedulers import {class_name}

scheduler = {class_name}.from_pretrained("{location}")
scheduler.set_timesteps()  # the {num_student_steps} steps it was distilled for
```

## Distillation

- teacher: {teacher} with its baseline sampler, N = {num_teacher_steps} steps
- student: M = {num_student_steps} steps, objective `{objective}`{objective_detail}, relaxation zeta = {relaxation}
- unmasking order: `{order}`{search}
- seeds: distillation seed {seed}{evaluation_seeds}
- wall time: {seconds:.0f} s
{command}
## Comparison

{table}
"""
)


def distillation_model_card(
    config: DistillationConfig,
    teacher: str,
    location: str,
    seconds: float,
    table: str | None = None,
    command: str | None = None,
    eval_seed: int | None = None,
    search: dict | None = None,
) -> ModelCard:
    """A model card stating the teacher, N, M, objective, seeds, wall time, command and comparison table.

    Args:
        config (`DistillationConfig`): the run's settings.
        teacher (`str`): what the frozen denoiser is.
        location (`str`): the folder or Hub repo id to load from.
        seconds (`float`): distillation wall time.
        table (`str`, *optional*): a markdown comparison table on evaluation seeds.
        command (`str`, *optional*): the command that produced the sampler.
        eval_seed (`int`, *optional*): the first evaluation seed of the table.
        search (`dict`, *optional*): `LSDDistiller.search_summary()`: the chosen order, seed and verification.
    """
    plus = config.scheduler_type == "lsd_plus"
    content = CARD_TEMPLATE.format(
        kind="LSD+ (coefficients and time schedule)" if plus else "LSD (coefficients)",
        class_name="LSDPlusScheduler" if plus else "LSDDiscreteScheduler",
        location=location,
        teacher=teacher,
        num_teacher_steps=config.num_teacher_steps,
        num_student_steps=config.num_student_steps,
        objective=config.objective,
        objective_detail=_objective_detail(config),
        relaxation=config.relaxation,
        seed=config.seed,
        evaluation_seeds="" if eval_seed is None else f"; evaluation seeds from {eval_seed} (never used in training)",
        seconds=seconds,
        command=f"- command: `{command}`\n" if command else "",
        table=table or "(no evaluation was run)",
        order=(search or {}).get("unmasking_order", config.unmasking_order),
        search=_search_lines(search or {}, config.refine_sweeps),
    )
    return ModelCard(content)


def _objective_detail(config: DistillationConfig) -> str:
    """The paper objective's distance, or path_kl's sub-step assignments per step when more than one."""
    if config.objective == "paper":
        return f" ({config.distance})"
    if config.objective == "path_kl" and config.assignment_samples > 1:
        return f" ({config.assignment_samples} sub-step assignments per step)"
    return ""


def _search_lines(search: dict, refine_sweeps: int) -> str:
    """The schedule search in words: which candidates were scored and what was kept."""
    lines = []
    if "seeds" in search:
        best = search["best_seed"]
        lines.append(
            f"- schedule search: {len(search['seeds'])} seeds (order x schedule) scored on common random numbers; "
            f"best `{best['order']}` / `{best['seed']}` "
            f"(path-KL {best['path_kl']:.4g} +- {best['standard_error']:.2g})"
        )
        if "margin" in best:
            margin = best["margin"]
            lines.append(
                f"- best seed minus runner-up `{margin['runner_up']}`: {margin['difference']:+.4g} "
                f"+- {margin['standard_error']:.2g} (standard error, common random numbers)"
            )
    if "verified" in search:
        verified = search["verified"]
        for name, (difference, error) in verified.get("differences", {}).items():
            lines.append(
                f"- {name} minus best seed: {difference:+.4g} +- {error:.2g} (standard error, common random numbers, "
                f"{verified['batches']} batches at most)"
            )
        if not verified.get("differences"):
            lines.append(
                "- refinement: no boundary move passed its test, so nothing was left to verify"
                if refine_sweeps
                else "- refinement: off (`refine_sweeps = 0`); the best seed is the sampler"
            )
        lines.append(f"- kept: {verified['kept']}")
    if search.get("stage_seconds"):
        stages = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in search["stage_seconds"].items())
        lines.append(f"- time per stage: {stages}")
    return "".join(f"\n{line}" for line in lines)
