"""Sample the countdown task with the exact Markov-chain oracle and compare baseline samplers.

python examples/sample_countdown.py --steps 4 8 16 32 --samples 256
"""

import argparse
import time

import torch

from lsd_schedulers import LSDDiscreteScheduler
from lsd_schedulers.metrics import sequence_violation_rate, unigram_kl, violation_rate
from lsd_schedulers.models import MarkovChainOracle, countdown_chain
from lsd_schedulers.sampling import generate

SAMPLERS = {
    "euler": {"solver": "euler"},
    "tweedie": {"solver": "tweedie"},
    "cosine": {"timestep_spacing": "cosine"},
    "power(0.3)": {"timestep_spacing": "power", "timestep_power": 0.3},
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32], help="numbers of model calls")
    parser.add_argument("--samples", type=int, default=256, help="sequences per cell")
    parser.add_argument("--seq_len", type=int, default=256)
    parser.add_argument("--num_states", type=int, default=32, help="countdown vocabulary V (the mask id is V)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main(args: argparse.Namespace) -> None:
    initial, transition = countdown_chain(args.num_states)
    oracle = MarkovChainOracle(initial, transition)
    print(f"countdown oracle: V={args.num_states}, L={args.seq_len}, {args.samples} samples per cell")
    print(f"{'sampler':<12}{'NFE':>5}{'violation':>11}{'seq. viol.':>11}{'unigram KL':>12}{'seconds':>9}")
    for name, options in SAMPLERS.items():
        scheduler = LSDDiscreteScheduler(vocab_size=oracle.vocab_size, mask_token_id=oracle.mask_token_id, **options)
        for steps in args.steps:
            start = time.perf_counter()
            samples = generate(
                oracle, scheduler, (args.samples, args.seq_len), steps, torch.Generator().manual_seed(args.seed)
            )
            seconds = time.perf_counter() - start
            print(
                f"{name:<12}{steps:>5}{violation_rate(samples):>11.4f}{sequence_violation_rate(samples):>11.3f}"
                f"{unigram_kl(samples, initial, args.num_states):>12.5f}{seconds:>9.2f}"
            )


if __name__ == "__main__":
    main(parse_args())
