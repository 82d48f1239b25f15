"""Shared pieces of the benchmark scripts: the sampler line-up, distillation runs, and results files."""

import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from lsd_schedulers import LSDDiscreteScheduler, LSDPlusScheduler
from lsd_schedulers.distillation import DistillationConfig, LSDDistiller
from lsd_schedulers.distillation.jys import jys_schedule

# name -> (scheduler_type, objective) of the distilled samplers in every table
DISTILLED = {
    "lsd": ("lsd", "path_kl"),
    "lsd_plus": ("lsd_plus", "path_kl"),
    "lsd_paper": ("lsd", "paper"),
    "lsd_plus_paper": ("lsd_plus", "paper"),
}
POWER_GRID = (0.1, 0.2, 0.3, 0.5, 0.7)


def variant(baseline: LSDDiscreteScheduler, **overrides) -> LSDDiscreteScheduler:
    """The sampler with some config fields changed (same class: an LSD+ sampler keeps its learned schedule)."""
    config = {k: v for k, v in baseline.config.items() if not k.startswith("_")}
    return type(baseline).from_config({**config, **overrides})


def hand_made(baseline: LSDDiscreteScheduler) -> dict[str, LSDDiscreteScheduler]:
    """euler, tweedie, cosine and the power grid."""
    samplers = {
        "euler": variant(baseline, solver="euler"),
        "tweedie": variant(baseline, solver="tweedie"),
        "cosine": variant(baseline, timestep_spacing="cosine"),
    }
    for gamma in POWER_GRID:
        samplers[f"power({gamma})"] = variant(baseline, timestep_spacing="power", timestep_power=gamma)
    return samplers


def distil_all(
    denoiser,
    baseline: LSDDiscreteScheduler,
    steps: int,
    names: Iterable[str] | None = None,
    teacher_ratio: int = 8,
    **settings,
) -> dict[str, tuple]:
    """The distilled samplers of the line-up at M = `steps`: name -> (scheduler, seconds).

    Args:
        denoiser (`Callable`): the frozen teacher model.
        baseline (`LSDDiscreteScheduler`): the teacher's sampler.
        steps (`int`): M, the student's model calls.
        names (`Iterable[str]`, *optional*): which of `DISTILLED` and `"jys"` to run; default: all of them.
        teacher_ratio (`int`, defaults to 8): the distillation teacher takes N = teacher_ratio * M steps.
        **settings: more `DistillationConfig` fields (batch_size, seq_len...).
    """
    names = [*DISTILLED, "jys"] if names is None else list(names)
    unknown = sorted(set(names) - {*DISTILLED, "jys"})
    if unknown:
        raise ValueError(f"Unknown distilled samplers {unknown}; choose from {[*DISTILLED, 'jys']}.")
    results = {}
    for name, (scheduler_type, objective) in DISTILLED.items():
        if name not in names:
            continue
        config = DistillationConfig(
            num_student_steps=steps, num_teacher_steps=teacher_ratio * steps, scheduler_type=scheduler_type,
            objective=objective, **settings,
        )  # fmt: skip
        start = time.perf_counter()
        scheduler = LSDDistiller(denoiser, baseline, config).fit().to_scheduler()
        results[name] = (scheduler, time.perf_counter() - start)
        print(f"  distilled {name} (M={steps}) in {results[name][1]:.0f} s", flush=True)
    if "jys" in names:
        start = time.perf_counter()
        config = DistillationConfig(
            num_student_steps=steps, num_teacher_steps=teacher_ratio * steps, scheduler_type="lsd", **settings
        )
        times = jys_schedule(LSDDistiller(denoiser, baseline, config))
        jys = LSDPlusScheduler.from_config({**variant(baseline).config, "timesteps": times.tolist()})
        results["jys"] = (jys, time.perf_counter() - start)
        print(f"  searched jys (M={steps}) in {results['jys'][1]:.0f} s", flush=True)
    return results


def keep_best_power(rows: list[dict], metric: str, key: Callable[[dict], float] | None = None) -> list[dict]:
    """Of the power(gamma) rows keep the best (the strongest hand-made baseline), named `power`.

    Args:
        rows (`list[dict]`): result rows, some named `power(gamma)`.
        metric (`str`): the best row has the lowest value of this metric...
        key (`Callable`, *optional*): ...or, when given, the lowest `key(row)`.
    """
    powers = [row for row in rows if row["sampler"].startswith("power(")]
    others = [row for row in rows if not row["sampler"].startswith("power(")]
    if not powers:
        return rows
    best = min(powers, key=key or (lambda row: row["metrics"][metric]))
    return others + [{**best, "sampler": "power", "gamma": float(best["sampler"][len("power(") : -1])}]


def learned_values(scheduler: LSDDiscreteScheduler) -> dict:
    """The learned coefficients and schedule of a sampler (None for baselines), for the results file and plots."""
    return {"coefficients": scheduler.config.coefficients, "timesteps": scheduler.config.get("timesteps")}


def previous_results(path: str | os.PathLike, protocol: dict, protocol_of: Callable[[dict], dict]) -> dict | None:
    """The existing results file a run appends to, checked to come from the same evaluation protocol.

    Args:
        path (`str` or `os.PathLike`): the results file; `None` is returned when it does not exist.
        protocol (`dict`): what this run measures with (teacher steps, samples, seeds...).
        protocol_of (`Callable`): reads the same fields from a results record.
    """
    if not Path(path).exists():
        return None
    record = json.loads(Path(path).read_text())
    found = protocol_of(record)
    if found != protocol:
        raise ValueError(f"--append: {path} was measured with {found}; this run asks for {protocol}. Use the same "
                         "settings or another --output.")  # fmt: skip
    return record


def merge_rows(rows: list[dict], new_rows: list[dict]) -> list[dict]:
    """`rows` with `new_rows` added, replacing rows of the same sampler and M; ordered by M, then as they came."""
    replaced = {(row["nfe"], row["sampler"]) for row in new_rows}
    kept = [row for row in rows if (row["nfe"], row["sampler"]) not in replaced]
    return sorted(kept + new_rows, key=lambda row: row["nfe"])


def write_results(
    path: str | os.PathLike, task: str, teacher: dict, rows: list[dict], extra: dict, previous: dict | None = None
) -> None:
    """The results file of EVALUATION.md: task, command, machine, date, teacher, rows.

    A file grown by appending to `previous` keeps every command that wrote it, in order, under `commands`.
    """
    command = "python " + " ".join(sys.argv)
    if previous is not None:
        extra = {"commands": [*previous.get("commands", [previous["command"]]), command], **extra}
    record = {
        "task": task,
        "command": command,
        "machine": f"{os.cpu_count()}-core CPU ({platform.machine()}), torch {torch.__version__}",
        "date": datetime.date.today().isoformat(),
        "teacher": teacher,
        "rows": rows,
        **extra,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    partial = Path(f"{path}.partial")  # written whole, then renamed: a killed run never leaves half a file
    partial.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(partial, path)
    print(f"wrote {path}")
