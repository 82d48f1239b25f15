import pytest
import torch

from lsd_schedulers import NoiseSchedule

SCHEDULES = [NoiseSchedule("loglinear"), NoiseSchedule("cosine"), NoiseSchedule("geometric")]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s.name)
def test_alpha_runs_from_one_at_data_to_near_zero_at_noise(schedule):
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    alpha = schedule.alpha(t)
    assert alpha[0] == pytest.approx(1.0, abs=1e-3)
    assert alpha[-1] < 1e-2
    assert (alpha[1:] < alpha[:-1]).all()


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s.name)
def test_sigma_is_the_derivative_of_minus_log_alpha(schedule):
    t = torch.linspace(0.05, 0.95, 19, dtype=torch.float64, requires_grad=True)
    sigma_bar = -torch.log(schedule.alpha(t))
    (gradient,) = torch.autograd.grad(sigma_bar.sum(), t)
    torch.testing.assert_close(schedule.sigma(t.detach()), gradient, rtol=1e-9, atol=1e-9)


def test_loglinear_matches_its_closed_form():
    schedule = NoiseSchedule("loglinear", eps=1e-3)
    t = torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64)
    torch.testing.assert_close(schedule.alpha(t), 1 - (1 - 1e-3) * t)


def test_unknown_or_invalid_schedule_is_rejected():
    with pytest.raises(ValueError, match="Unknown noise_schedule 'linear'"):
        NoiseSchedule("linear")
    with pytest.raises(ValueError, match="eps must lie in"):
        NoiseSchedule("loglinear", eps=0.0)
    with pytest.raises(ValueError, match="sigma_min < sigma_max"):
        NoiseSchedule("geometric", sigma_min=1.0, sigma_max=0.5)
