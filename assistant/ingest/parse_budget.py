"""Parsing under a budget: a file that parses for too long, or yields too much text, is skipped.

Office files, PDFs and e-books are parsed in a child process with a CPU-time limit, since
a thread cannot be interrupted: a 7.5 KB PDF whose pages share one huge content stream, or a
94 KB .docx holding 200,000 paragraphs, would otherwise hold a rebuild for hours. Plain text,
Markdown, CSV and HTML parse in time linear in their size, which the upload limit bounds; they
parse in-process, and every format is held to the character budget.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import time

from assistant.errors import SourceUnreadable
from assistant.ingest import formats

# Formats whose parse time is not bounded by the file's size.
ISOLATED = frozenset({".pdf", ".docx", ".pptx", ".epub"})


def parse(suffix: str, data: bytes, ocr: bool, max_seconds: float, max_chars: int) -> formats.Parsed:
    parsed = _in_child(suffix, data, ocr, max_seconds) if suffix in ISOLATED else formats.parse(suffix, data, ocr)
    if len(parsed.text) > max_chars:
        raise SourceUnreadable(
            f"its text runs past {max_chars} characters (ASSISTANT_MAX_DOCUMENT_CHARS): skipped, split it"
        )
    return parsed


# Children are forked from a small server process started once, which has imported the parsers
# but runs none of the server's threads: forking the server itself (ONNX Runtime, uvicorn and
# tokenizer threads) could leave a child waiting forever on a lock another thread held.
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload([__name__])
_OUT_OF_TIME = (3, -signal.SIGXCPU, -signal.SIGKILL)


def _in_child(suffix: str, data: bytes, ocr: bool, max_seconds: float) -> formats.Parsed:
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    child = _CONTEXT.Process(target=_child, args=(sender, suffix, data, ocr, max_seconds), daemon=True)
    child.start()
    sender.close()
    deadline = time.monotonic() + max_seconds * 2 + 5  # CPU time is the limit; this catches a child stuck waiting
    timed_out = False
    try:
        while not receiver.poll(0.05):
            if not child.is_alive():
                break
            if time.monotonic() > deadline:
                timed_out = True
                break
        outcome = receiver.recv() if receiver.poll(0) else None
    except EOFError:
        outcome = None
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receiver.close()
    if outcome is None:
        if timed_out or child.exitcode in _OUT_OF_TIME:
            raise SourceUnreadable(f"parsing took over {max_seconds:g} s (ASSISTANT_MAX_PARSE_SECONDS): skipped")
        raise SourceUnreadable(f"the parser stopped unexpectedly (exit code {child.exitcode})")
    kind, value = outcome
    if kind == "error":
        raise SourceUnreadable(value)
    return value


def _child(sender, suffix: str, data: bytes, ocr: bool, max_seconds: float) -> None:
    seconds = max(1, int(max_seconds + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
    signal.signal(signal.SIGXCPU, lambda *_: os._exit(3))
    try:
        outcome = ("ok", formats.parse(suffix, data, ocr))
    except SourceUnreadable as error:
        outcome = ("error", str(error))
    except Exception as error:  # noqa: BLE001 - reported by name, as the in-process parse does
        outcome = ("error", f"{type(error).__name__}: {error}")
    try:
        sender.send(outcome)
    finally:
        sender.close()
        os._exit(0)  # no atexit handlers or threads of the parent run in the child
