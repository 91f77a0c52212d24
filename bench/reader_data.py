"""Reader training examples from SQuAD 1.1: (question, window, answer span in the window or none).

Per question, up to four windows cut as serving cuts them (assistant/answering/windows.py):
- the window centred on the answer's sentence (answerable);
- a window centred on another sentence of the paragraph (answerable only if it still holds the
  answer as a neighbour);
- the paragraph with the answer's sentence taken out, centred where it was: same topic, same
  words around it, no answer (the closest SQuAD 1.1 gets to SQuAD 2.0's unanswerable questions);
- the sentence of another paragraph of the article sharing most terms with the question (a
  retrieval-shaped near miss).
SQuAD 1.1 has no unanswerable questions of its own (../shared/benchmarks/squad1-train/README.md).
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator
from pathlib import Path

from assistant.analysis.text import content_terms, sentence_spans
from assistant.answering.windows import window

TRAIN = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "squad1-train" / "train-v1.1.json.gz"


def articles(path: Path = TRAIN) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)["data"]


def _sentence_of(spans: list[tuple[int, int]], offset: int) -> int:
    for i, (_start, end) in enumerate(spans):
        if offset < end:
            return i
    return len(spans) - 1


def _row(qid: str, question: str, text: str, span: tuple[int, int], answer: tuple[int, int] | None) -> dict:
    start, end = span
    if answer and start <= answer[0] and answer[1] <= end:
        return {"id": qid, "q": question, "w": text[start:end], "s": answer[0] - start, "e": answer[1] - start}
    return {"id": qid, "q": question, "w": text[start:end], "s": -1, "e": -1}


def _without_answer(row: dict, answer_text: str) -> bool:
    return row["s"] < 0 and answer_text.lower() not in row["w"].lower()


def examples(data: list[dict], seed: int = 13) -> Iterator[dict]:
    rng = random.Random(seed)
    for article in data:
        paragraphs = []
        for paragraph in article["paragraphs"]:
            text = paragraph["context"]
            spans = sentence_spans(text)
            if spans:
                paragraphs.append((paragraph, text, spans, [set(content_terms(text[a:b])) for a, b in spans]))
        for p_index, (paragraph, text, spans, _terms) in enumerate(paragraphs):
            for qa in paragraph["qas"]:
                answer_text = qa["answers"][0]["text"]
                begin = qa["answers"][0]["answer_start"]
                answer = (begin, begin + len(answer_text))
                question, qid = qa["question"], qa["id"]
                a = _sentence_of(spans, begin)
                positive = _row(qid, question, text, window(text, spans, a), answer)
                if positive["s"] >= 0:
                    yield positive
                if len(spans) > 1:
                    other = rng.choice([i for i in range(len(spans)) if i != a])
                    row = _row(qid, question, text, window(text, spans, other), answer)
                    if row["s"] >= 0 or _without_answer(row, answer_text):
                        yield row
                    yield from _removed(qid, question, text, spans, a, answer_text)
                yield from _near_miss(qid, question, paragraphs, p_index, answer_text)


def _removed(qid: str, question: str, text: str, spans: list, a: int, answer_text: str) -> Iterator[dict]:
    """The paragraph without the answer's sentence, centred where it stood."""
    kept = [text[s:e] for i, (s, e) in enumerate(spans) if i != a]
    joined, offsets, at = " ".join(kept), [], 0
    for sentence in kept:
        offsets.append((at, at + len(sentence)))
        at += len(sentence) + 1
    row = _row(qid, question, joined, window(joined, offsets, min(a, len(offsets) - 1)), None)
    if _without_answer(row, answer_text):
        yield row


def _near_miss(qid: str, question: str, paragraphs: list, own: int, answer_text: str) -> Iterator[dict]:
    wanted = set(content_terms(question))
    best, best_overlap = None, 0
    for p_index, (_, text, spans, terms) in enumerate(paragraphs):
        if p_index == own:
            continue
        for i, sentence_terms in enumerate(terms):
            overlap = len(wanted & sentence_terms)
            if overlap > best_overlap:
                best, best_overlap = (text, spans, i), overlap
    if best:
        text, spans, i = best
        row = _row(qid, question, text, window(text, spans, i), None)
        if _without_answer(row, answer_text):
            yield row


def write(path: Path, data: list[dict], seed: int = 13) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    partial = path.with_suffix(".partial")
    with gzip.open(partial, "wt", encoding="utf-8") as handle:
        for row in examples(data, seed):
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    partial.replace(path)
    return count


def read(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]
