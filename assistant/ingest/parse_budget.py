"""Parsing under a budget: a file that parses for too long, or yields too much text, is skipped.

Office files, PDFs and e-books are parsed in a forked child process with a CPU-time limit, since
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


def _in_child(suffix: str, data: bytes, ocr: bool, max_seconds: float) -> formats.Parsed:
    context = multiprocessing.get_context("fork")  # the parent's modules, already imported: no start-up cost
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(sender, suffix, data, ocr, max_seconds), daemon=True)
    child.start()
    sender.close()
    deadline = time.monotonic() + max_seconds * 2 + 5  # CPU time is the limit; this catches a child stuck waiting
    try:
        while not receiver.poll(0.05):
            if not child.is_alive() or time.monotonic() > deadline:
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
        raise SourceUnreadable(f"parsing took over {max_seconds:g} s (ASSISTANT_MAX_PARSE_SECONDS): skipped")
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
