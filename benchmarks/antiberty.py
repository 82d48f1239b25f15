"""Antibody heavy chains with AntiBERTy, a pretrained masked LM that nobody here trained.

    make antiberty                               # the pinned PyPI sdist, converted to data/antiberty
    python benchmarks/antiberty.py               # M in {8, 16}, teacher N = 64, 256 samples per cell
    python benchmarks/antiberty.py --steps 2 --samples 8 --teacher_steps 4 --output /tmp/quick.json

Sequences are [CLS] + 120 residues + [SEP]; the first residues are fixed to a heavy-chain framework start (`--prefix`,
EVQLVESGGG by default) so that the samples are heavy chains, and the sampler generates the other 110. Metrics:
`fd_teacher`, the Frechet distance between the mean-pooled last-layer AntiBERTy embeddings of a row's samples and of
the teacher's samples drawn on seeds disjoint from evaluation (`--teacher_reference_seed`), on the reference's top
principal components, with a normal bootstrap 95% interval (the distance to what was distilled; the teacher row's
value is the floor that sampling noise alone gives);
`pseudo_ppl`, AntiBERTy's pseudo-perplexity of the samples (the model judging its own samples, on random residues);
`identity`, the mean pairwise sequence identity, and `entropy`, the mean per-sample residue entropy (diversity:
closer to the teacher's is better); pseudo_ppl, identity and entropy are measured on the generated positions.
Writes benchmarks/results/antiberty.json.
"""

import argparse
import time

import torch
from common import (
    cache_folder,
    distil_all,
    hand_made,
    keep_best_power,
    learned_values,
    spread_made,
    variant,
    weights_digest,
    write_results,
)

from lsd_schedulers.metrics.evaluation import compare_samplers, sample_in_batches
from lsd_schedulers.metrics.sequences import (
    frechet_interval,
    mean_pairwise_identity,
    mean_pooled_embeddings,
    mean_sequence_entropy,
    projected_frechet_distance,
    pseudo_perplexity,
)
from lsd_schedulers.models import AutocastDenoiser
from lsd_schedulers.teachers import load_teacher


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="data/antiberty", help="examples/prepare_antiberty.py's folder")
    parser.add_argument("--steps", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--teacher_steps", type=int, default=64)
    parser.add_argument("--length", type=int, default=120, help="residues per chain")
    parser.add_argument("--prefix", default="EVQLVESGGG", help="fixed heavy-chain framework start ('' for none)")
    parser.add_argument("--power_grid", type=float, nargs="+", default=[0.3, 0.5])
    parser.add_argument("--distilled", nargs="+", default=["jys", "lsd_plus"])
    parser.add_argument("--train_batch_size", type=int, default=16)
    parser.add_argument("--teacher_ratio", type=int, default=4, help="distillation teacher steps N = ratio * M")
    parser.add_argument("--split_evaluations", type=int, default=4)
    parser.add_argument("--coefficient_rounds", type=int, default=1)
    parser.add_argument("--batch_size", type=int, default=16, help="sequences per sampling batch")
    parser.add_argument("--pppl_positions", type=int, default=8, help="residues scored per sample for pseudo_ppl")
    parser.add_argument("--precision", default="bf16", choices=("bf16", "fp32"))
    parser.add_argument("--eval_seed", type=int, default=1_000_000)
    parser.add_argument(
        "--teacher_reference_seed", type=int, default=2_000_000, help="seeds of fd_teacher's teacher samples"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="benchmarks/results/antiberty.json")
    return parser.parse_args()


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    prompt = " ".join(args.prefix) if args.prefix else None
    teacher = load_teacher(args.model, seq_len=args.length + 2, prompts=[prompt] if prompt else None)
    model, tokenizer = teacher.pipeline.transformer, teacher.pipeline.tokenizer
    denoiser = AutocastDenoiser(teacher.denoiser) if args.precision == "bf16" else teacher.denoiser
    baseline, mask = teacher.scheduler, teacher.scheduler.config.mask_token_id
    template = teacher.start_states(1)[0]
    generated = template == mask  # the positions the samplers draw (diversity and pseudo_ppl are measured there)
    residues = generated | ~torch.isin(template, torch.tensor(tokenizer.all_special_ids))  # the prefix too
    print(f"template: {tokenizer.decode(template[:16])} ... ({int((template == mask).sum())} positions generated)")

    def sample(scheduler, steps, seed=args.eval_seed):
        return sample_in_batches(
            denoiser, scheduler, args.samples, teacher.seq_len, steps, seed, args.batch_size, teacher.start_states
        )

    def embeddings(samples: torch.LongTensor) -> torch.Tensor:
        return mean_pooled_embeddings(model, samples, residues.expand_as(samples))

    start = time.perf_counter()
    reference = embeddings(sample(variant(baseline), args.teacher_steps, args.teacher_reference_seed))
    intervals: list[list[float]] = []  # fd_teacher's 95% interval of each metrics() call, in call order

    def metrics(samples: torch.LongTensor) -> dict[str, float]:
        features = embeddings(samples)
        intervals.append(frechet_interval(features, reference))
        generator = torch.Generator().manual_seed(0)
        keep = generated.expand_as(samples)
        return {
            "fd_teacher": projected_frechet_distance(features, reference),
            "pseudo_ppl": pseudo_perplexity(model, samples, keep, mask, args.pppl_positions, generator),
            "identity": mean_pairwise_identity(samples, generated),
            "entropy": mean_sequence_entropy(samples, keep),
        }

    teacher_samples = sample(variant(baseline), args.teacher_steps)
    examples = tokenizer.batch_decode(teacher_samples[:2].tolist(), skip_special_tokens=True)
    teacher_row = {
        "sampler": "tweedie",
        "nfe": args.teacher_steps,
        "metrics": metrics(teacher_samples),
        "fd_teacher_interval": intervals[-1],
        "examples": examples,
    }
    print(f"teacher (N={args.teacher_steps}): {teacher_row['metrics']} in {time.perf_counter() - start:.0f} s")

    settings = {
        "batch_size": args.train_batch_size,
        "seq_len": teacher.seq_len,
        "split_evaluations": args.split_evaluations,
        "coefficient_rounds": args.coefficient_rounds,
    }
    teacher_key = {"model": weights_digest(args.model), "prefix": args.prefix, "precision": args.precision}
    cache = {"cache_dir": cache_folder(args.output), "cache_key": teacher_key}
    rows = []
    for steps in args.steps:
        distilled = distil_all(
            denoiser, baseline, steps, args.distilled, args.teacher_ratio, teacher.start_states, **cache, **settings
        )
        hand = hand_made(baseline, args.power_grid)
        samplers = {name: (hand[name], steps) for name in hand if name != "tweedie"}
        samplers["confidence"] = (variant(baseline, unmasking_order="confidence"), steps)
        samplers.update(
            {
                name: (s, steps)
                for name, s in spread_made(baseline, ["spread"], args.power_grid).items()
                if not name.endswith("linear")
            }
        )
        samplers.update({name: (scheduler, steps) for name, (scheduler, _, _) in distilled.items()})
        cells = compare_samplers(
            denoiser,
            samplers,
            metrics,
            args.samples,
            teacher.seq_len,
            args.eval_seed,
            args.batch_size,
            teacher.start_states,
        )
        for row, interval in zip(cells, intervals[-len(cells) :]):
            row["fd_teacher_interval"] = interval
            if row["sampler"] in distilled:
                scheduler, seconds, summary = distilled[row["sampler"]]
                row.update(distill_seconds=round(seconds, 1), **learned_values(scheduler, summary))
        cells = keep_best_power(cells, "fd_teacher")
        for row in cells:
            print(f"  M={steps:<3} {row['sampler']:<12} {row['unmasking_order']:<10} {row['metrics']}", flush=True)
        rows.extend(cells)
        write_results(
            args.output,
            "antiberty",
            teacher_row,
            rows,
            {
                "model": "AntiBERTy (antiberty==0.1.3 from PyPI, BertForMaskedLM, 25.8M parameters)",
                "precision": args.precision,
                "sequence": {
                    "residues": args.length,
                    "prefix": args.prefix,
                    "generated": int((template == mask).sum()),
                },
                "distillation": {
                    "teacher_steps": f"{args.teacher_ratio} M",
                    "train_batch_size": args.train_batch_size,
                    "split_evaluations": args.split_evaluations,
                    "seeds": "0 (training)",
                    "coefficient_rounds": args.coefficient_rounds,
                    "eval_seed": args.eval_seed,
                    "samples_per_cell": args.samples,
                },
                "metrics_note": f"fd_teacher against {args.samples} teacher samples on seeds from "
                f"{args.teacher_reference_seed}, on their top 32 principal components, normal bootstrap 95% interval "
                f"(200 resamples of both sets); pseudo_ppl on {args.pppl_positions} random residues per sample",
            },
        )


if __name__ == "__main__":
    main(parse_args())
