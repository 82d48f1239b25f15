"""The sampling loop shared by pipelines, distillation and benchmarks: one model call per scheduler step."""

from collections.abc import Callable

import torch

from .random_draws import random_tokens
from .scheduling_lsd import LSDDiscreteScheduler

Denoiser = Callable[[torch.LongTensor, torch.Tensor], torch.Tensor]


def initial_noise(
    scheduler: LSDDiscreteScheduler,
    shape: tuple[int, ...],
    generator: torch.Generator | list[torch.Generator] | None = None,
    device: torch.device | str | None = None,
) -> torch.LongTensor:
    """x_1: all MASK for absorbing noise, uniformly random tokens for uniform noise.

    Args:
        scheduler (`LSDDiscreteScheduler`): gives the forward process, vocabulary and mask id.
        shape (`tuple[int, ...]`): `(batch_size, seq_len)`.
        generator (`torch.Generator` or `list[torch.Generator]`, *optional*): randomness for uniform noise.
        device (`torch.device`, *optional*): where the tokens live.
    """
    config = scheduler.config
    if config.forward_process == "absorbing":
        return torch.full(shape, config.mask_token_id, dtype=torch.long, device=device)
    return random_tokens(shape, config.vocab_size, generator, device)


@torch.no_grad()
def generate(
    denoiser: Denoiser,
    scheduler: LSDDiscreteScheduler,
    shape: tuple[int, ...] | None = None,
    num_inference_steps: int | None = None,
    generator: torch.Generator | list[torch.Generator] | None = None,
    sample: torch.LongTensor | None = None,
    device: torch.device | str | None = None,
    callback: Callable[[int, torch.Tensor, torch.LongTensor], None] | None = None,
    block: tuple[int, int] | None = None,
) -> torch.LongTensor:
    """Sample token sequences with `scheduler`, calling `denoiser(x_t, t)` exactly once per step.

    Args:
        denoiser (`Callable`): maps token ids `(B, L)` and a time to the model output `(B, L, vocab_size)`.
        scheduler (`LSDDiscreteScheduler`): any scheduler of the LSD family.
        shape (`tuple[int, ...]`, *optional*): `(batch_size, seq_len)` when `sample` is not given.
        num_inference_steps (`int`, *optional*): steps (= model calls); defaults to the scheduler's learned count.
        generator (`torch.Generator` or `list[torch.Generator]`, *optional*): the only source of randomness.
        sample (`torch.LongTensor`, *optional*): a starting x_1 (e.g. with some positions already revealed).
        device (`torch.device`, *optional*): where sampling runs.
        callback (`Callable`, *optional*): called as `callback(step_index, timestep, sample)` after each step.
        block (`tuple[int, int]`, *optional*): step only positions `start:end` (one block of semi-autoregressive
            decoding); the model still sees the whole sequence.
    """
    if sample is None:
        if shape is None:
            raise ValueError("Pass either shape=(batch_size, seq_len) or a starting sample.")
        sample = initial_noise(scheduler, shape, generator, device)
    scheduler.set_timesteps(num_inference_steps, device=sample.device)
    start, end = block if block is not None else (0, sample.shape[1])
    for index, t in enumerate(scheduler.timesteps):
        model_output = denoiser(sample, t.expand(sample.shape[0]))[:, start:end]
        stepped = scheduler.step(model_output, t, sample[:, start:end], generator=generator).prev_sample
        sample = torch.cat([sample[:, :start], stepped, sample[:, end:]], dim=1)
        if callback is not None:
            callback(index, t, sample)
    return sample
