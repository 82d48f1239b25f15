"""Image (docs/benchmarks.md, "Fashion-MNIST"): Fashion-MNIST as VQ tokens with a class-conditional masked
transformer trained here.

    make fashion-mnist
    python benchmarks/image.py                  # M in {4, 8, 16, 32, 64}, 1,000 samples per cell
    python benchmarks/image.py --steps 4 --samples 200 --teacher_steps 64 --output /tmp/quick.json
    python benchmarks/image.py --steps 8 --distilled lsd_plus --no_hand_made --append ...  # rerun rows of the file

Metrics: the Frechet distance in the features of a small classifier trained here (`fd_classifier`, not FID) to the
10,000 test images, and the share of samples the classifier puts in their requested class (`class_accuracy`).
Classes are balanced: sample i is drawn for class i mod 10. Writes benchmarks/results/image.json and a grid of
samples per M (docs/images/image-samples-M*.png); `python benchmarks/report.py` renders docs/benchmarks.md.
"""

import argparse
import time
from pathlib import Path

import torch
from common import (
    POWER_GRID,
    cache_folder,
    distil_all,
    hand_made,
    keep_best_power,
    learned_values,
    merge_rows,
    pair_fd_teacher,
    previous_results,
    spread_made,
    variant,
    weights_digest,
    write_results,
)

from lsd_schedulers import LSDVQImagePipeline
from lsd_schedulers.data import load_fashion_mnist
from lsd_schedulers.metrics.evaluation import compare_samplers, sample_in_batches
from lsd_schedulers.metrics.image import classify, image_metrics
from lsd_schedulers.metrics.sequences import frechet_interval, projected_frechet_distance
from lsd_schedulers.models import ClassConditionalAdapter, ImageClassifier

ROOT = Path(__file__).resolve().parents[1]
BATCH = 250  # a multiple of 10: every batch holds each class equally often


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", default=str(ROOT / "teachers" / "fashion-mnist"), help="an LSDVQImagePipeline")
    parser.add_argument("--classifier", default=str(ROOT / "teachers" / "fashion-classifier"))
    parser.add_argument("--data_dir", default=str(ROOT / "data" / "fashion-mnist"))
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--teacher_steps", type=int, default=1024, help="N of the teacher row")
    parser.add_argument("--power_grid", type=float, nargs="+", default=list(POWER_GRID), help="gammas for `power`")
    parser.add_argument("--guidance_scale", type=float, default=2.0)
    parser.add_argument(
        "--distilled", nargs="+", default=["jys", "lsd", "lsd_plus", "lsd_plus_random", "lsd_paper", "lsd_plus_paper"]
    )
    parser.add_argument("--split_evaluations", type=int, default=8, help="golden-section evaluations per boundary")
    parser.add_argument("--train_batch_size", type=int, default=64)
    parser.add_argument("--eval_seed", type=int, default=1_000_000, help="disjoint from distillation seeds (< 1000)")
    parser.add_argument(
        "--teacher_reference_seed", type=int, default=2_000_000, help="seeds of fd_teacher's teacher samples"
    )
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "image.json"))
    parser.add_argument("--append", action="store_true", help="keep the file's teacher row and other rows")
    parser.add_argument("--no_hand_made", action="store_true", help="only the distilled rows (with --append)")
    parser.add_argument("--grid_dir", default=str(ROOT / "docs" / "images"), help="'' to skip the sample grids")
    args = parser.parse_args()
    if args.no_hand_made and not args.append:
        parser.error("--no_hand_made needs --append: a table without its hand-made rows compares nothing")
    return args


def protocol_of(record: dict) -> dict:
    """The fields a run must share with a results file to append to it."""
    setup = record["distillation"]
    return {
        "teacher_steps": record["teacher"]["nfe"],
        "samples": setup["samples_per_cell"],
        "eval_seed": setup["eval_seed"],
        "guidance_scale": setup["guidance_scale"],
        "train_batch_size": setup["train_batch_size"],
        "split_evaluations": setup["split_evaluations"],
    }


def save_grid(grids: dict[str, torch.Tensor], steps: int, path: Path) -> None:
    """One row of 10 samples (classes 0..9) per sampler."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(grids), 1, figsize=(6, 0.75 * len(grids) + 0.3), squeeze=False)
    for ax, (name, images) in zip(axes[:, 0], grids.items()):
        ax.imshow(torch.cat(list(images[:, 0]), dim=1).add(1).div(2).clamp(0, 1).numpy(), cmap="gray")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(f"{steps} steps; columns: classes 0-9", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(args: argparse.Namespace) -> None:
    pipe = LSDVQImagePipeline.from_pretrained(args.teacher)
    classifier = ImageClassifier.from_pretrained(args.classifier).eval()
    test_images, _ = load_fashion_mnist("test", args.data_dir)
    reference_features, _ = classify(classifier, test_images)
    grid = pipe.token_grid_shape
    seq_len = grid[0] * grid[1]
    # the token grid lets the 2-D spread order (and distillation's choice of orders) read flattened samples
    baseline = variant(pipe.scheduler, token_grid_shape=grid)
    denoiser = ClassConditionalAdapter(pipe.transformer.eval(), None, args.guidance_scale, baseline.config.vocab_size)

    requested = torch.arange(args.samples) % 10  # batches of BATCH rows, row i drawn for class i mod 10
    last_grids: dict[str, torch.Tensor] = {}

    def decode(tokens: torch.LongTensor) -> torch.Tensor:
        return pipe.decode_tokens(tokens.view(-1, *grid))

    # fd_teacher's reference: teacher samples on seeds disjoint from evaluation (the distance to what is distilled)
    start = time.perf_counter()
    teacher_sampler = (denoiser, baseline, args.samples, seq_len, args.teacher_steps)
    reference_tokens = sample_in_batches(*teacher_sampler, args.teacher_reference_seed, BATCH)
    teacher_features, _ = classify(classifier, decode(reference_tokens))
    print(f"teacher reference samples (N={args.teacher_steps}) in {time.perf_counter() - start:.0f} s", flush=True)
    intervals: list[list[float]] = []  # fd_teacher's 95% interval of each metrics() call, in call order
    feature_sets: list[torch.Tensor] = []  # the classifier features of each metrics() call, in call order

    def metrics(tokens: torch.LongTensor) -> dict[str, float]:
        images = decode(tokens)
        last_grids["latest"] = images[:10]
        features, _ = classify(classifier, images)
        intervals.append(frechet_interval(features, teacher_features))
        feature_sets.append(features)
        return {
            **image_metrics(images, requested[: len(images)], classifier, reference_features),
            "fd_teacher": projected_frechet_distance(features, teacher_features),
        }

    protocol = {
        "teacher_steps": args.teacher_steps,
        "samples": args.samples,
        "eval_seed": args.eval_seed,
        "guidance_scale": args.guidance_scale,
        "train_batch_size": args.train_batch_size,
        "split_evaluations": args.split_evaluations,
    }
    previous = previous_results(args.output, protocol, protocol_of) if args.append else None
    if previous is not None and "fd_teacher" in previous["teacher"]["metrics"]:
        teacher, teacher_grid = previous["teacher"], None
    else:  # a file from before fd_teacher gets the teacher row anew (the same seeds: the same other metrics)
        start = time.perf_counter()
        teacher = {
            "sampler": "tweedie",
            "nfe": args.teacher_steps,
            "metrics": metrics(sample_in_batches(*teacher_sampler, args.eval_seed, BATCH)),
            "fd_teacher_interval": intervals[-1],
            "guidance_scale": args.guidance_scale,
        }
        teacher_grid = last_grids["latest"]
        seconds = time.perf_counter() - start
        print(f"teacher (N={args.teacher_steps}): {teacher['metrics']} in {seconds:.0f} s", flush=True)

    rows = previous["rows"] if previous is not None else []
    for steps in args.steps:
        distilled = distil_all(
            denoiser,
            baseline,
            steps,
            names=args.distilled,
            batch_size=args.train_batch_size,
            seq_len=seq_len,
            split_evaluations=args.split_evaluations,
            cache_dir=cache_folder(args.output),
            cache_key={"teacher": weights_digest(args.teacher), "guidance_scale": args.guidance_scale},
        )
        powers = {f"power({gamma})" for gamma in args.power_grid}
        samplers = {}
        if not args.no_hand_made:
            samplers = {
                name: (scheduler, steps)
                for name, scheduler in hand_made(baseline).items()
                if not name.startswith("power(") or name in powers
            }
            samplers["confidence"] = (variant(baseline, unmasking_order="confidence"), steps)
            samplers.update(
                {
                    name: (scheduler, steps)
                    for name, scheduler in spread_made(baseline, ["spread", "spread_2d"], args.power_grid).items()
                }
            )
        samplers.update({name: (scheduler, steps) for name, (scheduler, _, _) in distilled.items()})
        grids = {"teacher": teacher_grid} if teacher_grid is not None else {}  # an appending run keeps the teacher
        cells, first = [], len(feature_sets)
        for name, sampler in samplers.items():
            cells += compare_samplers(denoiser, {name: sampler}, metrics, args.samples, seq_len, args.eval_seed, BATCH)
            cells[-1]["fd_teacher_interval"] = intervals[-1]
            grids[name] = last_grids["latest"]
        pair_fd_teacher(cells, feature_sets[first:], teacher_features, "lsd_plus")
        for row in cells:
            if row["sampler"] in distilled:
                scheduler, seconds, summary = distilled[row["sampler"]]
                row.update(distill_seconds=round(seconds, 1), **learned_values(scheduler, summary))
        best = {row["sampler"]: row for row in keep_best_power(cells, "fd_classifier")}
        cells = list(best.values())
        for row in cells:
            print(f"  M={steps:<3} {row['sampler']:<20} {row['metrics']}", flush=True)
        rows = merge_rows(rows, cells)
        if args.grid_dir and not args.no_hand_made:  # a grid shows the whole line-up
            # one grid row per table row: the kept hand-made schedule of each order stands for its family
            kept = {f"{name} {row['schedule']}": name for name, row in best.items() if "schedule" in row}
            kept.update({f"power({row['gamma']})": "power" for row in best.values() if "gamma" in row})
            grids = {kept.get(name, name): images for name, images in grids.items()}
            shown = [name for name in grids if name in best and name != "tweedie" or name == "teacher"]
            save_grid(
                {name: grids[name] for name in shown}, steps, Path(args.grid_dir) / f"image-samples-M{steps}.png"
            )
        # written after every M: an interrupted run keeps the step counts it finished
        settings = {
            "teacher_steps": "8 M",
            "train_batch_size": args.train_batch_size,
            "seeds": "0 (training)",
            "eval_seed": args.eval_seed,
            "samples_per_cell": args.samples,
            "seq_len": seq_len,
            "guidance_scale": args.guidance_scale,
            "split_evaluations": args.split_evaluations,
            "nfe_note": "one guided call per step (a conditional and an unconditional pass)",
        }
        note = (
            f"fd_teacher against {args.samples} teacher samples on seeds from {args.teacher_reference_seed}, in the "
            "classifier's features on their top 32 principal components, normal bootstrap 95% interval; "
            "fd_teacher_paired: a row's fd_teacher minus lsd_plus's of the same run, resampled together"
        )
        write_results(args.output, "image", teacher, rows, {"distillation": settings, "metrics_note": note}, previous)


if __name__ == "__main__":
    main(parse_args())
