import pytest
import torch

from lsd_schedulers.metrics.statistics import ratio_interval


def test_ratio_interval_covers_the_true_ratio_95_percent_of_the_time():
    # texts of 20-80 tokens, per-token NLL with mean 3.0 and a per-text offset (texts differ in difficulty)
    generator = torch.Generator().manual_seed(0)
    trials, covered = 1000, 0
    for _ in range(trials):
        counts = torch.randint(20, 81, (100,), generator=generator).double()
        offsets = 0.5 * torch.randn(100, generator=generator, dtype=torch.float64)
        totals = counts * (3.0 + offsets) + counts.sqrt() * torch.randn(100, generator=generator, dtype=torch.float64)
        ratio, low, high = ratio_interval(totals, counts)
        assert low < ratio < high
        covered += low <= 3.0 <= high
    # binomial standard error at 1000 trials is 0.7%; the delta method is close to nominal at 100 items
    assert 0.93 <= covered / trials <= 0.97


def test_ratio_interval_has_no_width_when_every_item_has_the_same_ratio():
    ratio, low, high = ratio_interval(torch.tensor([2.0, 4.0, 6.0]), torch.tensor([1.0, 2.0, 3.0]))
    assert ratio == low == high == 2.0


@pytest.mark.parametrize(("totals", "counts"), [([1.0], [1.0]), ([1.0, 2.0], [1.0, 2.0, 3.0])])
def test_ratio_interval_refuses_too_few_or_mismatched_items(totals, counts):
    with pytest.raises(ValueError, match="two or more items"):
        ratio_interval(torch.tensor(totals), torch.tensor(counts))
