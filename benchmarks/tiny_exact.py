"""Tiny exact task (EVALUATION.md task 2): a random Markov chain small enough that the sampler's whole output
distribution is computed by enumeration, so TV and KL to the data distribution are exact, not estimates.

    python benchmarks/tiny_exact.py                     # V = 4, L = 5, M in {4, 8, 16, 32}

The sampler's process is a Markov chain over all (V + 1)^L token strings (MASK included); each step's transition
factorises over positions given the current string, so the exact distribution is pushed forward step by step.
Writes benchmarks/results/tiny-exact.json.
"""

import argparse
import itertools
import time

import torch
from common import distil_all, hand_made, keep_best_power, learned_values, variant, write_results

from lsd_schedulers import LSDDiscreteScheduler
from lsd_schedulers.models import MarkovChainOracle
from lsd_schedulers.transitions import transition_from_jumps


def random_chain(num_states: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A random chain with every transition possible, and peaked rows (so that token order matters)."""
    generator = torch.Generator().manual_seed(seed)
    initial = torch.softmax(torch.randn(num_states, generator=generator, dtype=torch.float64), 0)
    transition = torch.softmax(2.5 * torch.randn(num_states, num_states, generator=generator, dtype=torch.float64), 1)
    return initial, transition


def all_strings(alphabet: int, length: int) -> torch.LongTensor:
    """Every string over `alphabet` symbols, in base-`alphabet` order (position 0 most significant)."""
    return torch.tensor(list(itertools.product(range(alphabet), repeat=length)), dtype=torch.long)


def data_distribution(initial: torch.Tensor, transition: torch.Tensor, strings: torch.LongTensor) -> torch.Tensor:
    # p(x) = pi(x_0) prod_i T(x_{i-1}, x_i), zero for strings containing MASK
    num_states = initial.numel()
    valid = (strings < num_states).all(1)
    clean = strings.clamp_max(num_states - 1)
    probability = initial[clean[:, 0]] * transition[clean[:, :-1], clean[:, 1:]].prod(1)
    return probability * valid


@torch.no_grad()
def exact_output_distribution(
    denoiser, scheduler: LSDDiscreteScheduler, num_steps: int | None, strings: torch.LongTensor, chunk: int = 512
) -> torch.Tensor:
    """The exact distribution over `strings` of the sampler's output, started from all-MASK."""
    alphabet, length = scheduler.config.vocab_size, strings.shape[1]
    distribution = torch.zeros(len(strings), dtype=torch.float64)
    distribution[-1] = 1.0  # the all-MASK string (MASK is the largest id)
    scheduler.set_timesteps(num_steps)
    for index, t in enumerate(scheduler.timesteps):
        s = scheduler.schedule[index + 1]
        active = torch.nonzero(distribution > 0).squeeze(1)
        pushed = torch.zeros_like(distribution)
        for part in active.split(chunk):
            states = strings[part]
            output = denoiser(states, t.float().expand(len(part)))
            jumps, _ = scheduler.jump_probabilities(output, states, t, s, scheduler.step_coefficients[index])
            per_position = transition_from_jumps(jumps, states)
            joint = per_position[:, 0]
            for position in range(1, length):
                # outer product over positions: p(y) = prod_i P_i(y_i | x)
                joint = joint.unsqueeze(-1) * per_position[:, position].view(len(part), *[1] * position, alphabet)
            pushed += distribution[part] @ joint.reshape(len(part), -1)
        distribution = pushed
    return distribution


def exact_metrics(target: torch.Tensor, output: torch.Tensor) -> dict[str, float]:
    # TV = 1/2 sum |p - q|;  KL(p_data || q) = sum p log(p / q)
    kl = torch.where(target > 0, target * (target.log() - output.clamp_min(1e-300).log()), 0.0).sum()
    return {"tv": float(0.5 * (target - output).abs().sum()), "kl": float(kl)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--num_states", type=int, default=4)
    parser.add_argument("--seq_len", type=int, default=5)
    parser.add_argument("--chain_seed", type=int, default=0)
    parser.add_argument("--teacher_steps", type=int, default=1024)
    parser.add_argument("--train_batch_size", type=int, default=256)
    parser.add_argument("--output", default="benchmarks/results/tiny-exact.json")
    return parser.parse_args()


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(2)
    initial, transition = random_chain(args.num_states, args.chain_seed)
    oracle = MarkovChainOracle(initial, transition)
    baseline = LSDDiscreteScheduler(vocab_size=oracle.vocab_size, mask_token_id=oracle.mask_token_id)
    strings = all_strings(oracle.vocab_size, args.seq_len)
    target = data_distribution(initial, transition, strings)

    start = time.perf_counter()
    teacher_output = exact_output_distribution(oracle, variant(baseline), args.teacher_steps, strings)
    teacher = {"sampler": "tweedie", "nfe": args.teacher_steps, "metrics": exact_metrics(target, teacher_output)}
    print(f"teacher (N={args.teacher_steps}): {teacher['metrics']} in {time.perf_counter() - start:.0f} s")

    rows = []
    for steps in args.steps:
        distilled = distil_all(oracle, baseline, steps, batch_size=args.train_batch_size, seq_len=args.seq_len)
        samplers = {**hand_made(baseline), **{name: scheduler for name, (scheduler, _) in distilled.items()}}
        cells = []
        for name, scheduler in samplers.items():
            output = exact_output_distribution(oracle, scheduler, steps, strings)
            row = {"sampler": name, "nfe": steps, "metrics": exact_metrics(target, output)}
            if name in distilled:
                row.update(distill_seconds=round(distilled[name][1], 1), **learned_values(distilled[name][0]))
            cells.append(row)
        cells = keep_best_power(cells, "tv")
        for row in cells:
            print(f"  M={steps:<3} {row['sampler']:<15} {row['metrics']}", flush=True)
        rows.extend(cells)

    write_results(args.output, "tiny-exact", teacher, rows, {
        "chain": {"num_states": args.num_states, "seq_len": args.seq_len, "seed": args.chain_seed,
                  "initial": initial.tolist(), "transition": transition.tolist()},
        "distillation": {"teacher_steps": "8 M", "train_batch_size": args.train_batch_size, "seeds": "0"},
    })  # fmt: skip


if __name__ == "__main__":
    main(parse_args())
