"""LSDPlusScheduler: LSD coefficients plus a learned time schedule (LSD+)."""

import torch
from diffusers import ConfigMixin, SchedulerMixin  # noqa: F401 - diffusers' pipeline loader looks these names up here
from diffusers.configuration_utils import register_to_config

from .scheduling_lsd import LSDDiscreteScheduler
from .time_grids import validate_time_schedule
from .validation import check_real_list, is_integer


class LSDPlusScheduler(LSDDiscreteScheduler):
    """LSD+ sampler: one learned coefficient per step and learned times 1 = tau_0 > ... > tau_M = 0.

    Everything else is [`LSDDiscreteScheduler`]; the only addition is `timesteps`, the learned schedule, which
    replaces the `timestep_spacing` grid. With `timesteps=None` and `coefficients=None` it is the baseline sampler.

    Args:
        timesteps (`list[float]`, *optional*):
            The M + 1 learned times, endpoints included, strictly decreasing from 1.0 to 0.0. The model is called at
            the first M of them.
        **kwargs: the arguments of [`LSDDiscreteScheduler`] (`vocab_size`, `coefficients`, ...).
    """

    @register_to_config
    def __init__(
        self,
        vocab_size: int,
        mask_token_id: int | None = None,
        forward_process: str = "absorbing",
        noise_schedule: str = "loglinear",
        noise_eps: float = 1e-3,
        sigma_min: float = 1e-4,
        sigma_max: float = 20.0,
        prediction_type: str = "x0_logits",
        solver: str = "tweedie",
        timestep_spacing: str = "linear",
        timestep_power: float = 1.0,
        num_inference_steps: int | None = None,
        coefficients: list[float] | None = None,
        coefficient_form: str = "linear",
        unmasking_order: str = "random",
        confidence_temperature: float = 0.0,
        scored_vocab_size: int | None = None,
        token_grid_shape: list[int] | None = None,
        logits_layout: str = "auto",
        timesteps: list[float] | None = None,
    ):
        self._check_config()

    def _validate_config(self) -> None:
        learned_times = self.config.timesteps
        if learned_times is not None:
            times = check_real_list("timesteps", learned_times)
            steps = self.config.num_inference_steps
            validate_time_schedule(times, steps if is_integer(steps) else None)
        super()._validate_config()

    def _derive_config(self) -> None:
        if self.config.timesteps is not None and self.config.num_inference_steps is None:
            self.register_to_config(num_inference_steps=len(self.config.timesteps) - 1)
        super()._derive_config()

    @property
    def has_learned_values(self) -> bool:
        return super().has_learned_values or self.config.timesteps is not None

    def default_time_schedule(self, num_steps: int) -> torch.Tensor:
        """The learned times when present, else the `timestep_spacing` grid."""
        if self.config.timesteps is not None:
            return torch.tensor(self.config.timesteps, dtype=torch.float64)
        return super().default_time_schedule(num_steps)
