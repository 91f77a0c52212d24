"""The `assistant` command: index, serve, ask, search, eval."""

from __future__ import annotations

import json
import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from assistant.errors import (
    AssistantError,
    CollectionNotFound,
    IndexCorrupt,
    IndexNotBuilt,
    InsecureBinding,
    InvalidQuestion,
    Misconfigured,
    RebuildInProgress,
    SourcesMissing,
    StoreUnavailable,
)
from assistant.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__, pretty_exceptions_enable=False)


def _print_version(value: bool) -> None:
    if value:
        from assistant import __version__

        typer.echo(f"assistant {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """The `assistant` command."""


EXIT_CODES: dict[type[AssistantError], int] = {
    InvalidQuestion: 2,
    IndexNotBuilt: 3,
    IndexCorrupt: 3,
    RebuildInProgress: 4,
    StoreUnavailable: 5,
    SourcesMissing: 6,
    CollectionNotFound: 6,
    InsecureBinding: 7,
    Misconfigured: 7,
}


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """Domain errors end the command with one line on stderr and a distinct exit code."""
    try:
        yield
    except AssistantError as error:
        typer.echo(f"error: {error}", err=True)
        code = next((c for cls, c in EXIT_CODES.items() if isinstance(error, cls)), 1)
        raise typer.Exit(code) from None


def _settings() -> Settings:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return Settings()


def _assistant(settings: Settings, collection: str, needs_index: bool = False):
    from assistant.service.assembly import build_assistant
    from assistant.service.collections import catalog_for, check_name

    if needs_index:  # say so before spending seconds loading the model
        catalog_for(settings, check_name(collection)).require_current()
    return build_assistant(settings, collection=collection)


COLLECTION = typer.Option(
    "default", "--collection", "-c", envvar="ASSISTANT_COLLECTION", help="Which collection (sources/<name>/)."
)


@app.command()
def index(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    wait: bool = typer.Option(False, "--wait", help="Wait for a running rebuild instead of refusing."),
    collection: str = COLLECTION,
) -> None:
    """Build or update the index from the sources directory (incremental)."""
    settings = _settings()
    with _one_line_errors():
        assistant = _assistant(settings, collection)
        bar = None
        if sys.stderr.isatty() and not as_json:
            from tqdm import tqdm

            bar = tqdm(total=0, unit="text", desc="embedding chunks and sentences", file=sys.stderr)

        def progress(done: int, total: int) -> None:
            if bar is not None:
                bar.total = total
                bar.n = done
                bar.refresh()

        report = assistant.indexer().rebuild(progress=progress, wait_for_lock=wait)
        if bar is not None:
            bar.close()
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
        return
    for skipped in report.skipped:
        typer.echo(f"skipped {skipped['source']}: {skipped['reason']}", err=True)
    state = "full rebuild" if report.full else ("updated" if report.changed else "no change")
    typer.echo(
        f"{state}: {report.added} added, {report.updated} updated, {report.removed} removed, "
        f"{report.unchanged} unchanged, {len(report.skipped)} skipped; {report.chunks} chunks "
        f"({report.embedded} embedded, {report.sentences} sentences) in {report.seconds:.2f}s [{report.generation}]"
    )


@app.command()
def serve(
    host: str = typer.Option(None, help="Address to bind (default from ASSISTANT_HOST)."),
    port: int = typer.Option(None, help="Port (default from ASSISTANT_PORT)."),
) -> None:
    """Serve the HTTP API."""
    import uvicorn

    from assistant.api import create_app

    settings = _settings()
    settings = settings.model_copy(update={"host": host or settings.host, "port": port or settings.port})
    from assistant.api.observability import configure_logging

    configure_logging(settings.log_format)
    with _one_line_errors():
        app = create_app(settings)
    proxies = [address.strip() for address in settings.trusted_proxies.split(",") if address.strip()]
    _stop_is_a_normal_exit()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        # X-Forwarded-For is believed only from the proxies named: otherwise any client could
        # pick its own address, and with it a fresh rate-limit bucket per request.
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        # Idle keep-alive connections close after a few seconds, and connections beyond a cap get
        # a 503: slow clients cannot hold the server's sockets. Public exposure belongs behind a
        # reverse proxy that also times out incomplete headers (README).
        timeout_keep_alive=5,
        limit_concurrency=settings.max_connections,
        log_config=None,  # uvicorn's loggers go through ours: same format, same request ids
    )


def _stop_is_a_normal_exit() -> None:
    """uvicorn shuts down gracefully on Ctrl-C or SIGTERM, then raises the signal again for the
    handler that was there before it: Python's own would print a KeyboardInterrupt traceback or
    let SIGTERM kill the process, which `make run` and service managers report as a failure.
    Stopping the server is its normal end, so the handler it finds exits with status 0."""

    def exit_cleanly(signum: int, frame: object) -> None:
        raise SystemExit(0)

    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, exit_cleanly)


@app.command()
def ask(
    question: str = typer.Argument(..., help="The question."),
    as_json: bool = typer.Option(False, "--json", help="Print the same JSON as POST /chat."),
    top_k: int = typer.Option(None, "--top-k", help="Passages to retrieve."),
    collection: str = COLLECTION,
) -> None:
    """Answer one question from the index, with citations."""
    from assistant.api.schemas import ChatResponse
    from assistant.retrieval.retriever import Turn

    settings = _settings()
    with _one_line_errors():
        answer = _assistant(settings, collection, needs_index=True).ask([Turn("user", question)], top_k)
    if as_json:
        typer.echo(ChatResponse.from_answer(answer).model_dump_json(indent=2))
        return
    typer.echo(answer.text)
    if answer.abstained:
        typer.echo(f"({answer.reason})")
    for citation in answer.citations:
        where = f"{citation.source}:{citation.start}-{citation.end}"
        where += f" p.{citation.page}" if citation.page else ""
        typer.echo(f"[{citation.n}] {where}  {citation.text}")


@app.command()
def search(
    query: str = typer.Argument(..., help="Text to search for."),
    as_json: bool = typer.Option(False, "--json", help="Print the same JSON as POST /search."),
    top_k: int = typer.Option(None, "--top-k", help="Passages to return."),
    collection: str = COLLECTION,
) -> None:
    """Show the ranked passages retrieval finds for a query."""
    from assistant.api.schemas import PassageOut, SearchResponse

    settings = _settings()
    with _one_line_errors():
        retrieval = _assistant(settings, collection, needs_index=True).search(query, top_k)
    passages = [PassageOut.from_passage(p) for p in retrieval.passages]
    if as_json:
        typer.echo(SearchResponse(query=query, passages=passages).model_dump_json(indent=2))
        return
    for rank, passage in enumerate(passages, start=1):
        typer.echo(f"{rank}. {passage.score:.3f} {passage.chunk_id} [{passage.start}:{passage.end}]")
        typer.echo(f"   {passage.text[:300]}")


@app.command("eval")
def evaluate(
    questions: Path = typer.Option(Path("eval/questions.jsonl"), "--questions", help="Question set (JSONL)."),
    url: str = typer.Option(None, "--url", help="Evaluate a running server instead of in process."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    top_k: int = typer.Option(None, "--top-k", help="Passages retrieved per question."),
    out: Path = typer.Option(Path("eval/reports"), "--out", help="Where reports are written."),
    thresholds: Path = typer.Option(Path("eval/thresholds.json"), "--thresholds", help="Gate thresholds."),
    calibrate: bool = typer.Option(False, "--calibrate", help="Suggest the abstention threshold instead."),
    collection: str = COLLECTION,
) -> None:
    """Run the eval question set; write a report; exit 1 when a figure misses its threshold."""
    from assistant.evaluation import gate, runner
    from assistant.evaluation.calibration import calibrate as pick_threshold
    from assistant.evaluation.questions import QuestionFileError, load_questions
    from assistant.evaluation.report import write_report

    settings = _settings()
    try:
        question_set = load_questions(questions)
        limits = None if calibrate else gate.load_thresholds(thresholds)
    except (OSError, ValueError, QuestionFileError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    with _one_line_errors():
        if url:
            backend = runner.HttpBackend(url, top_k or settings.top_k)
        else:
            backend = runner.InProcessBackend(_assistant(settings, collection, needs_index=True), top_k)
        bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            bar = tqdm(total=len(question_set), unit="q", desc="eval", file=sys.stderr)
        results = runner.run(question_set, backend, progress=(lambda done, total: bar.update(1)) if bar else None)
        if bar is not None:
            bar.close()
    if calibrate:
        chosen = pick_threshold(results)
        typer.echo(
            f"suggested ASSISTANT_MIN_ANSWER_CONFIDENCE={chosen.threshold} "
            f"(correct abstention {chosen.correct_abstention}, false abstention {chosen.false_abstention})"
        )
        for r in sorted(results, key=lambda r: r.confidence or 0):
            typer.echo(f"  {r.confidence!s:>7} {'answerable  ' if r.answerable else 'unanswerable'} {r.question}")
        return
    summary = runner.summarize(results, backend.top_k)
    verdict = gate.check(summary, limits)
    meta = {
        "questions_file": str(questions),
        "mode": url or "in-process",
        "answerer": "generative" if settings.generative else "extractive",
        "top_k": backend.top_k,
    }
    paths = write_report(out, summary, results, verdict, meta)
    if as_json:
        typer.echo(json.dumps({"summary": summary, "gate": verdict.to_json(), "report": str(paths["md"])}, indent=2))
    else:
        for key, value in summary.items():
            if key != "accuracy_by_kind":
                typer.echo(f"{key:>24}: {value}")
        typer.echo(f"report: {paths['md']} ({paths['json'].name}, {paths['png'].name})")
    if not verdict.passed:
        typer.echo("gate FAILED: " + "; ".join(verdict.failures), err=True)
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
