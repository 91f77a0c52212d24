"""Scoring one SQuAD 2.0 question as /chat answers it: the outcome, the figures, the table.

Shared by bench.squad (every format) and bench.squad_generative (the LLM sample), which import
it and not each other.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from assistant.analysis.text import content_terms, sentence_spans
from assistant.answering.citations import MARKER, citation_problems
from assistant.service.assembly import Assistant
from bench import squad_data
from bench.squad_data import SquadQuestion


@dataclass
class Outcome:
    """What one question got, scored."""

    id: str
    article: str
    answerable: bool
    answer: str
    abstained: bool
    confidence: float | None
    holds: bool  # the answer holds a gold answer
    cited_holds: bool  # a cited span holds one
    paragraph_cited: bool  # a citation lies in the gold paragraph
    valid: bool  # every citation's text equals its document slice
    words: int
    latency_ms: float
    baseline_holds: bool = False
    short: str | None = None  # the short answer, if any
    short_em: float = 0.0  # SQuAD exact match and token F1 of the short answer (0 when missing)
    short_f1: float = 0.0
    short_valid: bool = True  # short answer == its source slice, inside its citation's span


def baseline_answer(assistant: Assistant, question: str) -> str:
    """The naive baseline: from the top three passages, the sentence sharing most words with the question."""
    wanted = set(content_terms(question))
    best, best_overlap = "", -1
    for passage in assistant.search(question, top_k=3).passages:
        for start, end in sentence_spans(passage.text):
            sentence = passage.text[start:end]
            overlap = len(wanted & set(content_terms(sentence)))
            if overlap > best_overlap:
                best, best_overlap = sentence, overlap
    return best


def ask(assistant: Assistant, question: SquadQuestion, with_baseline: bool = True) -> Outcome:
    started = time.perf_counter()
    answer = assistant.ask_text(question.question)
    latency = (time.perf_counter() - started) * 1000
    texts = assistant.handle.current().texts
    plain = MARKER.sub("", answer.text)
    cited = [c.text for c in answer.citations]
    short = answer.short_answer
    return Outcome(
        id=question.id,
        article=question.article,
        answerable=question.answerable,
        answer=answer.text,
        abstained=answer.abstained,
        confidence=answer.confidence,
        holds=not answer.abstained and squad_data.holds(plain, question.answers),
        cited_holds=any(squad_data.holds(text, question.answers) for text in cited),
        paragraph_cited=any(squad_data.shares_passage(text, question.paragraph) for text in cited),
        valid=not citation_problems(answer.text, answer.citations, texts) if answer.citations else True,
        words=len(plain.split()) if not answer.abstained else 0,
        latency_ms=latency,
        baseline_holds=with_baseline
        and squad_data.holds(baseline_answer(assistant, question.question), question.answers),
        short=short.text if short else None,
        short_em=squad_data.exact_match(short.text, question.answers) if short and question.answerable else 0.0,
        short_f1=squad_data.token_f1(short.text, question.answers) if short and question.answerable else 0.0,
        short_valid=short_answer_valid(answer, texts),
    )


def short_answer_valid(answer, texts: dict[str, str]) -> bool:
    """The short answer is its source's exact slice and lies inside the citation it names."""
    short = answer.short_answer
    if short is None:
        return True
    citation = next((c for c in answer.citations if c.n == short.n), None)
    return (
        texts.get(short.source, "")[short.start : short.end] == short.text
        and citation is not None
        and citation.source == short.source
        and citation.start <= short.start <= short.end <= citation.end
    )


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def summary(outcomes: list[Outcome]) -> dict:
    answerable = [o for o in outcomes if o.answerable]
    unanswerable = [o for o in outcomes if not o.answerable]
    answered = [o for o in outcomes if not o.abstained]
    latencies = sorted(o.latency_ms for o in outcomes)
    return {
        "questions": len(outcomes),
        "holds": mean([o.holds for o in answerable]),
        "cited_holds": mean([o.cited_holds for o in answerable]),
        "paragraph_cited": mean([o.paragraph_cited for o in answerable]),
        "validity": mean([o.valid and o.short_valid for o in outcomes]),
        "short_em": mean([o.short_em for o in answerable]),
        "short_f1": mean([o.short_f1 for o in answerable]),
        "false_abstention": mean([o.abstained for o in answerable]),
        "correct_abstention": mean([o.abstained for o in unanswerable]),
        "answer_words": mean([o.words for o in answered]),
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p95_ms": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else float("nan"),
        "baseline_holds": mean([o.baseline_holds for o in answerable]),
    }


COLUMNS = (
    ("holds", "answer holds gold", "{:.3f}"),
    ("baseline_holds", "baseline", "{:.3f}"),
    ("cited_holds", "cited span holds", "{:.3f}"),
    ("paragraph_cited", "gold para cited", "{:.3f}"),
    ("short_em", "short EM", "{:.3f}"),
    ("short_f1", "short F1", "{:.3f}"),
    ("validity", "offsets valid", "{:.3f}"),
    ("false_abstention", "false abst.", "{:.3f}"),
    ("correct_abstention", "correct abst.", "{:.3f}"),
    ("answer_words", "words", "{:.1f}"),
    ("p50_ms", "p50 ms", "{:.1f}"),
    ("p95_ms", "p95 ms", "{:.1f}"),
)


def print_table(rows: list[tuple[str, dict]]) -> None:
    header = f"{'format / split':24}" + "".join(f"{title:>18}" for _, title, _ in COLUMNS)
    print(header)
    for name, figures in rows:
        print(f"{name:24}" + "".join(f"{fmt.format(figures[key]):>18}" for key, _, fmt in COLUMNS))
