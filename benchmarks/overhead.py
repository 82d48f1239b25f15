"""The scheduler's own work per step, as a share of one forward pass of the text teacher.

    python benchmarks/overhead.py                       # teachers/text's shape: vocab 2048, L = 64, 4 x 192, batch 128
    python benchmarks/overhead.py --threads 1 --output /tmp/overhead.json   # steadier when other jobs share the CPU

The model's weights do not change its speed, so a randomly initialised `MaskedDiffusionTransformer` of the shape of
`teachers/text` stands in (batch 128: the text benchmark's sampling batch). Each step of a `--steps` run is timed
on a state with the share of masked positions that the run has at that time; the mean is compared with one bf16
forward. Writes benchmarks/results/overhead.json.
"""

import argparse
import time
from functools import partial

import torch
from common import write_results

from lsd_schedulers import LSDDiscreteScheduler, MaskedDiffusionTransformer


def median_seconds(function, repeats: int) -> float:
    function()  # warm-up
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        timings.append(time.perf_counter() - start)
    return sorted(timings)[len(timings) // 2]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab_size", type=int, default=2048)
    parser.add_argument("--seq_len", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--hidden_size", type=int, default=192)
    parser.add_argument("--num_layers", type=int, default=4)
    parser.add_argument("--num_heads", type=int, default=3)
    parser.add_argument("--steps", type=int, default=16, help="steps of the run whose states are timed")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (1 is steadier on a busy machine)")
    parser.add_argument("--output", default="benchmarks/results/overhead.json")
    return parser.parse_args()


@torch.no_grad()
def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    mask = args.vocab_size - 1
    model = MaskedDiffusionTransformer(
        args.vocab_size,
        mask,
        max_seq_len=args.seq_len,
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        num_heads=args.num_heads,
    ).eval()
    clean = torch.randint(0, mask, (args.batch_size, args.seq_len), generator=torch.Generator().manual_seed(0))
    sample = torch.full_like(clean, mask)
    t = torch.tensor(0.5)

    def forward():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model(sample, t).logits

    logits = forward().float()
    forward_seconds = median_seconds(forward, args.repeats)
    samplers = {
        "tweedie": {},
        "euler": {"solver": "euler"},
        "confidence": {"unmasking_order": "confidence"},
        "lsd_power": {"coefficient_form": "power", "coefficients": [1.1] * args.steps},
    }
    rows = []
    for name, options in samplers.items():
        scheduler = LSDDiscreteScheduler(vocab_size=args.vocab_size, mask_token_id=mask, **options)
        scheduler.set_timesteps(args.steps)
        seconds = []
        for index, timestep in enumerate(scheduler.timesteps):
            # the state a run reaches at this step: a share 1 - alpha(t) of the positions still masked
            keep = torch.rand(clean.shape, generator=torch.Generator().manual_seed(index)) < scheduler.noise.alpha(
                timestep
            )
            state = torch.where(keep, clean, mask)
            step = partial(scheduler.step, logits, timestep, state, torch.Generator().manual_seed(index))
            seconds.append(median_seconds(step, args.repeats))
        mean = sum(seconds) / len(seconds)
        share = mean / forward_seconds
        rows.append({"sampler": name, "nfe": args.steps, "metrics": {"step_seconds": mean, "share_of_forward": share}})
        print(f"{name:<12} mean step {mean * 1000:7.1f} ms = {100 * share:5.1f}% of a forward", flush=True)
    print(f"forward (bf16 autocast) {forward_seconds * 1000:.1f} ms")
    teacher = {"sampler": "forward", "nfe": 1, "metrics": {"forward_seconds": forward_seconds}}
    write_results(args.output, "overhead", teacher, rows, {"shape": vars(args)})


if __name__ == "__main__":
    main(parse_args())
