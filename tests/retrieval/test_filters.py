"""Metadata filters restrict dense search and BM25 to the same documents."""

from __future__ import annotations

import json

import pytest

from assistant.errors import InvalidQuestion
from assistant.index.filters import DocumentFilter
from assistant.ingest.loading import metadata_path

DOCUMENTS = {
    "hr/leave.txt": ("Staff get 25 days of paid leave. Leave requests go to the line manager.", ["policy", "hr"]),
    "hr/travel.md": ("Travel must be booked through the travel desk. Leave the receipts with finance.", ["policy"]),
    "eng/oncall.txt": ("The on-call engineer answers pages within 15 minutes, even on leave days.", ["runbook"]),
    "eng/leave-tracker.md": ("The leave tracker service stores leave requests in Postgres.", []),
}


@pytest.fixture(scope="module")
def tagged(embeddings, tmp_path_factory):
    from assistant.service.assembly import build_library
    from assistant.settings import Settings

    root = tmp_path_factory.mktemp("filter-sources")
    folder = root / "teams"
    for doc_id, (text, tags) in DOCUMENTS.items():
        (folder / doc_id).parent.mkdir(parents=True, exist_ok=True)
        (folder / doc_id).write_text(text)
        path = metadata_path(folder, doc_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"tags": tags, "team": doc_id.split("/")[0]}))
    settings = Settings(sources_dir=root, index_dir=tmp_path_factory.mktemp("filter-index"))
    library = build_library(settings, embeddings=embeddings)
    library.get("teams").indexer().rebuild()

    def in_mode(mode: str):
        library.get("teams").retriever._mode = mode
        return library.get("teams")

    return in_mode


FILTERS = [
    ({"source": {"prefix": "hr/"}}, {"hr/leave.txt", "hr/travel.md"}),
    ({"kind": "md"}, {"hr/travel.md", "eng/leave-tracker.md"}),
    ({"tags": "policy"}, {"hr/leave.txt", "hr/travel.md"}),
    ({"tags": {"in": ["runbook", "hr"]}}, {"hr/leave.txt", "eng/oncall.txt"}),
    ({"team": "eng", "kind": {"eq": "txt"}}, {"eng/oncall.txt"}),
    ({"team": "sales"}, set()),
]


@pytest.mark.parametrize(("raw", "admitted"), FILTERS)
def test_dense_and_bm25_find_the_same_admitted_documents(tagged, raw, admitted):
    document_filter = DocumentFilter.parse(raw)
    found = {}
    for mode in ("dense", "lexical", "hybrid"):
        passages = tagged(mode).search("leave requests", top_k=10, document_filter=document_filter).passages
        found[mode] = {p.source for p in passages}
    # Every admitted document mentions leave: each retriever finds exactly the admitted ones.
    assert found["dense"] == found["lexical"] == found["hybrid"] == admitted


def test_without_a_filter_everything_is_in_scope(tagged):
    passages = tagged("lexical").search("leave requests", top_k=10).passages
    assert {p.source for p in passages} == set(DOCUMENTS)


def test_a_filtered_question_is_answered_only_from_admitted_documents(tagged):
    assistant = tagged("hybrid")
    answer = assistant.ask_text("Who answers pages within 15 minutes?")
    assert not answer.abstained and answer.citations[0].source == "eng/oncall.txt"
    from assistant.retrieval.retriever import Turn

    question = [Turn("user", "Who answers pages within 15 minutes?")]
    filtered = assistant.ask(question, None, DocumentFilter.parse({"team": "hr"}))
    assert all(c.source.startswith("hr/") for c in filtered.citations)


@pytest.mark.parametrize(
    "raw", [{"tags": 3}, {"tags": {"like": "x"}}, {"tags": {"in": [1]}}, {"a": {"eq": "x", "in": ["y"]}}, ["tags"]]
)
def test_a_malformed_filter_is_refused_with_what_is_wrong(raw):
    with pytest.raises(InvalidQuestion, match="filter"):
        DocumentFilter.parse(raw)


def test_new_metadata_for_the_same_file_is_applied_without_re_embedding(make_assistant, tmp_path):
    folder = tmp_path / "sources" / "docs"
    folder.mkdir(parents=True)
    (folder / "leave.txt").write_text(DOCUMENTS["hr/leave.txt"][0])
    assistant = make_assistant(folder)
    assistant.indexer().rebuild()
    tagged = DocumentFilter.parse({"tags": "policy"})
    assert assistant.search("paid leave", document_filter=tagged).passages == []

    path = metadata_path(folder, "leave.txt")
    path.parent.mkdir()
    path.write_text(json.dumps({"tags": ["policy"]}))
    report = assistant.indexer().rebuild()
    assert (report.updated, report.embedded, report.changed) == (1, 0, True)
    assert {p.source for p in assistant.search("paid leave", document_filter=tagged).passages} == {"leave.txt"}
