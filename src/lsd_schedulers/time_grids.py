"""Time grids of few-step samplers: 1 = tau_0 > tau_1 > ... > tau_M = 0, the hand-made families and their check."""

import math

import torch

TIMESTEP_SPACINGS = ("linear", "cosine", "power")


def linear_timesteps(num_steps: int) -> torch.Tensor:
    # tau_k = 1 - k / M,  k = 0..M
    return 1 - torch.arange(num_steps + 1, dtype=torch.float64) / num_steps


def cosine_timesteps(num_steps: int) -> torch.Tensor:
    # tau_k = cos(pi/2 k / M): few tokens revealed early, many late
    times = torch.cos(0.5 * math.pi * torch.arange(num_steps + 1, dtype=torch.float64) / num_steps)
    times[-1] = 0.0
    return times


def power_timesteps(num_steps: int, power: float) -> torch.Tensor:
    # tau_k = (1 - k / M)^gamma
    return linear_timesteps(num_steps) ** power


def time_grid(spacing: str, num_steps: int, power: float = 1.0) -> torch.Tensor:
    """The M + 1 times of a hand-made spacing, checked to be strictly decreasing.

    Args:
        spacing (`str`): `"linear"`, `"cosine"` or `"power"`.
        num_steps (`int`): M.
        power (`float`, defaults to 1.0): the exponent of the `"power"` spacing.
    """
    if spacing == "cosine":
        times = cosine_timesteps(num_steps)
    elif spacing == "power":
        times = power_timesteps(num_steps, power)
    else:
        times = linear_timesteps(num_steps)
    if not (times[1:] < times[:-1]).all():
        raise ValueError(
            f"timestep_spacing={spacing!r} with timestep_power={power} gives the grid {times.tolist()} for "
            f"{num_steps} steps, which is not strictly decreasing (times round to 0 before the last step); use a "
            "smaller timestep_power."
        )
    return times


def validate_time_schedule(times: torch.Tensor | list[float], num_steps: int | None = None) -> torch.Tensor:
    """Check a full schedule 1 = tau_0 > tau_1 > ... > tau_M = 0 and return it as float64.

    Args:
        times (`torch.Tensor` or `list[float]`): the M + 1 times, endpoints included.
        num_steps (`int`, *optional*): the expected M.
    """
    times = torch.as_tensor(times, dtype=torch.float64).flatten()
    if times.numel() < 2:
        raise ValueError(f"A time schedule needs at least 2 entries (1 and 0), got {times.numel()}.")
    if num_steps is not None and times.numel() != num_steps + 1:
        raise ValueError(
            f"A schedule for {num_steps} steps needs {num_steps + 1} times (1, ..., 0), got {times.numel()}."
        )
    if not torch.isfinite(times).all():
        raise ValueError(f"Time schedule contains non-finite values: {times.tolist()}.")
    if times[0] != 1.0 or times[-1] != 0.0:
        raise ValueError(
            f"Time schedule must start at 1.0 and end at 0.0, got {times[0].item()} ... {times[-1].item()}."
        )
    if not (times[1:] < times[:-1]).all():
        raise ValueError(f"Time schedule must be strictly decreasing, got {times.tolist()}.")
    return times
