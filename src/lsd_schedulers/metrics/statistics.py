"""Uncertainty of the benchmark metrics."""

import math

import torch


def ratio_interval(totals: torch.Tensor, counts: torch.Tensor, z: float = 1.96) -> tuple[float, float, float]:
    """A ratio of sums R = sum x_i / sum n_i over independent items, and its normal interval (delta method).

    For generative perplexity x_i is a text's summed NLL and n_i its scored tokens, so R is the mean NLL per token.

    Args:
        totals (`torch.Tensor`): x_i, one per item.
        counts (`torch.Tensor`): n_i, one per item (positive in sum).
        z (`float`, defaults to 1.96): the normal quantile (1.96: a 95% interval).

    Returns:
        `(ratio, low, high)`.
    """
    totals, counts = totals.double().flatten(), counts.double().flatten()
    if totals.shape != counts.shape or len(totals) < 2:
        raise ValueError(
            f"Need two or more items with one total and one count each, got {totals.shape} and {counts.shape}."
        )
    ratio = float(totals.sum() / counts.sum())
    # Var(R) ~ sum (x_i - R n_i)^2 / (n (n - 1) mean(n)^2)
    residuals = totals - ratio * counts
    items = len(totals)
    stderr = math.sqrt(float(residuals.square().sum()) / (items * (items - 1))) / float(counts.mean())
    return ratio, ratio - z * stderr, ratio + z * stderr
