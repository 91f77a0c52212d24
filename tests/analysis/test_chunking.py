import pytest

from assistant.analysis.chunking import Chunker
from assistant.index.embeddings import load_tokenizer, model_window
from assistant.ingest.loading import SourceDocument
from assistant.settings import packaged_model_path
from tests.conftest import SAMPLE_DOC, SAMPLE_SOURCES


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(packaged_model_path())


def _doc(text: str) -> SourceDocument:
    return SourceDocument(id="d.txt", text=text, content_hash="x", kind="txt", title="d")


def test_every_chunk_is_an_exact_span_of_the_document(tokenizer):
    text = (SAMPLE_SOURCES / "default" / SAMPLE_DOC).read_text()
    chunks = Chunker(tokenizer, 80, 20, 256).split(_doc(text))
    assert len(chunks) > 5
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
    # Together the chunks cover every sentence of the document.
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.start, chunk.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_no_chunk_exceeds_the_model_window(tokenizer):
    window = model_window(packaged_model_path())
    # Long unbroken tokens and odd scripts tokenize into many pieces per character.
    hostile = " ".join(["Pneumonoultramicroscopicsilicovolcanoconiosis"] * 120) + " " + "ΑΒΓΔΕ" * 400
    text = (SAMPLE_SOURCES / "default" / SAMPLE_DOC).read_text() + "\n\n" + hostile
    chunker = Chunker(tokenizer, 250, 20, window)
    for chunk in chunker.split(_doc(text)):
        assert len(tokenizer(chunk.text)["input_ids"]) <= window
        assert text[chunk.start : chunk.end] == chunk.text


def test_chunk_size_beyond_the_window_is_refused(tokenizer):
    with pytest.raises(ValueError, match="window"):
        Chunker(tokenizer, 300, 20, 256)
