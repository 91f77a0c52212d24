"""What the answer model looks at: the question's terms and kind, and each candidate sentence.

Every feature is a general property of a question and a sentence (shared rare words, meaning,
where the sentence sits, whether it holds the kind of thing asked for); which of them matter
and how much is learned from SQuAD 2.0 by bench/train_answerer.py, not set here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from assistant.analysis.sentences import SentenceIndex
from assistant.analysis.text import content_terms, term, words, written_content_words
from assistant.index.serving import Passage
from assistant.retrieval.retriever import Retrieval

CONTEXT_WEIGHT = 0.5  # terms of earlier turns count half: the follow-up's own words lead

# "..., and when was it signed?" asks a second thing: each part gets its own sentence.
_PART_BREAK = re.compile(r",?\s+and\s+(?=(?:what|when|who|whom|whose|which|where|why|how)\b)", re.I)

# The kind of answer a question asks for, from its wording (English interrogatives).
_WHAT = r"\b(?:what|which)\s+(?:\w+\s+)?"
_KINDS = (
    ("date", re.compile(rf"\bwhen\b|{_WHAT}(?:year|date|day|month|century|decade|era|period)s?\b", re.I)),
    (
        "number",
        re.compile(
            r"\bhow\s+(?:many|much|long|old|far|large|big|often|tall|high|fast)\b"
            rf"|{_WHAT}(?:number|percentage|percent|amount|proportion|fraction)\b",
            re.I,
        ),
    ),
    ("person", re.compile(rf"\bwho\b|\bwhom\b|\bwhose\b|{_WHAT}(?:person|people|man|woman|leader|author)\b", re.I)),
    ("place", re.compile(rf"\bwhere\b|{_WHAT}(?:country|countries|city|cities|place|state|region|town)\b", re.I)),
    ("reason", re.compile(r"\bwhy\b|\bhow\b", re.I)),
)
_YEAR = re.compile(r"\b(?:1[0-9]{3}|20[0-9]{2})s?\b|\b\d{1,2}(?:st|nd|rd|th)\s+century\b", re.I)
_MONTH = re.compile(r"\b(?:January|February|March|April|May|June|July|August|September|October|November|December)\b")
_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundred|thousand|million|billion|dozen|half|several)\b",
    re.I,
)
_CAPITALIZED = re.compile(r"(?<!^)(?<![.!?]\s)\b[^\W\d_a-z][^\W_]*", re.UNICODE)
# Numbers and ordinals: "the second congress" is not answered by a sentence on the first one.
_COUNTED = re.compile(
    r"\d[\d,.]*\d|\d|\b(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|"
    r"two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million|billion)\b",
    re.I,
)
_BLANK_LINE_BEFORE = re.compile(r"\n[ \t]*\n\s*$")  # a wrapped line's break is not a paragraph's
NEGATIONS = frozenset({"not", "no", "never", "none", "nor", "without", "neither", "cannot"})

SENTENCE_FEATURES = (
    "coverage",  # IDF-weighted share of the question's terms in the sentence
    "coverage_with_previous",  # ... in the sentence or the one before (each term once)
    "coverage_with_neighbours",  # ... in the sentence or either neighbour
    "coverage_plain",  # unweighted share of the question's terms in the sentence
    "bigrams",  # share of the question's adjacent term pairs that are adjacent in the sentence
    "cosine",  # question vs sentence, MiniLM
    "cosine_with_previous",  # question vs sentence + previous sentence
    "cosine_with_next",
    "passage_similarity",  # question vs the retrieved passage
    "passage_score",  # fused retrieval score, relative to the top passage's
    "passage_reciprocal_rank",
    "opens_paragraph",
    "novelty",  # share of the sentence's terms the question lacks: what it adds
    "kind_date",  # a date/number/name for a question asking when/how many/who-where
    "kind_number",
    "kind_name",
    "coverage_gap",  # coverage minus the best candidate's: the choice is among candidates
    "coverage_with_previous_gap",
    "cosine_gap",
)
_GAPS = ("coverage", "coverage_with_previous", "cosine")


@dataclass(frozen=True)
class QuestionPart:
    """One thing asked: its terms weighted by rarity, and the kind of answer it wants."""

    text: str
    weights: dict[str, float]  # term -> IDF (earlier turns' terms at CONTEXT_WEIGHT)
    surface: dict[str, str]  # term -> the question's own word for it, to show to people
    kind: str | None
    bigrams: frozenset[tuple[str, str]]
    negated: bool
    numbers: tuple[str, ...]
    names: tuple[str, ...]  # capitalized words after the first

    @property
    def total(self) -> float:
        return sum(self.weights.values()) or 1.0

    def share(self, found: frozenset[str] | set[str]) -> float:
        return sum(w for t, w in self.weights.items() if t in found) / self.total


@dataclass
class Candidate:
    """A sentence of a retrieved passage that might answer the question."""

    source: str
    index: int  # position among the document's sentences
    start: int
    end: int
    text: str
    passage: Passage
    rank: int  # 1-based rank of the best passage holding it
    terms: frozenset[str]
    ordered_terms: tuple[str, ...]
    previous_terms: frozenset[str]
    next_terms: frozenset[str]
    vector: np.ndarray
    previous_vector: np.ndarray | None
    next_vector: np.ndarray | None
    opens_paragraph: bool


def split_parts(question: str) -> list[str]:
    return [part.strip() for part in _PART_BREAK.split(question) if part.strip()]


def question_kind(question: str) -> str | None:
    for kind, pattern in _KINDS:
        if pattern.search(question):
            return kind
    return None


def wording(question: str) -> str:
    """The question without the words that only say what kind of answer it wants: the "long" of
    "how long", the "year" of "in which year", "take place". The answer sentence rarely repeats
    them ("founded in 1636"); `kind` keeps what they said."""
    return _INTERROGATIVE.sub(" ", question)


_INTERROGATIVE = re.compile(
    r"(?<=\bhow)\s+(?:many|much|long|old|far|large|big|often|tall|high|fast|soon|early|late)\b"
    r"|(?<=\bwhat)\s+(?:year|years|date|day|month|century|decade|kind|type|sort|time|number|percentage|amount)\b"
    r"|(?<=\bwhich)\s+(?:year|years|date|day|month|century|decade|kind|type|sort|time)\b"
    r"|\b(?:take|takes|took|taken|taking)\s+place\b",
    re.I,
)


def analyse(question: str, context: tuple[str, ...], sentences: SentenceIndex) -> list[QuestionPart]:
    """One QuestionPart per thing asked (at most two), each with IDF-weighted terms to find."""
    context_weights = {t: CONTEXT_WEIGHT * sentences.idf(t) for turn in context for t in content_terms(wording(turn))}
    parts = []
    for text in split_parts(question):
        surface = {term(lower): written for written, lower in written_content_words(wording(text))}
        if not surface and not context_weights:
            continue
        ordered = content_terms(wording(text))
        parts.append(
            QuestionPart(
                text=text,
                weights={**context_weights, **{t: sentences.idf(t) for t in surface}},
                surface=surface,
                kind=question_kind(text),
                bigrams=frozenset(zip(ordered, ordered[1:], strict=False)),
                negated=any(w in NEGATIONS or w.endswith("n't") for w in words(text)),
                numbers=tuple(m.group(0).lower() for m in _COUNTED.finditer(text)),
                names=tuple(m.group(0) for m in _CAPITALIZED.finditer(text.strip())),
            )
        )
    return parts


def candidates(retrieval: Retrieval, sentences: SentenceIndex) -> list[Candidate]:
    """Every sentence of the retrieved passages, once, with the best passage that holds it."""
    found: dict[tuple[str, int], Candidate] = {}
    for rank, passage in enumerate(retrieval.passages, start=1):
        source = passage.source
        last = sentences.count(source) - 1
        for i in sentences.overlapping(source, passage.start, passage.end):
            if (source, i) in found:
                continue
            start, end = sentences.span(source, i)
            text = retrieval.index.texts[source]
            found[(source, i)] = Candidate(
                source=source,
                index=i,
                start=start,
                end=end,
                text=text[start:end],
                passage=passage,
                rank=rank,
                terms=sentences.terms(source, i),
                ordered_terms=sentences.ordered_terms(source, i),
                previous_terms=sentences.terms(source, i - 1) if i > 0 else frozenset(),
                next_terms=sentences.terms(source, i + 1) if i < last else frozenset(),
                vector=sentences.vector(source, i),
                previous_vector=sentences.vector(source, i - 1) if i > 0 else None,
                next_vector=sentences.vector(source, i + 1) if i < last else None,
                opens_paragraph=start == 0 or bool(_BLANK_LINE_BEFORE.search(text, max(0, start - 8), start)),
            )
    return list(found.values())


def sentence_features(part: QuestionPart, found: list[Candidate], query_vector: np.ndarray) -> np.ndarray:
    """One row of SENTENCE_FEATURES per candidate."""
    top_score = max((c.passage.score for c in found), default=0.0) or 1.0
    rows = []
    for c in found:
        pairs = set(zip(c.ordered_terms, c.ordered_terms[1:], strict=False))
        new_terms = [t for t in c.terms if t not in part.weights]
        cosine = float(c.vector @ query_vector)
        rows.append(
            [
                part.share(c.terms),
                part.share(c.terms | c.previous_terms),
                part.share(c.terms | c.previous_terms | c.next_terms),
                sum(1 for t in part.weights if t in c.terms) / max(len(part.weights), 1),
                len(part.bigrams & pairs) / len(part.bigrams) if part.bigrams else 0.0,
                cosine,
                _joint_cosine(c.vector, c.previous_vector, query_vector, cosine),
                _joint_cosine(c.vector, c.next_vector, query_vector, cosine),
                c.passage.similarity,
                c.passage.score / top_score,
                1.0 / c.rank,
                float(c.opens_paragraph),
                len(new_terms) / max(len(c.terms), 1),
                float(part.kind == "date" and bool(_YEAR.search(c.text) or _MONTH.search(c.text))),
                float(part.kind == "number" and bool(_NUMBER.search(c.text))),
                float(part.kind in ("person", "place") and _has_new_name(c.text, part)),
            ]
        )
    matrix = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(SENTENCE_FEATURES) - len(_GAPS))
    columns = [SENTENCE_FEATURES.index(name) for name in _GAPS]
    best = matrix[:, columns].max(axis=0) if len(rows) else np.zeros(len(columns))
    return np.hstack([matrix, matrix[:, columns] - best])


def _joint_cosine(vector: np.ndarray, other: np.ndarray | None, query: np.ndarray, alone: float) -> float:
    if other is None:
        return alone
    joint = vector + other
    norm = float(np.linalg.norm(joint))
    return float(joint @ query) / norm if norm else alone


def _has_new_name(text: str, part: QuestionPart) -> bool:
    return any(term(match.group(0).lower()) not in part.weights for match in _CAPITALIZED.finditer(text))


QUESTION_FEATURES = (
    "best_logit",  # the sentence model's score for the chosen sentence
    "margin",  # ... minus the runner-up's
    "missing_from_sentence",  # IDF-weighted share of question terms not in the chosen sentence or neighbours
    "missing_from_passages",  # ... not in any retrieved passage
    "rarest_missing",  # the rarest question term the chosen sentence lacks, as a share of the rarest possible
    "unknown_to_corpus",  # IDF-weighted share of question terms the corpus never uses
    "negation_mismatch",  # the question negates and the sentence does not, or the reverse
    "question_negated",
    "best_passage_similarity",
    "best_cosine",
    "log_terms",
    "number_missing",  # a number or ordinal in the question that the chosen sentence and neighbours lack
    "name_missing",  # a capitalized question word the chosen sentence and neighbours lack
    "kind_missing",  # the question asks for a date/number/name and the sentence has none
)


def question_features(
    part: QuestionPart,
    found: list[Candidate],
    rows: np.ndarray,
    logits: np.ndarray,
    chosen: int,
    passage_terms: frozenset[str],
    sentences: SentenceIndex,
) -> np.ndarray:
    """One row of QUESTION_FEATURES: does the chosen sentence really answer the question?"""
    best = found[chosen]
    window = best.terms | best.previous_terms | best.next_terms
    missing = [t for t in part.weights if t not in window]
    others = np.delete(logits, chosen)
    sentence_negated = any(w in NEGATIONS or w.endswith("n't") for w in words(best.text))
    window_words = set(words(best.text))
    for neighbour in (best.index - 1, best.index + 1):
        if 0 <= neighbour < sentences.count(best.source):
            window_words.update(words(sentences.text(best.source, neighbour)))
    kind_found = {
        "date": bool(_YEAR.search(best.text) or _MONTH.search(best.text)),
        "number": bool(_NUMBER.search(best.text)),
        "person": _has_new_name(best.text, part),
        "place": _has_new_name(best.text, part),
    }
    names_missing = [n for n in part.names if term(n.lower()) not in window and n.lower() not in window_words]
    return np.asarray(
        [
            float(logits[chosen]),
            float(logits[chosen] - others.max()) if len(others) else 5.0,
            part.share(set(missing)),
            part.share({t for t in part.weights if t not in passage_terms}),
            max((part.weights[t] for t in missing), default=0.0) / sentences.unknown_idf,
            part.share({t for t in part.weights if not sentences.known(t)}),
            float(part.negated != sentence_negated),
            float(part.negated),
            max(c.passage.similarity for c in found),
            float(rows[chosen, SENTENCE_FEATURES.index("cosine")]),
            math.log1p(len(part.weights)),
            float(any(n not in window_words and n not in best.text for n in part.numbers)),
            float(bool(names_missing)),
            float(part.kind in kind_found and not kind_found[part.kind]),
        ],
        dtype=np.float64,
    )


# What the reader model (reader.py, reading.py) adds, when it runs.
READER_SENTENCE_FEATURES = (
    "reader_answerable",  # the answerability logit of the window centred on the sentence
    "reader_span",  # the best span found inside the sentence: span logits + its window's logit
    "reader_read",  # the sentence was on the short list the reader read
)
READER_QUESTION_FEATURES = (
    "reader_chosen_answerable",
    "reader_chosen_span",
    "reader_best_answerable",  # the best window of all read: does anything answer?
    "reader_chosen_holds_best_span",
)


def reader_question_features(reader_rows: np.ndarray, chosen: int) -> np.ndarray:
    """One row of READER_QUESTION_FEATURES from the candidates' READER_SENTENCE_FEATURES."""
    answerable, span = reader_rows[:, 0], reader_rows[:, 1]
    return np.asarray(
        [answerable[chosen], span[chosen], answerable.max(), float(span[chosen] >= span.max())],
        dtype=np.float64,
    )
