"""The generative path on a sample of held-out SQuAD questions, beside the extractive answerer.

Run by `python -m bench.squad --generative` (needs `make eval-generative`'s llm-eval extra):
Qwen2.5-Coder-1.5B-Instruct on llama.cpp's OpenAI-compatible server answers the same questions
twice, with and without the answer model's gate (abstain without asking the LLM when the
answer model finds no answer), so the gate is kept only if it helps the generative answers too.
"""

from __future__ import annotations

import sys
from pathlib import Path

from assistant.service.assembly import Assistant, build_assistant
from bench.generative_eval import MODELS, packaged_gguf
from bench.squad_data import SquadQuestion
from bench.squad_scoring import ask, print_table, summary
from tests.servers import free_port, running


def run_sample(extractive: Assistant, sample: list[SquadQuestion]) -> None:
    model = packaged_gguf()
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    server = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1"]
    server += ["--port", str(port), "--n_ctx", "4096", "--seed", "7"]
    rows = [("extractive", summary([ask(extractive, q, with_baseline=False) for q in sample]))]
    with running(server, f"{url}/models", log=MODELS / "llama-server-squad.log"):
        for gate in (True, False):
            settings = extractive.settings.model_copy(
                update={
                    "answerer": "generative",
                    "llm_base_url": url,
                    "llm_model": model.stem,
                    "llm_timeout_seconds": 300,
                    "llm_gate": gate,
                }
            )
            generative = build_assistant(settings, embeddings=extractive.embeddings)
            outcomes = [ask(generative, q, with_baseline=False) for q in sample]
            rows.append((f"generative, gate {'on' if gate else 'off'}", summary(outcomes)))
            print_table(rows[-1:])
    print(f"\ngenerative sample: {len(sample)} held-out questions, plain text, {Path(model).name}")
    print_table(rows)
    print("(the baseline column is not measured on this sample)")
