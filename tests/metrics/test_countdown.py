import pytest
import torch

from lsd_schedulers.metrics import countdown_violations, sequence_violation_rate, unigram_kl, violation_rate
from lsd_schedulers.models import countdown_chain


def test_hand_built_violations():
    samples = torch.tensor(
        [
            [3, 2, 1, 0, 5],  # valid countdown, anything may follow 0
            [3, 1, 0, 0, 0],  # 3 -> 1 breaks the rule
            [2, 2, 2, 1, 7],  # 2 -> 2 twice, 1 -> 7
            [0, 0, 0, 0, 0],  # collapse: no violation
        ]
    )
    expected = torch.tensor(
        [
            [False, False, False, False],
            [True, False, False, False],
            [True, True, False, True],
            [False, False, False, False],
        ]
    )
    violations = countdown_violations(samples, num_states=8)
    assert violations.dtype == torch.bool and violations.shape == (4, 4)
    assert torch.equal(violations, expected)
    assert violation_rate(samples, num_states=8) == pytest.approx(4 / 16)
    assert sequence_violation_rate(samples, num_states=8) == pytest.approx(2 / 4)
    assert violation_rate(samples) == pytest.approx(4 / 16)


def test_zero_is_not_a_violation_target_after_one():
    samples = torch.tensor([[1, 0], [1, 1], [4, 3]])
    assert countdown_violations(samples).squeeze(1).tolist() == [False, True, False]


def test_out_of_range_ids_raise():
    leftover_mask = torch.tensor([[3, 2, 8, 0]])
    with pytest.raises(ValueError, match=r"token id 8 outside 0\.\.7"):
        countdown_violations(leftover_mask, num_states=8)
    with pytest.raises(ValueError, match=r"token id 8 outside 0\.\.7"):
        violation_rate(leftover_mask, num_states=8)
    with pytest.raises(ValueError, match=r"token id 8 outside 0\.\.7"):
        sequence_violation_rate(leftover_mask, num_states=8)
    with pytest.raises(ValueError, match=r"token id 8 outside 0\.\.7"):
        unigram_kl(leftover_mask, torch.full((8,), 1 / 8), num_states=8)
    with pytest.raises(ValueError, match="token id -1 outside"):
        countdown_violations(torch.tensor([[3, -1]]))
    with pytest.raises(ValueError, match="integer dtype"):
        countdown_violations(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"shape \[B, L\]"):
        countdown_violations(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="L >= 2"):
        violation_rate(torch.zeros(3, 1, dtype=torch.long))


def test_unigram_kl():
    num_states = 4
    reference = torch.full((num_states,), 0.25, dtype=torch.float64)
    balanced = torch.arange(num_states).repeat(10, 1)
    assert unigram_kl(balanced, reference, num_states) == pytest.approx(0.0, abs=1e-8)
    # all tokens equal to 0: KL = log(1 / 0.25) = log 4 (up to the 1e-10 smoothing)
    collapsed = torch.zeros(10, 4, dtype=torch.long)
    assert unigram_kl(collapsed, reference, num_states) == pytest.approx(torch.tensor(4.0).log().item(), rel=1e-6)
    # a token the reference gives probability zero: large but finite
    assert 10 < unigram_kl(balanced, torch.tensor([0.5, 0.5, 0.0, 0.0]), num_states) < float("inf")
    with pytest.raises(ValueError, match=r"reference must be a tensor of shape \[num_states\] = \[4\]"):
        unigram_kl(balanced, torch.ones(3) / 3, num_states)


def test_collapse_breaks_no_rule_but_has_large_kl():
    initial, _ = countdown_chain(32)
    collapsed = torch.zeros(8, 64, dtype=torch.long)
    assert violation_rate(collapsed, 32) == 0.0 and sequence_violation_rate(collapsed, 32) == 0.0
    assert unigram_kl(collapsed, initial, 32) > 2.0
