import textwrap

from assistant.analysis.text import MAX_SENTENCE_CHARS, content_terms, sentence_spans, words

POLICY = (
    "Full-time employees receive 25 days of paid annual leave per calendar year. Dr. Smith in "
    "the U.S. office approves requests of more than 10 days, e.g. a long trip. Unused days expire "
    "on March 31 of the following year."
)


def _sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in sentence_spans(text)]


def test_a_line_break_inside_a_paragraph_does_not_end_a_sentence():
    wrapped = textwrap.fill(POLICY, 40)
    found = _sentences(wrapped)
    assert len(found) == 3
    assert found[0].startswith("Full-time") and found[0].endswith("calendar year.")
    assert " ".join(found[0].split()) == "Full-time employees receive 25 days of paid annual leave per calendar year."


def test_abbreviations_and_decimals_do_not_end_sentences():
    found = _sentences("Dr. Smith paid $3.50 on Jan. 5 to the U.S. office. It closes at 6 p.m. on Fridays.")
    assert found == ["Dr. Smith paid $3.50 on Jan. 5 to the U.S. office.", "It closes at 6 p.m. on Fridays."]


def test_paragraphs_headings_and_list_items_are_separate_sentences():
    text = (
        "Leave policy\n\nStaff may carry over days.\n- Five days at most\n- Only with approval\n"
        "## Sick leave\nSee below."
    )
    found = _sentences(text)
    assert found[:2] == ["Leave policy", "Staff may carry over days."]
    assert "- Five days at most" in found and "- Only with approval" in found


def test_spans_are_exact_offsets_into_the_text():
    text = "  Intro line.\n\nSecond paragraph, first sentence. “A quoted one.” (A bracketed one.)  "
    for start, end in sentence_spans(text):
        assert text[start:end] == text[start:end].strip()
    assert _sentences(text) == [
        "Intro line.",
        "Second paragraph, first sentence.",
        "“A quoted one.”",
        "(A bracketed one.)",
    ]


def test_spans_within_a_range_stay_inside_it():
    text = "Before. " + POLICY + " After."
    start, end = 8, 8 + len(POLICY)
    spans = sentence_spans(text, start, end)
    assert spans[0][0] >= start and spans[-1][1] <= end
    assert text[spans[0][0] : spans[0][1]].startswith("Full-time")


def test_a_run_without_punctuation_is_cut_to_a_readable_length():
    table = "\n".join(f"row {i} value {i * 7} unit" for i in range(200))
    spans = sentence_spans(table)
    assert len(spans) > 1
    assert all(end - start <= MAX_SENTENCE_CHARS for start, end in spans)


def test_words_of_any_script_are_kept_whole():
    assert words("Azərbaycan Diasporuna Dəstək Fondunun") == ["azərbaycan", "diasporuna", "dəstək", "fondunun"]
    assert words("Şuşa, Gəncə, Ağdam, İlham, Ölkə, Üzv, Çay") == [
        "şuşa",
        "gəncə",
        "ağdam",
        "ilham",
        "ölkə",
        "üzv",
        "çay",
    ]
    assert words("Когда был основан фонд?") == ["когда", "был", "основан", "фонд"]
    assert words("Café naïve Newcomen's engine") == ["café", "naïve", "newcomen's", "engine"]


def test_terms_join_inflections_and_irregular_verbs():
    assert content_terms("He took the train") == content_terms("they take trains")
    assert content_terms("The committee held meetings") == content_terms("committees hold a meeting")
    assert content_terms("organizations") == content_terms("organization")
    assert content_terms("fondunun") == ["fondunun"]
