import itertools

import pytest
import torch

from lsd_schedulers.metrics import unigram_kl, violation_rate
from lsd_schedulers.models import MarkovChainOracle, countdown_chain, random_chain, sample_markov_chain
from lsd_schedulers.models.markov_oracle import (
    absorbing_chain_log_posteriors,
    floored_transition,
    markov_chain_posteriors,
    neighbour_tables,
)
from lsd_schedulers.noise_schedules import NoiseSchedule

NUM_STATES = 3
LENGTH = 4


def random_test_chain(num_states: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    initial = torch.rand(num_states, generator=generator, dtype=torch.float64) + 0.05
    transition = torch.rand(num_states, num_states, generator=generator, dtype=torch.float64) + 0.05
    return initial / initial.sum(), transition / transition.sum(dim=1, keepdim=True)


def brute_force_posteriors(initial, transition, emission_fn, length: int) -> torch.Tensor:
    """p(x_0^i = y | x_t) by enumerating all V^L clean sequences; emission_fn(j, y) = q(x_t^j | x_0^j = y)."""
    num_states = initial.shape[0]
    posteriors = torch.zeros(length, num_states, dtype=torch.float64)
    for x0 in itertools.product(range(num_states), repeat=length):
        # weight = p(x_0) prod_j q(x_t^j | x_0^j)
        weight = initial[x0[0]] * emission_fn(0, x0[0])
        for j in range(1, length):
            weight = weight * transition[x0[j - 1], x0[j]] * emission_fn(j, x0[j])
        for j in range(length):
            posteriors[j, x0[j]] += weight
    return posteriors / posteriors.sum(dim=-1, keepdim=True)


def absorbing_emission(sample: torch.Tensor, num_states: int) -> torch.Tensor:
    """The HMM emission of absorbing noise up to a factor: 1 at a mask, [y == x_t] at a revealed token."""
    emission = torch.nn.functional.one_hot(sample, num_states + 1)[..., :num_states].double()
    return emission.masked_fill(sample.unsqueeze(-1) == num_states, 1.0)


@pytest.mark.parametrize("floor", [0.0, 1e-4, 0.3])
def test_absorbing_posteriors_match_brute_force(floor):
    initial, transition = random_test_chain(NUM_STATES, seed=0)
    oracle = MarkovChainOracle(initial, transition, forward_process="absorbing", floor=floor)
    generator = torch.Generator().manual_seed(1)
    clean = sample_markov_chain(initial, transition, 16, LENGTH, generator=generator)
    is_masked = torch.rand(16, LENGTH, generator=generator) < 0.6
    noisy = clean.masked_fill(is_masked, oracle.mask_token_id)
    probabilities = oracle(noisy).double().exp()

    for b in range(noisy.shape[0]):

        def emission(j, y, b=b):
            token = noisy[b, j].item()
            return 1.0 if token == NUM_STATES else float(token == y)

        expected = brute_force_posteriors(initial, floored_transition(transition, floor), emission, LENGTH)
        torch.testing.assert_close(probabilities[b, :, :NUM_STATES], expected, atol=1e-6, rtol=0)
        assert (probabilities[b, :, NUM_STATES] == 0).all()


@pytest.mark.parametrize("floor", [0.0, 1e-4])
@pytest.mark.parametrize("schedule_name", ["loglinear", "geometric"])
def test_uniform_posteriors_match_brute_force(floor, schedule_name):
    initial, transition = random_test_chain(NUM_STATES, seed=2)
    schedule = NoiseSchedule(schedule_name)
    oracle = MarkovChainOracle(initial, transition, forward_process="uniform", noise_schedule=schedule, floor=floor)
    generator = torch.Generator().manual_seed(3)
    noisy = torch.randint(0, NUM_STATES, (6, LENGTH), generator=generator)
    timesteps = torch.tensor([0.05, 0.3, 0.5, 0.7, 0.9, 1.0])
    probabilities_batched = oracle(noisy, timesteps).double().exp()

    for b in range(noisy.shape[0]):
        alpha = schedule.alpha(timesteps[b]).item()

        def emission(j, y, b=b, alpha=alpha):
            # q(x_t | x_0 = y) = alpha [x_t = y] + (1 - alpha) / V
            return alpha * float(noisy[b, j].item() == y) + (1 - alpha) / NUM_STATES

        expected = brute_force_posteriors(initial, floored_transition(transition, floor), emission, LENGTH)
        torch.testing.assert_close(probabilities_batched[b], expected, atol=1e-6, rtol=0)
        # a scalar timestep gives the same answer as the batched one
        probabilities_scalar = oracle(noisy[b : b + 1], timesteps[b].item()).double().exp()
        torch.testing.assert_close(probabilities_scalar[0], expected, atol=1e-6, rtol=0)


def test_absorbing_output_format_and_revealed_tokens():
    initial, transition = countdown_chain(32)
    oracle = MarkovChainOracle(initial, transition)
    assert (oracle.num_states, oracle.mask_token_id, oracle.vocab_size) == (32, 32, 33)
    generator = torch.Generator().manual_seed(0)
    clean = sample_markov_chain(initial, transition, 8, 64, generator=generator)
    is_masked = torch.rand(8, 64, generator=generator) < 0.5
    noisy = clean.masked_fill(is_masked, oracle.mask_token_id)
    logits = oracle(noisy)
    assert logits.shape == (8, 64, 33) and logits.dtype == torch.float32
    assert torch.isneginf(logits[..., 32]).all()
    probabilities = logits.double().exp()
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(8, 64, dtype=torch.float64), atol=1e-5, rtol=0)
    revealed = probabilities[~is_masked]
    assert (revealed.argmax(-1) == clean[~is_masked]).all()
    torch.testing.assert_close(revealed.max(-1).values, torch.ones(len(revealed), dtype=torch.float64))
    # data from the chain is consistent, so the true token always has positive probability
    assert (probabilities.gather(-1, clean.unsqueeze(-1)) > 0).all()
    # the timestep is ignored for absorbing noise
    torch.testing.assert_close(oracle(noisy, 0.3), logits)


def test_uniform_attributes():
    initial, transition = countdown_chain(8)
    oracle = MarkovChainOracle(initial, transition, forward_process="uniform")
    assert (oracle.num_states, oracle.mask_token_id, oracle.vocab_size) == (8, None, 8)
    assert oracle(torch.zeros(2, 5, dtype=torch.long), 0.5).shape == (2, 5, 8)


def test_impossible_context_is_defined_with_floor():
    # countdown: 3 must be followed by 2, so "3 MASK 5" has probability 0 under the chain
    initial, transition = countdown_chain(8)
    noisy = torch.tensor([[3, 8, 5]])
    logits = MarkovChainOracle(initial, transition, floor=1e-4)(noisy)
    probabilities = logits[..., :8].double().exp()
    assert torch.isfinite(probabilities).all()
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(1, 3, dtype=torch.float64), atol=1e-5, rtol=0)
    # with floor = 0 the answer is documented as NaN
    assert torch.isnan(MarkovChainOracle(initial, transition, floor=0.0)(noisy)[..., :8]).all()


@pytest.mark.parametrize("chain", ["countdown", "random"])
@pytest.mark.parametrize("floor", [0.0, 1e-4])
def test_absorbing_posteriors_equal_forward_backward_on_long_sequences(chain, floor):
    # the closed form from the nearest revealed neighbours against the sequential HMM pass, at L = 200: masks of every
    # density (all masked, all revealed), and with floor = 0 contexts of probability zero (NaN in both)
    initial, transition = countdown_chain(16) if chain == "countdown" else random_chain(16, seed=4)
    transition = floored_transition(transition, floor)
    generator = torch.Generator().manual_seed(5)
    clean = sample_markov_chain(initial, transition, 12, 200, generator=generator)
    clean[:2, 100:102] = torch.tensor([3, 7])  # off the countdown chain (3 is followed by 2)
    density = torch.linspace(0, 1, 12).unsqueeze(-1)
    noisy = clean.masked_fill(torch.rand(12, 200, generator=generator) < density, 16)
    expected = markov_chain_posteriors(initial, transition, absorbing_emission(noisy, 16))
    actual = absorbing_chain_log_posteriors(*neighbour_tables(initial, transition, 200), noisy, 16).exp()
    assert torch.equal(actual.isnan(), expected.isnan())
    if floor == 0 and chain == "countdown":
        assert expected.isnan().any()
    torch.testing.assert_close(actual.nan_to_num(), expected.nan_to_num(), atol=1e-10, rtol=0)


def test_long_sequences_are_stable():
    initial, transition = countdown_chain(32)
    generator = torch.Generator().manual_seed(0)
    clean = sample_markov_chain(initial, transition, 4, 256, generator=generator)
    noisy = clean.masked_fill(torch.rand(4, 256, generator=generator) < 0.9, 32)
    probabilities = MarkovChainOracle(initial, transition)(noisy)[..., :32].double().exp()
    assert torch.isfinite(probabilities).all()
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(4, 256, dtype=torch.float64), atol=1e-5, rtol=0)
    uniform = MarkovChainOracle(initial, transition, forward_process="uniform")
    assert torch.isfinite(uniform(clean, torch.full((4,), 0.8))).all()


def test_countdown_chain_is_stochastic_and_stationary():
    for num_states in (1, 2, 5, 32):
        initial, transition = countdown_chain(num_states)
        assert initial.dtype == transition.dtype == torch.float64
        assert transition.shape == (num_states, num_states)
        torch.testing.assert_close(transition.sum(1), torch.ones(num_states, dtype=torch.float64), atol=1e-12, rtol=0)
        torch.testing.assert_close(initial.sum(), torch.tensor(1.0, dtype=torch.float64), atol=1e-12, rtol=0)
        torch.testing.assert_close(initial @ transition, initial, atol=1e-12, rtol=0)
    _, transition = countdown_chain(4)
    assert transition[3, 2] == 1 and transition[1, 0] == 1
    assert (transition[0] == 0.25).all()


def test_sampled_countdown_sequences_follow_the_rule():
    initial, transition = countdown_chain(32)
    samples = sample_markov_chain(initial, transition, 256, 256, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (256, 256) and samples.dtype == torch.long
    assert violation_rate(samples, 32) == 0.0
    # KL over 65536 correlated tokens: ~1e-4 typically, below 4e-4 for 200 seeds tried, so 2e-3 is a safe bound
    assert unigram_kl(samples, initial, 32) < 2e-3


def test_sampling_matches_the_chain_statistics():
    initial, transition = random_chain(3, seed=5)
    samples = sample_markov_chain(initial, transition, 20000, 2, generator=torch.Generator().manual_seed(0))
    first = torch.bincount(samples[:, 0], minlength=3).double() / 20000
    torch.testing.assert_close(first, initial, atol=0.02, rtol=0)
    pairs = torch.zeros(3, 3, dtype=torch.float64)
    pairs.index_put_((samples[:, 0], samples[:, 1]), torch.ones(20000, dtype=torch.float64), accumulate=True)
    torch.testing.assert_close(pairs / pairs.sum(1, keepdim=True), transition, atol=0.03, rtol=0)


def test_sampling_never_draws_zero_probability_states():
    initial = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    transition = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.0, 0.5]], dtype=torch.float64)
    samples = sample_markov_chain(initial, transition, 500, 10, generator=torch.Generator().manual_seed(0))
    assert (samples[:, 0] == 1).all() and (samples[:, 1] == 2).all()
    assert (samples[:, 2:] != 1).all()


def test_sampling_is_reproducible():
    initial, transition = countdown_chain(32)

    def draw(seed):
        return sample_markov_chain(initial, transition, 16, 64, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(draw(0), draw(0))
    assert not torch.equal(draw(0), draw(1))


def test_invalid_chains_raise():
    initial, transition = countdown_chain(4)
    with pytest.raises(ValueError, match="initial must have shape"):
        MarkovChainOracle(initial[None], transition)
    with pytest.raises(ValueError, match=r"transition must have shape \[V, V\] = \[4, 4\]"):
        MarkovChainOracle(initial, transition[:3])
    bad_transition = transition.clone()
    bad_transition[2, 0] = 0.5
    with pytest.raises(ValueError, match=r"transition rows must sum to 1.*row 2 sums to 1\.5"):
        MarkovChainOracle(initial, bad_transition)
    with pytest.raises(ValueError, match="initial must sum to 1"):
        MarkovChainOracle(initial * 2, transition)
    negative = transition.clone()
    negative[0, 0], negative[0, 1] = -0.25, 0.75
    with pytest.raises(ValueError, match="transition must be non-negative"):
        MarkovChainOracle(initial, negative)
    with pytest.raises(ValueError, match="Unknown forward_process 'gaussian'"):
        MarkovChainOracle(initial, transition, forward_process="gaussian")
    with pytest.raises(ValueError, match=r"floor must lie in \[0, 1\]"):
        MarkovChainOracle(initial, transition, floor=-0.1)
    with pytest.raises(ValueError, match="transition rows must sum to 1"):
        sample_markov_chain(initial, bad_transition, 2, 3)


def test_invalid_samples_raise():
    initial, transition = countdown_chain(4)
    oracle = MarkovChainOracle(initial, transition)
    with pytest.raises(ValueError, match=r"token id 5 outside \[0, vocab_size=5\)"):
        oracle(torch.tensor([[0, 5, 1]]))
    with pytest.raises(ValueError, match="token id -1 outside"):
        oracle(torch.tensor([[0, -1, 1]]))
    with pytest.raises(ValueError, match=r"dtype torch\.long"):
        oracle(torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"shape \[B, L\]"):
        oracle(torch.zeros(3, dtype=torch.long))
    uniform = MarkovChainOracle(initial, transition, forward_process="uniform")
    with pytest.raises(ValueError, match=r"token id 4 outside \[0, vocab_size=4\)"):
        uniform(torch.tensor([[4, 0]]), 0.5)
    with pytest.raises(ValueError, match="timestep is required"):
        uniform(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"timestep must be a scalar or have shape \[B\] = \[2\]"):
        uniform(torch.zeros(2, 3, dtype=torch.long), torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match=r"timestep must lie in \[0, 1\]"):
        uniform(torch.zeros(2, 3, dtype=torch.long), 1.5)
