import pytest
import torch

from lsd_schedulers import LSDDiscreteScheduler
from lsd_schedulers.metrics.exact import all_strings, exact_metrics, exact_output_distribution
from lsd_schedulers.metrics.exact import markov_chain_probabilities as data_distribution
from lsd_schedulers.models import MarkovChainOracle, random_chain
from lsd_schedulers.sampling import generate


@pytest.fixture(scope="module")
def setup():
    initial, transition = random_chain(3, seed=1)
    oracle = MarkovChainOracle(initial, transition)
    strings = all_strings(oracle.vocab_size, 4)
    return initial, transition, oracle, strings


def test_data_distribution_sums_to_one_and_ignores_masked_strings(setup):
    initial, transition, _, strings = setup
    target = data_distribution(initial, transition, strings)
    assert target.sum().item() == pytest.approx(1.0, abs=1e-12)
    assert (target[(strings == 3).any(1)] == 0).all()


def test_one_step_output_is_the_product_of_the_oracle_marginals(setup):
    _, _, oracle, strings = setup
    scheduler = LSDDiscreteScheduler(vocab_size=4)
    output = exact_output_distribution(oracle, scheduler, 1, strings)
    marginals = torch.softmax(oracle(torch.full((1, 4), 3)).double()[0, :, :3], -1)
    clean = strings[(strings < 3).all(1)]
    expected = marginals[torch.arange(4), clean].prod(1)
    torch.testing.assert_close(output[(strings < 3).all(1)], expected)


@pytest.mark.parametrize("order", ["random", "spread"])
def test_exact_distribution_matches_monte_carlo_sampling(setup, order):
    _, _, oracle, strings = setup
    scheduler = LSDDiscreteScheduler(vocab_size=4, timestep_spacing="cosine", unmasking_order=order)
    output = exact_output_distribution(oracle, scheduler, 3, strings)
    samples = generate(oracle, scheduler, (20000, 4), 3, generator=torch.Generator().manual_seed(0))
    index = (samples * torch.tensor([64, 16, 4, 1])).sum(1)
    empirical = torch.bincount(index, minlength=len(strings)).double() / len(samples)
    # 20000 draws: the TV between the empirical and exact law of 81 outcomes is about 0.02; allow 0.05
    assert exact_metrics(output, empirical)["tv"] < 0.05


def test_many_teacher_steps_approach_the_data_distribution(setup):
    initial, transition, oracle, strings = setup
    target = data_distribution(initial, transition, strings)
    few = exact_metrics(target, exact_output_distribution(oracle, LSDDiscreteScheduler(vocab_size=4), 2, strings))
    many = exact_metrics(target, exact_output_distribution(oracle, LSDDiscreteScheduler(vocab_size=4), 64, strings))
    assert many["tv"] < few["tv"] / 3
    assert many["kl"] < few["kl"]
