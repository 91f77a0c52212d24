import json

import pytest

from assistant.evaluation import gate, metrics, runner
from assistant.evaluation.calibration import calibrate
from assistant.evaluation.questions import QuestionFileError, load_questions
from assistant.evaluation.report import write_report
from tests.conftest import REPO

QUESTIONS = REPO / "eval" / "questions.jsonl"


def test_the_question_set_meets_its_brief():
    questions = load_questions(QUESTIONS)
    assert len(questions) >= 40
    assert sum(not q.answerable for q in questions) >= 10
    assert sum(len(q.turns) > 1 for q in questions) >= 5
    text = (REPO / "sources" / "default" / "news-az-diaspora-unity.txt").read_text()
    for q in questions:
        if q.answerable:
            assert metrics.contains(text, q.gold), q.id


def test_bad_question_lines_are_reported_with_their_line_number(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "a", "question": "Q?", "answerable": true, "answers": ["x"]}\n{"id": "b"}\n')
    with pytest.raises(QuestionFileError, match=":2:"):
        load_questions(path)


def test_metrics_on_known_cases():
    assert metrics.answer_correct("It was held on November 9-10. [1]", ("November 9-10",))
    assert not metrics.answer_correct("It was held in 2001. [1]", ("November 9-10",))
    assert metrics.answer_correct("Ganja, Barda and Tartar [1]", ("Ganja",), ("Ganja", "Barda", "Tartar"))
    assert not metrics.answer_correct("Ganja [1]", ("Ganja",), ("Ganja", "Barda"))
    assert metrics.token_f1("a b c [1]", "a b c") == 1.0
    assert metrics.gold_rank(["nothing here", "the gold quote is here"], "gold quote") == 2
    assert metrics.answer_segments("One. [1] Two. [2][3]") == [("One.", [1]), ("Two.", [2, 3])]
    assert metrics.supported("Baku hosted it", ["The congress was held in Baku, it hosted many."], coverage=0.6)
    assert not metrics.supported("Paris hosted it", ["The congress was held in Baku."])


def test_calibration_separates_the_groups():
    def result(confidence, answerable):
        return runner.QuestionResult(
            "q", "k", answerable, "q", [], "", "", False, None, confidence, 1.0, None, True, 0.0, [], 0, 0, 0, 0
        )

    results = [result(c, True) for c in (0.7, 0.8, 0.9)] + [result(c, False) for c in (0.1, 0.2, 0.5)]
    chosen = calibrate(results)
    assert 0.5 < chosen.threshold < 0.7
    assert (chosen.correct_abstention, chosen.false_abstention) == (1.0, 0.0)


def test_the_eval_gate_passes_and_writes_a_report(sample_assistant, tmp_path):
    """The quality gate: `make test` fails when a figure falls below eval/thresholds.json."""
    backend = runner.InProcessBackend(sample_assistant)
    results = runner.run(load_questions(QUESTIONS), backend)
    summary = runner.summarize(results, backend.top_k)
    verdict = gate.check(summary, gate.load_thresholds(REPO / "eval" / "thresholds.json"))
    paths = write_report(tmp_path, summary, results, verdict, {"mode": "test"})
    assert json.loads(paths["json"].read_text())["summary"] == summary
    assert "| answer_accuracy |" in paths["md"].read_text()
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"
    assert verdict.passed, "eval gate failed: " + "; ".join(verdict.failures) + f" (report {paths['md']})"
