import os
import time

import pytest

from assistant.errors import RebuildInProgress
from assistant.index.store import ChunkStore
from tests.conftest import SAMPLE_DOC

EXTRA = "The orchard in the valley grows seventeen kinds of apples. Harvest starts in September."


def _stored_counts(assistant) -> dict[str, int]:
    generation = assistant.catalog.require_current()
    store = ChunkStore(assistant.catalog.location(generation), assistant.embeddings, create=False)
    return store.chunk_counts()


def _manifest_counts(assistant) -> dict[str, int]:
    manifest = assistant.catalog.read_manifest(assistant.catalog.require_current())
    return {doc_id: len(doc.chunks) for doc_id, doc in manifest.documents.items()}


def test_first_build_indexes_the_sample_corpus(corpus, make_assistant):
    assistant = make_assistant(corpus)
    report = assistant.indexer().rebuild()
    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 0, 0, 0)
    assert report.chunks == report.embedded > 0
    assert _stored_counts(assistant) == _manifest_counts(assistant) == {SAMPLE_DOC: report.chunks}


def test_incremental_rebuild_touch_edit_delete(corpus, make_assistant):
    assistant = make_assistant(corpus)
    indexer = assistant.indexer()
    (corpus / "orchard.txt").write_text(EXTRA)
    first = indexer.rebuild()
    assert first.added == 2

    # Touch: new mtime, same bytes -> nothing re-embedded, no new generation.
    later = time.time() + 10
    os.utime(corpus / "orchard.txt", (later, later))
    touched = indexer.rebuild()
    assert (touched.unchanged, touched.embedded, touched.changed) == (2, 0, False)
    assert touched.generation == first.generation

    # Edit: only the edited document is re-embedded, and its old chunks are gone.
    (corpus / "orchard.txt").write_text(EXTRA.replace("seventeen", "twenty-two"))
    edited = indexer.rebuild()
    assert (edited.updated, edited.unchanged, edited.added) == (1, 1, 0)
    assert edited.embedded == _manifest_counts(assistant)["orchard.txt"]
    answer = assistant.ask_text("How many kinds of apples grow in the orchard?")
    assert "twenty-two" in answer.text and "seventeen" not in answer.text

    # Delete: its chunks leave the index.
    (corpus / "orchard.txt").unlink()
    deleted = indexer.rebuild()
    assert (deleted.removed, deleted.unchanged) == (1, 1)
    assert _stored_counts(assistant) == _manifest_counts(assistant) == {SAMPLE_DOC: deleted.chunks}
    assert all(p.source == SAMPLE_DOC for p in assistant.search("apples orchard harvest", 10).passages)


def test_unreadable_files_are_skipped_by_name_and_the_rest_is_indexed(corpus, make_assistant):
    (corpus / "empty.txt").write_text("")
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    report = make_assistant(corpus).indexer().rebuild()
    assert sorted(s["source"] for s in report.skipped) == ["broken.pdf", "empty.txt"]
    assert report.added == 1


def test_changed_chunk_settings_force_a_full_rebuild(corpus, make_assistant, tmp_path):
    index_dir = tmp_path / "shared-index"
    make_assistant(corpus, index_dir).indexer().rebuild()
    report = make_assistant(corpus, index_dir, chunk_tokens=120).indexer().rebuild()
    assert report.full and report.embedded == report.chunks
    assert report.updated == 1


def test_a_second_rebuild_is_refused_while_one_runs(corpus, make_assistant):
    assistant = make_assistant(corpus)
    with assistant.catalog.rebuild_lock(), pytest.raises(RebuildInProgress, match="Another rebuild"):
        assistant.indexer().rebuild()


def test_a_file_that_stays_unreadable_does_not_make_a_new_generation(corpus, make_assistant):
    (corpus / "empty.txt").write_text("")
    indexer = make_assistant(corpus).indexer()
    first = indexer.rebuild()
    again = indexer.rebuild()
    assert not again.changed and again.generation == first.generation
    assert [s["source"] for s in again.skipped] == ["empty.txt"]
    # Once it holds text, it is read and indexed.
    (corpus / "empty.txt").write_text("The cafeteria opens at eight.")
    fixed = indexer.rebuild()
    assert fixed.changed and fixed.added == 1 and fixed.skipped == []


class CountingEmbeddings:
    """The real model, counting what it is asked to embed."""

    def __init__(self, real) -> None:
        self.real = real
        self.documents = 0

    def embed_documents(self, texts):
        self.documents += len(texts)
        return self.real.embed_documents(texts)

    def embed_query(self, text):
        return self.real.embed_query(text)


def test_sentences_are_embedded_by_the_rebuild_not_by_the_first_questions(corpus, embeddings, tmp_path):
    from assistant.service.assembly import build_assistant
    from assistant.settings import Settings

    counting = CountingEmbeddings(embeddings)
    assistant = build_assistant(Settings(sources_dir=corpus.parent, index_dir=tmp_path / "index"), embeddings=counting)
    report = assistant.indexer().rebuild()
    assert report.sentences > report.chunks
    counting.documents = 0
    for question in ("How many guests attended the first congress?", "Who heads the Heydar Aliyev Foundation?"):
        assert not assistant.ask_text(question).abstained
    assert counting.documents == 0

    # An added document embeds its own sentences only; the others' are carried over.
    (corpus / "orchard.txt").write_text(EXTRA)
    added = assistant.indexer().rebuild()
    assert added.sentences == 2
