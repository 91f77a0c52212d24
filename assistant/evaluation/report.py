"""Writes an eval run as JSON, a Markdown table of figures and failures, and a PNG chart."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from assistant.evaluation.gate import GateResult
from assistant.evaluation.runner import QuestionResult

HEADLINE = [
    "retrieval_hit_at_1",
    "retrieval_mrr",
    "answer_accuracy",
    "answer_token_f1",
    "citation_validity",
    "citation_precision",
    "citation_support",
    "correct_abstention",
    "false_abstention",
]


def write_report(
    out_dir: Path, summary: dict, results: list[QuestionResult], gate: GateResult, meta: dict
) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    paths = {kind: out_dir / f"{stamp}.{kind}" for kind in ("json", "md", "png")}
    paths["json"].write_text(
        json.dumps(
            {"meta": meta, "summary": summary, "gate": gate.to_json(), "results": [r.to_json() for r in results]},
            indent=2,
        )
    )
    paths["md"].write_text(_markdown(summary, results, gate, meta))
    _chart(paths["png"], summary, gate)
    return paths


def _markdown(summary: dict, results: list[QuestionResult], gate: GateResult, meta: dict) -> str:
    lines = [f"# Eval report {meta.get('started_at', '')}", ""]
    lines += [f"- {key}: `{value}`" for key, value in meta.items()]
    lines += ["", "| figure | value | threshold | ok |", "|---|---|---|---|"]
    for key, value in summary.items():
        if key == "accuracy_by_kind":
            continue
        check = gate.checks.get(key)
        threshold = f"{check.direction} {check.threshold}" if check else ""
        ok = ("yes" if check.passed else "**NO**") if check else ""
        lines.append(f"| {key} | {value} | {threshold} | {ok} |")
    lines += ["", "## Accuracy by kind", "", "| kind | accuracy |", "|---|---|"]
    lines += [f"| {kind} | {value} |" for kind, value in summary["accuracy_by_kind"].items()]
    failed = [r for r in results if r.failures]
    lines += ["", f"## Failed questions ({len(failed)})", ""]
    if failed:
        lines += ["| id | kind | question | expected | got | why |", "|---|---|---|---|---|---|"]
        for r in failed:
            expected = "(abstain)" if not r.answerable else "; ".join(r.expected)
            got = r.answer if not r.abstained else f"(abstained) {r.reason or ''}"
            lines.append(
                f"| {r.id} | {r.kind} | {_cell(r.question)} | {_cell(expected)} | {_cell(got)} | "
                f"{_cell('; '.join(r.failures))} |"
            )
    lines += ["", f"Gate: {'PASSED' if gate.passed else 'FAILED'}", ""]
    return "\n".join(lines)


def _cell(text: str, limit: int = 240) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _chart(path: Path, summary: dict, gate: GateResult) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in HEADLINE if summary.get(n) is not None]
    values = [summary[n] for n in names]
    figure, axes = plt.subplots(figsize=(9, 4.5))
    bars = axes.barh(names, values, color=["#c0392b" if n == "false_abstention" else "#2e86c1" for n in names])
    for name, bar in zip(names, bars, strict=True):
        check = gate.checks.get(name)
        if check:
            y = bar.get_y()
            axes.plot([check.threshold] * 2, [y, y + bar.get_height()], color="black", linewidth=2)
        axes.text(bar.get_width() + 0.01, bar.get_y() + bar.get_height() / 2, f"{bar.get_width():.2f}", va="center")
    axes.set_xlim(0, 1.1)
    axes.invert_yaxis()
    axes.set_title(f"Eval: {summary['questions']} questions (black ticks: gate thresholds)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
