"""The reader model: the shipped int8 model agrees with the float one it was exported from, the
training script runs end to end, and /chat's short answer is an exact slice inside its citation."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.answering import reader
from assistant.settings import packaged_model_path
from tests.conftest import REPO

TRAIN_DATA = REPO.parent / "shared" / "benchmarks" / "squad1-train" / "train-v1.1.json.gz"


@pytest.fixture(scope="module")
def shipped() -> reader.Reader:
    return reader.Reader(packaged_model_path())


def test_the_int8_model_agrees_with_the_float_model_on_fixed_examples(shipped):
    """reader.json holds the float model's outputs (bench/train_reader.py export); int8 must give
    the same span where the window holds the answer, and an answerability logit close by on every
    example (a window without the answer has no span worth keeping: its argmax may move)."""
    fixed = reader.card()["fixed_examples"]
    assert len(fixed) >= 6
    for example in fixed:
        (got,) = shipped.read(example["q"], [example["w"]])
        if example["gold"][0] >= 0:
            assert (got.start, got.end) == (example["start"], example["end"]), example["q"]
        assert abs(got.answerable - example["answerable"]) < 1.0, example["q"]


def test_the_reader_finds_the_answer_and_tells_a_window_without_it(shipped):
    question = "When was the Azerbaijan Diaspora Support Fund established?"
    windows = [
        "The Fund for Support to the Azerbaijani Diaspora was established by a presidential decree on "
        "July 6, 2018. It finances projects of diaspora organisations abroad.",
        "Diaspora organisations hold cultural events in many countries every year.",
    ]
    with_answer, without = shipped.read(question, windows)
    assert "July 6, 2018" in windows[0][with_answer.start : with_answer.end]
    assert with_answer.answerable > without.answerable


def test_the_model_is_small_enough_to_ship():
    assert reader.MODEL_FILE.stat().st_size <= 30 * 1024 * 1024


@pytest.mark.slow
@pytest.mark.skipif(not TRAIN_DATA.exists(), reason="needs ../shared/benchmarks/squad1-train")
def test_training_runs_end_to_end_on_a_few_dozen_examples(tmp_path: Path):
    from bench import reader_data

    data = reader_data.articles(TRAIN_DATA)[:1]
    rows = [row for _, row in zip(range(48), reader_data.examples(data), strict=False)]
    examples = tmp_path / "examples.jsonl.gz"
    with gzip.open(examples, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)
    assert any(r["s"] >= 0 for r in rows) and any(r["s"] < 0 for r in rows)
    command = [
        sys.executable,
        "-m",
        "bench.train_reader",
        "--examples",
        str(examples),
        "--work",
        str(tmp_path / "work"),
        "--ship-dir",
        str(tmp_path),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--log-every",
        "2",
        "--device",
        "cpu",
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"step (\d+)/\1 ", done.stdout), done.stdout[-2000:]  # ran to its last step
    assert (tmp_path / "reader.onnx").stat().st_size > 1_000_000
    card = json.loads((tmp_path / "reader.json").read_text())
    assert 40 <= card["trained"]["windows"] <= len(rows)
    # The exported model runs on the serving code.
    trained = reader.Reader(packaged_model_path(), model_file=tmp_path / "reader.onnx")
    (reading,) = trained.read(rows[0]["q"], [rows[0]["w"]])
    assert 0 <= reading.start <= reading.end <= len(rows[0]["w"])


def test_chat_short_answer_is_an_exact_slice_inside_its_citation(sample_assistant):
    texts = sample_assistant.handle.current().texts
    answered = 0
    for question in (
        "When was the Diaspora Support Fund established?",
        "How many Azerbaijanis live abroad?",
        "Who signed the decree?",
    ):
        answer = sample_assistant.ask_text(question)
        short = answer.short_answer
        if answer.abstained:
            assert short is None
            continue
        if short is None:
            continue
        answered += 1
        assert texts[short.source][short.start : short.end] == short.text
        citation = next(c for c in answer.citations if c.n == short.n)
        assert citation.source == short.source and citation.start <= short.start < short.end <= citation.end
        assert answer.text.startswith(" ".join(short.text.split()))
    assert answered >= 1
