"""Metrics of generated sequences judged by a masked LM: embedding Frechet distance, pseudo-perplexity, diversity.

Used for protein (antibody) samples judged by AntiBERTy, the model that generated them: pseudo-perplexity is then
the model judging its own samples, and the Frechet distance in its embeddings is a distance to the teacher's samples.
"""

import math

import torch

from .image import features_frechet_distance


@torch.no_grad()
def mean_pooled_embeddings(model, tokens: torch.LongTensor, keep: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """Mean of the last hidden states over the positions `keep` (the residues, not [CLS] / [SEP]), `[N, H]` float64.

    Args:
        model: a transformers masked LM (`output_hidden_states=True` is passed).
        tokens (`torch.LongTensor`): `[N, L]` token ids. keep (`torch.Tensor`): `[N, L]` bool.
        batch_size (`int`, defaults to 32): sequences per forward.
    """
    pooled = []
    for part, mask in zip(tokens.split(batch_size), keep.split(batch_size)):
        hidden = model(input_ids=part, attention_mask=torch.ones_like(part), output_hidden_states=True)
        last = hidden.hidden_states[-1].double()
        weights = mask.double().unsqueeze(-1)
        pooled.append((last * weights).sum(1) / weights.sum(1).clamp_min(1))
    return torch.cat(pooled)


def projected_frechet_distance(features: torch.Tensor, reference: torch.Tensor, components: int = 32) -> float:
    """Frechet distance after projecting both sets on the top principal components of `reference`.

    With a few hundred samples in a 512-dimensional embedding the covariances are rank-deficient and the full
    distance mostly measures sampling noise; the projection keeps the directions the reference varies in.
    """
    components = min(components, reference.shape[0] - 1, reference.shape[1])
    centre = reference.mean(0, keepdim=True)
    _, _, directions = torch.linalg.svd(reference - centre, full_matrices=False)
    basis = directions[:components].T
    return features_frechet_distance((features - centre) @ basis, (reference - centre) @ basis)


def frechet_interval(
    features: torch.Tensor, reference: torch.Tensor, draws: int = 200, level: float = 0.95, seed: int = 0
) -> list[float]:
    """A normal bootstrap interval of `projected_frechet_distance(features, reference)`: the distance +- z times
    the standard deviation of the distances of `draws` resamples of both sets (with replacement, fixed seed).

    The resampled distances themselves sit above the estimate (duplicated rows add noise that a Frechet distance
    counts), so their percentiles would not cover it; their spread is what the interval takes from them.

    Args:
        features, reference (`torch.Tensor`): `[N, H]` and `[R, H]` feature sets.
        draws (`int`, defaults to 200): bootstrap resamples. level (`float`, defaults to 0.95): the coverage.
        seed (`int`, defaults to 0): the resampling generator's seed.
    """
    generator = torch.Generator().manual_seed(seed)
    distances = []
    for _ in range(draws):
        rows = torch.randint(0, len(features), (len(features),), generator=generator)
        reference_rows = torch.randint(0, len(reference), (len(reference),), generator=generator)
        distances.append(projected_frechet_distance(features[rows], reference[reference_rows]))
    estimate = projected_frechet_distance(features, reference)
    spread = normal_half_width(distances, level)
    return [max(estimate - spread, 0.0), estimate + spread]


def normal_half_width(bootstrap_values: list[float], level: float) -> float:
    """The half-width of a normal bootstrap interval: z_{(1 + level) / 2} times the values' standard deviation."""
    z = float(torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor((1 + level) / 2)))
    return z * float(torch.tensor(bootstrap_values, dtype=torch.float64).std())


def frechet_difference_interval(
    features: torch.Tensor,
    other: torch.Tensor,
    reference: torch.Tensor,
    draws: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, list[float]]:
    """The difference `projected_frechet_distance(features, reference) - (other, reference)` and its normal
    bootstrap interval, for two samplers measured against the same reference.

    Each resample draws one set of row indices for both samplers (pairs of rows from the same seeds stay together)
    and one resample of the reference, so the noise the two distances share - the reference's own draw, most of it
    - cancels in the difference: two samplers whose separate intervals overlap can still be told apart.

    Args:
        features, other (`torch.Tensor`): `[N, H]` feature sets of two samplers (row i of each from the same seed).
        reference (`torch.Tensor`): `[R, H]` features of the reference (the teacher's samples).
        draws (`int`, defaults to 200): bootstrap resamples. level (`float`, defaults to 0.95): the coverage.
        seed (`int`, defaults to 0): the resampling generator's seed.
    """
    if features.shape != other.shape:
        raise ValueError(
            f"Paired feature sets need the same shape, got {tuple(features.shape)} and {tuple(other.shape)}."
        )
    generator = torch.Generator().manual_seed(seed)
    differences = []
    for _ in range(draws):
        rows = torch.randint(0, len(features), (len(features),), generator=generator)
        reference_rows = reference[torch.randint(0, len(reference), (len(reference),), generator=generator)]
        differences.append(
            projected_frechet_distance(features[rows], reference_rows)
            - projected_frechet_distance(other[rows], reference_rows)
        )
    estimate = projected_frechet_distance(features, reference) - projected_frechet_distance(other, reference)
    spread = normal_half_width(differences, level)
    return estimate, [estimate - spread, estimate + spread]


@torch.no_grad()
def pseudo_perplexity(
    model,
    tokens: torch.LongTensor,
    keep: torch.Tensor,
    mask_token_id: int,
    positions_per_sample: int = 16,
    generator: torch.Generator | None = None,
    batch_size: int = 64,
) -> float:
    """Pseudo-perplexity (Salazar et al., 2020), estimated on `positions_per_sample` random residues of each sample.

    Args:
        model: a transformers masked LM.
        tokens (`torch.LongTensor`): `[N, L]`. keep (`torch.Tensor`): `[N, L]` bool, the positions to score.
        mask_token_id (`int`): the MASK id.
        positions_per_sample (`int`, defaults to 16): masked copies per sample (all positions would be L forwards).
        generator (`torch.Generator`, *optional*): which positions.
        batch_size (`int`, defaults to 64): masked copies per forward.
    """
    # PPPL = exp(-mean_i log p(x_i | x with position i masked)), over positions i drawn uniformly among `keep`
    copies, targets = [], []
    for row, mask in zip(tokens, keep):
        candidates = mask.nonzero().squeeze(-1)
        chosen = candidates[torch.randperm(len(candidates), generator=generator)[:positions_per_sample]]
        for position in chosen.tolist():
            masked = row.clone()
            masked[position] = mask_token_id
            copies.append(masked)
            targets.append((position, int(row[position])))
    copies = torch.stack(copies)
    log_likelihood = 0.0
    for start in range(0, len(copies), batch_size):
        part = copies[start : start + batch_size]
        logits = model(input_ids=part, attention_mask=torch.ones_like(part)).logits.double()
        for index, (position, token) in enumerate(targets[start : start + batch_size]):
            log_likelihood += float(torch.log_softmax(logits[index, position], -1)[token])
    return math.exp(-log_likelihood / len(targets))


def mean_pairwise_identity(tokens: torch.LongTensor, keep: torch.Tensor) -> float:
    """Mean pairwise sequence identity over aligned positions (lower is more diverse).

    Args:
        tokens (`torch.LongTensor`): `[N, L]`, N >= 2. keep (`torch.Tensor`): `[L]` or `[N, L]` bool, the same
            positions in every row.
    """
    # identity(a, b) = share of kept positions where a and b hold the same token, averaged over all pairs a != b
    keep = keep if keep.dim() == 1 else keep[0]
    residues = tokens[:, keep]
    count = residues.shape[0]
    one_hot = torch.nn.functional.one_hot(residues).double()  # [N, L, V]
    counts = one_hot.sum(0)  # how many sequences hold token v at position l
    # pairs that agree at a position: sum_v c (c - 1), over all ordered pairs N (N - 1)
    agreeing = (counts * (counts - 1)).sum(-1)
    return float(agreeing.mean() / (count * (count - 1)))


def mean_sequence_entropy(tokens: torch.LongTensor, keep: torch.Tensor) -> float:
    """Mean per-sample unigram entropy (nats) of the kept tokens (the SEDD / MDLM diversity convention)."""
    # H(x) = -sum_v f_v log f_v over the frequencies f_v of the tokens of one sequence, averaged over sequences
    entropies = []
    for row, mask in zip(tokens, keep):
        frequencies = torch.bincount(row[mask]).double()
        frequencies = frequencies[frequencies > 0] / frequencies.sum()
        entropies.append(float(-(frequencies * frequencies.log()).sum()))
    return sum(entropies) / len(entropies)
