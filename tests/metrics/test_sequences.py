import itertools
import math

import pytest
import torch
from conftest import tiny_bert

from lsd_schedulers.metrics.sequences import (
    frechet_difference_interval,
    frechet_interval,
    mean_pairwise_identity,
    mean_pooled_embeddings,
    mean_sequence_entropy,
    projected_frechet_distance,
    pseudo_perplexity,
)


def test_mean_pairwise_identity_equals_the_average_over_pairs():
    tokens = torch.randint(0, 4, (7, 12), generator=torch.Generator().manual_seed(0))
    keep = torch.zeros(12, dtype=torch.bool)
    keep[2:10] = True
    pairs = [(tokens[a, keep] == tokens[b, keep]).double().mean() for a, b in itertools.permutations(range(7), 2)]
    assert mean_pairwise_identity(tokens, keep) == pytest.approx(float(torch.stack(pairs).mean()), abs=1e-12)
    assert mean_pairwise_identity(tokens[:1].repeat(3, 1), keep) == 1.0


def test_mean_sequence_entropy_of_uniform_and_constant_rows():
    tokens = torch.tensor([[0, 1, 2, 3, 0, 1, 2, 3], [5, 5, 5, 5, 5, 5, 5, 5]])
    keep = torch.ones_like(tokens, dtype=torch.bool)
    assert mean_sequence_entropy(tokens, keep) == pytest.approx(math.log(4) / 2)


def test_projected_frechet_distance_is_zero_for_the_same_set_and_grows_with_a_shift():
    reference = torch.randn(300, 20, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert projected_frechet_distance(reference, reference) == pytest.approx(0.0, abs=1e-8)
    near = projected_frechet_distance(reference + 0.1, reference)
    far = projected_frechet_distance(reference + 1.0, reference)
    assert 0 < near < far


def test_frechet_interval_covers_the_estimate_and_tells_a_shift_from_noise():
    """256 x 16 Gaussian sets, shifted by 0 (noise only), 0.5 and 1.5 along one axis: each 95% interval holds its
    estimate, the intervals of 0 and 1.5 do not overlap, and a fixed seed gives the same interval."""
    generator = torch.Generator().manual_seed(3)
    reference = torch.randn(256, 16, generator=generator, dtype=torch.float64)
    intervals = []
    for shift in (0.0, 0.5, 1.5):
        features = torch.randn(256, 16, generator=generator, dtype=torch.float64)
        features[:, 0] += shift
        low, high = frechet_interval(features, reference, draws=100)
        assert low <= projected_frechet_distance(features, reference) <= high
        intervals.append((low, high))
    assert intervals[0][1] < intervals[2][0]
    assert frechet_interval(features, reference, draws=20, seed=4) == frechet_interval(
        features, reference, draws=20, seed=4
    )


def test_frechet_difference_interval_separates_paired_sets_whose_own_intervals_overlap():
    """Two 256 x 16 sets, the second the first shifted by 0.25 along one axis plus a little noise of its own: their
    separate 95% intervals overlap, the paired interval of second minus first lies above 0; a set against itself
    differs by exactly 0; sets of different sizes are refused."""
    generator = torch.Generator().manual_seed(5)
    reference = torch.randn(256, 16, generator=generator, dtype=torch.float64)
    first = torch.randn(256, 16, generator=generator, dtype=torch.float64)
    second = first + 0.05 * torch.randn(256, 16, generator=generator, dtype=torch.float64)
    second[:, 0] += 0.25
    assert frechet_interval(second, reference)[0] < frechet_interval(first, reference)[1]
    difference, (low, high) = frechet_difference_interval(second, first, reference)
    expected = projected_frechet_distance(second, reference) - projected_frechet_distance(first, reference)
    assert difference == pytest.approx(expected)
    assert 0 < low < difference < high
    assert frechet_difference_interval(first, first, reference, draws=20) == (0.0, [0.0, 0.0])
    with pytest.raises(ValueError, match="same shape"):
        frechet_difference_interval(first, second[:100], reference)


def test_pseudo_perplexity_and_embeddings_of_a_masked_lm(tmp_path):
    model, _ = tiny_bert(tmp_path)
    with torch.no_grad():  # a model that believes every residue is A (id 5)
        model.cls.predictions.decoder.bias.fill_(-20.0)
        model.cls.predictions.decoder.bias[5] = 20.0
    keep = torch.zeros(4, 10, dtype=torch.bool)
    keep[:, 1:-1] = True
    believed = torch.full((4, 10), 5)
    other = torch.full((4, 10), 9)
    generator = torch.Generator().manual_seed(0)
    assert pseudo_perplexity(model, believed, keep, 4, 4, generator) == pytest.approx(1.0, abs=1e-3)
    assert pseudo_perplexity(model, other, keep, 4, 4, generator) > 1e6
    features = mean_pooled_embeddings(model, believed, keep)
    assert features.shape == (4, 16) and torch.allclose(features[0], features[1])
