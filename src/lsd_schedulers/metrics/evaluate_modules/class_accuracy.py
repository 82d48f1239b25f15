"""Class accuracy of class-conditional samples: how often a classifier sees the class the sample was drawn for."""

import datasets
import evaluate

_DESCRIPTION = """The share of generated images whose predicted class (by a classifier trained here) equals the class
the image was requested for. Report it next to a distribution distance: guidance can raise it while losing
diversity."""

_KWARGS = """
Args:
    predictions (`list[int]`): the classifier's predicted class of each generated image.
    references (`list[int]`): the class each image was generated for.
Returns:
    class_accuracy (`float`): the share of matches (higher is better).
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class ClassAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references):
        if not predictions:
            raise ValueError("No predictions to score.")
        matches = sum(int(p == r) for p, r in zip(predictions, references))
        return {"class_accuracy": matches / len(predictions)}
