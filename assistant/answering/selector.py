"""The answer model: which retrieved sentence answers each part of the question, and whether to
answer at all. Features in features.py, weights learned by bench/train_answerer.py from the tune
articles of ../shared/benchmarks/squad2: reader_weights.json with the reader model (the default),
selector_weights.json without it (ASSISTANT_READER=false, the fast path).

Logistic regressions, applied in turn:
0. with the reader, the short-list model (the sentence features alone) picks the sentences the
   reader reads (reading.py); its findings become more sentence and answer features;
1. the sentence model scores every candidate sentence (does it hold the answer?); the best wins;
2. the answer model looks at the winner against the question (margin over the runner-up, rare
   question words it lacks, negation, a number or name it does not mention...) and gives the
   probability that the answer is right. Below the threshold chosen on the tune split (for at
   most 10% refused answerable questions there), the assistant says the sources do not answer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.analysis.sentences import SentenceIndex
from assistant.answering.features import (
    QUESTION_FEATURES,
    READER_QUESTION_FEATURES,
    READER_SENTENCE_FEATURES,
    SENTENCE_FEATURES,
    Candidate,
    QuestionPart,
    question_features,
    reader_question_features,
    sentence_features,
)
from assistant.answering.reading import READ_COUNT, Readings, Span

WEIGHTS = Path(__file__).with_name("selector_weights.json")
READER_WEIGHTS = Path(__file__).with_name("reader_weights.json")


@dataclass(frozen=True)
class LinearModel:
    """A standardized logistic regression, as scikit-learn fitted it."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logits(self, rows: np.ndarray) -> np.ndarray:
        return ((rows - self.mean) / self.scale) @ self.coef + self.intercept

    def to_json(self) -> dict:
        return {
            "features": list(self.names),
            "mean": self.mean.round(6).tolist(),
            "scale": self.scale.round(6).tolist(),
            "coef": self.coef.round(6).tolist(),
            "intercept": round(float(self.intercept), 6),
        }

    @classmethod
    def from_json(cls, data: dict, expected: tuple[str, ...]) -> LinearModel:
        if tuple(data["features"]) != expected:
            raise ValueError(f"weights were trained on other features: {data['features']} != {list(expected)}")
        return cls(
            names=expected,
            mean=np.asarray(data["mean"]),
            scale=np.asarray(data["scale"]),
            coef=np.asarray(data["coef"]),
            intercept=float(data["intercept"]),
        )


@dataclass(frozen=True)
class AnswerModel:
    sentence: LinearModel
    answer: LinearModel
    threshold: float  # answer only when the probability of a right answer reaches this
    # The runner-up sentence is quoted too when its score is this close to the best one's: when
    # the model cannot tell two sentences apart, showing both answers more often than guessing.
    second_sentence_gap: float = 0.0
    # With the reader: the model that picks the sentences it reads. None: no reader.
    shortlist: LinearModel | None = None

    @property
    def uses_reader(self) -> bool:
        return self.shortlist is not None

    @classmethod
    def untrained(cls, reader: bool = False) -> AnswerModel:
        """All weights zero: every sentence scores alike. What training starts from."""

        def zeros(names: tuple[str, ...]) -> LinearModel:
            n = len(names)
            return LinearModel(names, np.zeros(n), np.ones(n), np.zeros(n), 0.0)

        if reader:
            return cls(
                zeros(SENTENCE_FEATURES + READER_SENTENCE_FEATURES),
                zeros(QUESTION_FEATURES + READER_QUESTION_FEATURES),
                0.5,
                0.0,
                zeros(SENTENCE_FEATURES),
            )
        return cls(zeros(SENTENCE_FEATURES), zeros(QUESTION_FEATURES), 0.5, 0.0)

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> AnswerModel:
        data = json.loads(path.read_text())
        reader = "shortlist_model" in data
        extra_sentence = READER_SENTENCE_FEATURES if reader else ()
        extra_question = READER_QUESTION_FEATURES if reader else ()
        return cls(
            sentence=LinearModel.from_json(data["sentence_model"], SENTENCE_FEATURES + extra_sentence),
            answer=LinearModel.from_json(data["answer_model"], QUESTION_FEATURES + extra_question),
            threshold=float(data["threshold"]),
            second_sentence_gap=float(data["second_sentence_gap"]),
            shortlist=LinearModel.from_json(data["shortlist_model"], SENTENCE_FEATURES) if reader else None,
        )


@dataclass(frozen=True)
class Choice:
    """The sentence chosen for one question part, and how likely it is to answer it."""

    candidate: Candidate
    runner_up: Candidate | None  # quoted beside it when the model could hardly choose between them
    probability: float
    missing: tuple[str, ...]  # the question's words for terms the sentence and its neighbours lack
    unknown: tuple[str, ...]  # the question's words the sources never use
    asked: tuple[str, ...]  # the question's own content words
    short: Span | None = None  # the reader's exact answer inside the chosen sentence
    meaningful: frozenset[str] = frozenset()  # of those, the ones a reason may name (carries_meaning)


def shortlist(model: AnswerModel, rows: np.ndarray) -> list[int]:
    """The candidates the reader reads: the short-list model's best READ_COUNT."""
    assert model.shortlist is not None
    return [int(i) for i in np.argsort(-model.shortlist.logits(rows), kind="stable")[:READ_COUNT]]


def choose(
    part: QuestionPart,
    found: list[Candidate],
    query_vector: np.ndarray,
    passage_terms: frozenset[str],
    sentences: SentenceIndex,
    model: AnswerModel,
    read: Callable[[list[int]], Readings] | None = None,
) -> Choice:
    """The best sentence for one question part; `read` runs the reader over a short list."""
    rows = sentence_features(part, found, query_vector)
    readings = reader_rows = None
    if model.uses_reader:
        if read is None:
            raise ValueError("this answer model was trained with the reader; pass `read`")
        readings = read(shortlist(model, rows))
        reader_rows = readings.rows()
        logits = model.sentence.logits(np.hstack([rows, reader_rows]))
    else:
        logits = model.sentence.logits(rows)
    order = np.argsort(-logits, kind="stable")
    chosen = int(order[0])
    close = len(order) > 1 and logits[chosen] - logits[order[1]] < model.second_sentence_gap
    row = question_features(part, found, rows, logits, chosen, passage_terms, sentences)
    if reader_rows is not None:
        row = np.concatenate([row, reader_question_features(reader_rows, chosen)])
    best = found[chosen]
    window = best.terms | best.previous_terms | best.next_terms
    return Choice(
        candidate=best,
        runner_up=found[int(order[1])] if close else None,
        probability=_sigmoid(float(model.answer.logits(row[None, :])[0])),
        missing=tuple(part.surface[t] for t in part.surface if t not in window),
        unknown=tuple(part.surface[t] for t in part.surface if not sentences.known(t)),
        asked=tuple(part.surface.values()),
        short=readings.spans[chosen] if readings is not None else None,
        meaningful=frozenset(w for t, w in part.surface.items() if carries_meaning(t, w, part, sentences)),
    )


# A known term this rare (its IDF against that of a term the index never uses) is a rare term of
# these documents: about one sentence in a hundred in a small corpus, one in ten thousand in a large.
RARE_IDF_SHARE = 0.7


def carries_meaning(term: str, written: str, part: QuestionPart, sentences: SentenceIndex) -> bool:
    """A word a refusal may name as missing: a name, a number, or a term rare in the index. A
    common word ("last", "happened") that the documents happen not to use says nothing about
    whether they answer, so a reason built on it would mislead."""
    if any(ch.isdigit() for ch in written) or written in part.names:
        return True
    return sentences.known(term) and sentences.idf(term) >= RARE_IDF_SHARE * sentences.unknown_idf


def refusal_reason(choice: Choice, threshold: float) -> str:
    """Why the assistant does not answer, in the question's own words: a missing word is named
    only when it carries the question's meaning; otherwise the closest passage is shown."""
    if choice.unknown and len(choice.unknown) == len(choice.asked):
        return f"None of the question's words ({_quoted(choice.unknown, 'and')}) appear in the sources."
    unknown = tuple(w for w in choice.unknown if w in choice.meaningful)
    if unknown:
        return f"The sources never mention {_quoted(unknown)}."
    reason = f"No passage answers this closely enough (confidence {choice.probability:.2f}, needed {threshold:.2f})."
    missing = tuple(w for w in choice.missing if w in choice.meaningful)
    if missing:
        return reason + f" The closest sentence ({choice.candidate.source}) does not mention {_quoted(missing)}."
    closest = " ".join(choice.candidate.text.split())
    closest = closest if len(closest) <= 200 else closest[:199].rsplit(" ", 1)[0] + "…"
    return reason + f" The closest passage, in {choice.candidate.source}, does not answer it: “{closest}”"


def _quoted(items: tuple[str, ...], last: str = "or") -> str:
    names = [f"“{item}”" for item in items[:4]]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" {last} " + names[-1]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 40.0), -40.0)))
