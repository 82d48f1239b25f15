import pytest
import torch

from lsd_schedulers.metrics import load_metric
from lsd_schedulers.metrics.image import features_frechet_distance, frechet_distance, image_metrics
from lsd_schedulers.models import ImageClassifier


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    # diagonal covariances: d^2 = |m_a - m_b|^2 + sum (sqrt(a_i) - sqrt(b_i))^2
    mean_a, mean_b = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    var_a, var_b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 4.0, 1.0])
    expected = 5.0 + (1.0 + 0.0 + 4.0)
    got = frechet_distance(mean_a.double(), torch.diag(var_a).double(), mean_b.double(), torch.diag(var_b).double())
    assert got == pytest.approx(expected, abs=1e-9)


def test_feature_frechet_distance_is_small_for_same_law_and_grows_with_a_shift():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(4000, 8, generator=generator), torch.randn(4000, 8, generator=generator)
    same = features_frechet_distance(a, b)
    shifted = features_frechet_distance(a, b + 1.0)
    assert same < 0.05  # sampling noise of 4000 draws in 8 dimensions
    # the mean shift adds |1|^2 per dimension; the cross term 2 (m_a - m_b) . 1 has std ~0.13 here: 4 sigma
    assert shifted == pytest.approx(8.0 + same, abs=0.5)
    with pytest.raises(ValueError, match="do not share a feature dimension"):
        features_frechet_distance(a, b[:, :4])
    with pytest.raises(ValueError, match="NaN or infinite"):
        features_frechet_distance(a, torch.full((10, 8), float("nan")))


def test_evaluate_modules_agree_with_the_functions():
    generator = torch.Generator().manual_seed(1)
    a, b = torch.randn(200, 4, generator=generator), torch.randn(200, 4, generator=generator) + 0.5
    module = load_metric("classifier_frechet_distance")
    score = module.compute(predictions=a.tolist(), references=b.tolist())["fd_classifier"]
    assert score == pytest.approx(features_frechet_distance(a, b), rel=1e-6)
    accuracy = load_metric("class_accuracy").compute(predictions=[1, 2, 3, 4], references=[1, 2, 0, 4])
    assert accuracy == {"class_accuracy": 0.75}


def test_image_metrics_with_a_classifier():
    torch.manual_seed(0)
    classifier = ImageClassifier(num_classes=3, sample_size=8, channels=(4, 4), feature_size=6).eval()
    images = torch.rand(20, 1, 8, 8) * 2 - 1
    with torch.no_grad():
        predicted = classifier(images).argmax(-1)
        reference = classifier.features(torch.rand(30, 1, 8, 8) * 2 - 1)
    scores = image_metrics(images, predicted, classifier, reference)
    assert scores["class_accuracy"] == 1.0 and scores["fd_classifier"] >= 0
    assert image_metrics(images, (predicted + 1) % 3, classifier, reference)["class_accuracy"] == 0.0
    with pytest.raises(ValueError, match="one requested label per image"):
        image_metrics(images, predicted[:5], classifier, reference)
    with pytest.raises(ValueError, match=r"Expected images of shape \(batch, 1, 8, 8\)"):
        classifier(torch.zeros(2, 1, 7, 7))
