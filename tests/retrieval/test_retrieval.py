"""Hybrid fusion: what each stage contributes, and indexes built before its side indexes changed."""

from dataclasses import replace

from assistant.index.build import fingerprint
from assistant.retrieval.retriever import weighted_fusion

SHARP = [0.45, 0.2, 0.35]  # dense, chunk BM25, document BM25
FIRST = [0.65, 0.15, 0.2]


def _signals() -> list[dict[str, float]]:
    """One passage whose meaning matches but no word does, among 80 that share some keywords."""
    dense = {"meaning": 0.80} | {f"kw{i}": 0.40 + i * 0.003 for i in range(80)}
    chunk_bm25 = {f"kw{i}": 2.0 + i * 0.05 for i in range(80)}
    document_bm25 = {f"kw{i}": 5.0 + i * 0.1 for i in range(80)}
    return [dense, chunk_bm25, document_bm25]


def _rank(ranking: list[tuple[str, float]], chunk_id: str) -> int:
    return [cid for cid, _ in ranking].index(chunk_id)


def test_a_passage_sharing_no_word_with_the_question_is_not_buried():
    depth = 20
    one_stage = weighted_fusion(_signals(), SHARP)
    first_stage = weighted_fusion(_signals(), FIRST)
    two_stage = weighted_fusion(_signals(), SHARP, FIRST, depth=depth)
    # The dense-leaning first stage puts it in its head, and the second stage only reorders that
    # head: the bound below is the depth itself, not a rank observed today.
    assert _rank(first_stage, "meaning") < depth
    assert _rank(two_stage, "meaning") < depth
    # Keyword-heavy weights alone push it out of that head, well below where two stages keep it.
    assert _rank(one_stage, "meaning") >= depth
    assert _rank(one_stage, "meaning") >= _rank(two_stage, "meaning") + 10


def test_the_top_of_the_first_stage_is_ordered_by_the_sharp_weights():
    signals = _signals()
    first = weighted_fusion(signals, FIRST)
    two_stage = weighted_fusion(signals, SHARP, FIRST, depth=10)
    head = [cid for cid, _ in two_stage[:10]]
    assert set(head) == {cid for cid, _ in first[:10]}
    sharp_order = [cid for cid, _ in weighted_fusion(signals, SHARP) if cid in set(head)]
    assert head == sharp_order
    assert [cid for cid, _ in two_stage[10:]] == [cid for cid, _ in first[10:]]


def test_depth_zero_is_one_stage_with_the_sharp_weights():
    assert weighted_fusion(_signals(), SHARP, FIRST, depth=0) == weighted_fusion(_signals(), SHARP)


def test_changed_bm25_parameters_rewrite_the_side_indexes_without_re_embedding(corpus, make_assistant):
    assistant = make_assistant(corpus)
    first = assistant.indexer().rebuild()
    catalog = assistant.catalog
    # A generation written with other BM25 parameters (an earlier release's k1).
    manifest = catalog.read_manifest(first.generation)
    catalog.write_manifest(replace(manifest, fingerprint={**manifest.fingerprint, "lexical": {"document_k1": 1.5}}))

    upgraded = assistant.indexer().rebuild()
    assert upgraded.changed and upgraded.generation != first.generation
    assert upgraded.embedded == 0 and upgraded.unchanged == 1 and not upgraded.full
    rewritten = catalog.read_manifest(upgraded.generation).fingerprint
    assert rewritten["lexical"] == fingerprint(assistant.settings)["lexical"]
    assert catalog.document_lexical_dir(upgraded.generation).is_dir()
    answer = assistant.ask_text("When was the Support to the Azerbaijan Diaspora Fund established?")
    assert "July 6, 2018" in answer.text
