"""Picks the abstention threshold from questions whose answers are (not) in the corpus."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.evaluation.runner import QuestionResult


@dataclass(frozen=True)
class Calibration:
    threshold: float
    correct_abstention: float
    false_abstention: float


def calibrate(results: list[QuestionResult]) -> Calibration:
    """The threshold that best separates the two groups' confidences (balanced accuracy).

    Candidates are midpoints between neighbouring confidences; among equally good ones the
    middle of the widest gap wins, so the threshold sits far from both groups.
    """
    answerable = [r.confidence for r in results if r.answerable and r.confidence is not None]
    unanswerable = [r.confidence for r in results if not r.answerable and r.confidence is not None]
    if not answerable or not unanswerable:
        raise ValueError("calibration needs answerable and unanswerable questions with confidences")
    points = sorted(set(answerable + unanswerable))
    best: tuple[float, float, Calibration] | None = None
    for low, high in zip(points, points[1:], strict=False):
        threshold = (low + high) / 2
        correct = sum(c < threshold for c in unanswerable) / len(unanswerable)
        false = sum(c < threshold for c in answerable) / len(answerable)
        key = (correct - false, high - low)
        if best is None or key > best[:2]:
            best = (*key, Calibration(round(threshold, 4), round(correct, 4), round(false, 4)))
    assert best is not None
    return best[2]
