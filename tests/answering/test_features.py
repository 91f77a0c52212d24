"""The answer model's features on a small handbook (not the sample article), over a real index."""

import numpy as np
import pytest

from assistant.answering.features import (
    QUESTION_FEATURES,
    SENTENCE_FEATURES,
    analyse,
    candidates,
    question_features,
    sentence_features,
    split_parts,
)
from assistant.retrieval.retriever import Query

HANDBOOK = """Staff handbook

Full-time employees receive 25 days of paid annual leave per calendar year. Part-time employees
receive leave in proportion to their hours.

The office in Lyon opened in 1998. It moved to a larger building near the river in 2011.

Expenses are reimbursed within 30 days. Receipts must be uploaded to the finance portal.
"""


@pytest.fixture(scope="module")
def handbook(embeddings, tmp_path_factory):
    from assistant.service.assembly import build_assistant
    from assistant.settings import Settings

    sources = tmp_path_factory.mktemp("handbook")
    (sources / "handbook.txt").write_text(HANDBOOK)
    assistant = build_assistant(
        Settings(sources_dir=sources.parent, index_dir=tmp_path_factory.mktemp("handbook-index")),
        embeddings=embeddings,
        collection=sources.name,
    )
    assistant.indexer().rebuild()
    return assistant


def _features(assistant, question):
    retrieval = assistant.retriever.retrieve(Query(question))
    sentences = retrieval.index.sentences
    part = analyse(question, (), sentences)[0]
    found = candidates(retrieval, sentences)
    rows = sentence_features(part, found, np.asarray(retrieval.query_vector, dtype=np.float32))
    return part, found, rows, sentences


def _row(found, rows, starts_with):
    index = next(i for i, c in enumerate(found) if c.text.startswith(starts_with))
    return dict(zip(SENTENCE_FEATURES, rows[index], strict=True))


def test_every_sentence_of_the_retrieved_passages_is_a_candidate_once(handbook):
    _, found, rows, _ = _features(handbook, "How many days of paid leave do full-time employees get?")
    keys = [(c.source, c.start) for c in found]
    assert len(keys) == len(set(keys)) and rows.shape == (len(found), len(SENTENCE_FEATURES))
    text = handbook.handle.current().texts["handbook.txt"]
    assert all(text[c.start : c.end] == c.text for c in found)
    assert "Part-time employees\nreceive leave in proportion to their hours." in [c.text for c in found]


def test_coverage_counts_each_question_term_once_even_when_a_neighbour_repeats_it(handbook):
    # "office" and "Lyon" are in the first sentence, "moved" in the second: together they cover it all.
    part, found, rows, _ = _features(handbook, "When did the office in Lyon move?")
    moved = _row(found, rows, "It moved")
    assert moved["coverage_with_previous"] == pytest.approx(1.0)
    assert 0 < moved["coverage"] < moved["coverage_with_previous"]
    assert all(0.0 <= value <= 1.0 for value in rows[:, SENTENCE_FEATURES.index("coverage_with_neighbours")])


def test_the_kind_of_answer_asked_for_is_recognised(handbook):
    part, found, rows, _ = _features(handbook, "In which year did the Lyon office open?")
    assert part.kind == "date"
    assert _row(found, rows, "The office in Lyon")["kind_date"] == 1.0
    assert _row(found, rows, "Expenses are")["kind_date"] == 0.0


def test_gaps_are_zero_for_the_best_candidate_and_negative_for_the_rest(handbook):
    _, _, rows, _ = _features(handbook, "How soon are expenses reimbursed?")
    gap = rows[:, SENTENCE_FEATURES.index("coverage_gap")]
    assert gap.max() == 0.0 and (gap <= 0).all()


def test_question_features_see_a_missing_name_a_missing_number_and_negation(handbook):
    part, found, rows, sentences = _features(handbook, "Why did the Berlin office not open in 1999?")
    logits = rows[:, SENTENCE_FEATURES.index("coverage")]
    chosen = int(np.argmax(logits))
    terms = frozenset().union(*(c.terms for c in found))
    values = dict(
        zip(QUESTION_FEATURES, question_features(part, found, rows, logits, chosen, terms, sentences), strict=True)
    )
    assert values["name_missing"] == 1.0  # Berlin
    assert values["number_missing"] == 1.0  # 1999
    assert values["question_negated"] == 1.0
    assert values["unknown_to_corpus"] > 0  # "Berlin" is nowhere in the handbook


def test_multi_part_questions_split_on_a_second_question_word():
    assert split_parts("What is the fund, and when was it created?") == ["What is the fund", "when was it created?"]
    assert split_parts("Which cats and dogs are allowed?") == ["Which cats and dogs are allowed?"]
