"""Quality metrics for samples of the "countdown" task (see `lsd_schedulers.models.countdown_chain`).

The rule: a non-zero token n must be followed by n - 1; after 0 any token may follow. Error rates alone reward
collapse (an all-zero sequence breaks no rule), so `unigram_kl` measures how far the token frequencies are from the
chain's stationary distribution.
"""

import torch

UNIGRAM_SMOOTHING = 1e-10


def check_countdown_samples(samples: torch.Tensor, num_states: int | None = None) -> None:
    """Raise a `TypeError` or `ValueError` unless `samples` is a non-empty integer tensor [B, L] of ids in [0, V).

    Args:
        samples (`torch.LongTensor`): token ids [B, L].
        num_states (`int`, *optional*): V; when given, ids >= V (such as a leftover MASK = V) are rejected too.
    """
    if not isinstance(samples, torch.Tensor):
        raise TypeError(f"samples must be a torch.LongTensor, got {type(samples).__name__}.")
    if samples.dtype.is_floating_point or samples.dtype.is_complex or samples.dtype == torch.bool:
        raise ValueError(f"samples must have an integer dtype, got {samples.dtype}.")
    if samples.dim() != 2 or samples.shape[0] == 0 or samples.shape[1] == 0:
        raise ValueError(f"samples must have shape [B, L] with B, L >= 1, got shape {tuple(samples.shape)}.")
    out_of_range = samples < 0
    if num_states is not None:
        out_of_range = out_of_range | (samples >= num_states)
    if out_of_range.any():
        bad = samples[out_of_range][0].item()
        upper = num_states - 1 if num_states is not None else "V - 1"
        raise ValueError(f"samples contain token id {bad} outside 0..{upper} (a leftover MASK?).")


def countdown_violations(samples: torch.LongTensor, num_states: int | None = None) -> torch.BoolTensor:
    """Which transitions break the countdown rule.

    Args:
        samples (`torch.LongTensor`): token ids [B, L] in [0, V).
        num_states (`int`, *optional*): V; pass it so that ids >= V (a leftover MASK) raise instead of counting.

    Returns:
        `torch.BoolTensor`: [B, L - 1]; entry j - 1 is True when position j breaks the rule.
    """
    check_countdown_samples(samples, num_states)
    previous, current = samples[:, :-1], samples[:, 1:]
    # violation_j = [x_{j-1} != 0] and [x_j != x_{j-1} - 1]
    return (previous != 0) & (current != previous - 1)


def violation_rate(samples: torch.LongTensor, num_states: int | None = None) -> float:
    """Share of the B (L - 1) transitions that break the countdown rule.

    Args:
        samples (`torch.LongTensor`): token ids [B, L] in [0, V), L >= 2.
        num_states (`int`, *optional*): V; pass it so that ids >= V raise.
    """
    if isinstance(samples, torch.Tensor) and samples.dim() == 2 and samples.shape[1] < 2:
        raise ValueError(f"violation_rate needs L >= 2 to have a transition, got L = {samples.shape[1]}.")
    # rate = #violations / (B (L - 1))
    return countdown_violations(samples, num_states).double().mean().item()


def sequence_violation_rate(samples: torch.LongTensor, num_states: int | None = None) -> float:
    """Share of sequences with at least one violation of the countdown rule.

    Args:
        samples (`torch.LongTensor`): token ids [B, L] in [0, V).
        num_states (`int`, *optional*): V; pass it so that ids >= V raise.
    """
    # rate = #{b : any_j violation_{b, j}} / B
    return countdown_violations(samples, num_states).any(dim=1).double().mean().item()


def unigram_kl(samples: torch.LongTensor, reference: torch.Tensor, num_states: int) -> float:
    """KL(empirical unigram distribution of all tokens || reference), in nats.

    Both distributions are smoothed as p -> (p + 1e-10) / (1 + V 1e-10) so that a reference zero gives a large
    finite value instead of inf; the smoothing changes the result by O(V 1e-10) otherwise.

    Args:
        samples (`torch.LongTensor`): token ids [B, L] in [0, V).
        reference (`torch.Tensor`): reference distribution [V], e.g. the stationary distribution of the chain.
        num_states (`int`): V.
    """
    check_countdown_samples(samples, num_states)
    if not isinstance(reference, torch.Tensor) or reference.shape != (num_states,):
        shape = tuple(reference.shape) if isinstance(reference, torch.Tensor) else type(reference).__name__
        raise ValueError(f"reference must be a tensor of shape [num_states] = [{num_states}], got {shape}.")
    reference = reference.detach().double().cpu()
    if not torch.isfinite(reference).all() or (reference < 0).any() or reference.sum() <= 0:
        raise ValueError("reference must be finite, non-negative and not all zero.")
    counts = torch.bincount(samples.flatten().cpu(), minlength=num_states).double()
    # p_hat(y) = count(y) / N ;  q(y) = reference(y) / sum reference
    empirical, reference = counts / counts.sum(), reference / reference.sum()
    # p -> (p + eps) / (1 + V eps)
    empirical = (empirical + UNIGRAM_SMOOTHING) / (1 + num_states * UNIGRAM_SMOOTHING)
    reference = (reference + UNIGRAM_SMOOTHING) / (1 + num_states * UNIGRAM_SMOOTHING)
    # KL(p || q) = sum_y p(y) log(p(y) / q(y))
    return (empirical * (empirical.log() - reference.log())).sum().item()
