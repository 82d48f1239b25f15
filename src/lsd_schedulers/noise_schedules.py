"""Noise schedules: alpha(t), the probability that a token is still clean at time t, and its rate sigma(t).

Time runs from t = 0 (data) to t = 1 (noise). sigma_bar(t) = -log alpha(t) and sigma(t) = d sigma_bar / dt.
All functions are pure torch functions of `t`, differentiable in `t`.
"""

import math
from dataclasses import dataclass

import torch

NOISE_SCHEDULES = ("loglinear", "cosine", "geometric")


def loglinear_alpha(t: torch.Tensor, eps: float) -> torch.Tensor:
    # alpha(t) = 1 - (1 - eps) t
    return 1 - (1 - eps) * t


def loglinear_sigma(t: torch.Tensor, eps: float) -> torch.Tensor:
    # sigma(t) = (1 - eps) / (1 - (1 - eps) t)
    return (1 - eps) / loglinear_alpha(t, eps)


def cosine_alpha(t: torch.Tensor, eps: float) -> torch.Tensor:
    # alpha(t) = eps + (1 - eps) (1 - cos(pi/2 (1 - t)))   (MaskGIT mask ratio cos(pi/2 r) at progress r = 1 - t)
    return eps + (1 - eps) * (1 - torch.cos(0.5 * math.pi * (1 - t)))


def cosine_sigma(t: torch.Tensor, eps: float) -> torch.Tensor:
    # sigma(t) = -alpha'(t) / alpha(t) = (1 - eps) pi/2 sin(pi/2 (1 - t)) / alpha(t)
    return (1 - eps) * 0.5 * math.pi * torch.sin(0.5 * math.pi * (1 - t)) / cosine_alpha(t, eps)


def geometric_sigma_bar(t: torch.Tensor, sigma_min: float, sigma_max: float) -> torch.Tensor:
    # sigma_bar(t) = sigma_min^(1 - t) sigma_max^t
    return sigma_min ** (1 - t) * sigma_max**t


def geometric_sigma(t: torch.Tensor, sigma_min: float, sigma_max: float) -> torch.Tensor:
    # sigma(t) = sigma_bar(t) log(sigma_max / sigma_min)
    return geometric_sigma_bar(t, sigma_min, sigma_max) * math.log(sigma_max / sigma_min)


@dataclass(frozen=True)
class NoiseSchedule:
    """A named noise schedule with its constants.

    Args:
        name (`str`): one of `"loglinear"` (SEDD, MDLM, RADD), `"cosine"` (MaskGIT, aMUSEd) or `"geometric"`
            (SEDD uniform models).
        eps (`float`, defaults to 1e-3): alpha(1) for `loglinear` and `cosine`, so that sigma stays finite.
        sigma_min (`float`, defaults to 1e-4): sigma_bar(0) for `geometric`.
        sigma_max (`float`, defaults to 20.0): sigma_bar(1) for `geometric`.
    """

    name: str = "loglinear"
    eps: float = 1e-3
    sigma_min: float = 1e-4
    sigma_max: float = 20.0

    def __post_init__(self):
        if self.name not in NOISE_SCHEDULES:
            raise ValueError(f"Unknown noise_schedule {self.name!r}; expected one of {NOISE_SCHEDULES}.")
        if not 0 < self.eps < 1:
            raise ValueError(f"eps must lie in (0, 1), got {self.eps}.")
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(
                f"Need 0 < sigma_min < sigma_max, got sigma_min={self.sigma_min}, sigma_max={self.sigma_max}."
            )

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        """Probability that a token is still clean at time `t`."""
        t = torch.as_tensor(t, dtype=torch.float64)
        if self.name == "loglinear":
            return loglinear_alpha(t, self.eps)
        if self.name == "cosine":
            return cosine_alpha(t, self.eps)
        return torch.exp(-geometric_sigma_bar(t, self.sigma_min, self.sigma_max))

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        """Noise rate sigma(t) = d sigma_bar / dt = -alpha'(t) / alpha(t)."""
        t = torch.as_tensor(t, dtype=torch.float64)
        if self.name == "loglinear":
            return loglinear_sigma(t, self.eps)
        if self.name == "cosine":
            return cosine_sigma(t, self.eps)
        return geometric_sigma(t, self.sigma_min, self.sigma_max)
