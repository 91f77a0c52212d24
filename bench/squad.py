"""Answers on SQuAD 2.0 articles in six file formats, through the project's own pipeline.

    .venv/bin/python -m bench.squad                       # all formats, every question (~10 min)
    .venv/bin/python -m bench.squad --formats txt --limit 300
    .venv/bin/python -m bench.squad --generative          # adds a 100-question LLM sample (make eval-generative)

Each format's six articles are indexed by `assistant index`'s own loader, chunker, Chroma store
and BM25 into bench/.cache/squad/<format>/, and every question is asked through the answerer
that serves /chat. Articles at even positions of the file are the tune split (weights and the
abstention threshold are fitted on them by bench.train_answerer); the odd ones are held out.

Per format and split it prints: the answer holds a gold answer, the cited span holds it, the
gold paragraph is cited, citation validity, false abstention, correct abstention on the
unanswerable questions, mean answer words, p50/p95 latency, and the naive baseline (the
sentence sharing most words with the question, from the top three passages). Then the
abstention trade-off at several thresholds, drawn to bench/.cache/squad/abstention.png.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from dataclasses import asdict
from pathlib import Path

from assistant.answering.selector import AnswerModel
from assistant.service.assembly import Assistant, build_assistant
from assistant.settings import Settings
from bench import squad_data
from bench.squad_data import FORMATS, SquadQuestion
from bench.squad_scoring import Outcome, ask, mean, print_table, summary

CACHE = Path(__file__).resolve().parent / ".cache" / "squad"
THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
GENERATIVE_SAMPLE = 100
FIRST_QUESTIONS, LATER_QUESTIONS = 50, 400


def corpus(
    fmt: str, articles: list[squad_data.Article], answer_model: AnswerModel | None = None, backend: str | None = None
) -> Assistant:
    """The six articles in one format, indexed (incrementally: reruns reuse the index).

    torch and onnx give the same vectors and share an index; onnx-int8 has its own."""
    backend = backend or Settings().embedding_backend
    root = CACHE / fmt
    sources = root / "sources" / "default"
    sources.mkdir(parents=True, exist_ok=True)
    for article in articles:
        if not (sources / squad_data.file_name(article, fmt)).exists():
            squad_data.render(article, fmt, sources)
    settings = Settings(
        sources_dir=sources.parent,
        index_dir=root / ("index-int8" if backend == "onnx-int8" else "index"),
        collection_prefix=f"squad-{fmt}",
        embedding_backend=backend,
        model_cache_dir=CACHE / "models",
    )
    assistant = build_assistant(settings, answer_model=answer_model)
    report = assistant.indexer().rebuild()
    if report.skipped:
        raise SystemExit(f"error: {fmt}: files skipped while indexing: {report.skipped}")
    return assistant


def tradeoff(outcomes: list[Outcome]) -> list[dict]:
    """Correct vs false abstention if the answerer abstained below each confidence threshold."""
    answerable = [o for o in outcomes if o.answerable]
    unanswerable = [o for o in outcomes if not o.answerable]
    points = []
    for threshold in THRESHOLDS:

        def refuses(o: Outcome, t: float = threshold) -> bool:
            return o.confidence is None or o.confidence < t

        points.append(
            {
                "threshold": threshold,
                "correct_abstention": mean([refuses(o) for o in unanswerable]),
                "false_abstention": mean([refuses(o) for o in answerable]),
            }
        )
    return points


def plot(curves: dict[str, list[Outcome]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4.5))
    for name, outcomes in curves.items():
        answerable = [o.confidence or 0.0 for o in outcomes if o.answerable]
        unanswerable = [o.confidence or 0.0 for o in outcomes if not o.answerable]
        grid = sorted({0.0, 1.01, *answerable, *unanswerable})
        xs = [mean([c < t for c in answerable]) for t in grid]
        ys = [mean([c < t for c in unanswerable]) for t in grid]
        axis.plot(xs, ys, label=name)
    axis.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    axis.axvline(0.10, color="red", linewidth=0.8, linestyle="--")
    axis.set_xlabel("false abstention (answerable questions refused)")
    axis.set_ylabel("correct abstention (unanswerable refused)")
    axis.set_title("SQuAD 2.0 abstention trade-off, held-out articles")
    axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def latency(articles: list[squad_data.Article], questions: list[SquadQuestion]) -> None:
    """/chat p50 over HTTP against the raw floor, and the first questions after a start against the rest."""
    from bench.speed import chat_latencies, raw_floor, served
    from tests.servers import free_port

    assistant = corpus("txt", articles)
    asked = [q.question for q in random.Random(5).sample(questions, FIRST_QUESTIONS + LATER_QUESTIONS)]
    with served(assistant.settings, free_port()) as url:
        ours = chat_latencies(url, asked)
    raw = raw_floor(assistant.settings, asked)
    first, later = statistics.median(ours[:FIRST_QUESTIONS]), statistics.median(ours[FIRST_QUESTIONS:])
    ours50, raw50 = statistics.median(ours), statistics.median(raw)
    ours95 = sorted(ours)[min(len(ours) - 1, int(0.95 * len(ours)))]
    print(
        f"/chat p50 over HTTP {ours50:.1f} ms (p95 {ours95:.1f} ms), raw floor (encode + Chroma query) "
        f"{raw50:.1f} ms: {ours50 / raw50:.2f}x; reader {'on' if assistant.settings.reader else 'off'}"
    )
    print(
        f"first {FIRST_QUESTIONS} questions after a fresh start p50 {first:.1f} ms, "
        f"next {LATER_QUESTIONS} p50 {later:.1f} ms: {first / later:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    parser.add_argument("--limit", type=int, help="ask a seeded sample of this many questions per format")
    parser.add_argument("--no-baseline", action="store_true", help="skip the naive baseline")
    parser.add_argument(
        "--generative", action="store_true", help="also run the LLM sample (needs make eval-generative)"
    )
    parser.add_argument("--latency", action="store_true", help="only /chat over HTTP on the plain-text corpus")
    parser.add_argument(
        "--backend", choices=["torch", "onnx", "onnx-int8"], help="embedding backend (default: the settings' default)"
    )
    args = parser.parse_args()

    articles, questions = squad_data.load()
    tune, held_out = squad_data.split(articles)
    if args.latency:
        latency(articles, questions)
        return
    if args.limit:
        questions = sorted(random.Random(7).sample(questions, args.limit), key=lambda q: q.id)
    backend = args.backend or Settings().embedding_backend
    print(
        f"articles: tune {sorted(tune)}, held out {sorted(held_out)}; {len(questions)} questions per format; "
        f"embedding backend {backend}\n"
    )

    rows, held_out_curves, results = [], {}, {}
    for fmt in FORMATS:
        if fmt not in args.formats:
            continue
        assistant = corpus(fmt, articles, backend=backend)
        outcomes = [ask(assistant, q, with_baseline=not args.no_baseline) for q in questions]
        results[fmt] = outcomes
        held = [o for o in outcomes if o.article in held_out]
        rows += [
            (f"{fmt} held-out", summary(held)),
            (f"{fmt} tune", summary([o for o in outcomes if o.article in tune])),
        ]
        held_out_curves[fmt] = held
        print_table(rows[-2:])
    print("\nall formats:")
    print_table(rows)

    print("\nabstention trade-off, held-out articles (abstain when confidence < threshold):")
    print(f"{'format':10}{'threshold':>10}{'correct abst.':>15}{'false abst.':>13}")
    for fmt, outcomes in held_out_curves.items():
        for point in tradeoff(outcomes):
            print(
                f"{fmt:10}{point['threshold']:>10.2f}{point['correct_abstention']:>15.3f}"
                f"{point['false_abstention']:>13.3f}"
            )
    CACHE.mkdir(parents=True, exist_ok=True)
    plot(held_out_curves, CACHE / "abstention.png")
    (CACHE / "results.json").write_text(
        json.dumps({fmt: [asdict(o) for o in outcomes] for fmt, outcomes in results.items()})
    )
    print(f"\ncurve: {CACHE / 'abstention.png'}; per-question results: {CACHE / 'results.json'}")

    if args.generative:
        from bench.squad_generative import run_sample

        sample = sorted(
            random.Random(11).sample([q for q in questions if q.article in held_out], GENERATIVE_SAMPLE),
            key=lambda q: q.id,
        )
        run_sample(corpus("txt", articles), sample)


if __name__ == "__main__":
    main()
