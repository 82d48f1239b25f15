import math

import pytest
import torch

from lsd_schedulers import LSDDiscreteScheduler, LSDPlusScheduler
from lsd_schedulers.distillation import DistillationConfig, LSDDistiller
from lsd_schedulers.distillation.checkpointing import load_checkpoint, save_checkpoint
from lsd_schedulers.distillation.distiller import paired_difference, still_level
from lsd_schedulers.distillation.jys import jys_schedule
from lsd_schedulers.distillation.model_card import distillation_model_card
from lsd_schedulers.distillation.rollouts import student_prefix
from lsd_schedulers.metrics import violation_rate
from lsd_schedulers.models import MarkovChainOracle, countdown_chain
from lsd_schedulers.sampling import generate
from lsd_schedulers.scheduling_lsd import power_timesteps

SMALL = {"num_student_steps": 4, "num_teacher_steps": 16, "batch_size": 16, "seq_len": 48}


@pytest.fixture(scope="module")
def oracle():
    initial, transition = countdown_chain(8)
    return MarkovChainOracle(initial, transition)


def baseline():
    return LSDDiscreteScheduler(vocab_size=9, mask_token_id=8)


def small_config(**overrides):
    settings = {
        **SMALL,
        "split_evaluations": 3,
        "refine_sweeps": 1,
        "coefficient_rounds": 2,
        "adam_steps_per_round": 10,
    }
    return DistillationConfig(**{**settings, **overrides})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"num_student_steps": 5, "num_teacher_steps": 16}, r"N=16\) must be a multiple of num_student_steps \(M=5\)"),
        ({"num_student_steps": 32, "num_teacher_steps": 16}, "cannot take more steps than the teacher: M=32 > N=16"),
        ({"objective": "mse"}, "Unknown objective 'mse'"),
        ({"scheduler_type": "lsd_pp"}, "Unknown scheduler_type 'lsd_pp'"),
        ({"distance": "cosine"}, "Unknown distance 'cosine'"),
        ({"relaxation": 1.5}, r"relaxation \(zeta\) must lie in \[0, 1\)"),
    ],
)
def test_bad_settings_are_rejected(overrides, message):
    with pytest.raises(ValueError, match=message):
        small_config(**overrides)


def test_teacher_with_learned_values_is_rejected(oracle):
    with pytest.raises(ValueError, match="teacher must be a baseline sampler"):
        LSDDistiller(oracle, LSDDiscreteScheduler(vocab_size=9, coefficients=[1.0, 1.0]), small_config())


def test_paper_objective_collapses_coefficients_on_an_exact_model(oracle):
    """docs/distillation.md, "Objectives": L2 between scores of different states drives early Phi towards 0."""
    config = small_config(
        scheduler_type="lsd", objective="paper", coefficient_rounds=3, adam_steps_per_round=60, learning_rate=0.1
    )
    coefficients = LSDDistiller(oracle, baseline(), config).fit().coefficients()
    assert coefficients[0] < 0.5


def test_lsd_plus_path_kl_learns_a_valid_schedule_that_samples(oracle):
    distiller = LSDDistiller(oracle, baseline(), small_config()).fit()
    scheduler = distiller.to_scheduler()
    assert isinstance(scheduler, LSDPlusScheduler)
    times = torch.tensor(scheduler.config.timesteps)
    assert times[0] == 1 and times[-1] == 0 and (times[1:] < times[:-1]).all()
    samples = generate(oracle, scheduler, (4, 48), generator=torch.Generator().manual_seed(0))
    assert not (samples == 8).any()


def test_search_keeps_the_best_seed_unless_refinement_beats_it(oracle):
    """By construction LSD+'s objective is at most every seed's: the best-scored seed is kept, refined, and the
    refinement is kept only if it is no worse than that seed on a fresh common batch."""
    distiller = LSDDistiller(oracle, baseline(), small_config()).fit()
    summary = distiller.search_summary()
    seeds = summary["seeds"]
    assert len(seeds) == 2 * 7  # {random, spread} x {linear, cosine, 4 powers, jys}
    best = summary["best_seed"]
    lowest = min(score["path_kl"] for score in seeds.values())
    assert best["path_kl"] <= lowest + 1e-9 * (1 + abs(lowest))
    assert all(score["standard_error"] > 0 for score in seeds.values())
    verified = summary["verified"]
    # the kept candidate is the best seed, or one below it by more than 2 standard errors, and then the lowest such
    # absorbing noise, linear coefficients: Phi = 1 is optimal under path_kl, so there is no "learned" candidate
    assert set(verified["costs"]) == {best["seed"], "refined"}
    assert 4 <= verified["batches"] <= 4 + 8  # verify_batches, then one more per round while undecided
    better = [name for name, (difference, error) in verified["differences"].items() if difference < -2.5 * error]
    assert verified["kept"] in better or (verified["kept"] == best["seed"] and not better)
    assert all(verified["costs"][verified["kept"]] <= verified["costs"][name] + 1e-9 for name in better)
    assert verified["difference"] <= 0
    if verified["kept"] == best["seed"]:
        torch.testing.assert_close(distiller.times(), torch.tensor(best["times"], dtype=torch.float64))
    assert distiller.coefficients().tolist() == [1.0] * 4
    assert distiller.to_scheduler().config.unmasking_order == best["order"] == summary["unmasking_order"]


@pytest.mark.parametrize(("gain", "moved"), [(0.05, False), (2.0, True)])
def test_refine_moves_a_boundary_only_when_its_gain_is_beyond_noise(oracle, gain, moved):
    """A refinement step takes the lowest candidate position only when it is below the current one by more than 2
    standard errors of the paired difference: with per-sequence noise of sd 1 on 16 sequences (standard error about
    0.35), a gain of 0.05 at the farthest position is noise (the boundary stays) and a gain of 2.0 is not."""
    distiller = LSDDistiller(oracle, baseline(), small_config())
    times = torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0], dtype=torch.float64)
    distiller.parameters.set_time_schedule(times)
    common, own_noise = torch.randn(16, generator=torch.Generator().manual_seed(1)), torch.Generator().manual_seed(2)

    def fake_costs(trial, coefficients, first_step=0):
        farthest = float(trial[1]) > 0.8  # the candidate at the largest move towards tau_0 (0.811)
        return 10 + common - (gain if farthest else 0.0) + torch.randn(16, generator=own_noise)

    distiller.rollout = lambda trial, *args, **kwargs: (trial, None)
    distiller.interval_losses = fake_costs
    log = distiller._refine_step(0)
    assert log["boundary"] == 1 and log["moved"] is moved
    assert 0.15 < log["standard_error"] < 0.6
    assert (log["tau"] > 0.8) is moved and (log["tau"] == pytest.approx(0.75)) is not moved
    torch.testing.assert_close(distiller.times()[1], torch.tensor(log["tau"], dtype=torch.float64))


@pytest.mark.parametrize(
    ("gain", "kept", "batches", "objective"),
    [(0.05, "cosine", 12, "path_kl"), (1.0, "refined", 4, "path_kl"), (1.0, "refined", 4, "forward_path_kl")],
)
def test_verify_keeps_a_refinement_only_when_its_gain_is_beyond_noise(oracle, gain, kept, batches, objective):
    """The refined schedule replaces the seed only when it is lower by more than 2.5 standard errors of the paired
    difference, and a candidate not yet told apart from the seed gets more batches: with per-sequence noise of sd 1
    on 16 sequences a batch, a gain of 1.0 is decided on the first 4 batches (standard error 0.125); a gain of 0.05
    stays undecided through all 8 extra batches (standard error 0.07 on 192 sequences) and the seed is kept. Under
    forward_path_kl Phi = 1 is not optimal, so the learned coefficients are a candidate too; they cost 0.5 more than
    the refined schedule here, so they never win."""
    distiller = LSDDistiller(oracle, baseline(), small_config(objective=objective))
    seed_times = torch.tensor([1.0, 0.7, 0.4, 0.15, 0.0], dtype=torch.float64)
    refined_times = torch.tensor([1.0, 0.8, 0.5, 0.2, 0.0], dtype=torch.float64)
    distiller.search_state["best_seed"] = {"seed": "cosine", "times": seed_times.tolist()}
    distiller.parameters.set_time_schedule(refined_times)
    distiller.parameters.log_coefficients.data.fill_(math.log(1.1))
    own_noise = torch.Generator().manual_seed(3)

    def fake_costs(times, generator, coefficients=None, order=None):
        common = 10 + torch.randn(16, generator=generator, dtype=torch.float64)
        if torch.equal(times, seed_times):
            return common
        extra = 0.5 if (coefficients != 1).any() else 0.0
        return common - gain + extra + torch.randn(16, generator=own_noise, dtype=torch.float64)

    distiller.path_kl_per_sequence = fake_costs
    log = distiller._verify_step(0)
    verified = distiller.search_state["verified"]
    assert log["kept"] == verified["kept"] == kept
    assert verified["batches"] == batches
    assert 0.03 < verified["differences"]["refined"][1] < 0.18
    torch.testing.assert_close(distiller.times(), seed_times if kept == "cosine" else refined_times)
    assert distiller.coefficients().tolist() == [1.0] * 4
    assert ("learned" in verified["differences"]) is (objective == "forward_path_kl")
    difference, error = verified["differences"]["refined"]
    card = distillation_model_card(
        distiller.config, "a teacher", "here", 0.0, search=distiller.search_summary()
    ).content
    assert f"- refined minus best seed: {difference:+.4g} +- {error:.2g}" in card and f"- kept: {kept}" in card


def test_verify_scores_nothing_when_the_refinement_took_no_move(oracle):
    """With Phi = 1 optimal and the refined schedule equal to the seed (no move was taken), there is nothing to
    compare: the seed is kept without sampling."""
    distiller = LSDDistiller(oracle, baseline(), small_config())
    seed_times = torch.tensor([1.0, 0.7, 0.4, 0.15, 0.0], dtype=torch.float64)
    distiller.search_state["best_seed"] = {"seed": "cosine", "times": seed_times.tolist()}
    distiller.parameters.set_time_schedule(seed_times)
    distiller.path_kl_per_sequence = lambda *args, **kwargs: pytest.fail("verify sampled with nothing to compare")
    assert distiller._verify_step(0) == {"kept": "cosine", "path_kl_difference": 0.0, "standard_error": 0.0}
    assert distiller.search_state["verified"]["batches"] == 0
    torch.testing.assert_close(distiller.times(), seed_times)
    card = distillation_model_card(
        distiller.config, "a teacher", "here", 0.0, search=distiller.search_summary()
    ).content
    assert "no boundary move passed its test" in card and "minus best seed" not in card


def test_auto_order_chooses_the_spread_order_on_countdown_and_the_card_says_so(oracle, tmp_path):
    """docs/schedulers.md, "Spread orders": on countdown the spread order is far better than random order at every
    schedule; the objective must see it (measured here: every spread seed scores below every random one)."""
    distiller = LSDDistiller(oracle, baseline(), small_config(scheduler_type="lsd", coefficient_rounds=1)).fit()
    seeds = distiller.search_summary()["seeds"]
    assert seeds["spread/baseline"]["path_kl"] < 0.7 * seeds["random/baseline"]["path_kl"]
    assert distiller.order == "spread"
    distiller.save_pretrained(tmp_path)
    assert LSDDiscreteScheduler.from_pretrained(tmp_path).config.unmasking_order == "spread"
    assert "unmasking order: `spread`" in (tmp_path / "README.md").read_text()


def test_seeds_are_rescored_by_successive_halving_on_common_batches(oracle):
    """14 seeds on one batch, the better 7 on a second, the better 4 on a third (no race); the kept seed is the
    lowest mean among those scored three times, and its margin over the runner-up is a paired difference."""
    config = small_config(seed_rounds=3, seed_race_rounds=0, refine_sweeps=0)
    distiller = LSDDistiller(oracle, baseline(), config).fit()
    seeds = distiller.search_state["seeds"]
    counts = sorted(len(score["costs"]) for score in seeds.values())
    assert counts == [1] * 7 + [2] * 3 + [3] * 4
    assert all(len(batch) == 16 for score in seeds.values() for batch in score["costs"])
    once = sorted(seeds.values(), key=lambda score: sum(score["costs"][0]))
    # the first round's better half went on: nobody rescored ranks below somebody dropped
    assert {len(score["costs"]) for score in once[:7]} >= {2} and all(len(s["costs"]) == 1 for s in once[7:])
    finalists = [score for score in seeds.values() if len(score["costs"]) == 3]
    best = distiller.search_summary()["best_seed"]
    assert best["path_kl"] == min(score["path_kl"] for score in finalists) and best["batches"] == 3
    for score in finalists:  # the mean over every sequence of the three batches
        assert score["path_kl"] == pytest.approx(sum(map(sum, score["costs"])) / 48)
    margin = best["margin"]
    runner_up = seeds[margin["runner_up"]]
    assert len(runner_up["costs"]) == 3 and margin["standard_error"] > 0
    assert margin["difference"] == pytest.approx(best["path_kl"] - runner_up["path_kl"])
    # results files and model cards get the counts, not the per-sequence costs
    assert all(
        "costs" not in score and score["batches"] >= 1 for score in distiller.search_summary()["seeds"].values()
    )
    with pytest.raises(ValueError, match="seed_rounds"):
        small_config(seed_rounds=0)
    with pytest.raises(ValueError, match="seed_race_rounds"):
        small_config(seed_race_rounds=-1)
    with pytest.raises(ValueError, match="assignment_samples"):
        small_config(assignment_samples=0)
    with pytest.raises(ValueError, match="path_kl objective only"):
        small_config(assignment_samples=4, objective="paper")


def test_race_lets_the_true_best_overtake_a_lucky_leader(oracle):
    """Two orders on scripted costs (noise 0.3 per sequence): spread is 0.2 lower on the halving's two batches by
    luck, random is 0.6 lower on every later batch. The race scores both until their paired difference is two
    standard errors, keeps random, and scores nobody after that."""

    def scripted(score, batch):
        spread = score["order"] == "spread"
        noise = 0.3 * torch.randn(16, generator=torch.Generator().manual_seed(2 * batch + spread), dtype=torch.float64)
        return 1.0 + noise + (-0.2 if spread else 0.0) * (batch < 2) + (0.6 if spread else 0.0) * (batch >= 2)

    config = small_config(scheduler_type="lsd", coefficient_rounds=0, seed_rounds=2, seed_race_rounds=6)
    distiller = LSDDistiller(oracle, baseline(), config)
    distiller.seed_cost = scripted
    distiller.fit()
    (halving,) = [log for log in distiller.history if log["stage"] == "rescore"]
    assert halving["order"] == "spread"  # the lucky leader after successive halving
    assert distiller.order == "random"
    races = [log for log in distiller.history if log["stage"] == "race"]
    rounds = sum(log["raced"] for log in races)
    assert 1 <= rounds < 6 and [log["raced"] for log in races] == [True] * rounds + [False] * (6 - rounds)
    seeds = distiller.search_state["seeds"]
    random_costs, spread_costs = seeds["random/baseline"]["costs"], seeds["spread/baseline"]["costs"]
    assert len(random_costs) == len(spread_costs) == 2 + rounds
    assert not still_level(spread_costs, random_costs) and still_level(spread_costs[:-1], random_costs[:-1])
    margin = distiller.search_state["best_seed"]["margin"]
    assert margin["runner_up"] == "spread/baseline" and margin["difference"] < -2 * margin["standard_error"]


def test_race_rules_on_paired_differences():
    noise = [[0.1 * ((i * 7) % 5 - 2) for i in range(16)] for _ in range(2)]
    leader = [[1.0 + v for v in batch] for batch in noise]
    worse = [[1.5 + v + 0.05 * (i % 2) for i, v in enumerate(batch)] for batch in noise]
    same = [list(batch) for batch in leader]
    close = [[1.0 + v + 0.2 * (i % 3 - 1) + 0.02 for i, v in enumerate(batch)] for batch in noise]
    assert paired_difference(worse, leader)[0] == pytest.approx(0.5 + 0.05 * 0.5, abs=1e-9)
    assert not still_level(worse, leader)  # worse by many standard errors
    assert not still_level(same, leader)  # surely equal
    assert still_level(close, leader)  # 0.02 +- 0.03: not told apart yet
    # only the batches both were scored on are compared
    assert paired_difference(worse[:1], leader) == paired_difference(worse[:1], leader[:1])


def test_candidate_orders():
    def orders(teacher, **overrides):
        return LSDDistiller(lambda x, t: None, teacher, small_config(**overrides)).candidate_orders

    assert orders(baseline()) == ["random", "spread"]
    assert orders(LSDDiscreteScheduler(vocab_size=9, token_grid_shape=[6, 8])) == ["random", "spread", "spread_2d"]
    # the confidence order picks tokens by their values, which the objective does not see: never a candidate
    assert orders(LSDDiscreteScheduler(vocab_size=9, unmasking_order="confidence")) == ["random", "spread"]
    assert orders(baseline(), unmasking_order="confidence") == ["confidence"]
    assert orders(LSDDiscreteScheduler(vocab_size=8, mask_token_id=None, forward_process="uniform")) == ["random"]
    assert orders(baseline(), objective="paper") == ["random"]


def test_explicit_order_is_kept_and_scores_one_order(oracle):
    distiller = LSDDistiller(oracle, baseline(), small_config(unmasking_order="random", refine_sweeps=0)).fit()
    assert {score["order"] for score in distiller.search_summary()["seeds"].values()} == {"random"}
    assert distiller.to_scheduler().config.unmasking_order == "random"


def test_power_form_coefficients_get_finite_gradients(oracle):
    """The power form's log s -> Phi log s meets log 0 = -inf at the mask column and at revealed positions."""
    teacher = LSDDiscreteScheduler(vocab_size=9, mask_token_id=8, coefficient_form="power")
    distiller = LSDDistiller(oracle, teacher, small_config(scheduler_type="lsd", unmasking_order="random"))
    generator = distiller.generator(0, 0)
    stats, _ = distiller.rollout(
        distiller.times(), distiller.coefficients(), distiller.start_states(generator), generator
    )
    phi = torch.full((4,), 0.9, dtype=torch.float64, requires_grad=True)
    distiller.interval_losses(stats, phi).mean().backward()
    assert torch.isfinite(phi.grad).all() and (phi.grad[:-1] != 0).all()
    distiller.fit()
    assert torch.isfinite(distiller.coefficients()).all()
    assert all(math.isfinite(cost) for cost in distiller.search_summary()["verified"]["costs"].values())
    assert distiller.to_scheduler().config.coefficient_form == "power"


def test_lsd_plus_paper_objective_learns_times_by_gradient(oracle):
    config = small_config(objective="paper", distance="kl", coefficient_rounds=2)
    scheduler = LSDDistiller(oracle, baseline(), config).fit().to_scheduler()
    times = torch.tensor(scheduler.config.timesteps, dtype=torch.float64)
    assert (times[1:] < times[:-1]).all()
    assert not torch.allclose(times, torch.linspace(1, 0, 5, dtype=torch.float64))


def test_resuming_from_a_checkpoint_reaches_the_same_result(oracle, tmp_path):
    config = small_config()
    uninterrupted = LSDDistiller(oracle, baseline(), config).fit()
    first = LSDDistiller(oracle, baseline(), config)
    for _ in range(5):
        first.step()
    save_checkpoint(first.state_dict(), tmp_path, first.global_step)
    resumed = LSDDistiller(oracle, baseline(), config)
    resumed.load_state_dict(load_checkpoint(tmp_path / "checkpoint-5"))
    resumed.fit()
    assert resumed.coefficients().tolist() == uninterrupted.coefficients().tolist()
    assert resumed.times().tolist() == uninterrupted.times().tolist()
    # the time per stage counts the steps run before the checkpoint too
    stage_seconds = resumed.search_summary()["stage_seconds"]
    assert list(stage_seconds) == [name for name, count in resumed.stages if count]
    assert [log["seconds"] for log in resumed.history[:5]] == [log["seconds"] for log in first.history]
    for name, seconds in stage_seconds.items():
        assert seconds == pytest.approx(sum(log["seconds"] for log in resumed.history if log["stage"] == name))
    assert stage_seconds["split"] > 0
    card = distillation_model_card(resumed.config, "a teacher", "here", 0.0, search=resumed.search_summary()).content
    assert "- time per stage: split " in card and " s, verify " in card


def test_checkpoint_from_other_settings_is_rejected(oracle):
    state = LSDDistiller(oracle, baseline(), small_config()).state_dict()
    other = LSDDistiller(oracle, baseline(), small_config(seed=3))
    with pytest.raises(ValueError, match=r"different distillation settings: \['seed'\]"):
        other.load_state_dict(state)


def test_split_prefix_computed_once_gives_the_costs_of_whole_rollouts(oracle):
    distiller = LSDDistiller(oracle, baseline(), small_config(scheduler_type="lsd"))
    times, index, step = [1.0, 0.7, 0.3, 0.0], 1, 5
    prefix = distiller.split_prefix(times, index, step)
    for split in (0.6, 0.4, 0.5):
        trial = torch.tensor([*times[: index + 1], split, *times[index + 1 :]], dtype=torch.float64)
        ones = torch.ones(len(trial) - 1, dtype=torch.float64)
        generator = distiller.generator(1, step)
        start = distiller.start_states(generator)
        sample = student_prefix(distiller.denoiser, distiller.student("random"), trial, ones, start, index, generator)
        stats, _ = distiller.rollout(trial, ones, sample, generator, "random", first_step=index, last_step=index + 2)
        whole = distiller.interval_losses(stats, ones, index, "random").mean().item()
        assert distiller.split_cost(times, index, split, step, prefix) == pytest.approx(whole, rel=1e-12)


@pytest.mark.parametrize("steps", [4, 3])
def test_jys_search_returns_a_valid_schedule(oracle, steps):
    config = small_config(num_student_steps=steps, num_teacher_steps=12 if steps == 3 else 16, scheduler_type="lsd")
    times = jys_schedule(LSDDistiller(oracle, baseline(), config))
    assert times.numel() == steps + 1
    assert times[0] == 1 and times[-1] == 0 and (times[1:] < times[:-1]).all()


def test_path_kl_ranks_schedules_like_the_true_error(oracle):
    """docs/distillation.md, "Objectives": path-KL is a proxy for the sampler's error. On countdown (V = 8) the linear
    grid and tau_k = (1 - k/M)^0.5 must come out in the same order under path-KL and under the measured violation
    rate."""
    distiller = LSDDistiller(oracle, baseline(), small_config(batch_size=32, seq_len=64, relaxation=0.0))
    path_kl, violations = {}, {}
    for gamma in (1.0, 0.5):
        times = power_timesteps(4, gamma)
        path_kl[gamma] = distiller.path_kl(times, generator_tag=9, step=0)
        scheduler = LSDPlusScheduler(vocab_size=9, timesteps=times.tolist())
        samples = generate(oracle, scheduler, (256, 64), generator=torch.Generator().manual_seed(1))
        violations[gamma] = violation_rate(samples, 8)
    # measured here: path-KL 14.6 vs 9.5, violation rates 0.128 vs 0.104 (binomial standard error about 0.003)
    assert violations[0.5] < violations[1.0]
    assert path_kl[0.5] < 0.8 * path_kl[1.0]


def test_skipping_refine_and_coefficients_returns_the_selected_seed(oracle):
    """The seed stages draw their own random numbers, so the later stages do not change which seed wins; with no
    refinement and no coefficient rounds the sampler is that seed with Phi = 1 (docs/distillation.md: what `verify`
    keeps whenever no later candidate is lower by 2 standard errors)."""
    full = LSDDistiller(oracle, baseline(), small_config()).fit()
    seeds_only = LSDDistiller(oracle, baseline(), small_config(refine_sweeps=0, coefficient_rounds=0)).fit()
    assert seeds_only.total_steps < full.total_steps
    chosen = seeds_only.search_summary()["best_seed"]
    assert chosen == full.search_summary()["best_seed"]
    assert seeds_only.search_state["verified"]["kept"] == chosen["seed"]
    card = distillation_model_card(seeds_only.config, "a teacher", "here", 0.0, search=seeds_only.search_summary())
    assert "- refinement: off" in card.content and "no boundary move" not in card.content
    assert "objective `path_kl`," in card.content
    card = distillation_model_card(small_config(assignment_samples=16), "a teacher", "here", 0.0)
    assert "objective `path_kl` (16 sub-step assignments per step)," in card.content
    scheduler = seeds_only.to_scheduler()
    assert scheduler.config.unmasking_order == chosen["order"]
    assert scheduler.config.timesteps == pytest.approx(chosen["times"], abs=1e-12)
    assert scheduler.config.coefficients == pytest.approx([1.0] * 4, abs=1e-12)


@pytest.mark.parametrize(
    ("order", "objective"), [("random", "forward_path_kl"), ("spread", "forward_path_kl"), ("random", "rate_path_kl")]
)
def test_coefficient_rounds_equal_one_adam_over_all_intervals(oracle, order, objective):
    """Each Phi_k is optimised on its own interval while the rollout goes on (one interval's statistics in memory):
    round after round, the coefficients and the optimizer's state are those of one Adam on the whole rollout's loss."""
    config = small_config(scheduler_type="lsd", unmasking_order=order, objective=objective, learning_rate=0.1)
    distiller, reference = LSDDistiller(oracle, baseline(), config), LSDDistiller(oracle, baseline(), config)
    assert [name for name, _ in distiller.stages] == ["coefficients", "verify"]
    start_values = torch.tensor([-0.3, 0.2, -0.1, 0.1], dtype=torch.float64)  # away from the start of a run
    for run in (distiller, reference):
        run.parameters.log_coefficients.data.copy_(start_values)
    optimizer = torch.optim.Adam([reference.parameters.log_coefficients], lr=config.learning_rate)
    for index in range(config.coefficient_rounds):
        distiller.step()
        generator = reference.generator(3, index)
        start = reference.start_states(generator)
        statistics, _ = reference.rollout(reference.times(), reference.coefficients(), start, generator)
        for _ in range(config.adam_steps_per_round):
            optimizer.zero_grad()
            reference.interval_losses(statistics, reference.parameters.coefficients()).mean().backward()
            optimizer.step()
    assert (reference.coefficients()[:-1].log() - start_values[:-1]).abs().min() > 1e-3  # every step's Phi moved
    assert torch.allclose(distiller.coefficients(), reference.coefficients(), rtol=1e-10, atol=0)
    state, expected = distiller.optimizer.state_dict()["state"][0], optimizer.state_dict()["state"][0]
    assert state.keys() == expected.keys()
    for key in expected:
        assert torch.allclose(state[key], expected[key], rtol=1e-8, atol=1e-30), key


def test_path_kl_summed_step_by_step_equals_the_whole_rollouts_losses(oracle):
    distiller = LSDDistiller(oracle, baseline(), small_config(unmasking_order="spread"))
    times, coefficients = distiller.times(), torch.tensor([0.8, 1.1, 0.9, 1.0], dtype=torch.float64)
    streamed = distiller.path_kl_per_sequence(times, distiller.generator(9, 0), coefficients)
    generator = distiller.generator(9, 0)
    statistics, _ = distiller.rollout(times, coefficients, distiller.start_states(generator), generator)
    assert torch.equal(streamed, distiller.interval_losses(statistics, coefficients))


@pytest.mark.parametrize(
    ("objective", "coefficient_form", "rounds"),
    [("path_kl", "linear", 0), ("forward_path_kl", "linear", 2), ("path_kl", "power", 2)],
)
def test_coefficient_stage_runs_only_where_phi_one_is_not_already_optimal(oracle, objective, coefficient_form, rounds):
    teacher = LSDDiscreteScheduler(vocab_size=9, mask_token_id=8, coefficient_form=coefficient_form)
    distiller = LSDDistiller(oracle, teacher, small_config(objective=objective, coefficient_rounds=2))
    assert dict(distiller.stages)["coefficients"] == rounds
