"""The student sampler's learnable parameters: one coefficient per step and (LSD+) a time schedule."""

import torch

from ..time_grids import validate_time_schedule


def schedule_from_logits(schedule_logits: torch.Tensor) -> torch.Tensor:
    # tau_k = 1 - sum_{l <= k} softmax(u)_l, tau_0 = 1, tau_M = 0: strictly decreasing by construction
    increments = torch.softmax(schedule_logits.double(), dim=0)
    inner = 1 - torch.cumsum(increments[:-1], dim=0)
    one, zero = inner.new_ones(1), inner.new_zeros(1)
    return torch.cat([one, inner, zero])


def logits_from_schedule(times: torch.Tensor) -> torch.Tensor:
    # u_k = log kappa_k, kappa_k = tau_{k-1} - tau_k  (inverse of schedule_from_logits up to a constant)
    times = validate_time_schedule(times)
    return torch.log(times[:-1] - times[1:])


class StudentParameters(torch.nn.Module):
    """Learnable values of an M-step student: log Phi_k (Phi = 1 is the baseline) and schedule logits u_k.

    Args:
        num_steps (`int`): M.
        initial_schedule (`torch.Tensor`): the starting times 1 = tau_0 > ... > tau_M = 0.
        learn_schedule (`bool`): whether the schedule is a parameter (LSD+) or fixed (LSD).
    """

    def __init__(self, num_steps: int, initial_schedule: torch.Tensor, learn_schedule: bool):
        super().__init__()
        self.num_steps = num_steps
        self.learn_schedule = learn_schedule
        self.log_coefficients = torch.nn.Parameter(torch.zeros(num_steps, dtype=torch.float64))
        logits = logits_from_schedule(validate_time_schedule(initial_schedule, num_steps))
        self.schedule_logits = torch.nn.Parameter(logits, requires_grad=learn_schedule)

    def coefficients(self) -> torch.Tensor:
        # Phi_k = exp(log Phi_k) > 0
        return torch.exp(self.log_coefficients)

    def time_schedule(self) -> torch.Tensor:
        """The M + 1 times 1 = tau_0 > ... > tau_M = 0."""
        return schedule_from_logits(self.schedule_logits)

    @torch.no_grad()
    def set_time_schedule(self, times: torch.Tensor) -> None:
        """Replace the schedule (used by derivative-free search)."""
        self.schedule_logits.copy_(logits_from_schedule(validate_time_schedule(times, self.num_steps)))
