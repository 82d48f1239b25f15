"""Mean per-sample unigram entropy of generated token ids (the SEDD / MDLM diversity measure), in nats."""

import datasets
import evaluate
import torch

_DESCRIPTION = """For each sample, the entropy of its empirical token distribution, -sum_y (c_y / L) log(c_y / L);
the metric is the mean over samples. Low values mean repetitive samples: report it next to any quality score that
can be bought by losing diversity (generative perplexity, rule error rates)."""

_KWARGS = """
Args:
    sequences (`list[list[int]]`): generated token ids, one list per sample.
Returns:
    entropy (`float`): the mean per-sample unigram entropy in nats.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class UnigramEntropy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"sequences": datasets.Sequence(datasets.Value("int64"))}),
        )

    def _compute(self, sequences):
        entropies = []
        for sequence in sequences:
            if len(sequence) == 0:
                raise ValueError("An empty sequence has no unigram entropy.")
            _, counts = torch.unique(torch.tensor(sequence), return_counts=True)
            frequencies = counts.double() / len(sequence)
            # H = -sum_y p_y log p_y
            entropies.append(float(-(frequencies * frequencies.log()).sum()))
        return {"entropy": sum(entropies) / len(entropies)}
