"""Turn AntiBERTy's bundled weights into a transformers `BertForMaskedLM` folder that `examples/distill.py` loads.

    make antiberty          # pip install --no-deps antiberty==0.1.3, then this script -> data/antiberty

AntiBERTy (Ruffolo et al., 2021; MIT licence) is an antibody masked LM: BERT with 8 layers, hidden size 512 and a
vocabulary of 25 ([PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4, then the 20 amino acids), about 26M parameters.
The PyPI sdist 0.1.3 ships its weights as a torch pickle (later versions download them from the Hub). The pickle is
read with `torch.load(weights_only=True)` (tensors only, no code), the species / chain / graft heads and the pooler
are dropped, and the masked-LM part is saved as safetensors with a `BertTokenizer` (residues space-separated,
case kept). The package's own model class does not load under transformers 5.
"""

import argparse
import importlib.util
from pathlib import Path

import torch
from transformers import BertConfig, BertForMaskedLM, BertTokenizer

KEPT_PREFIXES = ("bert.embeddings.", "bert.encoder.", "cls.predictions.")


def antiberty_files() -> tuple[Path, Path]:
    """The installed package's model folder and vocabulary."""
    spec = importlib.util.find_spec("antiberty")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("The antiberty package is not installed: run `make antiberty`.")
    models = Path(spec.origin).parent / "trained_models"
    return models / "AntiBERTy_md_smooth", models / "vocab.txt"


def main(args: argparse.Namespace) -> None:
    model_dir, vocab = antiberty_files()
    state = torch.load(model_dir / "pytorch_model.bin", map_location="cpu", weights_only=True)
    kept = {key: value for key, value in state.items() if key.startswith(KEPT_PREFIXES) and "position_ids" not in key}
    config = BertConfig.from_pretrained(model_dir)
    config.architectures = ["BertForMaskedLM"]
    model = BertForMaskedLM(config)
    missing, unexpected = model.load_state_dict(kept, strict=False)
    # the decoder's weight is tied to the word embeddings; nothing else may be missing
    if unexpected or any("decoder.weight" not in key for key in missing):
        raise ValueError(f"AntiBERTy's weights do not fit BertForMaskedLM: missing {missing}, extra {unexpected}.")
    output = Path(args.output_dir)
    model.eval().save_pretrained(output)
    tokenizer = BertTokenizer(str(vocab), do_lower_case=False)
    tokenizer.save_pretrained(output)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"wrote {output}: BertForMaskedLM with {parameters / 1e6:.1f}M parameters, vocabulary {len(tokenizer)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default="data/antiberty")
    main(parser.parse_args())
