"""LSDDistiller: learns a few-step student sampler from a many-step teacher of the same frozen denoiser.

The work is a fixed sequence of *steps*, grouped in stages, so that it can be checkpointed after any step and
resumed to the same result (each step draws from generators seeded by (seed, step, process)):

- path-KL + LSD+:  `split` (the schedule grown from [1, 0] by splitting intervals, each split point found by
  golden-section search, as Jump Your Steps does), `seeds` (every candidate order x every seed schedule - uniform,
  cosine, the power grid, the split result - scored under the objective on common random numbers), `rescore`
  (successive halving: the better half scored on one more common batch, `seed_rounds` - 1 times), `race` (the
  finalists still level with the leader scored on one more common batch each, until one is left or
  `seed_race_rounds` have run; the best is kept), `refine` (off by default: moves of one boundary at a time,
  accepted only when they lower the cost by more than 2 standard errors on common random numbers), `coefficients`,
  then `verify` (the result against the best seed, and against the refined schedule with Phi = 1, on
  `verify_batches` fresh common batches, then more while undecided; a candidate replaces the seed only when it is
  lower by more than 2.5 standard errors, so the learned sampler's objective is never above the best seed's).
- path-KL + LSD:   `seeds`, `rescore` and `race` over the candidate orders on the baseline grid (when there are
  several), `coefficients`, `verify` (the learned coefficients against Phi = 1).
- paper:           `gradient` rounds of Adam on the coefficients (and, for LSD+, the schedule logits).

A `coefficients` / `gradient` round samples fresh trajectories with the current values, caches their statistics,
and takes `adam_steps_per_round` Adam steps on the cached loss.
"""

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict

import torch

from ..hand_made import baseline_of, public_config
from ..random_draws import seeded_generator
from ..sampling import Denoiser, initial_noise
from ..scheduling_lsd import LSDDiscreteScheduler
from ..scheduling_lsd_plus import LSDPlusScheduler
from ..time_grids import cosine_timesteps, linear_timesteps, power_timesteps
from ..validation import check_integer
from .config import DistillationConfig
from .model_card import distillation_model_card
from .objectives import INTERVAL_LOSSES, IntervalStatistics, paper_interval_loss
from .parameters import StudentParameters
from .rollouts import paper_rollout, path_kl_steps, relaxed_start, student_prefix
from .search import (
    BOUNDARY_MOVES,
    boundary_candidates,
    golden_section_propose,
    golden_section_record,
    golden_section_start,
)


class LSDDistiller:
    """Distil LSD / LSD+ parameters for `teacher`'s sampler on `denoiser`.

    Args:
        denoiser (`Callable`): `denoiser(x_t, t) -> model output`, frozen.
        teacher (`LSDDiscreteScheduler`): the baseline sampler (its config is the student's, minus learned values).
        config (`DistillationConfig`): the run's settings.
        process_index (`int`, defaults to 0): this process's rank; each rank samples its own trajectories.
        reduce (`Callable`, *optional*): averages a tensor over processes (e.g. `accelerator.reduce(x, "mean")`).
        num_processes (`int`, defaults to 1): how many processes `reduce` averages over (for standard errors).
        start (`Callable`, *optional*): `start(batch_size, generator)` -> x_1 with conditioning in place (a prompt's
            tokens revealed); default all MASK (or uniform noise). `Teacher.start_states` fits.
    """

    def __init__(
        self,
        denoiser: Denoiser,
        teacher: LSDDiscreteScheduler,
        config: DistillationConfig,
        process_index: int = 0,
        reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
        num_processes: int = 1,
        start: Callable[[int, torch.Generator], torch.LongTensor] | None = None,
    ):
        if teacher.has_learned_values:
            raise ValueError("The teacher must be a baseline sampler (no learned coefficients or timesteps).")
        self.denoiser = denoiser
        self.config = config
        self.process_index = process_index
        self.num_processes = num_processes
        self.reduce = reduce if reduce is not None else (lambda x: x)
        self.start = start
        baseline = baseline_of(teacher)
        self.base_config = public_config(baseline)
        self.teacher = baseline_of(teacher, timestep_spacing="linear")
        self.baseline_schedule = baseline.default_time_schedule(config.num_student_steps)
        self._students: dict[str, LSDDiscreteScheduler] = {}
        self.parameters = StudentParameters(
            config.num_student_steps, self.baseline_schedule, learn_schedule=config.scheduler_type == "lsd_plus"
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
    def candidate_orders(self) -> list[str]:
        """The unmasking orders the `seeds` stage compares (one: the order is fixed).

        `auto` compares random with the spread orders (spread_2d for a baseline with a `token_grid_shape`). The
        confidence order is never a candidate: it picks tokens by their drawn values, a bias the objective does not
        measure.
        """
        order = self.config.unmasking_order
        if order != "auto":
            return [order]
        if self.config.objective == "paper" or not self.teacher.is_absorbing:
            return [self.base_config.get("unmasking_order", "random")]
        orders = ["random", "spread"]
        if self.base_config.get("token_grid_shape") is not None:
            orders.append("spread_2d")
        return orders

    @property
    def seed_names(self) -> list[str]:
        """The schedules the `seeds` stage scores: the baseline grid (LSD), or the hand-made family and the split."""
        if self.config.scheduler_type == "lsd":
            return ["baseline"]
        names = ["linear", "cosine", *(f"power({gamma})" for gamma in self.config.seed_powers)]
        if self.base_config.get("timestep_spacing", "linear") != "linear":
            names.append("baseline")
        return [*names, "jys"]

    @property
    def stages(self) -> list[tuple[str, int]]:
        """The (stage, number of steps) sequence of this run."""
        config = self.config
        if config.objective == "paper":
            return [("gradient", config.coefficient_rounds)]
        stages, steps = [], config.num_student_steps
        if config.scheduler_type == "lsd_plus" and steps > 1:
            stages.append(("split", steps - 1))
            stages.append(("seeds", len(self.candidate_orders) * len(self.seed_names)))
            stages.append(("rescore", config.seed_rounds - 1))
            stages.append(("race", config.seed_race_rounds))
            stages.append(("refine", config.refine_sweeps * (steps - 1)))
        elif len(self.candidate_orders) > 1 and steps > 1:
            stages.append(("seeds", len(self.candidate_orders)))
            stages.append(("rescore", config.seed_rounds - 1))
            stages.append(("race", config.seed_race_rounds))
        stages.append(("coefficients", 0 if self.coefficients_are_optimal_at_one else config.coefficient_rounds))
        stages.append(("verify", 1))
        return stages

    @property
    def coefficients_are_optimal_at_one(self) -> bool:
        """Whether Phi = 1 minimises every interval's objective, so that the `coefficients` stage is skipped: path_kl
        with absorbing noise and linear coefficients, where Phi scales all the jumps of a position alike (the token
        law does not depend on it) and at Phi = 1 the student reveals with the teacher's probability, whatever the
        model (docs/distillation.md)."""
        linear = self.base_config.get("coefficient_form", "linear") == "linear"
        return self.config.objective == "path_kl" and self.teacher.is_absorbing and linear

    @property
    def total_steps(self) -> int:
        return sum(count for _, count in self.stages)

    @property
    def finished(self) -> bool:
        return self.global_step >= self.total_steps

    @property
    def _last_selection_step(self) -> int:
        """The step that ends the seed selection (`seeds`, `rescore`, `race`): there the best seed is kept."""
        last, first = -1, 0
        for name, count in self.stages:
            if name in ("seeds", "rescore", "race") and count:
                last = first + count - 1
            first += count
        return last

    def _stage_of(self, step: int) -> tuple[str, int]:
        for name, count in self.stages:
            if step < count:
                return name, step
            step -= count
        raise IndexError(f"Step {step} is past the end of the run.")

    def generator(self, tag: int, step: int) -> torch.Generator:
        """A generator seeded by (seed, tag, step, process): the same numbers on a rerun or a resume."""
        return seeded_generator(self.config.seed, tag, step, self.process_index)

    @property
    def order(self) -> str:
        """The student's unmasking order: the one `seeds` chose, the fixed one, or random before the choice."""
        orders = self.candidate_orders
        return self.search_state.get("order", orders[0] if len(orders) == 1 else "random")

    def student(self, order: str | None = None) -> LSDDiscreteScheduler:
        """The student's sampler (Phi and times are passed to it per call) in `order` (default: `self.order`)."""
        order = order or self.order
        if order not in self._students:
            self._students[order] = LSDDiscreteScheduler.from_config({**self.base_config, "unmasking_order": order})
        return self._students[order]

    # ------------------------------------------------------------------------------------------------------------
    # Running
    # ------------------------------------------------------------------------------------------------------------

    def step(self) -> dict:
        """Run the next step of the plan; returns its log entry."""
        stage, index = self._stage_of(self.global_step)
        start = time.perf_counter()
        log = getattr(self, f"_{stage}_step")(index)
        log.update(step=self.global_step, stage=stage, seconds=time.perf_counter() - start)
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

    def gathered(self, per_sequence: torch.Tensor) -> list[float]:
        """The values of a per-sequence quantity on every process, rank after rank (identical on every rank)."""
        values = per_sequence.detach().double().flatten()
        table = values.new_zeros(self.num_processes, values.numel())
        table[self.process_index] = values
        return (self.reduce(table) * self.num_processes).flatten().tolist()  # the mean of one-hot rows, times P

    def mean_and_error(self, per_sequence: torch.Tensor) -> tuple[float, float]:
        """Mean of a per-sequence quantity over all processes and its standard error (identical on every rank)."""
        return mean_and_standard_error(self.gathered(per_sequence))

    def start_states(self, generator: torch.Generator) -> torch.LongTensor:
        """x_1 for a batch of student trajectories, with the relaxed start applied."""
        shape = (self.config.batch_size, self.config.seq_len)
        if self.start is not None:
            x1 = self.start(self.config.batch_size, generator)
            if tuple(x1.shape) != shape:
                raise ValueError(f"start() returned states of shape {tuple(x1.shape)}, expected {shape}.")
        else:
            x1 = initial_noise(self.teacher, shape, generator)
        return relaxed_start(self.teacher, x1, self.config.relaxation, generator)

    def interval_losses(
        self,
        stats: Iterable[IntervalStatistics],
        coefficients: torch.Tensor,
        first_step: int = 0,
        order: str | None = None,
    ) -> torch.Tensor:
        """The path-KL objective's cost of the given intervals, per sequence `[B]` (`stats` may be a generator: each
        interval's statistics are then let go once scored)."""
        loss, student = INTERVAL_LOSSES[self.config.objective], self.student(order)
        return sum(loss(student, item, coefficients[first_step + k]) for k, item in enumerate(stats))

    def rollout_steps(self, times, coefficients, start, generator, order: str | None = None, **kwargs):
        """`path_kl_steps` of the student in `order` (default: its current order): one step at a time."""
        objective, student = self.config.objective, self.student(order)
        options = {
            "with_rates": objective == "rate_path_kl",
            "forced": objective == "path_kl",
            "assignment_samples": self.config.assignment_samples,
            **kwargs,
        }
        args = (self.denoiser, student, self.teacher, times, coefficients, start, self.config.substeps, generator)
        return path_kl_steps(*args, **options)

    def rollout(self, times, coefficients, start, generator, order: str | None = None, **kwargs):
        """All the statistics of `rollout_steps` in a list, and the student's state after the last step."""
        steps = list(self.rollout_steps(times, coefficients, start, generator, order, **kwargs))
        return [statistics for statistics, _ in steps], steps[-1][1] if steps else start

    def path_kl_per_sequence(
        self,
        times: torch.Tensor,
        generator: torch.Generator,
        coefficients: torch.Tensor | None = None,
        order: str | None = None,
    ) -> torch.Tensor:
        """The whole run's path-KL per sequence `[B]` for `times` (and `coefficients`, default the current ones)."""
        coefficients = self.coefficients() if coefficients is None else coefficients
        steps = self.rollout_steps(times, coefficients, self.start_states(generator), generator, order)
        # summed while the rollout goes on: one interval's statistics in memory at a time
        return self.interval_losses((statistics for statistics, _ in steps), coefficients, order=order)

    def path_kl_of_sampler(self, scheduler: LSDDiscreteScheduler, generator: torch.Generator) -> torch.Tensor:
        """The objective of any sampler of the family against this run's teacher, per sequence `[B]` (its own
        schedule, coefficients, solver and order): the held-out distance to the teacher of the closing tables.

        Args:
            scheduler (`LSDDiscreteScheduler`): the sampler, with M = `num_student_steps` steps.
            generator (`torch.Generator`): e.g. seeded with evaluation seeds that distillation never used.
        """
        scheduler.set_timesteps(self.config.num_student_steps)
        steps = path_kl_steps(
            self.denoiser,
            scheduler,
            self.teacher,
            scheduler.schedule,
            scheduler.step_coefficients,
            self.start_states(generator),
            self.config.substeps,
            generator,
            assignment_samples=self.config.assignment_samples,
        )
        loss = INTERVAL_LOSSES["path_kl"]
        return sum(loss(scheduler, item, scheduler.step_coefficients[k]) for k, (item, _) in enumerate(steps))

    def path_kl(self, times: torch.Tensor, generator_tag: int, step: int, order: str | None = None) -> float:
        """Full path-KL per sequence of the student with `times` (common random numbers through the tag/step)."""
        generator = self.generator(generator_tag, step)
        return self.mean_over_processes(self.path_kl_per_sequence(times, generator, order=order))

    def split_prefix(self, times: list[float], index: int, step: int) -> tuple[torch.LongTensor, torch.Tensor]:
        """What every candidate split of interval `index` shares: the student's random-order state after the first
        `index` steps of `times` on the split search's common numbers, and the generator state that follows it."""
        generator = self.generator(1, step)
        head = torch.tensor(times[: index + 1], dtype=torch.float64)
        ones = torch.ones(index, dtype=torch.float64)
        start = self.start_states(generator)
        sample = student_prefix(self.denoiser, self.student("random"), head, ones, start, index, generator)
        return sample, generator.get_state()

    def split_cost(
        self, times: list[float], index: int, split: float, step: int, prefix: tuple[torch.LongTensor, torch.Tensor]
    ) -> float:
        """Path-KL of the two halves when the interval [times[index + 1], times[index]] is split at `split`, in
        random order (Jump Your Steps' setting). `prefix`: `split_prefix(times, index, step)`, computed once for all
        the candidate splits of an interval."""
        trial = torch.tensor([*times[: index + 1], split, *times[index + 1 :]], dtype=torch.float64)
        ones = torch.ones(len(trial) - 1, dtype=torch.float64)
        sample, state = prefix
        generator = self.generator(1, step)
        generator.set_state(state)
        stats, _ = self.rollout(trial, ones, sample, generator, "random", first_step=index, last_step=index + 2)
        return self.mean_over_processes(self.interval_losses(stats, ones, index, "random"))

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
        search, prefix = golden_section_start(0.02, 0.98), self.split_prefix(state["level"], interval, index)
        for _ in range(self.config.split_evaluations):
            fraction = golden_section_propose(search)
            cost = self.split_cost(state["level"], interval, lower + fraction * (upper - lower), index, prefix)
            golden_section_record(search, fraction, cost)
        split = lower + search["best_x"] * (upper - lower)
        # pending intervals are visited from the last to the first, so earlier indices stay valid
        state["times"].insert(interval + 1, split)
        if index == self.config.num_student_steps - 2:
            self.parameters.set_time_schedule(torch.tensor(state["times"], dtype=torch.float64))
        return {"interval": interval, "tau": split, "split_path_kl": search["best_f"]}

    def seed_schedule(self, name: str) -> torch.Tensor:
        """The M + 1 times of a seed of the search (`seed_names`)."""
        steps = self.config.num_student_steps
        if name == "linear":
            return linear_timesteps(steps)
        if name == "cosine":
            return cosine_timesteps(steps)
        if name == "baseline":
            return self.baseline_schedule.clone()
        if name == "jys":
            return torch.tensor(self.search_state["split"]["times"], dtype=torch.float64)
        return power_timesteps(steps, float(name[len("power(") : -1]))

    def seed_cost(self, score: dict, batch: int) -> torch.Tensor:
        """A seed's cost per sequence `[B]` (Phi = 1) on common batch `batch`: every seed sees the same numbers."""
        ones = torch.ones(self.config.num_student_steps, dtype=torch.float64)
        times = torch.tensor(score["times"], dtype=torch.float64)
        return self.path_kl_per_sequence(times, self.generator(5, batch), ones, score["order"]).detach().double()

    def _record_seed(self, score: dict, cost: torch.Tensor) -> None:
        """Add one common batch's per-sequence costs to a seed's score; update its mean and standard error."""
        score["costs"].append(self.gathered(cost))
        score["path_kl"], score["standard_error"] = mean_and_standard_error(sum(score["costs"], []))

    def _leader(self, keys: list[str]) -> str:
        """The seed of `keys` with the lowest mean cost (the first of equals, in listing order)."""
        scores = self.search_state["seeds"]
        return first_of_the_best([{"key": key, "cost": scores[key]["path_kl"]} for key in keys], "cost")["key"]

    def _choose_seed(self) -> dict:
        """The best seed so far among those scored on the most batches; at the end of the selection, keep it, with
        its paired margin over the runner-up (the other seed scored on the most batches)."""
        scores = self.search_state["seeds"]
        most = max(len(score["costs"]) for score in scores.values())
        key = self._leader([key for key in scores if len(scores[key]["costs"]) == most])
        best = scores[key]
        self.search_state["order"] = best["order"]
        if self.global_step == self._last_selection_step:
            self.search_state["best_seed"] = summary_of_seed(best)
            self.parameters.set_time_schedule(torch.tensor(best["times"], dtype=torch.float64))
            others = sorted(
                (k for k in scores if k != key), key=lambda k: (-len(scores[k]["costs"]), scores[k]["path_kl"])
            )
            if others:
                difference, error = paired_difference(best["costs"], scores[others[0]]["costs"])
                margin = {"runner_up": others[0], "difference": difference, "standard_error": error}
                self.search_state["best_seed"]["margin"] = margin
        return best

    def _seeds_step(self, index: int) -> dict:
        orders, names = self.candidate_orders, self.seed_names
        order, name = orders[index // len(names)], names[index % len(names)]
        times = self.seed_schedule(name).tolist()
        score = {"order": order, "seed": name, "path_kl": 0.0, "standard_error": 0.0, "times": times, "costs": []}
        self._record_seed(score, self.seed_cost(score, 0))
        self.search_state.setdefault("seeds", {})[f"{order}/{name}"] = score
        self._choose_seed()
        return {"order": order, "seed": name, "path_kl": score["path_kl"], "standard_error": score["standard_error"]}

    def _rescore_step(self, index: int) -> dict:
        """Successive halving: the better half of the seeds scored on every batch so far get one more batch."""
        scores = self.search_state["seeds"]
        scored = [key for key in scores if len(scores[key]["costs"]) == index + 1]
        ranked = sorted(scored, key=lambda key: scores[key]["path_kl"])  # stable: ties keep the listing order
        survivors = ranked[: max(2, math.ceil(len(scores) / 2 ** (index + 1)))]
        for key in survivors:
            self._record_seed(scores[key], self.seed_cost(scores[key], index + 1))
        best = self._choose_seed()
        return {"rescored": len(survivors), "order": best["order"], "seed": best["seed"], "path_kl": best["path_kl"]}

    def _race_step(self, index: int) -> dict:
        """Racing: the finalists not yet told apart from the leader get one more common batch each.

        A finalist leaves the race when its paired difference to the leader is above `RACE_CONFIDENCE` standard
        errors (it is worse), or surely within `RACE_EQUIVALENCE` of the leader's cost (it is as good); the race ends
        when one is left. The minimum of many noisy scores is biased low (the winner's curse); the race's fresh
        batches are what lets the true best overtake a lucky one.
        """
        scores = self.search_state["seeds"]
        if "contenders" not in self.search_state:
            most = max(len(score["costs"]) for score in scores.values())
            self.search_state["contenders"] = [key for key in scores if len(scores[key]["costs"]) == most]
        contenders = self.search_state["contenders"]
        raced = len(contenders) > 1
        if raced:
            batch = len(scores[contenders[0]]["costs"])
            for key in contenders:
                self._record_seed(scores[key], self.seed_cost(scores[key], batch))
            leader = self._leader(contenders)
            contenders[:] = [
                key
                for key in contenders
                if key == leader or still_level(scores[key]["costs"], scores[leader]["costs"])
            ]
        best = self._choose_seed()
        return {"raced": raced, "contenders": len(contenders), "seed": best["seed"], "path_kl": best["path_kl"]}

    def _refine_step(self, index: int) -> dict:
        """One boundary tau_k moved between its neighbours: its candidate positions scored on the two intervals it
        bounds, on one common batch. The lowest candidate is taken only when it is below the current position by more
        than `RACE_CONFIDENCE` standard errors of the paired difference: the minimum of seven noisy costs is biased
        low, and a move that noise could explain is not taken."""
        num_steps = self.config.num_student_steps
        sweep, boundary = divmod(index, num_steps - 1)
        boundary += 1
        times, coefficients = self.times(), self.coefficients()
        generator = self.generator(2, index)
        start = self.start_states(generator)
        sample = student_prefix(self.denoiser, self.student(), times, coefficients, start, boundary - 1, generator)
        local_state = generator.get_state()
        costs = []
        candidates = boundary_candidates(times, boundary, spread=0.5 / 2**sweep)
        for candidate in candidates:
            trial = times.clone()
            trial[boundary] = candidate
            generator.set_state(local_state)  # common random numbers across candidates
            stats, _ = self.rollout(
                trial, coefficients, sample, generator, first_step=boundary - 1, last_step=boundary + 1
            )
            costs.append(self.interval_losses(stats, coefficients, first_step=boundary - 1).detach())
        current = BOUNDARY_MOVES.index(0.0)
        lowest = min(range(len(candidates)), key=lambda k: self.mean_over_processes(costs[k]))
        difference, error = self.mean_and_error(costs[lowest] - costs[current])
        moved = lowest != current and difference < -RACE_CONFIDENCE * error
        times[boundary] = candidates[lowest if moved else current]
        self.parameters.set_time_schedule(times)
        return {
            "boundary": boundary,
            "tau": float(times[boundary]),
            "moved": moved,
            "local_path_kl": self.mean_over_processes(costs[lowest if moved else current]),
            "difference": difference,
            "standard_error": error,
        }

    def _verify_step(self, index: int) -> dict:
        """The learned sampler against what it started from, on fresh common batches.

        Candidates: the best seed schedule (LSD+) or the baseline grid (LSD) with Phi = 1, the refined schedule with
        Phi = 1 (LSD+, unless no refinement move was taken), and the refined schedule with the learned coefficients
        (unless Phi = 1 is optimal). All are scored on `verify_batches` batches; then, as in the seeds' race, a
        candidate not yet told apart from the seed (`undecided`) gets one more batch, up to `seed_race_rounds`
        times. A candidate replaces the seed only when it is lower by more than `VERIFY_CONFIDENCE` standard errors of
        the paired difference (a gain that noise could explain is not kept); of those, the lowest is kept. So the
        result is never worse under the objective than where the search started.
        """
        steps, ones = self.config.num_student_steps, torch.ones(self.config.num_student_steps, dtype=torch.float64)
        seed = self.search_state.get("best_seed", {"seed": "baseline", "times": self.times().tolist()})
        name_of_seed, seed_times = seed["seed"], torch.tensor(seed["times"], dtype=torch.float64)
        candidates = {name_of_seed: (seed_times, ones)}
        if (
            self.config.scheduler_type == "lsd_plus"
            and steps > 1
            and not torch.allclose(self.times(), seed_times, rtol=0, atol=1e-9)
        ):
            candidates["refined"] = (self.times(), ones)
        if not self.coefficients_are_optimal_at_one:
            candidates["learned"] = (self.times(), self.coefficients())
        costs = {name: [] for name in candidates}  # per batch: the per-sequence costs of every process
        scored = list(candidates) if len(candidates) > 1 else []  # a lone seed has nothing to be compared with
        for batch in range(self.config.verify_batches + self.config.seed_race_rounds):
            if batch >= self.config.verify_batches:
                scored = [
                    name for name in scored if name == name_of_seed or undecided(costs[name], costs[name_of_seed])
                ]
            if len(scored) < 2:
                break
            generator = self.generator(6, index * self.config.verify_batches + batch)
            state = generator.get_state()
            for name in scored:
                generator.set_state(state)  # common random numbers across candidates
                times, coefficients = candidates[name]
                costs[name].append(self.gathered(self.path_kl_per_sequence(times, generator, coefficients)))
        differences = {
            name: paired_difference(costs[name], costs[name_of_seed])
            for name in candidates
            if name != name_of_seed and costs[name]
        }
        better = {
            name: difference
            for name, (difference, error) in differences.items()
            if difference < -VERIFY_CONFIDENCE * error
        }
        kept = min(better, key=better.__getitem__) if better else name_of_seed
        difference, error = differences.get(kept, (0.0, 0.0))
        times, coefficients = candidates[kept]
        self.parameters.set_time_schedule(times)
        with torch.no_grad():
            self.parameters.log_coefficients.copy_(torch.log(coefficients))
        self.search_state["verified"] = {
            "kept": kept,
            "costs": {name: mean_and_standard_error(sum(parts, []))[0] for name, parts in costs.items() if parts},
            "differences": {name: list(value) for name, value in differences.items()},
            "difference": difference,
            "standard_error": error,
            "seed": name_of_seed,
            "batches": max(len(parts) for parts in costs.values()),
        }
        return {"kept": kept, "path_kl_difference": difference, "standard_error": error}

    def _coefficients_step(self, index: int) -> dict:
        # Interval k's loss depends on Phi_k alone and Adam is elementwise, so optimising each Phi_k on its interval
        # as the rollout produces it gives the joint optimisation's result with one interval's statistics in memory.
        generator = self.generator(3, index)
        steps = self.rollout_steps(self.times(), self.coefficients(), self.start_states(generator), generator)
        states, first, last = [], 0.0, 0.0
        for k, (statistics, _) in enumerate(steps):
            state, (before, after) = self._adam_on_coefficient(k, statistics)
            states.append(state)
            first, last = first + before, last + after
        # the run's optimizer state, put together from its coefficients' slices (their step counts agree)
        self.optimizer.state[self.parameters.log_coefficients] = {
            key: value if value.dim() == 0 else torch.cat([state[key] for state in states])
            for key, value in states[0].items()
        }
        name = self.config.objective
        return {
            name: self.mean_over_processes(torch.tensor([first])),
            f"{name}_after": self.mean_over_processes(torch.tensor([last])),
        }

    def _adam_on_coefficient(self, index: int, statistics: IntervalStatistics) -> tuple[dict, tuple[float, float]]:
        """`adam_steps_per_round` steps of the run's Adam on log Phi_k alone, from its slice of the optimizer's state,
        on the objective of interval k.

        Args:
            index (`int`): k. statistics (`IntervalStatistics`): the interval's, from the rollout.

        Returns:
            `tuple`: Phi_k's new Adam state, and the loss at the first and at the last step.
        """
        log_coefficients = self.parameters.log_coefficients
        element = log_coefficients.detach()[index : index + 1].clone().requires_grad_()
        optimizer = torch.optim.Adam([element])
        optimizer.param_groups[0].update(
            {key: value for key, value in self.optimizer.param_groups[0].items() if key != "params"}
        )
        state = self.optimizer.state.get(log_coefficients, {})
        if state:
            optimizer.state[element] = {
                key: value.clone() if value.dim() == 0 else value[index : index + 1].clone()
                for key, value in state.items()
            }
        loss_fn, student, losses = INTERVAL_LOSSES[self.config.objective], self.student(), []
        for _ in range(self.config.adam_steps_per_round):
            loss = loss_fn(student, statistics, torch.exp(element[0])).mean()
            # a loss that does not depend on Phi_k (a committing last step) still moves it by momentum, as jointly
            grad = torch.autograd.grad(loss, element, allow_unused=True)[0] if loss.requires_grad else None
            element.grad = self.reduce(grad if grad is not None else torch.zeros_like(element))
            optimizer.step()
            losses.append(float(loss.detach()))
        with torch.no_grad():
            log_coefficients[index] = element[0]
        return optimizer.state[element], (losses[0], losses[-1])

    def _gradient_step(self, index: int) -> dict:
        generator = self.generator(4, index)
        config = self.config
        learn_schedule = config.scheduler_type == "lsd_plus"
        rollout = paper_rollout(
            self.denoiser,
            self.student(),
            self.teacher,
            self.times(),
            self.coefficients(),
            (config.batch_size, config.seq_len),
            config.num_teacher_steps,
            config.relaxation,
            learn_schedule,
            generator,
        )

        def loss_fn():
            phi, times = self.parameters.coefficients(), self.parameters.time_schedule()
            per_step = [
                paper_interval_loss(self.student(), rollout, k, phi[k], times, config.distance, learn_schedule)
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
        """The distilled sampler as a scheduler: coefficients (LSD), learned timesteps (LSD+), and the order."""
        base = {**self.base_config, "unmasking_order": self.order}
        base.update(num_inference_steps=self.config.num_student_steps, coefficients=self.coefficients().tolist())
        if self.config.scheduler_type == "lsd_plus":
            return LSDPlusScheduler.from_config({**base, "timesteps": self.times().tolist()})
        return LSDDiscreteScheduler.from_config(base)

    def stage_seconds(self) -> dict[str, float]:
        """Wall time spent in each stage so far, in plan order (summed over resumed runs)."""
        seconds = {name: 0.0 for name, count in self.stages if count}
        for log in self.history:
            seconds[log["stage"]] += log.get("seconds", 0.0)  # checkpoints written before timing have none
        return seconds

    def search_summary(self) -> dict:
        """What the search compared and kept: the seeds' costs, the chosen order and seed, the verification, and the
        time each stage took."""
        summary = {key: self.search_state[key] for key in ("best_seed", "verified") if key in self.search_state}
        if "seeds" in self.search_state:
            summary["seeds"] = {key: summary_of_seed(score) for key, score in self.search_state["seeds"].items()}
        return summary | {
            "unmasking_order": self.order,
            "objective": self.config.objective,
            "stage_seconds": self.stage_seconds(),
        }

    def save_pretrained(self, save_directory: str, teacher: str = "a frozen denoiser", seconds: float = 0.0, **card):
        """Write the distilled scheduler's config and a model card (see `distillation_model_card`) to a folder."""
        scheduler = self.to_scheduler()
        scheduler.save_pretrained(save_directory)
        location = card.pop("location", str(save_directory))
        card.setdefault("search", self.search_summary())
        distillation_model_card(self.config, teacher, location, seconds, **card).save(f"{save_directory}/README.md")
        return scheduler

    def state_dict(self) -> dict:
        """Everything needed to resume: parameters, optimizer, search state, step counter, config, teacher."""
        return {
            "config": asdict(self.config),
            "teacher": dict(self.base_config),
            "global_step": self.global_step,
            "parameters": {k: v.detach().clone() for k, v in self.parameters.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "search_state": self.search_state,
            "history": self.history,
        }

    def load_state_dict(self, state: dict) -> None:
        """Resume from `state_dict()`; a checkpoint of other settings, another teacher, or a broken one is refused."""
        if not isinstance(state, dict):
            raise ValueError(f"A distillation checkpoint must be a JSON object, got a {type(state).__name__}.")
        missing = sorted(set(CHECKPOINT_KEYS) - set(state))
        if missing:
            raise ValueError(f"The checkpoint lacks {missing}: it was not written by LSDDistiller.state_dict().")
        if state["config"] != asdict(self.config):
            current = asdict(self.config)
            changed = sorted(k for k in {*state["config"], *current} if state["config"].get(k) != current.get(k))
            raise ValueError(f"Checkpoint was written with different distillation settings: {changed}.")
        if state["teacher"] != self.base_config:
            changed = sorted(
                k for k in {*state["teacher"], *self.base_config} if state["teacher"].get(k) != self.base_config.get(k)
            )
            raise ValueError(f"Checkpoint was written for a different teacher sampler: {changed} differ.")
        check_integer("the checkpoint's global_step", state["global_step"], 0, self.total_steps)
        for name, value in state["parameters"].items():
            if not torch.is_tensor(value) or not torch.isfinite(value).all():
                raise ValueError(f"The checkpoint's parameter {name} is not a finite tensor: {value!r}.")
        self.global_step = int(state["global_step"])
        self.parameters.load_state_dict(state["parameters"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.search_state = state["search_state"]
        self.history = list(state["history"])


def mean_and_standard_error(values: list[float]) -> tuple[float, float]:
    """Mean of `values` and its standard error, sqrt(unbiased variance / n)."""
    data = torch.tensor(values, dtype=torch.float64)
    error = float(data.std() / math.sqrt(len(data))) if len(data) > 1 else 0.0
    return float(data.mean()), error


def paired_difference(costs: list[list[float]], other_costs: list[list[float]]) -> tuple[float, float]:
    """Mean and standard error of cost - other cost per sequence, over the common batches both were scored on
    (batch k of every seed uses the same random numbers)."""
    shared = min(len(costs), len(other_costs))
    first, second = sum(costs[:shared], []), sum(other_costs[:shared], [])
    return mean_and_standard_error([a - b for a, b in zip(first, second)])


def still_level(costs: list[list[float]], leader_costs: list[list[float]]) -> bool:
    """Whether a seed is not yet told apart from the leader: neither worse by more than `RACE_CONFIDENCE` standard
    errors of the paired difference, nor surely within `RACE_EQUIVALENCE` of the leader's cost."""
    difference, error = paired_difference(costs, leader_costs)
    leader_cost = abs(mean_and_standard_error(sum(leader_costs[: len(costs)], []))[0])  # on the shared batches
    worse = difference > RACE_CONFIDENCE * error
    equivalent = abs(difference) + RACE_CONFIDENCE * error <= RACE_EQUIVALENCE * leader_cost
    return not (worse or equivalent)


def undecided(costs: list[list[float]], seed_costs: list[list[float]]) -> bool:
    """Whether a candidate is `still_level` with the seed and not below it by more than `VERIFY_CONFIDENCE` standard
    errors either (the verification's reference is the seed, which candidates can beat)."""
    difference, error = paired_difference(costs, seed_costs)
    return still_level(costs, seed_costs) and difference >= -VERIFY_CONFIDENCE * error


def summary_of_seed(score: dict) -> dict:
    """A seed's score without its per-sequence costs (for model cards and results files): the count of batches."""
    return {key: value for key, value in score.items() if key != "costs"} | {"batches": len(score["costs"])}


RACE_CONFIDENCE = 2.0  # standard errors of a paired difference that tell a seed apart from the leader
RACE_EQUIVALENCE = 0.02  # share of the leader's cost within which two seeds count as equally good
# standard errors by which a candidate must beat the seed in `verify`: looked at after `verify_batches` batches and
# after each of up to 8 more, 2.5 accepts a candidate that is no better with probability 0.024 (20,000 simulated
# null differences), as one look at 2.0 does (0.027)
VERIFY_CONFIDENCE = 2.5


CHECKPOINT_KEYS = ("config", "teacher", "global_step", "parameters", "optimizer", "search_state", "history")


def first_of_the_best(candidates: list[dict], key: str, tolerance: float = 1e-9) -> dict:
    """The first candidate (in listing order: random before spread, uniform before the rest) whose cost is within
    rounding of the lowest. Costs of exact zero happen (a spread order that never reveals two positions together);
    float noise must not choose among them.
    """
    lowest = min(candidate[key] for candidate in candidates)
    return next(c for c in candidates if c[key] <= lowest + tolerance * (1 + abs(lowest)))
