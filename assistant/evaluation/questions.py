"""Loading eval/questions.jsonl into typed questions, with clear errors for bad lines."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from assistant.retrieval.retriever import Turn


class QuestionFileError(ValueError):
    pass


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    turns: tuple[Turn, ...]
    answerable: bool
    answers: tuple[str, ...]
    gold: str
    kind: str
    # Multi-part questions: every one of these must appear (on top of one of `answers`).
    answers_all: tuple[str, ...] = field(default=())

    @property
    def question(self) -> str:
        return next(t.content for t in reversed(self.turns) if t.role == "user")


def load_questions(path: Path) -> list[EvalQuestion]:
    questions = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if "messages" in data:
                turns = tuple(Turn(m["role"], m["content"]) for m in data["messages"])
            else:
                turns = (Turn("user", data["question"]),)
            question = EvalQuestion(
                id=data["id"],
                turns=turns,
                answerable=bool(data["answerable"]),
                answers=tuple(data.get("answers", ())),
                gold=data.get("gold", ""),
                kind=data.get("kind", ""),
                answers_all=tuple(data.get("answers_all", ())),
            )
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise QuestionFileError(f"{path}:{number}: {type(error).__name__}: {error}") from error
        if question.answerable and not question.answers:
            raise QuestionFileError(f"{path}:{number}: answerable question {question.id} has no answers")
        questions.append(question)
    ids = [q.id for q in questions]
    if len(ids) != len(set(ids)):
        raise QuestionFileError(f"{path}: duplicate question ids")
    return questions
