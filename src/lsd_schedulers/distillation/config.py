"""Settings of a distillation run."""

from dataclasses import dataclass, field

from ..unmasking_orders import UNMASKING_ORDERS
from ..validation import check_choice, check_integer, check_real, check_real_list, is_real
from .objectives import DISTANCES, INTERVAL_LOSSES

OBJECTIVES = (*INTERVAL_LOSSES, "paper")
SCHEDULER_TYPES = ("lsd", "lsd_plus")
POWER_SEEDS = (0.2, 0.3, 0.5, 0.7)


@dataclass
class DistillationConfig:
    """Settings of a distillation run (all plain values, saved in checkpoints and model cards).

    Args:
        num_student_steps (`int`): M, the student's model calls.
        num_teacher_steps (`int`): N, the teacher's steps; a multiple of M.
        scheduler_type (`str`): `"lsd"` (coefficients) or `"lsd_plus"` (coefficients and time schedule).
        objective (`str`): `"path_kl"` (default: KL(student path || teacher path), the teacher forced along the
            student's tokens; docs/distillation.md), `"forward_path_kl"` (the teacher-first form before it),
            `"rate_path_kl"` (the first, continuous-time form) or `"paper"` (Eq. 6/8).
        unmasking_order (`str`): the student's order, or `"auto"` (default): score the baseline's order and every
            candidate order (random, spread, and spread_2d for token grids) under the objective and keep the best.
        distance (`str`): the paper objective's distance, `"l2"`, `"l1"` or `"kl"`.
        relaxation (`float`): zeta, the share of the student's x_1 replaced by random tokens.
        batch_size (`int`): trajectories per process per rollout.
        seq_len (`int`): sequence length of the trajectories.
        coefficient_rounds (`int`): rollouts for the coefficients (path_kl; none where Phi = 1 is optimal, see
            `LSDDistiller.coefficients_are_optimal_at_one`) or for all parameters (paper).
        adam_steps_per_round (`int`): Adam steps on each rollout's cached loss.
        learning_rate (`float`): Adam's learning rate on log Phi and the schedule logits.
        split_evaluations (`int`): golden-section evaluations for each boundary of the split stage (path-KL LSD+).
        seed_powers (`list[float]`): the power schedules tau_k = (1 - k/M)^gamma among the search's seeds.
        seed_rounds (`int`): rounds of successive halving in the search's `seeds` stage: every seed is scored on
            one batch, then the better half on one more batch of common random numbers, and so on.
        seed_race_rounds (`int`): the most rounds of the race after the halving: the finalists not yet told apart
            from the leader (by 2 standard errors of their paired difference) get one more common batch each, until
            one is left; 0 keeps the halving's best. Also the most extra batches of `verify`.
        refine_sweeps (`int`): sweeps over the M - 1 inner boundaries (path-KL LSD+); a boundary moves only when
            the move lowers its intervals' cost by more than 2 standard errors of the paired difference. Off (0) by
            default: in no committed run that refined (six tasks) did a move pass `verify` (docs/distillation.md).
        verify_batches (`int`): fresh common batches on which the refined and learned values are compared with the
            starting point (then one more per round while undecided); they replace it only when lower by more than
            2.5 standard errors of the paired difference.
        assignment_samples (`int`): path_kl: K, the sub-step assignments of each step's revealed set along which the
            teacher scores the student's tokens. 1 (default) is the single-path estimate, which includes Jensen's
            gap over the assignment (it prices *when* inside an interval a token appears); K > 1 averages the
            teacher's likelihood over K assignments (log-mean-exp), closer to the KL of the step, at about K times
            the teacher's model calls (docs/distillation.md).
        seed (`int`): base seed of every generator.
    """

    num_student_steps: int = 8
    num_teacher_steps: int = 64
    scheduler_type: str = "lsd_plus"
    objective: str = "path_kl"
    unmasking_order: str = "auto"
    distance: str = "l2"
    relaxation: float = 0.05
    batch_size: int = 32
    seq_len: int = 256
    coefficient_rounds: int = 3
    adam_steps_per_round: int = 30
    learning_rate: float = 0.05
    split_evaluations: int = 8
    seed_powers: list[float] = field(default_factory=lambda: list(POWER_SEEDS))
    seed_rounds: int = 3
    seed_race_rounds: int = 8
    refine_sweeps: int = 0
    verify_batches: int = 4
    assignment_samples: int = 1
    seed: int = 0

    def __post_init__(self):
        m = check_integer("num_student_steps", self.num_student_steps, minimum=1)
        n = check_integer("num_teacher_steps", self.num_teacher_steps, minimum=1)
        if m > n:
            raise ValueError(f"The student cannot take more steps than the teacher: M={m} > N={n}.")
        if n % m:
            raise ValueError(f"num_teacher_steps (N={n}) must be a multiple of num_student_steps (M={m}).")
        check_choice("objective", self.objective, OBJECTIVES)
        check_choice("scheduler_type", self.scheduler_type, SCHEDULER_TYPES)
        check_choice("unmasking_order", self.unmasking_order, ("auto", *UNMASKING_ORDERS))
        check_choice("distance", self.distance, DISTANCES)
        if not is_real(self.relaxation) or not 0 <= self.relaxation < 1:
            raise ValueError(f"relaxation (zeta) must lie in [0, 1), got {self.relaxation!r}.")
        for name in (
            "batch_size",
            "seq_len",
            "adam_steps_per_round",
            "split_evaluations",
            "seed_rounds",
            "verify_batches",
            "assignment_samples",
        ):
            check_integer(name, getattr(self, name), minimum=1)
        # zero rounds or sweeps skip a stage; a negative count would silently shorten the run
        for name in ("coefficient_rounds", "seed_race_rounds", "refine_sweeps", "seed"):
            check_integer(name, getattr(self, name), minimum=0)
        if self.assignment_samples > 1 and self.objective != "path_kl":
            raise ValueError(
                f"assignment_samples > 1 applies to the path_kl objective only, not to {self.objective!r}."
            )
        check_real("learning_rate", self.learning_rate, 0, low_open=True)
        self.seed_powers = check_real_list("seed_powers", list(self.seed_powers), 0, low_open=True)

    @property
    def substeps(self) -> int:
        """Teacher steps per student interval, J = N / M."""
        return self.num_teacher_steps // self.num_student_steps
