import math

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from lsd_schedulers.metrics import load_metric


def test_unigram_entropy_matches_hand_computed_values():
    metric = load_metric("unigram_entropy")
    result = metric.compute(sequences=[[1, 1, 1, 1], [1, 2, 3, 4], [5, 5, 6, 6]])
    expected = (0.0 + math.log(4) + math.log(2)) / 3
    assert result["entropy"] == pytest.approx(expected, abs=1e-9)


def tiny_judge():
    words = ["the", "cat", "sat", "on", "mat", "<eos>"]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<eos>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<eos>", unk_token="<eos>")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(words), n_positions=16, n_embd=16, n_layer=1, n_head=2)
    return GPT2LMHeadModel(config).eval(), wrapped


def test_generative_perplexity_is_exp_of_the_mean_token_nll():
    model, tokenizer = tiny_judge()
    texts = ["the cat sat on the mat", "cat cat"]
    result = load_metric("generative_perplexity").compute(predictions=texts, model=model, tokenizer=tokenizer,
                                                           batch_size=1)  # fmt: skip
    total, count = 0.0, 0
    for text in texts:
        ids = torch.tensor([tokenizer(text)["input_ids"]])
        with torch.no_grad():
            logits = model(ids).logits
        total += float(torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:], reduction="sum"))
        count += ids.shape[1] - 1
    assert result["mean_nll"] == pytest.approx(total / count, rel=1e-5)
    assert result["gen_ppl"] == pytest.approx(math.exp(total / count), rel=1e-5)


def test_padding_in_batches_does_not_change_the_score():
    model, tokenizer = tiny_judge()
    texts = ["the cat sat on the mat", "cat cat", "on the mat"]
    metric = load_metric("generative_perplexity")
    one = metric.compute(predictions=texts, model=model, tokenizer=tokenizer, batch_size=1)
    three = metric.compute(predictions=texts, model=model, tokenizer=tokenizer, batch_size=3)
    assert one["mean_nll"] == pytest.approx(three["mean_nll"], rel=1e-4)


def test_unknown_metric_names_the_available_ones():
    with pytest.raises(ValueError, match=r"Unknown metric 'bleu'; available: \['generative_perplexity', 'unigram"):
        load_metric("bleu")
