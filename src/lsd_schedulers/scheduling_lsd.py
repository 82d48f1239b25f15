"""LSDDiscreteScheduler: the baseline few-step discrete diffusion sampler, with one learned coefficient per step."""

from dataclasses import dataclass

import torch
from diffusers import ConfigMixin, SchedulerMixin
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput

from .block_kernels import BLOCK_COLUMNS, block_maxima
from .masked_step import masked_step
from .noise_schedules import NOISE_SCHEDULES, NoiseSchedule
from .random_draws import random_tokens, sample_jumps, uniform_noise
from .time_grids import (  # noqa: F401  (the grids were defined here first: their names stay importable from here)
    TIMESTEP_SPACINGS,
    cosine_timesteps,
    linear_timesteps,
    power_timesteps,
    time_grid,
    validate_time_schedule,
)
from .transitions import (
    FORWARD_PROCESSES,
    PREDICTION_TYPES,
    SOLVERS,
    absorbing_reverse_rates,
    absorbing_unmask_probability,
    commit_jumps,
    euler_absorbing_jumps,
    euler_masked_jump_scale,
    euler_uniform_jumps,
    euler_unmask_probability,
    log_score_from_x0,
    scale_jumps_linear,
    scale_log_score_power,
    tweedie_absorbing_jumps,
    tweedie_masked_jump_scale,
    tweedie_uniform_jumps,
    uniform_reverse_rates,
    x0_from_log_score,
    x0_probabilities_from_logits,
)
from .unmasking_orders import UNMASKING_ORDERS, order_grid, sample_confidence_ordered, sample_spread_ordered
from .validation import (
    check_choice,
    check_generator,
    check_integer,
    check_real,
    check_real_list,
    check_token_ids,
    is_integer,
)

COEFFICIENT_FORMS = ("linear", "power")
LOGITS_LAYOUTS = ("auto", "channels_last", "channels_first")
SCHEDULER_CLASS_NAMES = ("LSDDiscreteScheduler", "LSDPlusScheduler")


@dataclass
class LSDSchedulerOutput(BaseOutput):
    """Output of a scheduler step.

    Args:
        prev_sample (`torch.LongTensor` of shape `(batch_size, seq_len)`):
            Token ids at the next (less noisy) time. After the last step it is the final sample.
        pred_original_sample (`torch.LongTensor` of shape `(batch_size, seq_len)`):
            The most likely clean tokens under the model at this step (for previews and callbacks).
    """

    prev_sample: torch.LongTensor
    pred_original_sample: torch.LongTensor


class LSDDiscreteScheduler(SchedulerMixin, ConfigMixin):
    """Few-step sampler for masked (absorbing) and uniform discrete diffusion models, with LSD coefficients.

    With `coefficients=None` (or all ones) this is the baseline sampler: Euler (tau-leaping) or Tweedie (analytic,
    MDLM's ancestral step). Learned Sampler Distillation (LSD, arXiv 2509.19962) adds one coefficient Phi_k per step
    that rescales the model's concrete score in that step. The model is called once per timestep: NFE equals
    `num_inference_steps`, and the last step commits a sample from p(x_0 | x_t), leaving no MASK.

    Timesteps are floats in (0, 1], decreasing; 1 is pure noise and the final step ends at 0.

    Args:
        vocab_size (`int`):
            Number of token ids the model reads and scores, the mask id included for absorbing models.
        mask_token_id (`int`, *optional*):
            Id of the MASK token (absorbing only). Defaults to `vocab_size - 1`, as MDLM does. Must be None for
            uniform noise.
        forward_process (`str`, defaults to `"absorbing"`): `"absorbing"` (masked) or `"uniform"`.
        noise_schedule (`str`, defaults to `"loglinear"`): `"loglinear"`, `"cosine"` or `"geometric"`.
        noise_eps (`float`, defaults to 1e-3): alpha(1) of the loglinear and cosine schedules.
        sigma_min (`float`, defaults to 1e-4): sigma_bar(0) of the geometric schedule.
        sigma_max (`float`, defaults to 20.0): sigma_bar(1) of the geometric schedule.
        prediction_type (`str`, defaults to `"x0_logits"`):
            `"x0_logits"` (logits of p(x_0 | x_t): MDLM, LLaDA, aMUSEd) or `"log_score"` (SEDD's log concrete score).
        solver (`str`, defaults to `"tweedie"`): `"tweedie"` (analytic posterior) or `"euler"` (tau-leaping).
        timestep_spacing (`str`, defaults to `"linear"`):
            Times of the baseline grid: `"linear"` tau_k = 1 - k/M, `"cosine"` tau_k = cos(pi/2 k/M), or `"power"`
            tau_k = (1 - k/M)^timestep_power.
        timestep_power (`float`, defaults to 1.0): the exponent of the `"power"` spacing.
        num_inference_steps (`int`, *optional*):
            The number of steps the learned values are for. Taken from `coefficients` when not given.
        coefficients (`list[float]`, *optional*):
            One positive learned coefficient per step. None is the baseline sampler (all ones).
        coefficient_form (`str`, defaults to `"linear"`):
            `"linear"` (paper Eq. 5): jump probabilities scaled by Phi_k; for absorbing noise only the unmasking
            rate changes. `"power"` (authors' code): the score raised to Phi_k, which also sharpens the token
            distribution (temperature 1 / Phi_k) and so can trade diversity for quality.
        unmasking_order (`str`, defaults to `"random"`):
            Absorbing noise only. `"random"`: each masked token is revealed independently. The other orders let the
            schedule fix how many tokens a step reveals (floor(E + u), E the random order's expected count) and
            choose which: `"confidence"` (MaskGIT) the most confident ones; `"spread"` the first masked ones of a
            bit-reversal permutation of the positions with a random cyclic shift, so that tokens revealed together
            are far apart; `"spread_2d"` the same over a token grid with a Halton order and a random toroidal shift.
        confidence_temperature (`float`, defaults to 0.0): Gumbel noise on the confidences (MaskGIT's choice
            temperature); 0 reveals the most confident tokens.
        scored_vocab_size (`int`, *optional*):
            Absorbing only: the number of ids the model scores when it is fewer than it reads (aMUSEd scores its
            8192 codebook entries but reads ids up to its mask id 8255). The ids it does not score get probability 0.
        token_grid_shape (`list[int]`, *optional*):
            `[height, width]` of the token grid for `unmasking_order="spread_2d"` when samples are flattened to
            `(batch_size, height * width)`; samples of shape `(batch_size, height, width)` give it themselves.
        logits_layout (`str`, defaults to `"auto"`):
            For `(batch_size, height, width)` samples: `"channels_last"` logits `(B, H, W, V)`, `"channels_first"`
            `(B, V, H, W)` (aMUSEd's), or `"auto"`, which reads the shape and refuses one that fits both (H = W = V).
    """

    _compatibles = list(SCHEDULER_CLASS_NAMES)
    order = 1
    init_noise_sigma = 1.0  # x_1 is drawn as is (all MASK, or uniform tokens): nothing to scale

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
    ):
        self._check_config()

    # ------------------------------------------------------------------------------------------------------------
    # Configuration
    # ------------------------------------------------------------------------------------------------------------

    def _check_config(self) -> None:
        """Validate the config, fill in the values derived from it, and reset the sampling state."""
        self._validate_config()
        self._derive_config()
        self.noise = NoiseSchedule(
            self.config.noise_schedule, self.config.noise_eps, self.config.sigma_min, self.config.sigma_max
        )
        self._reset_sampling()

    def _validate_config(self) -> None:
        """Every field's type and range (a wrong field names itself and what is allowed); nothing is changed."""
        config = self.config
        check_integer("vocab_size", config.vocab_size, minimum=2)
        check_choice("forward_process", config.forward_process, FORWARD_PROCESSES)
        check_choice("noise_schedule", config.noise_schedule, NOISE_SCHEDULES)
        check_real("noise_eps", config.noise_eps, 0, 1, low_open=True, high_open=True)
        check_real("sigma_min", config.sigma_min, 0, low_open=True)
        check_real("sigma_max", config.sigma_max, 0, low_open=True)
        if not config.sigma_min < config.sigma_max:
            raise ValueError(f"Need sigma_min < sigma_max, got {config.sigma_min} and {config.sigma_max}.")
        check_choice("prediction_type", config.prediction_type, PREDICTION_TYPES)
        check_choice("solver", config.solver, SOLVERS)
        check_choice("timestep_spacing", config.timestep_spacing, TIMESTEP_SPACINGS)
        check_real("timestep_power", config.timestep_power, 0, low_open=True)
        check_integer("num_inference_steps", config.num_inference_steps, minimum=1, allow_none=True)
        check_real_list("coefficients", config.coefficients, 0, low_open=True, allow_none=True)
        check_choice("coefficient_form", config.coefficient_form, COEFFICIENT_FORMS)
        check_choice("unmasking_order", config.unmasking_order, UNMASKING_ORDERS)
        check_real("confidence_temperature", config.confidence_temperature, 0)
        absorbing = config.forward_process == "absorbing"
        if config.unmasking_order != "random" and not absorbing:
            raise ValueError(
                f"unmasking_order={config.unmasking_order!r} needs absorbing noise (it orders the MASK positions)."
            )
        check_integer("mask_token_id", config.mask_token_id, allow_none=True)
        if config.mask_token_id is not None and not 0 <= config.mask_token_id < config.vocab_size:
            raise ValueError(
                f"mask_token_id {config.mask_token_id} is outside the vocabulary [0, {config.vocab_size}); "
                "the model must score the mask id (its column gets probability 0)."
            )
        if not absorbing and config.mask_token_id is not None:
            raise ValueError(f"Uniform noise has no MASK token, but mask_token_id={config.mask_token_id} was given.")
        mask_token_id = config.vocab_size - 1 if config.mask_token_id is None else config.mask_token_id
        scored = check_integer("scored_vocab_size", config.scored_vocab_size, 1, allow_none=True)
        if scored is not None and (not absorbing or scored > mask_token_id):
            raise ValueError(
                f"scored_vocab_size={scored} needs absorbing noise and must not cover the mask id {mask_token_id} "
                "(the model scores ids 0..scored_vocab_size - 1)."
            )
        grid = config.token_grid_shape
        is_grid = isinstance(grid, (list, tuple)) and len(grid) == 2 and all(is_integer(n) and n > 0 for n in grid)
        if grid is not None and not is_grid:
            raise ValueError(f"token_grid_shape must be [height, width] of positive integers, got {grid!r}.")
        check_choice("logits_layout", config.logits_layout, LOGITS_LAYOUTS)

    def _derive_config(self) -> None:
        """Store the values other fields imply (the default mask id, the learned step count) in the config."""
        config, derived = self.config, {}
        if config.forward_process == "absorbing" and config.mask_token_id is None:
            derived["mask_token_id"] = config.vocab_size - 1
        if config.num_inference_steps is None and config.coefficients is not None:
            derived["num_inference_steps"] = len(config.coefficients)
        if derived:
            self.register_to_config(**derived)
        coefficients, steps = self.config.coefficients, self.config.num_inference_steps
        if coefficients is not None and len(coefficients) != steps:
            raise ValueError(
                f"Got {len(coefficients)} coefficients for num_inference_steps={steps}; "
                "there must be exactly one coefficient per step."
            )

    def _reset_sampling(self) -> None:
        """No timesteps until `set_timesteps`."""
        self.num_inference_steps: int | None = None
        self.timesteps: torch.Tensor | None = None
        self.schedule: torch.Tensor | None = None
        self.step_coefficients: torch.Tensor | None = None
        self.confidence_temperatures: torch.Tensor | None = None

    @classmethod
    def from_config(cls, config=None, return_unused_kwargs=False, **kwargs):
        """Instantiate from a config dict, refusing configs written for schedulers other than the LSD family."""
        if config is not None and not (isinstance(config, dict) or hasattr(config, "get")):
            raise TypeError(
                f"from_config takes a config dict, got {type(config).__name__}; load a folder or a Hub repo id with "
                "from_pretrained."
            )
        if isinstance(config, dict) or hasattr(config, "get"):
            class_name = config.get("_class_name", cls.__name__)
            if class_name not in SCHEDULER_CLASS_NAMES:
                raise ValueError(
                    f"This config was written for {class_name!r}, not for an LSD scheduler "
                    f"({', '.join(SCHEDULER_CLASS_NAMES)}); refusing to guess its fields."
                )
        return super().from_config(config, return_unused_kwargs=return_unused_kwargs, **kwargs)

    @property
    def is_absorbing(self) -> bool:
        return self.config.forward_process == "absorbing"

    def default_time_schedule(self, num_steps: int) -> torch.Tensor:
        """The M + 1 times 1 = tau_0 > ... > tau_M = 0 used when no custom timesteps are given."""
        return time_grid(self.config.timestep_spacing, num_steps, self.config.timestep_power)

    # ------------------------------------------------------------------------------------------------------------
    # diffusers scheduler API
    # ------------------------------------------------------------------------------------------------------------

    def set_timesteps(
        self,
        num_inference_steps: int | None = None,
        device: str | torch.device | None = None,
        timesteps: list[float] | None = None,
        temperature: float | tuple[float, float] | None = None,
    ) -> None:
        """Set the times at which the model is called.

        Args:
            num_inference_steps (`int`, *optional*):
                Number of model calls M. Defaults to the config's `num_inference_steps` (the count the learned
                values are for). With learned coefficients it must equal that count.
            device (`str` or `torch.device`, *optional*): where `timesteps` lives.
            timesteps (`list[float]`, *optional*):
                Custom decreasing times in (0, 1] for the model calls, starting at 1; a final 0 is appended if absent.
            temperature (`float` or `tuple[float, float]`, *optional*):
                Confidence temperatures annealed linearly over the steps (start, end), as aMUSEd does; a single
                value anneals to 0.01. Overrides `confidence_temperature`. diffusers' `AmusedPipeline` passes it as
                the second positional argument, `set_timesteps(steps, temperature, device)`, which is accepted
                (`amused_positional_arguments`).
        """
        device, timesteps, temperature = amused_positional_arguments(device, timesteps, temperature)
        if timesteps is not None:
            times = torch.as_tensor(timesteps, dtype=torch.float64).flatten()
            if times.numel() == 0 or times[-1] != 0:
                times = torch.cat([times, torch.zeros(1, dtype=torch.float64)])
            if num_inference_steps is not None and num_inference_steps != times.numel() - 1:
                raise ValueError(
                    f"num_inference_steps={num_inference_steps} disagrees with {times.numel() - 1} custom timesteps."
                )
            times = validate_time_schedule(times)
            num_steps = times.numel() - 1
        else:
            num_steps = num_inference_steps if num_inference_steps is not None else self.config.num_inference_steps
            if num_steps is None:
                raise ValueError("Pass num_inference_steps (or timesteps): this scheduler has no learned step count.")
            if not isinstance(num_steps, int) or num_steps < 1:
                raise ValueError(f"num_inference_steps must be a positive integer, got {num_steps!r}.")
            times = None

        learned_steps = self.config.num_inference_steps
        if self.has_learned_values and num_steps != learned_steps:
            raise ValueError(
                f"This scheduler's learned values are for {learned_steps} steps, but {num_steps} steps were "
                f"requested. Sample with {learned_steps} steps, or distill a sampler for {num_steps} steps."
            )
        if times is None:
            times = self.default_time_schedule(num_steps)

        self.num_inference_steps = num_steps
        self.schedule = times.to(device)
        self.timesteps = self.schedule[:-1]
        coefficients = self.config.coefficients if self.config.coefficients is not None else [1.0] * num_steps
        self.step_coefficients = torch.tensor(coefficients, dtype=torch.float64, device=device)
        self.confidence_temperatures = None
        if temperature is not None:
            if isinstance(temperature, (tuple, list)):
                if len(temperature) != 2:
                    raise ValueError(f"temperature must be a number or a (start, end) pair, got {temperature!r}.")
                start, end = (check_real("temperature", value, 0) for value in temperature)
            else:
                start, end = check_real("temperature", temperature, 0), 0.01
            self.confidence_temperatures = torch.linspace(start, end, num_steps, dtype=torch.float64)

    @property
    def has_learned_values(self) -> bool:
        """Whether this scheduler carries values distilled for a fixed step count."""
        return self.config.coefficients is not None

    def index_for_timestep(self, timestep: float | torch.Tensor) -> int:
        """Position of `timestep` in `self.timesteps` (matched within 1e-6)."""
        if self.timesteps is None:
            raise RuntimeError("Call set_timesteps(...) before step(...).")
        value = timestep_value(timestep)
        distances = (self.timesteps.cpu() - value).abs()
        index = int(distances.argmin())
        if distances[index] > 1e-6:
            raise ValueError(f"Timestep {value} is not one of this scheduler's timesteps {self.timesteps.tolist()}.")
        return index

    def scale_model_input(self, sample: torch.Tensor, timestep: float | torch.Tensor | None = None) -> torch.Tensor:
        """Identity; present so that pipelines written for continuous schedulers can call it."""
        return sample

    def step(
        self,
        model_output: torch.Tensor,
        timestep: float | torch.Tensor,
        sample: torch.LongTensor,
        generator: torch.Generator | list[torch.Generator] | None = None,
        return_dict: bool = True,
    ) -> LSDSchedulerOutput | tuple:
        """Move `sample` from `timestep` to the next time of the schedule.

        Args:
            model_output (`torch.Tensor` of shape `(*sample.shape, vocab_size)`):
                The model's x0 logits or log concrete scores (see `prediction_type`) at `timestep`.
            timestep (`float` or `torch.Tensor`): the current time, one of `self.timesteps`.
            sample (`torch.LongTensor`): the current token ids.
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*):
                The source of randomness; a list gives one generator per batch row.
            return_dict (`bool`, defaults to `True`): return an `LSDSchedulerOutput` instead of a tuple.

        Returns:
            `LSDSchedulerOutput` or `tuple`: `(prev_sample, pred_original_sample)`.
        """
        sample = self._check_tokens(sample)
        check_generator(generator, sample.shape[0] if sample.dim() else None)
        model_output = self._to_vocabulary_last(model_output, sample)
        index = self.index_for_timestep(timestep)
        t, s = self.schedule[index], self.schedule[index + 1]
        if sample.numel() == 0:  # an empty batch: nothing to move
            self._check_step_inputs(model_output, sample)
            prev_sample = pred_original_sample = sample
        elif self._has_masked_fast_path():
            prev_sample, pred_original_sample = self._fast_masked_step(model_output, sample, t, s, index, generator)
        else:
            self._check_step_inputs(model_output, sample)
            jumps, x0_probs = self.jump_probabilities(model_output, sample, t, s, self.step_coefficients[index])
            prev_sample = self.sample_from_jumps(jumps, sample, generator, is_last_step=bool(s == 0), index=index)
            pred_original_sample = self._point_estimate(x0_probs, sample)
        if not return_dict:
            return (prev_sample, pred_original_sample)
        return LSDSchedulerOutput(prev_sample=prev_sample, pred_original_sample=pred_original_sample)

    def add_noise(
        self,
        original_samples: torch.LongTensor,
        timesteps: float | torch.Tensor,
        generator: torch.Generator | list[torch.Generator] | None = None,
    ) -> torch.LongTensor:
        """Sample x_t ~ q(x_t | x_0) from the forward process (for training teachers).

        Args:
            original_samples (`torch.LongTensor` of shape `(batch_size, seq_len)`): clean token ids.
            timesteps (`float` or `torch.Tensor`): a time in [0, 1] for the batch, or one per batch row.
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*): the source of randomness.
        """
        original_samples = self._check_tokens(original_samples, "original_samples")
        check_generator(generator, original_samples.shape[0] if original_samples.dim() else None)
        times = torch.as_tensor(timesteps, dtype=torch.float64, device=original_samples.device)
        if not bool(((times >= 0) & (times <= 1)).all()):  # NaN fails both comparisons
            raise ValueError(f"timesteps must lie in [0, 1], got {times.tolist()}.")
        if times.dim() > 1:
            raise ValueError(f"timesteps must be a number or one per batch row, got shape {tuple(times.shape)}.")
        if times.dim() == 1:
            if times.numel() != original_samples.shape[0]:
                raise ValueError(f"Got {times.numel()} timesteps for a batch of {original_samples.shape[0]}.")
            times = times.view(-1, *([1] * (original_samples.dim() - 1)))
        keep_probability = self.noise.alpha(times)
        corrupt = uniform_noise(tuple(original_samples.shape), generator, original_samples.device) >= keep_probability
        if self.is_absorbing:
            return original_samples.masked_fill(corrupt, self.config.mask_token_id)
        noise = random_tokens(
            tuple(original_samples.shape), self.config.vocab_size, generator, original_samples.device
        )
        return torch.where(corrupt, noise, original_samples)

    def __len__(self) -> int:
        """The number of steps: those set by `set_timesteps`, else the learned count, else 0."""
        return self.num_inference_steps or self.config.num_inference_steps or 0

    @classmethod
    def _get_compatibles(cls) -> list[type]:
        """The LSD family (diffusers looks compatibles up in its own namespace, where ours are not)."""
        from .scheduling_lsd_plus import LSDPlusScheduler

        return [LSDDiscreteScheduler, LSDPlusScheduler]

    @classmethod
    def _dict_from_json_file(cls, json_file) -> dict:
        """Read a config file: it must hold a JSON object (a string would be read as a path or a Hub repo id)."""
        config = super()._dict_from_json_file(json_file)
        if not isinstance(config, dict):
            raise ValueError(
                f"{json_file} must hold a JSON object of config fields, got a JSON {type(config).__name__}."
            )
        return config

    # ------------------------------------------------------------------------------------------------------------
    # The general path: one call per formula of docs/schedulers.md (transitions.py), then the draw
    # ------------------------------------------------------------------------------------------------------------

    def jump_probabilities(
        self,
        model_output: torch.Tensor,
        sample: torch.LongTensor,
        t: torch.Tensor,
        s: torch.Tensor,
        coefficient: torch.Tensor | float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Probabilities of moving each position to each other token between times t and s (differentiable).

        This is the whole step but the draw; the distillation calls it with learnable `coefficient`, `t` and `s`.
        A step that ends at s = 0 commits: its jumps are renormalised so that no MASK is left.

        Args:
            model_output (`torch.Tensor`): x0 logits or log scores, `(*sample.shape, vocab_size)`.
            sample (`torch.LongTensor`): the tokens at time t.
            t (`torch.Tensor`): current time. s (`torch.Tensor`): next time, s < t.
            coefficient (`torch.Tensor` or `float`, defaults to 1.0): the LSD coefficient Phi_k of this step.

        Returns:
            `tuple`: jump probabilities `(*sample.shape, vocab_size)` (zero at the current token, float64) and the
            x0 probabilities used for `pred_original_sample`.
        """
        is_last_step = bool(s == 0)
        x0_probs, log_score = self.model_output_to_distribution(model_output, sample, t, coefficient)
        if self.config.solver == "euler" and not is_last_step:
            log_score = log_score if log_score is not None else self._log_score(x0_probs, sample, t)
            jumps = self.euler_jumps(log_score, sample, t, s)
        else:
            x0_probs = x0_probs if x0_probs is not None else self._x0(log_score, sample, t)
            jumps = self.tweedie_jumps(x0_probs, sample, t, s)

        if is_last_step:
            if self.is_absorbing:
                jumps = commit_jumps(jumps, sample, self.config.mask_token_id)
        elif self.config.coefficient_form == "linear":
            jumps = scale_jumps_linear(jumps, coefficient)
        x0_probs = x0_probs if x0_probs is not None else self._x0(log_score, sample, t)
        return jumps, x0_probs

    def sample_from_jumps(
        self,
        jumps: torch.Tensor,
        sample: torch.LongTensor,
        generator: torch.Generator | list[torch.Generator] | None = None,
        is_last_step: bool = False,
        index: int | None = None,
    ) -> torch.LongTensor:
        """Draw the next tokens from a step's jump probabilities, in the configured unmasking order.

        Args:
            jumps (`torch.Tensor`): from `jump_probabilities`, `(*sample.shape, vocab_size)`.
            sample (`torch.LongTensor`): the tokens at time t.
            generator (`torch.Generator` or `list[torch.Generator]`, *optional*): the caller's randomness.
            is_last_step (`bool`, defaults to `False`): the step that commits every position (no order applies).
            index (`int`, *optional*): the step index (for an annealed confidence temperature).
        """
        order = self.config.unmasking_order
        if order == "random" or is_last_step:
            return sample_jumps(jumps, sample, generator)
        if order == "confidence":
            temperature = self._confidence_temperature(index)
            return sample_confidence_ordered(jumps, sample, self.config.mask_token_id, temperature, generator)
        grid = order_grid(order, tuple(sample.shape), self.config.token_grid_shape)
        return sample_spread_ordered(jumps, sample, self.config.mask_token_id, order, grid, generator)

    def unmask_probability(self, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Absorbing: the baseline step's probability of revealing a masked position between t and s (Phi = 1).

        Tweedie: (alpha_s - alpha_t) / (1 - alpha_t); Euler: min(1, (t - s) sigma(t) alpha_t / (1 - alpha_t)), for
        x0 probabilities that sum to 1; 1 for a step that ends at s = 0 (it commits).

        Args:
            t (`torch.Tensor`): current time. s (`torch.Tensor`): next time, s < t.
        """
        t, s = torch.as_tensor(t, dtype=torch.float64), torch.as_tensor(s, dtype=torch.float64)
        if bool(s == 0):
            return torch.ones((), dtype=torch.float64)
        alpha_t = self.noise.alpha(t)
        if self.config.solver == "euler":
            return euler_unmask_probability(t - s, self.noise.sigma(t), alpha_t)
        return absorbing_unmask_probability(alpha_t, self.noise.alpha(s))

    def reverse_rates(self, model_output: torch.Tensor, sample: torch.LongTensor, t: torch.Tensor) -> torch.Tensor:
        """Reverse CTMC rates R_y out of each position's current token at time t (zero at the current token).

        Absorbing: sigma(t) s_y from MASK, zero at revealed positions. Uniform: sigma(t) / V s_y for y != x.

        Args:
            model_output (`torch.Tensor`): x0 logits or log scores, `(*sample.shape, vocab_size)`.
            sample (`torch.LongTensor`): the tokens at time t.
            t (`torch.Tensor`): the time.
        """
        x0_probs, log_score = self.model_output_to_distribution(model_output, sample, t, 1.0)
        log_score = log_score if log_score is not None else self._log_score(x0_probs, sample, t)
        if self.is_absorbing:
            return absorbing_reverse_rates(log_score, sample, self.noise.sigma(t), self.config.mask_token_id)
        return uniform_reverse_rates(log_score, sample, self.noise.sigma(t))

    def model_output_to_distribution(
        self, model_output: torch.Tensor, sample: torch.Tensor, t: torch.Tensor, coefficient: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Return `(x0_probs, log_score)`, one of them None; the power-form coefficient is applied here."""
        if self.config.prediction_type == "x0_logits":
            x0_probs, log_score = x0_probabilities_from_logits(model_output, self.config.mask_token_id), None
        else:
            x0_probs, log_score = None, model_output.double()
        learnable = torch.is_tensor(coefficient) and coefficient.requires_grad
        if self.config.coefficient_form == "power" and (learnable or coefficient != 1):
            # LSD, power form: log s -> Phi_k log s
            log_score = log_score if log_score is not None else self._log_score(x0_probs, sample, t)
            x0_probs, log_score = None, scale_log_score_power(log_score, coefficient)
        return x0_probs, log_score

    def euler_jumps(self, log_score: torch.Tensor, sample: torch.Tensor, t: torch.Tensor, s: torch.Tensor):
        """Euler (tau-leaping) jump probabilities from t to s."""
        sigma_t = self.noise.sigma(t)
        if self.is_absorbing:
            return euler_absorbing_jumps(log_score, sample, sigma_t, t - s, self.config.mask_token_id)
        return euler_uniform_jumps(log_score, sample, sigma_t, t - s)

    def tweedie_jumps(self, x0_probs: torch.Tensor, sample: torch.Tensor, t: torch.Tensor, s: torch.Tensor):
        """Tweedie (analytic posterior) jump probabilities from t to s."""
        alpha_t, alpha_s = self.noise.alpha(t), self.noise.alpha(s)
        if self.is_absorbing:
            return tweedie_absorbing_jumps(x0_probs, sample, alpha_t, alpha_s, self.config.mask_token_id)
        return tweedie_uniform_jumps(x0_probs, sample, alpha_t, alpha_s)

    def _has_masked_fast_path(self) -> bool:
        """Absorbing noise with x0 logits: the step is computed from the logits of the masked rows (`masked_step`)."""
        return self.is_absorbing and self.config.prediction_type == "x0_logits"

    def _fast_masked_step(
        self,
        model_output: torch.Tensor,
        sample: torch.LongTensor,
        t: torch.Tensor,
        s: torch.Tensor,
        index: int,
        generator: torch.Generator | list[torch.Generator] | None,
    ) -> tuple[torch.LongTensor, torch.LongTensor]:
        """`masked_step` with this step's jump-mass scale, power, order and temperature."""
        model_output = model_output.contiguous()  # read as [N, V] rows, without copies
        block = min(BLOCK_COLUMNS, self.config.vocab_size)
        maxima = self._check_step_inputs(model_output, sample, block=block)
        power = float(self.step_coefficients[index]) if self.config.coefficient_form == "power" else 1.0
        commit = bool(s == 0)
        order = self.config.unmasking_order
        return masked_step(
            model_output.reshape(-1, self.config.vocab_size),
            maxima,
            sample,
            self.config.mask_token_id,
            scale=None if commit else self._masked_jump_scale(t, s, index, power),
            power=power,
            order=order,
            commit=commit,
            temperature=self._confidence_temperature(index),
            grid=None if commit else order_grid(order, tuple(sample.shape), self.config.token_grid_shape),
            generator=generator,
        )

    def _masked_jump_scale(self, t: torch.Tensor, s: torch.Tensor, index: int, power: float) -> torch.Tensor:
        """The jump mass of a masked position divided by sum_y p(x_0 = y | x_t)^power (power = Phi_k in the power
        form, else 1), times Phi_k in the linear form."""
        alpha_t = self.noise.alpha(t)
        if self.config.solver == "euler":
            scale = euler_masked_jump_scale(t - s, self.noise.sigma(t), alpha_t, power)
        else:
            scale = tweedie_masked_jump_scale(alpha_t, self.noise.alpha(s), power)
        if self.config.coefficient_form == "linear":
            scale = scale * self.step_coefficients[index]  # LSD, linear form: jump probabilities times Phi_k
        return scale

    def _confidence_temperature(self, index: int | None) -> float:
        """The Gumbel temperature of the confidence order at this step (annealed when `set_timesteps` got one)."""
        if self.confidence_temperatures is not None and index is not None:
            return float(self.confidence_temperatures[index])
        return self.config.confidence_temperature

    def _log_score(self, x0_probs: torch.Tensor, sample: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return log_score_from_x0(x0_probs, sample, self.noise.alpha(t), self.config.forward_process)

    def _x0(self, log_score: torch.Tensor, sample: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        alpha_t = self.noise.alpha(t)
        return x0_from_log_score(log_score, sample, alpha_t, self.config.forward_process, self.config.mask_token_id)

    def _point_estimate(self, x0_probs: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
        best = x0_probs.argmax(-1)
        if self.is_absorbing:
            return torch.where(sample == self.config.mask_token_id, best, sample)
        return best

    # ------------------------------------------------------------------------------------------------------------
    # Input checks
    # ------------------------------------------------------------------------------------------------------------

    def _check_tokens(self, sample: torch.Tensor, name: str = "sample") -> torch.LongTensor:
        """Integer token ids inside the vocabulary, as int64 (int32 ids are accepted and widened)."""
        return check_token_ids(name, sample, self.config.vocab_size)

    def _to_vocabulary_last(self, model_output: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
        """Accept image models' `(B, V, H, W)` logits for `(B, H, W)` samples (`logits_layout`), and give the ids
        past `scored_vocab_size` -inf (padding a scored-only output, or overwriting a full-width one)."""
        if not isinstance(model_output, torch.Tensor):
            raise TypeError(f"model_output must be a torch tensor, got {type(model_output).__name__}.")
        columns = self.config.scored_vocab_size or self.config.vocab_size
        if sample.dim() == 3:
            channels_first = tuple(model_output.shape) in {
                (*sample.shape[:1], width, *sample.shape[1:]) for width in (columns, self.config.vocab_size)
            }
            channels_last = tuple(model_output.shape[:-1]) == tuple(sample.shape)
            layout = self.config.logits_layout
            if layout == "auto" and channels_first and channels_last:
                raise ValueError(
                    f"model_output of shape {tuple(model_output.shape)} reads as (B, V, H, W) and as (B, H, W, V); "
                    "set logits_layout='channels_first' or 'channels_last' in the scheduler's config."
                )
            if layout == "channels_first" or (layout == "auto" and channels_first):
                model_output = model_output.movedim(1, -1)
        scored = self.config.scored_vocab_size
        if scored is not None and model_output.shape[-1] == scored:
            padding = model_output.new_full((*model_output.shape[:-1], self.config.vocab_size - scored), -torch.inf)
            model_output = torch.cat([model_output, padding], dim=-1)
        elif scored is not None and model_output.shape[-1] == self.config.vocab_size:
            model_output = model_output.clone()
            model_output[..., scored:] = -torch.inf  # unscored ids get probability 0
        return model_output

    def _check_step_inputs(
        self, model_output: torch.Tensor, sample: torch.Tensor, block: int | None = None
    ) -> torch.Tensor | None:
        """Check the tokens, the output's shape, and that it holds no NaN or +inf.

        Args:
            model_output (`torch.Tensor`): `(*sample.shape, vocab_size)`.
            sample (`torch.Tensor`): the current token ids.
            block (`int`, *optional*): read the output as blocks of this many columns and return their maxima
                `[N, ceil(V / block)]` (`block_maxima`): the same single pass then serves the masked fast path.
        """
        expected = (*sample.shape, self.config.vocab_size)
        if tuple(model_output.shape) != expected:
            raise ValueError(
                f"model_output has shape {tuple(model_output.shape)}, expected {expected} "
                "(the sample's shape plus one entry per vocabulary id)."
            )
        maxima = None
        if block is not None:
            maxima = block_maxima(model_output.reshape(-1, self.config.vocab_size), block)
            largest = maxima.max() if maxima.numel() else model_output.new_zeros(())
        else:
            largest = model_output.max() if model_output.numel() else model_output.new_zeros(())
        if torch.isnan(largest):  # max propagates NaN, so one pass finds both NaN and +inf
            raise ValueError(f"model_output contains NaN ({self.config.prediction_type}); check the model.")
        if torch.isposinf(largest):
            raise ValueError(f"model_output contains +inf ({self.config.prediction_type}); check the model.")
        if not self.is_absorbing and model_output.numel() and bool(torch.isneginf(model_output.amax(-1)).any()):
            raise ValueError("The model gives probability 0 to every token at some position; cannot sample it.")
        return maxima


def timestep_value(timestep: float | torch.Tensor) -> float:
    """The one time of a step: a number, or a tensor whose entries (one per batch row) all hold the same time."""
    if torch.is_tensor(timestep):
        values = timestep.detach().double().flatten().cpu()
        if values.numel() == 0:
            raise ValueError("timestep is an empty tensor.")
        if not torch.isfinite(values).all():
            raise ValueError(f"timestep must be finite, got {values.tolist()}.")
        if not (values == values[0]).all():
            raise ValueError(f"step() moves the whole batch from one time; got per-row timesteps {values.tolist()}.")
        return float(values[0])
    return check_real("timestep", timestep)


def amused_positional_arguments(device, timesteps, temperature) -> tuple:
    """`(device, timesteps, temperature)` of a `set_timesteps` call, reading diffusers' `AmusedPipeline` order.

    `AmusedPipeline` calls `scheduler.set_timesteps(num_inference_steps, temperature, device)`, positionally, as its
    own scheduler takes them. A number or a pair where the device belongs is that temperature, and the next argument
    is then the device.
    """
    if device is None or isinstance(device, (str, torch.device)):
        return device, timesteps, temperature
    if temperature is not None:
        raise TypeError(f"set_timesteps got two temperatures: {device!r} in the place of device, and {temperature!r}.")
    if timesteps is not None and not isinstance(timesteps, (str, torch.device)):
        raise TypeError(
            f"set_timesteps(steps, {device!r}, {timesteps!r}): in AmusedPipeline's order (steps, temperature, device) "
            "the third argument must be a device; pass custom times as timesteps=..."
        )
    return timesteps, None, device
