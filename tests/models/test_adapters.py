from types import SimpleNamespace

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM

from lsd_schedulers import LSDDiscreteScheduler, MaskedDiffusionTransformer, NoiseSchedule
from lsd_schedulers.models import (
    AutocastDenoiser,
    ClassConditionalAdapter,
    LLaDAAdapter,
    MaskedLMAdapter,
    MDLMAdapter,
    NativeAdapter,
    SEDDAdapter,
    as_denoiser,
)
from lsd_schedulers.sampling import generate

VOCAB = 20
MASK = 19


class TinyLLaDA(torch.nn.Module):
    """LLaDA's interface: forward(input_ids) -> output with .logits over a padded vocabulary."""

    def __init__(self, padded_vocab: int = 24):
        super().__init__()
        self.embed = torch.nn.Embedding(padded_vocab, 16)
        self.head = torch.nn.Linear(16, padded_vocab)

    def forward(self, input_ids):
        return SimpleNamespace(logits=self.head(self.embed(input_ids)))


class TinyMDLM(torch.nn.Module):
    """MDLM's interface: forward(input_ids, timesteps) -> logits, conditioned on the noise level."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, 16)
        self.head = torch.nn.Linear(16, VOCAB)
        self.seen = None

    def forward(self, input_ids, timesteps):
        self.seen = timesteps
        return self.head(self.embed(input_ids) + timesteps[:, None, None])


class TinySEDD(torch.nn.Module):
    """SEDD's interface: forward(indices, sigma) -> log concrete scores."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, 16)
        self.head = torch.nn.Linear(16, VOCAB)
        self.seen = None

    def forward(self, indices, sigma):
        self.seen = sigma
        return self.head(self.embed(indices)) - torch.log(torch.expm1(sigma))[:, None, None]


def tiny_bert():
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    return BertForMaskedLM(config).eval()


def sample_with(denoiser, scheduler):
    return generate(denoiser, scheduler, (3, 10), 4, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    ("model_factory", "adapter_type"),
    [
        (
            lambda: MaskedDiffusionTransformer(VOCAB, MASK, max_seq_len=16, hidden_size=16, num_layers=1, num_heads=2),
            NativeAdapter,
        ),
        (tiny_bert, MaskedLMAdapter),
        (TinyLLaDA, LLaDAAdapter),
        (TinyMDLM, MDLMAdapter),
        (TinySEDD, SEDDAdapter),
    ],
)
def test_each_interface_gets_its_adapter_and_samples(model_factory, adapter_type):
    model = model_factory()
    denoiser = as_denoiser(model, VOCAB, NoiseSchedule())
    assert type(denoiser) is adapter_type
    prediction_type = denoiser.prediction_type
    scheduler = LSDDiscreteScheduler(vocab_size=VOCAB, mask_token_id=MASK, prediction_type=prediction_type)
    samples = sample_with(denoiser, scheduler)
    assert samples.shape == (3, 10)
    assert not (samples == MASK).any()
    assert samples.max() < VOCAB


def test_autocast_denoiser_runs_in_bf16_and_returns_float32():
    torch.manual_seed(0)
    model = MaskedDiffusionTransformer(VOCAB, MASK, max_seq_len=16, hidden_size=32, num_layers=1, num_heads=2).eval()
    full = NativeAdapter(model, VOCAB)
    mixed = AutocastDenoiser(full)
    sample = torch.randint(0, VOCAB, (4, 12))
    exact, rounded = full(sample, torch.tensor(0.5)), mixed(sample, torch.tensor(0.5))
    assert rounded.dtype == torch.float32 and rounded.shape == exact.shape
    # bf16 keeps 8 bits of mantissa: close to, but not equal to, the float32 logits
    assert not torch.equal(rounded, exact)
    torch.testing.assert_close(rounded, exact, atol=0.05, rtol=0.05)
    scheduler = LSDDiscreteScheduler(vocab_size=VOCAB, mask_token_id=MASK)
    assert torch.equal(sample_with(mixed, scheduler), sample_with(mixed, scheduler))


def test_llada_adapter_drops_padding_columns():
    output = LLaDAAdapter(TinyLLaDA(padded_vocab=24), vocab_size=VOCAB)(torch.full((2, 5), MASK), torch.tensor(1.0))
    assert output.shape == (2, 5, VOCAB)


def test_adapter_refuses_a_model_with_too_few_columns():
    with pytest.raises(ValueError, match="scores 24 ids, fewer than vocab_size=30"):
        LLaDAAdapter(TinyLLaDA(24), vocab_size=30)(torch.zeros(1, 3, dtype=torch.long), torch.tensor(0.5))


def test_mdlm_and_sedd_adapters_pass_the_total_noise():
    schedule = NoiseSchedule("loglinear")
    t = torch.tensor([0.25, 0.75])
    expected = -torch.log(schedule.alpha(t)).float()
    mdlm, sedd = TinyMDLM(), TinySEDD()
    MDLMAdapter(mdlm, VOCAB, noise_schedule=schedule)(torch.zeros(2, 3, dtype=torch.long), t)
    SEDDAdapter(sedd, schedule, VOCAB)(torch.zeros(2, 3, dtype=torch.long), t)
    torch.testing.assert_close(mdlm.seen, expected)
    torch.testing.assert_close(sedd.seen, expected)
    MDLMAdapter(mdlm, VOCAB, time_input="t")(torch.zeros(2, 3, dtype=torch.long), t)
    torch.testing.assert_close(mdlm.seen, t)


def test_masked_transformer_output_and_time_conditioning():
    model = MaskedDiffusionTransformer(
        VOCAB, MASK, max_seq_len=8, hidden_size=16, num_layers=1, num_heads=2, time_conditioning=True
    )
    ids = torch.randint(0, VOCAB, (2, 8))
    logits = model(ids, torch.tensor([0.1, 0.9])).logits
    assert logits.shape == (2, 8, VOCAB) and torch.isinf(logits[..., MASK]).all()
    assert not torch.allclose(logits[0], model(ids, torch.tensor([0.9, 0.9])).logits[0])
    with pytest.raises(ValueError, match="time-conditioned: pass timesteps"):
        model(ids)
    with pytest.raises(ValueError, match="exceeds max_seq_len=8"):
        model(torch.zeros(1, 9, dtype=torch.long), torch.tensor(0.5))
    with pytest.raises(ValueError, match="mask_token_id 20 is outside the vocabulary"):
        MaskedDiffusionTransformer(VOCAB, 20)


def test_class_conditional_transformer_and_guided_adapter():
    torch.manual_seed(0)
    model = MaskedDiffusionTransformer(
        VOCAB, MASK, max_seq_len=8, hidden_size=16, num_layers=1, num_heads=2, num_classes=3
    )
    ids = torch.randint(0, MASK, (2, 8))
    by_class = [model(ids, class_labels=torch.tensor([label, label])).logits for label in (0, 1, 3)]
    assert not torch.allclose(by_class[0], by_class[1])  # the label reaches the logits
    assert torch.equal(model(ids).logits, by_class[2])  # no label means the null class (3)
    with pytest.raises(ValueError, match=r"class_labels must lie in \[0, 3\]"):
        model(ids, class_labels=torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="Got 3 class labels for a batch of 2"):
        model(ids, class_labels=torch.tensor([0, 1, 2]))

    adapter = as_denoiser(model, VOCAB)
    assert isinstance(adapter, ClassConditionalAdapter)
    balanced = adapter(torch.full((4, 8), MASK), torch.tensor(1.0))  # rows get classes 0, 1, 2, 0
    explicit = model(torch.full((4, 8), MASK), class_labels=torch.tensor([0, 1, 2, 0])).logits
    assert torch.equal(balanced, explicit)
    # guidance: l_u + s (l_c - l_u), with the MASK column kept at -inf (not NaN)
    guided = ClassConditionalAdapter(model, torch.tensor([1, 2]), guidance_scale=3.0)(ids, torch.tensor(0.5))
    conditional = model(ids, class_labels=torch.tensor([1, 2])).logits
    unconditional = model(ids).logits
    finite = ~torch.isinf(conditional)
    assert torch.allclose(guided[finite], (unconditional + 3.0 * (conditional - unconditional))[finite], atol=1e-5)
    assert torch.isneginf(guided[..., MASK]).all() and not torch.isnan(guided).any()
    with pytest.raises(ValueError, match="needs a class-conditional model"):
        ClassConditionalAdapter(MaskedDiffusionTransformer(VOCAB, MASK, max_seq_len=8, hidden_size=16, num_layers=1))
