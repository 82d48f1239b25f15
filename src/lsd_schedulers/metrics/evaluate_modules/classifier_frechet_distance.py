"""Frechet distance between two sets of classifier features (the image benchmark's fd_classifier; not FID)."""

import datasets
import evaluate
import torch

from lsd_schedulers.metrics.image import features_frechet_distance

_DESCRIPTION = """The Frechet distance between Gaussians fitted to two feature sets,
|m_p - m_r|^2 + Tr(C_p + C_r - 2 (C_p^{1/2} C_r C_p^{1/2})^{1/2}). The image benchmark feeds it the penultimate
features of a small Fashion-MNIST classifier trained here (`lsd_schedulers.models.ImageClassifier`), so name the
result the classifier Frechet distance, not FID (which uses Inception features)."""

_KWARGS = """
Args:
    predictions (`list[list[float]]`): features of generated images, one vector per image.
    references (`list[list[float]]`): features of real images, same dimension (evaluate needs as many rows as
        predictions; `lsd_schedulers.metrics.image.features_frechet_distance` takes sets of any sizes).
Returns:
    fd_classifier (`float`): the Frechet distance (lower is better).
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class ClassifierFrechetDistance(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float64")),
                    "references": datasets.Sequence(datasets.Value("float64")),
                }
            ),
        )

    def _compute(self, predictions, references):
        generated = torch.tensor(predictions, dtype=torch.float64)
        real = torch.tensor(references, dtype=torch.float64)
        return {"fd_classifier": features_frechet_distance(generated, real)}
