"""LSDDistiller: learns a few-step student sampler from a many-step teacher of the same frozen denoiser.

The work is a fixed sequence of *steps*, grouped in stages, so that it can be checkpointed after any step and
resumed to the same result (each step draws from generators seeded by (seed, step, process)):

- path_kl + LSD+:  `split` (the schedule grown from [1, 0] by splitting intervals, each split point found by
  golden-section search, as Jump Your Steps does), `refine` (moves of one boundary at a time against its final
  neighbours), then `coefficients`. Every schedule comparison uses common random numbers.
- path_kl + LSD:   `coefficients` on the baseline grid.
- paper:           `gradient` rounds of Adam on the coefficients (and, for LSD+, the schedule logits).

A `coefficients` / `gradient` round samples fresh trajectories with the current values, caches their statistics,
and takes `adam_steps_per_round` Adam steps on the cached loss.
"""

from collections.abc import Callable
from dataclasses import asdict

import torch

from ..sampling import Denoiser, initial_noise
from ..scheduling_lsd import LSDDiscreteScheduler
from ..scheduling_lsd_plus import LSDPlusScheduler
from .config import DistillationConfig
from .model_card import distillation_model_card
from .objectives import paper_interval_loss, path_kl_interval_loss
from .parameters import StudentParameters
from .rollouts import paper_rollout, path_kl_rollout, relaxed_start, student_prefix
from .search import boundary_candidates, golden_section_propose, golden_section_record, golden_section_start


class LSDDistiller:
    """Distil LSD / LSD+ parameters for `teacher`'s sampler on `denoiser`.

    Args:
        denoiser (`Callable`): `denoiser(x_t, t) -> model output`, frozen.
        teacher (`LSDDiscreteScheduler`): the baseline sampler (its config is the student's, minus learned values).
        config (`DistillationConfig`): the run's settings.
        process_index (`int`, defaults to 0): this process's rank; each rank samples its own trajectories.
        reduce (`Callable`, *optional*): averages a tensor over processes (e.g. `accelerator.reduce(x, "mean")`).
    """

    def __init__(
        self,
        denoiser: Denoiser,
        teacher: LSDDiscreteScheduler,
        config: DistillationConfig,
        process_index: int = 0,
        reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        if teacher.has_learned_values:
            raise ValueError("The teacher must be a baseline sampler (no learned coefficients or timesteps).")
        self.denoiser = denoiser
        self.config = config
        self.process_index = process_index
        self.reduce = reduce if reduce is not None else (lambda x: x)
        base = {k: v for k, v in teacher.config.items() if not k.startswith("_")}
        base.update(coefficients=None, num_inference_steps=None)
        base.pop("timesteps", None)
        self.teacher = LSDDiscreteScheduler.from_config({**base, "timestep_spacing": "linear"})
        self.student = LSDDiscreteScheduler.from_config(base)
        initial = self.student.default_time_schedule(config.num_student_steps)
        self.parameters = StudentParameters(
            config.num_student_steps, initial, learn_schedule=config.scheduler_type == "lsd_plus"
        )
        learnable = [self.parameters.log_coefficients]
        if config.objective == "paper" and config.scheduler_type == "lsd_plus":
            learnable.append(self.parameters.schedule_logits)
        self.optimizer = torch.optim.Adam(learnable, lr=config.learning_rate)
        self.global_step = 0
        self.search_state: dict = {}
        self.history: list[dict] = []

    # ------------------------------------------------------------------------------------------------------------
    # Plan
    # ------------------------------------------------------------------------------------------------------------

    @property
    def stages(self) -> list[tuple[str, int]]:
        """The (stage, number of steps) sequence of this run."""
        config = self.config
        if config.objective == "paper":
            return [("gradient", config.coefficient_rounds)]
        stages = []
        if config.scheduler_type == "lsd_plus" and config.num_student_steps > 1:
            stages.append(("split", config.num_student_steps - 1))
            stages.append(("refine", config.refine_sweeps * (config.num_student_steps - 1)))
        stages.append(("coefficients", config.coefficient_rounds))
        return stages

    @property
    def total_steps(self) -> int:
        return sum(count for _, count in self.stages)

    @property
    def finished(self) -> bool:
        return self.global_step >= self.total_steps

    def _stage_of(self, step: int) -> tuple[str, int]:
        for name, count in self.stages:
            if step < count:
                return name, step
            step -= count
        raise IndexError(f"Step {step} is past the end of the run.")

    def generator(self, tag: int, step: int) -> torch.Generator:
        """A generator seeded by (seed, tag, step, process): the same numbers on a rerun or a resume."""
        seed = ((self.config.seed * 1_000_003 + tag) * 100_003 + step) * 1_009 + self.process_index
        return torch.Generator().manual_seed(seed % (2**63))

    # ------------------------------------------------------------------------------------------------------------
    # Running
    # ------------------------------------------------------------------------------------------------------------

    def step(self) -> dict:
        """Run the next step of the plan; returns its log entry."""
        stage, index = self._stage_of(self.global_step)
        log = getattr(self, f"_{stage}_step")(index)
        log.update(step=self.global_step, stage=stage)
        self.history.append(log)
        self.global_step += 1
        return log

    def fit(self, callback: Callable[[dict], None] | None = None) -> "LSDDistiller":
        """Run every remaining step."""
        while not self.finished:
            log = self.step()
            if callback is not None:
                callback(log)
        return self

    def times(self) -> torch.Tensor:
        return self.parameters.time_schedule().detach()

    def coefficients(self) -> torch.Tensor:
        return self.parameters.coefficients().detach()

    def mean_over_processes(self, per_sequence: torch.Tensor) -> float:
        """Mean of a per-sequence cost over this process's batch and all processes (identical on every rank)."""
        return float(self.reduce(per_sequence.mean().detach().reshape(1)))

    def start_states(self, generator: torch.Generator) -> torch.LongTensor:
        """x_1 for a batch of student trajectories, with the relaxed start applied."""
        x1 = initial_noise(self.student, (self.config.batch_size, self.config.seq_len), generator)
        return relaxed_start(self.student, x1, self.config.relaxation, generator)

    def path_kl(self, times: torch.Tensor, generator_tag: int, step: int) -> float:
        """Full path-KL per sequence of the student with `times` (common random numbers through the tag/step)."""
        generator = self.generator(generator_tag, step)
        stats, _ = path_kl_rollout(
            self.denoiser, self.student, self.teacher, times, self.coefficients(), self.start_states(generator),
            self.config.substeps, generator,
        )  # fmt: skip
        total = sum(path_kl_interval_loss(self.student, item, self.coefficients()[k]) for k, item in enumerate(stats))
        return self.mean_over_processes(total)

    def split_cost(self, times: list[float], index: int, split: float, step: int) -> float:
        """Path-KL of the two halves when the interval [times[index + 1], times[index]] is split at `split`."""
        trial = torch.tensor([*times[: index + 1], split, *times[index + 1 :]], dtype=torch.float64)
        ones = torch.ones(len(trial) - 1, dtype=torch.float64)
        generator = self.generator(1, step)
        start = self.start_states(generator)
        sample = student_prefix(self.denoiser, self.student, trial, ones, start, index, generator)
        stats, _ = path_kl_rollout(
            self.denoiser, self.student, self.teacher, trial, ones, sample, self.config.substeps, generator,
            first_step=index, last_step=index + 2,
        )  # fmt: skip
        return self.mean_over_processes(sum(path_kl_interval_loss(self.student, item, 1.0) for item in stats))

    def _split_step(self, index: int) -> dict:
        state = self.search_state.setdefault("split", {"times": [1.0, 0.0], "pending": [], "level": [1.0, 0.0]})
        if not state["pending"]:
            # a new level: split the longest intervals of the current schedule (all of them while M is a power of 2)
            times = state["times"]
            intervals = len(times) - 1
            longest = sorted(range(intervals), key=lambda i: times[i + 1] - times[i])
            state["pending"] = sorted(longest[: min(intervals, self.config.num_student_steps - intervals)])[::-1]
            state["level"] = list(times)
        interval = state["pending"].pop(0)
        upper, lower = state["level"][interval], state["level"][interval + 1]
        search = golden_section_start(0.02, 0.98)
        for _ in range(self.config.split_evaluations):
            fraction = golden_section_propose(search)
            cost = self.split_cost(state["level"], interval, lower + fraction * (upper - lower), index)
            golden_section_record(search, fraction, cost)
        split = lower + search["best_x"] * (upper - lower)
        # pending intervals are visited from the last to the first, so earlier indices stay valid
        state["times"].insert(interval + 1, split)
        if index == self.config.num_student_steps - 2:
            self.parameters.set_time_schedule(torch.tensor(state["times"], dtype=torch.float64))
        return {"interval": interval, "tau": split, "split_path_kl": search["best_f"]}

    def _refine_step(self, index: int) -> dict:
        num_steps = self.config.num_student_steps
        sweep, boundary = divmod(index, num_steps - 1)
        boundary += 1
        times, coefficients = self.times(), self.coefficients()
        generator = self.generator(2, index)
        start = self.start_states(generator)
        sample = student_prefix(self.denoiser, self.student, times, coefficients, start, boundary - 1, generator)
        local_state = generator.get_state()
        costs = []
        candidates = boundary_candidates(times, boundary, spread=0.5 / 2**sweep)
        for candidate in candidates:
            trial = times.clone()
            trial[boundary] = candidate
            generator.set_state(local_state)  # common random numbers across candidates
            stats, _ = path_kl_rollout(
                self.denoiser, self.student, self.teacher, trial, coefficients, sample, self.config.substeps,
                generator, first_step=boundary - 1, last_step=boundary + 1,
            )  # fmt: skip
            losses = [
                path_kl_interval_loss(self.student, item, coefficients[boundary - 1 + j])
                for j, item in enumerate(stats)
            ]
            costs.append(self.mean_over_processes(sum(losses)))
        best = min(range(len(candidates)), key=costs.__getitem__)
        times[boundary] = candidates[best]
        self.parameters.set_time_schedule(times)
        return {"boundary": boundary, "tau": candidates[best], "local_path_kl": costs[best]}

    def _coefficients_step(self, index: int) -> dict:
        generator = self.generator(3, index)
        times = self.times()
        stats, _ = path_kl_rollout(
            self.denoiser, self.student, self.teacher, times, self.coefficients(), self.start_states(generator),
            self.config.substeps, generator,
        )  # fmt: skip

        def loss_fn():
            phi = self.parameters.coefficients()
            return sum(path_kl_interval_loss(self.student, item, phi[k]) for k, item in enumerate(stats)).mean()

        return self._adam(loss_fn, "path_kl")

    def _gradient_step(self, index: int) -> dict:
        generator = self.generator(4, index)
        config = self.config
        learn_schedule = config.scheduler_type == "lsd_plus"
        rollout = paper_rollout(
            self.denoiser, self.student, self.teacher, self.times(), self.coefficients(), (config.batch_size,
            config.seq_len), config.num_teacher_steps, config.relaxation, learn_schedule, generator,
        )  # fmt: skip

        def loss_fn():
            phi, times = self.parameters.coefficients(), self.parameters.time_schedule()
            per_step = [
                paper_interval_loss(self.student, rollout, k, phi[k], times, config.distance, learn_schedule)
                for k in range(config.num_student_steps)
            ]
            return sum(per_step).mean()

        return self._adam(loss_fn, f"paper_{config.distance}")

    def _adam(self, loss_fn: Callable[[], torch.Tensor], name: str) -> dict:
        first = last = None
        for _ in range(self.config.adam_steps_per_round):
            self.optimizer.zero_grad()
            loss = loss_fn()
            loss.backward()
            for group in self.optimizer.param_groups:
                for parameter in group["params"]:
                    if parameter.grad is not None:
                        parameter.grad = self.reduce(parameter.grad)
            self.optimizer.step()
            first = float(loss.detach()) if first is None else first
            last = float(loss.detach())
        return {
            name: self.mean_over_processes(torch.tensor([first])),
            f"{name}_after": self.mean_over_processes(torch.tensor([last])),
        }

    # ------------------------------------------------------------------------------------------------------------
    # Results and checkpoints
    # ------------------------------------------------------------------------------------------------------------

    def to_scheduler(self) -> LSDDiscreteScheduler:
        """The distilled sampler as a scheduler: coefficients (LSD) and learned timesteps (LSD+)."""
        base = {k: v for k, v in self.student.config.items() if not k.startswith("_")}
        base.update(num_inference_steps=self.config.num_student_steps, coefficients=self.coefficients().tolist())
        if self.config.scheduler_type == "lsd_plus":
            return LSDPlusScheduler.from_config({**base, "timesteps": self.times().tolist()})
        return LSDDiscreteScheduler.from_config(base)

    def save_pretrained(self, save_directory: str, teacher: str = "a frozen denoiser", seconds: float = 0.0, **card):
        """Write the distilled scheduler's config and a model card (see `distillation_model_card`) to a folder."""
        scheduler = self.to_scheduler()
        scheduler.save_pretrained(save_directory)
        location = card.pop("location", str(save_directory))
        distillation_model_card(self.config, teacher, location, seconds, **card).save(f"{save_directory}/README.md")
        return scheduler

    def state_dict(self) -> dict:
        """Everything needed to resume: parameters, optimizer, search state, step counter, config."""
        return {
            "config": asdict(self.config),
            "global_step": self.global_step,
            "parameters": {k: v.detach().clone() for k, v in self.parameters.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "search_state": self.search_state,
            "history": self.history,
        }

    def load_state_dict(self, state: dict) -> None:
        if state["config"] != asdict(self.config):
            changed = sorted(k for k in state["config"] if state["config"][k] != asdict(self.config).get(k))
            raise ValueError(f"Checkpoint was written with different distillation settings: {changed}.")
        self.global_step = int(state["global_step"])
        self.parameters.load_state_dict(state["parameters"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.search_state = state["search_state"]
        self.history = list(state["history"])
