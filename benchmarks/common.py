"""Shared pieces of the benchmark scripts: the sampler line-up, distillation runs, and results files."""

import datetime
import hashlib
import json
import os
import platform
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path

import torch

import lsd_schedulers
from lsd_schedulers import LSDDiscreteScheduler, LSDPlusScheduler
from lsd_schedulers.distillation import DistillationConfig, LSDDistiller
from lsd_schedulers.distillation.checkpointing import (
    list_checkpoints,
    load_checkpoint,
    publish_checkpoint,
    save_checkpoint,
)
from lsd_schedulers.distillation.jys import jys_schedule
from lsd_schedulers.distillation.search import boundary_candidates
from lsd_schedulers.hand_made import (  # noqa: F401  (the benchmark scripts import the line-up from here)
    POWER_GRID,
    hand_made,
    keep_best,
    keep_best_power,
    public_config,
    spread_made,
    variant,
)
from lsd_schedulers.metrics.sequences import frechet_difference_interval

# name -> the DistillationConfig fields of the distilled samplers in every table (lsd and lsd_plus: the order chosen
# by distillation, `auto`; lsd_plus_random: random order, comparable with the paper)
DISTILLED = {
    "lsd": {"scheduler_type": "lsd"},
    "lsd_plus": {"scheduler_type": "lsd_plus"},
    "lsd_plus_random": {"scheduler_type": "lsd_plus", "unmasking_order": "random"},
    "lsd_paper": {"scheduler_type": "lsd", "objective": "paper"},
    "lsd_plus_paper": {"scheduler_type": "lsd_plus", "objective": "paper"},
}


def distil_all(
    denoiser,
    baseline: LSDDiscreteScheduler,
    steps: int,
    names: Iterable[str] | None = None,
    teacher_ratio: int = 8,
    start_states=None,
    cache_dir: str | os.PathLike | None = None,
    cache_key: dict | None = None,
    **settings,
) -> dict[str, tuple]:
    """The distilled samplers of the line-up at M = `steps`: name -> (scheduler, seconds, search summary).

    Args:
        denoiser (`Callable`): the frozen teacher model.
        baseline (`LSDDiscreteScheduler`): the teacher's sampler.
        steps (`int`): M, the student's model calls.
        names (`Iterable[str]`, *optional*): which of `DISTILLED` and `"jys"` to run; default: all of them.
        teacher_ratio (`int`, defaults to 8): the distillation teacher takes N = teacher_ratio * M steps.
        start_states (`Callable`, *optional*): x_1 with conditioning in place (`Teacher.start_states`).
        cache_dir (`str` or `os.PathLike`, *optional*): each finished sampler is saved here (`cached_distillation`),
            and a rerun with the same settings loads it instead of distilling again; the sampler being distilled
            is checkpointed after every step beside it (`resumable_fit`), so a killed benchmark loses at most one
            step.
        cache_key (`dict`, *optional*): what else identifies a run besides its config (the teacher's folder...).
        **settings: more `DistillationConfig` fields (batch_size, seq_len...).
    """
    names = [*DISTILLED, "jys"] if names is None else list(names)
    unknown = sorted(set(names) - {*DISTILLED, "jys"})
    if unknown:
        raise ValueError(f"Unknown distilled samplers {unknown}; choose from {[*DISTILLED, 'jys']}.")
    key = {"code": source_digest(), "teacher_sampler": public_config(baseline), **(cache_key or {})}
    results = {}
    for name, fields in DISTILLED.items():
        if name not in names:
            continue
        config = DistillationConfig(
            num_student_steps=steps, num_teacher_steps=teacher_ratio * steps, **{**settings, **fields}
        )
        entry, entry_key = f"{name}-m{steps}", {**key, "config": asdict(config)}
        partial = None if cache_dir is None else Path(cache_dir) / f"{entry}.partial"

        def distil(config=config, name=name, partial=partial, entry_key=entry_key) -> tuple:
            distiller = LSDDistiller(denoiser, baseline, config, start=start_states)
            seconds = resumable_fit(distiller, partial, entry_key)
            print(f"  distilled {name} (M={steps}, {distiller.order} order) in {seconds:.0f} s", flush=True)
            return distiller.to_scheduler(), seconds, distiller.search_summary()

        results[name] = cached_distillation(cache_dir, entry, entry_key, distil)
        if partial is not None:  # the finished sampler is saved: its checkpoints are no longer needed
            shutil.rmtree(partial, ignore_errors=True)
    if "jys" in names:
        config = DistillationConfig(
            num_student_steps=steps, num_teacher_steps=teacher_ratio * steps, scheduler_type="lsd", **settings
        )

        def search() -> tuple:
            start = time.perf_counter()
            times = jys_schedule(LSDDistiller(denoiser, baseline, config, start=start_states))
            jys = LSDPlusScheduler.from_config({**public_config(baseline), "timesteps": times.tolist()})
            seconds = time.perf_counter() - start
            print(f"  searched jys (M={steps}) in {seconds:.0f} s", flush=True)
            return jys, seconds, None

        results["jys"] = cached_distillation(cache_dir, f"jys-m{steps}", {**key, "config": asdict(config)}, search)
    return results


def resumable_fit(distiller: LSDDistiller, folder: str | os.PathLike | None, key: dict) -> float:
    """Run `distiller` to the end, checkpointing it after every step in `folder` together with `key`; a checkpoint
    left there by a killed run with the same key is resumed (the result is the uninterrupted run's), one with
    another key is discarded. The caller removes the folder once the result is saved elsewhere. Returns the seconds
    spent, resumed runs' included.

    Args:
        distiller (`LSDDistiller`): a fresh run. folder (`str` or `os.PathLike`, *optional*): None: no checkpoints.
        key (`dict`): JSON-able settings that identify the run (as `cached_distillation`'s).
    """
    start, before = time.perf_counter(), 0.0
    if folder is None:
        distiller.fit()
        return time.perf_counter() - start
    folder, key = Path(folder), json.loads(json.dumps(key, default=str))
    found = list_checkpoints(folder)
    if found:
        state = load_checkpoint(found[-1])
        if state.get("key") == key:
            distiller.load_state_dict(state["distiller"])
            before = state["seconds"]
            print(f"  resuming {folder.name} at step {distiller.global_step} of {distiller.total_steps}", flush=True)
        else:
            print(f"  {folder} holds a run with other settings; starting again", flush=True)
            shutil.rmtree(folder)

    def checkpoint(_log: dict) -> None:
        state = {"key": key, "seconds": before + time.perf_counter() - start, "distiller": distiller.state_dict()}
        save_checkpoint(state, folder, distiller.global_step, total_limit=1)

    distiller.fit(callback=checkpoint)
    return before + time.perf_counter() - start


def source_digest() -> str:
    """A hash of the package's source: a cached sampler made by other code is distilled again."""
    digest = hashlib.sha256()
    for path in sorted(Path(lsd_schedulers.__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def weights_digest(path: str | os.PathLike | None) -> str | None:
    """A hash of the contents of a teacher folder's weight files (training checkpoints excluded): the same on every
    clone, different once the teacher is trained further in place; None stays None (no folder: the exact oracle)."""
    if path is None:
        return None
    root, digest = Path(path), hashlib.sha256()
    for file in sorted(root.rglob("*.safetensors")):
        if "checkpoints" not in file.relative_to(root).parts:
            digest.update(str(file.relative_to(root)).encode() + file.read_bytes())
    return digest.hexdigest()[:16]


def cache_folder(output: str | os.PathLike) -> Path:
    """Where a benchmark keeps its distilled samplers: `<output without .json>-distilled`, beside the results."""
    return Path(output).with_name(f"{Path(output).stem}-distilled")


SCHEDULER_CLASSES = {cls.__name__: cls for cls in (LSDDiscreteScheduler, LSDPlusScheduler)}


def cached_distillation(
    cache_dir: str | os.PathLike | None, name: str, key: dict, run: Callable[[], tuple]
) -> tuple[LSDDiscreteScheduler, float, dict | None]:
    """`run()`'s (scheduler, seconds, search summary), kept in `cache_dir/name`: loaded from there when the folder
    was written with the same `key`, else computed and saved (scheduler config plus `distillation.json`, written in
    a temporary folder and then renamed, so a killed run never leaves a half-written entry).

    Args:
        cache_dir (`str` or `os.PathLike`, *optional*): the cache's folder; None runs without one.
        name (`str`): the entry's folder name. key (`dict`): JSON-able settings that produced it.
        run (`Callable`): computes the entry.
    """
    if cache_dir is None:
        return run()
    key = json.loads(json.dumps(key, default=str))
    folder = Path(cache_dir) / name
    record_file = folder / "distillation.json"
    if record_file.is_file():
        record = json.loads(record_file.read_text())
        if record.get("key") == key:
            scheduler = SCHEDULER_CLASSES[record["class"]].from_pretrained(folder)
            print(f"  loaded {name} from {folder}", flush=True)
            return scheduler, record["seconds"], record["search"]
        print(f"  {folder} was distilled with other settings; distilling again", flush=True)
    scheduler, seconds, summary = run()
    temporary = folder.with_name(f".{name}.tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    scheduler.save_pretrained(temporary)
    record = {"key": key, "class": type(scheduler).__name__, "seconds": seconds, "search": summary}
    (temporary / "distillation.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    publish_checkpoint(temporary, folder)
    return scheduler, seconds, summary


def metric_search(
    score: Callable[[LSDDiscreteScheduler], float],
    baseline: LSDDiscreteScheduler,
    steps: int,
    start: torch.Tensor,
    sweeps: int = 2,
) -> tuple[LSDPlusScheduler, float, int]:
    """A random-order schedule searched on the evaluation metric itself (the `metric_search` row: the ceiling of
    random-order schedules). Coordinate moves of one boundary at a time in logit space (`boundary_candidates`), the
    spread halved every sweep, a move kept only when it lowers `score`; `score` should use fixed seeds disjoint from
    evaluation (common random numbers).

    Returns:
        `tuple`: the sampler, its score on the search seeds, and the number of evaluations.
    """

    def sampler(times: torch.Tensor) -> LSDPlusScheduler:
        return LSDPlusScheduler.from_config(
            {**public_config(baseline), "unmasking_order": "random", "timesteps": times.tolist()}
        )

    times, best, evaluations = start.clone(), score(sampler(start)), 1
    for sweep in range(sweeps):
        for boundary in range(1, steps):
            for candidate in boundary_candidates(times, boundary, spread=0.5 / 2**sweep):
                if candidate == float(times[boundary]):
                    continue
                trial = times.clone()
                trial[boundary] = candidate
                value = score(sampler(trial))
                evaluations += 1
                if value < best:
                    times, best = trial, value
    return sampler(times), best, evaluations


def learned_values(scheduler: LSDDiscreteScheduler, search: dict | None = None) -> dict:
    """The learned coefficients, schedule and order of a sampler (None for baselines), and what its search compared,
    for the results file and plots."""
    values = {"coefficients": scheduler.config.coefficients, "timesteps": scheduler.config.get("timesteps")}
    if search:
        kept = ("best_seed", "verified", "objective", "stage_seconds")
        values["search"] = {key: search[key] for key in kept if key in search}
    return values


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
        raise ValueError(
            f"--append: {path} was measured with {found}; this run asks for {protocol}. Use the same "
            "settings or another --output."
        )
    return record


def merge_rows(rows: list[dict], new_rows: list[dict]) -> list[dict]:
    """`rows` with `new_rows` added, replacing rows of the same sampler and M; ordered by M, then as they came. A kept
    row paired with a replaced row (`fd_teacher_paired`) loses its pairing: it was measured against other samples."""
    replaced = {(row["nfe"], row["sampler"]) for row in new_rows}
    kept = [row for row in rows if (row["nfe"], row["sampler"]) not in replaced]
    kept = [
        {key: value for key, value in row.items() if key != "fd_teacher_paired"}
        if (row["nfe"], row.get("fd_teacher_paired", {}).get("against")) in replaced
        else row
        for row in kept
    ]
    return sorted(kept + new_rows, key=lambda row: row["nfe"])


GAP_METRICS = ("gen_ppl", "mauve")  # the text benchmark's metrics that `gap_closed` reports


def gap_closed(rows: list[dict], teacher: dict, measured: list[str]) -> dict[str, dict[str, float]]:
    """metric -> M -> share of the gap closed by lsd_plus, for the `GAP_METRICS` among `measured`, where euler and
    lsd_plus rows exist."""
    closed: dict[str, dict[str, float]] = {}
    for metric in (metric for metric in GAP_METRICS if metric in measured):
        for nfe in sorted({row["nfe"] for row in rows}):
            cells = {row["sampler"]: row["metrics"][metric] for row in rows if row["nfe"] == nfe}
            if "euler" in cells and "lsd_plus" in cells and cells["euler"] != teacher["metrics"][metric]:
                # closed(M) = (metric(euler, M) - metric(lsd_plus, M)) / (metric(euler, M) - metric(teacher, N))
                share = (cells["euler"] - cells["lsd_plus"]) / (cells["euler"] - teacher["metrics"][metric])
                closed.setdefault(metric, {})[str(nfe)] = round(share, 4)
    return closed


def commands_of(record: dict) -> list[str]:
    """Every command that wrote a results record, in order."""
    return record.get("commands", [record["command"]])


def write_results(
    path: str | os.PathLike, task: str, teacher: dict, rows: list[dict], extra: dict, previous: dict | None = None
) -> None:
    """The results file of a benchmark (docs/benchmarks.md is made from them): task, command, machine, date, teacher,
    rows.

    A file grown by appending to `previous` keeps every command that wrote it, in order, under `commands`.
    """
    command = "python " + shlex.join(sys.argv)  # pasteable: arguments like power(0.5) stay quoted
    if previous is not None:
        extra = {"commands": [*commands_of(previous), command], **extra}
    record = {
        "task": task,
        "command": command,
        "machine": f"{os.cpu_count()}-core CPU ({platform.machine()}), torch {torch.__version__}",
        "date": datetime.date.today().isoformat(),
        "teacher": teacher,
        "rows": rows,
        **extra,
    }
    write_record(path, record)


def write_record(path: str | os.PathLike, record: dict) -> None:
    """Write a results record as JSON: whole, then renamed into place, so a killed run never leaves half a file."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    partial = Path(f"{path}.partial")
    partial.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(partial, path)
    print(f"wrote {path}")


def pair_fd_teacher(cells: list[dict], features: list[torch.Tensor], reference: torch.Tensor, against: str) -> None:
    """Add to each row its fd_teacher minus that of the row `against`, with a 95% interval that resamples both rows
    and the reference together (`frechet_difference_interval`)."""
    names = [row["sampler"] for row in cells]
    if against not in names:
        print(f"no row {against!r} at this M: fd_teacher is not paired", flush=True)
        return
    other = features[names.index(against)]
    for row, own in zip(cells, features):
        if row["sampler"] != against:
            difference, interval = frechet_difference_interval(own, other, reference)
            row["fd_teacher_paired"] = {"against": against, "difference": difference, "interval": interval}
            print(
                f"  fd_teacher {row['sampler']} minus {against}: {difference:+.4f} ({interval[0]:+.4f}, "
                f"{interval[1]:+.4f})",
                flush=True,
            )
