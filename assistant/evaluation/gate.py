"""The quality gate: eval figures against the thresholds kept in eval/thresholds.json."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Check:
    figure: str
    value: float | None
    threshold: float
    direction: str  # ">=" or "<="

    @property
    def passed(self) -> bool:
        if self.value is None:
            return False
        return self.value >= self.threshold if self.direction == ">=" else self.value <= self.threshold


@dataclass(frozen=True)
class GateResult:
    checks: dict[str, Check] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks.values())

    @property
    def failures(self) -> list[str]:
        return [
            f"{c.figure} = {c.value} (needs {c.direction} {c.threshold})" for c in self.checks.values() if not c.passed
        ]

    def to_json(self) -> dict:
        return {
            "passed": self.passed,
            "checks": {
                k: {"value": c.value, "threshold": c.threshold, "direction": c.direction, "passed": c.passed}
                for k, c in self.checks.items()
            },
        }


def load_thresholds(path: Path) -> dict:
    """{"min": {figure: value}, "max": {figure: value}}. A gate with no thresholds would pass
    whatever the figures, so a missing or empty file is an error naming it."""
    if not path.is_file():
        raise FileNotFoundError(f"The eval gate's thresholds file {path} is missing; the gate cannot pass without it.")
    thresholds = json.loads(path.read_text())
    if not thresholds.get("min") and not thresholds.get("max"):
        raise ValueError(f"The eval gate's thresholds file {path} sets no thresholds.")
    return thresholds


def check(summary: dict, thresholds: dict) -> GateResult:
    checks = {}
    for figure, threshold in thresholds.get("min", {}).items():  # keys starting with "_" are notes
        checks[figure] = Check(figure, summary.get(figure), threshold, ">=")
    for figure, threshold in thresholds.get("max", {}).items():
        checks[figure] = Check(figure, summary.get(figure), threshold, "<=")
    return GateResult(checks)
