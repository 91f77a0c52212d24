"""The reader model: does a passage window answer the question, and which exact span does.

A MiniLM cross-encoder fine-tuned on SQuAD 1.1 (bench/train_reader.py), shipped as int8 ONNX
beside this file. It reads "[CLS] question [SEP] window [SEP]" and gives an answerability logit
(from [CLS]) and start/end logits per token; the best span is mapped back to characters of the
window, so a short answer is an exact slice of the source.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_FILE = Path(__file__).with_name("reader.onnx")
CARD_FILE = Path(__file__).with_name("reader.json")
MAX_TOKENS = 160  # question and window together; windows average about 100 tokens
MAX_QUESTION_CHARS = 300
MAX_ANSWER_TOKENS = 30


@dataclass(frozen=True)
class Reading:
    """What the reader saw in one window."""

    answerable: float  # logit: the window holds the answer
    start: int  # the best span, as character offsets into the window text
    end: int
    span: float  # start logit + end logit of that span


def tokenizer(model_dir: str | Path, max_tokens: int = MAX_TOKENS):
    """The base model's WordPiece tokenizer, cutting only the window when a pair is too long."""
    from tokenizers import Tokenizer

    loaded = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    loaded.enable_truncation(max_tokens, strategy="only_second")
    loaded.no_padding()
    return loaded


def encode(tok, question: str, windows: list[str]) -> list:
    return tok.encode_batch([(question[:MAX_QUESTION_CHARS], w) for w in windows])


def batch_arrays(encodings: list) -> dict[str, np.ndarray]:
    """Right-padded input_ids, attention_mask and token_type_ids for the batch."""
    width = max(len(e.ids) for e in encodings)
    arrays = {name: np.zeros((len(encodings), width), dtype=np.int64) for name in _INPUTS}
    for row, e in enumerate(encodings):
        n = len(e.ids)
        arrays["input_ids"][row, :n] = e.ids
        arrays["attention_mask"][row, :n] = 1
        arrays["token_type_ids"][row, :n] = e.type_ids
    return arrays


def best_span(encoding, start_logits: np.ndarray, end_logits: np.ndarray) -> tuple[int, int, float]:
    """The highest-scoring span of window tokens, as (start char, end char, score)."""
    window_tokens = np.asarray([s == 1 for s in encoding.sequence_ids])
    n = len(encoding.ids)
    starts = np.where(window_tokens, start_logits[:n], -np.inf)
    ends = np.where(window_tokens, end_logits[:n], -np.inf)
    # score[i, j] = start i + end j for i <= j < i + MAX_ANSWER_TOKENS
    scores = starts[:, None] + ends[None, :]
    i, j = np.indices(scores.shape)
    scores[(j < i) | (j >= i + MAX_ANSWER_TOKENS)] = -np.inf
    flat = int(np.argmax(scores))
    first, last = divmod(flat, n)
    if not np.isfinite(scores[first, last]):
        return 0, 0, float("-inf")
    return encoding.offsets[first][0], encoding.offsets[last][1], float(scores[first, last])


_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class Reader:
    """The shipped reader on ONNX Runtime, batched over the windows of one question."""

    def __init__(self, model_dir: str | Path, model_file: Path = MODEL_FILE, threads: int | None = None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self._tokenizer = tokenizer(model_dir)

    def read(self, question: str, windows: list[str]) -> list[Reading]:
        if not windows:
            return []
        encodings = encode(self._tokenizer, question, windows)
        start, end, answerable = self._session.run(None, batch_arrays(encodings))
        readings = []
        for row, e in enumerate(encodings):
            first, last, score = best_span(e, start[row], end[row])
            readings.append(Reading(float(answerable[row]), first, last, score))
        return readings


def card() -> dict:
    """How the shipped model was trained (written by bench/train_reader.py export)."""
    return json.loads(CARD_FILE.read_text()) if CARD_FILE.is_file() else {}
