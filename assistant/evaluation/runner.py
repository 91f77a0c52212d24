"""Runs the question set through the /chat pipeline, in process or against a server."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Protocol

from assistant.answering.citations import citation_problems
from assistant.answering.types import Citation
from assistant.evaluation import metrics
from assistant.evaluation.questions import EvalQuestion
from assistant.retrieval.retriever import Turn, query_from_turns


@dataclass(frozen=True)
class Reply:
    """What one question got back, whichever way it was asked."""

    answer: str
    citations: list[Citation]
    abstained: bool
    reason: str | None
    passages: list[str]
    texts: dict[str, str]
    confidence: float | None = None
    short_answer: str | None = None  # the reader's exact answer, when it gave one


class Backend(Protocol):
    top_k: int

    def ask(self, turns: list[Turn]) -> Reply: ...


class InProcessBackend:
    """The same pipeline as /chat, without HTTP."""

    def __init__(self, assistant, top_k: int | None = None) -> None:
        self._assistant = assistant
        self.top_k = top_k or assistant.settings.top_k

    def ask(self, turns: list[Turn]) -> Reply:
        answer = self._assistant.ask(turns, self.top_k)
        index = self._assistant.handle.current()
        return Reply(
            answer=answer.text,
            citations=answer.citations,
            abstained=answer.abstained,
            reason=answer.reason,
            passages=[p.text for p in answer.passages],
            texts=index.texts,
            confidence=answer.confidence,
            short_answer=answer.short_answer.text if answer.short_answer else None,
        )


class HttpBackend:
    """A running server: POST /chat for the answer, POST /search for the passages it retrieved."""

    def __init__(self, url: str, top_k: int = 5, timeout: float = 60.0) -> None:
        import httpx

        self._client = httpx.Client(base_url=url.rstrip("/"), timeout=timeout)
        self._texts: dict[str, str] = {}
        self.top_k = top_k

    def ask(self, turns: list[Turn]) -> Reply:
        messages = [{"role": t.role, "content": t.content} for t in turns]
        response = self._client.post("/chat", json={"messages": messages, "top_k": self.top_k})
        response.raise_for_status()
        body = response.json()
        citations = [Citation(**c) for c in body["citations"]]
        search = self._client.post(
            "/search", json={"query": query_from_turns(list(turns)).search_text, "top_k": self.top_k}
        )
        search.raise_for_status()
        for source in {c.source for c in citations} - set(self._texts):
            self._texts[source] = self._client.get(f"/sources/{source}/text").text
        return Reply(
            answer=body["answer"],
            citations=citations,
            abstained=body["abstained"],
            reason=body.get("reason"),
            passages=[p["text"] for p in search.json()["passages"]],
            texts=self._texts,
            short_answer=(body.get("short_answer") or {}).get("text"),
        )


@dataclass
class QuestionResult:
    id: str
    kind: str
    answerable: bool
    question: str
    expected: list[str]
    gold: str
    answer: str
    abstained: bool
    reason: str | None
    confidence: float | None
    latency_ms: float
    gold_rank: int | None
    correct: bool
    f1: float
    citation_problems: list[str]
    citations_on_target: int
    citations: int
    claims_supported: int
    claims: int
    short_answer: str | None = None
    short_em: float = 0.0  # SQuAD's exact match and token F1 of the short answer (0 when missing)
    short_f1: float = 0.0
    failures: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def score_question(question: EvalQuestion, reply: Reply, latency_ms: float) -> QuestionResult:
    problems = citation_problems(reply.answer, reply.citations, reply.texts)
    targets = (*question.answers, *question.answers_all, question.gold)
    on_target = sum(
        1
        for c in reply.citations
        if any(metrics.contains(c.text, t) for t in targets) or metrics.contains(question.gold, c.text)
    )
    by_number = {c.n: c.text for c in reply.citations}
    segments = [] if reply.abstained else metrics.answer_segments(reply.answer)
    supported = sum(
        1 for claim, numbers in segments if metrics.supported(claim, [by_number[n] for n in numbers if n in by_number])
    )
    rank = metrics.gold_rank(reply.passages, question.gold) if question.answerable and question.gold else None
    correct = (
        not reply.abstained and metrics.answer_correct(reply.answer, question.answers, question.answers_all)
        if question.answerable
        else reply.abstained
    )
    result = QuestionResult(
        id=question.id,
        kind=question.kind,
        answerable=question.answerable,
        question=question.question,
        expected=list(question.answers) + [f"all of: {', '.join(question.answers_all)}"] * bool(question.answers_all),
        gold=question.gold,
        answer=reply.answer,
        abstained=reply.abstained,
        reason=reply.reason,
        confidence=reply.confidence,
        latency_ms=round(latency_ms, 2),
        gold_rank=rank,
        correct=correct,
        f1=round(metrics.token_f1(reply.answer, question.gold), 4) if question.answerable else 0.0,
        short_answer=reply.short_answer,
        short_em=_short_score(metrics.exact_match, reply, question),
        short_f1=_short_score(metrics.best_token_f1, reply, question),
        citation_problems=problems,
        citations_on_target=on_target,
        citations=len(reply.citations),
        claims_supported=supported,
        claims=len(segments),
    )
    result.failures = _failures(question, result)
    return result


def _short_score(score, reply: Reply, question: EvalQuestion) -> float:
    if not question.answerable or reply.abstained or not reply.short_answer or not question.answers:
        return 0.0
    return round(score(reply.short_answer, question.answers), 4)


def _failures(question: EvalQuestion, result: QuestionResult) -> list[str]:
    failures = []
    if question.answerable and result.abstained:
        failures.append("abstained on an answerable question")
    elif question.answerable and not result.correct:
        failures.append("no accepted answer in the reply")
    if not question.answerable and not result.abstained:
        failures.append("answered an unanswerable question")
    if result.citation_problems:
        failures.append("invalid citations: " + "; ".join(result.citation_problems))
    if question.answerable and not result.abstained and result.citations_on_target < result.citations:
        failures.append(f"{result.citations - result.citations_on_target} citation(s) off target")
    if result.claims_supported < result.claims:
        failures.append(f"{result.claims - result.claims_supported} unsupported claim(s)")
    return failures


def run(
    questions: list[EvalQuestion], backend: Backend, progress: Callable[[int, int], None] | None = None
) -> list[QuestionResult]:
    results = []
    for number, question in enumerate(questions, start=1):
        started = time.perf_counter()
        reply = backend.ask(list(question.turns))
        results.append(score_question(question, reply, (time.perf_counter() - started) * 1000))
        if progress:
            progress(number, len(questions))
    return results


def summarize(results: list[QuestionResult], top_k: int) -> dict:
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    answered = [r for r in answerable if not r.abstained]
    ranked = [r for r in answerable if r.gold]
    latency = metrics.percentiles([r.latency_ms for r in results])
    by_kind: dict[str, list[bool]] = {}
    for r in results:
        by_kind.setdefault(r.kind, []).append(r.correct)
    citations = sum(r.citations for r in answered)
    claims = sum(r.claims for r in results)
    return {
        "questions": len(results),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "top_k": top_k,
        "retrieval_hit_at_1": metrics.mean([float(r.gold_rank == 1) for r in ranked]),
        f"retrieval_hit_at_{top_k}": metrics.mean([float(r.gold_rank is not None) for r in ranked]),
        "retrieval_mrr": metrics.mean([1 / r.gold_rank if r.gold_rank else 0.0 for r in ranked]),
        "answer_accuracy": metrics.mean([float(r.correct) for r in answerable]),
        "answer_token_f1": metrics.mean([r.f1 for r in answerable]),
        "short_answer_em": metrics.mean([r.short_em for r in answerable]),
        "short_answer_f1": metrics.mean([r.short_f1 for r in answerable]),
        "citation_validity": metrics.mean([float(not r.citation_problems) for r in results]),
        "citation_precision": round(sum(r.citations_on_target for r in answered) / citations, 4) if citations else None,
        "citation_support": round(sum(r.claims_supported for r in results) / claims, 4) if claims else None,
        "correct_abstention": metrics.mean([float(r.abstained) for r in unanswerable]),
        "false_abstention": metrics.mean([float(r.abstained) for r in answerable]),
        "latency_ms_p50": latency.p50,
        "latency_ms_p95": latency.p95,
        "accuracy_by_kind": {
            kind: metrics.mean([float(v) for v in values]) for kind, values in sorted(by_kind.items())
        },
        "failed": sum(1 for r in results if r.failures),
    }
