import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "prepare_corpus.py"
spec = importlib.util.spec_from_file_location("prepare_corpus", SCRIPT)
prepare_corpus = importlib.util.module_from_spec(spec)
spec.loader.exec_module(prepare_corpus)


def test_paragraphs_are_blank_line_blocks_on_one_line():
    text = "Title\n\nFirst line\ncontinued  here.\n\n\n\nSecond.\r\n\r\nThird\n"
    assert prepare_corpus.paragraphs(text) == ["Title", "First line continued here.", "Second.", "Third"]


def test_bible_verses_are_grouped_by_chapter():
    verses = [
        {"book": "Genesis", "chapter": 1, "text": "In the beginning."},
        {"book": "Genesis", "chapter": 1, "text": " And light. "},
        {"book": "Genesis", "chapter": 2, "text": "Thus the heavens."},
        {"book": "Exodus", "chapter": 1, "text": "Now these are the names."},
    ]
    chapters = list(prepare_corpus.bible_chapters(json.dumps(verse) for verse in verses))
    assert chapters == [["In the beginning. And light."], ["Thus the heavens."], ["Now these are the names."]]


def test_heldout_split_is_by_document_and_seeded():
    documents = [[f"doc {i}"] for i in range(100)]
    train, heldout = prepare_corpus.split_documents(documents, 0.05, seed=0)
    assert len(heldout) == 5 and len(train) == 95
    assert sorted(map(tuple, train + heldout)) == sorted(map(tuple, documents))
    assert prepare_corpus.split_documents(documents, 0.05, seed=0) == (train, heldout)
    assert prepare_corpus.split_documents(documents, 0.05, seed=1)[1] != heldout
