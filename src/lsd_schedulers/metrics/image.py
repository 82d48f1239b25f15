"""Image sample metrics in the features of a small classifier trained here: Frechet distance and class accuracy.

The Frechet distance is computed in the penultimate features of `ImageClassifier`, not Inception's: call it the
classifier Frechet distance (`fd_classifier`), never "FID".
"""

import torch


def gaussian_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance (float64) of `(num_samples, dim)` features."""
    if features.dim() != 2 or features.shape[0] < 2:
        raise ValueError(f"Need features of shape (num_samples >= 2, dim), got {tuple(features.shape)}.")
    if not torch.isfinite(features).all():
        raise ValueError("Features contain NaN or infinite values.")
    features = features.double()
    return features.mean(0), torch.cov(features.T)


def psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    # S^{1/2} = V diag(sqrt(max(l, 0))) V^T for symmetric S = V diag(l) V^T
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T


def frechet_distance(mean_a: torch.Tensor, cov_a: torch.Tensor, mean_b: torch.Tensor, cov_b: torch.Tensor) -> float:
    # d^2 = |m_a - m_b|^2 + Tr(C_a + C_b - 2 (C_a^{1/2} C_b C_a^{1/2})^{1/2})
    if mean_a.shape != mean_b.shape or cov_a.shape != cov_b.shape:
        raise ValueError(f"Statistics of different dimensions: {tuple(mean_a.shape)} vs {tuple(mean_b.shape)}.")
    root_a = psd_sqrt(cov_a)
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp(min=0).sqrt().sum()
    return float((mean_a - mean_b).square().sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * cross)


def features_frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """The Frechet distance between Gaussians fitted to two feature sets."""
    if features_a.dim() != 2 or features_b.dim() != 2 or features_a.shape[1] != features_b.shape[1]:
        raise ValueError(
            f"Feature sets of shapes {tuple(features_a.shape)} and {tuple(features_b.shape)} do not "
            "share a feature dimension."
        )
    return frechet_distance(*gaussian_statistics(features_a), *gaussian_statistics(features_b))


@torch.no_grad()
def classify(classifier, images: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, predicted labels) of images in [-1, 1] under an `ImageClassifier`."""
    features, predictions = [], []
    for batch in images.split(batch_size):
        batch_features = classifier.features(batch.float())
        features.append(batch_features)
        predictions.append(classifier.head(batch_features).argmax(-1))
    return torch.cat(features), torch.cat(predictions)


def image_metrics(
    images: torch.Tensor, requested_labels: torch.Tensor, classifier, reference_features: torch.Tensor
) -> dict[str, float]:
    """fd_classifier (to the reference images' features) and class_accuracy (the requested class is predicted).

    Args:
        images (`torch.Tensor` of shape `(N, C, H, W)`): samples in [-1, 1].
        requested_labels (`torch.Tensor` of shape `(N,)`): the class each sample was drawn for.
        classifier (`ImageClassifier`): the feature and label model.
        reference_features (`torch.Tensor` of shape `(M, D)`): features of held-out real images.
    """
    if requested_labels.shape != (images.shape[0],):
        raise ValueError(f"Need one requested label per image: {tuple(requested_labels.shape)} for {len(images)}.")
    features, predictions = classify(classifier, images)
    return {
        "fd_classifier": features_frechet_distance(features, reference_features),
        "class_accuracy": float((predictions.cpu() == requested_labels.cpu()).float().mean()),
    }
