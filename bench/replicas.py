"""Replicas on one Chroma server: throughput of 1 and 2 `assistant serve` processes, and how long
a rebuild from the CLI takes to reach every replica.

    .venv/bin/python -m bench.replicas                  # about 2 minutes
    .venv/bin/python -m bench.replicas --seconds 60 --concurrency 16

On one 2-core machine two replicas share the same cores, so expect no gain: the figure shows the
cost of the extra process. What limits 10 and 100 replicas is discussed in the README.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.servers import BIN, chroma_server, free_port, running  # noqa: E402


def load(urls: list[str], seconds: float, concurrency: int) -> dict:
    command = [sys.executable, "-m", "bench.load", *urls, "--seconds", str(seconds), "--concurrency", str(concurrency)]
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO).stdout)


def generation(url: str) -> str | None:
    return httpx.get(f"{url}/health", timeout=10).json().get("generation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="assistant-replicas-"))
    try:
        sources = work / "sources"
        shutil.copytree(REPO / "sources", sources)
        with chroma_server(work / "chroma-data") as chroma:
            env = {
                **os.environ,
                "ASSISTANT_SOURCES_DIR": str(sources),
                "ASSISTANT_INDEX_DIR": str(work / "catalog"),
                "ASSISTANT_CHROMA_URL": chroma,
                "ASSISTANT_RATE_LIMIT_PER_MINUTE": "100000000",
            }
            subprocess.run([str(BIN / "assistant"), "index"], env=env, check=True, capture_output=True)
            urls = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
            with ExitStack() as stack:
                for n, url in enumerate(urls):
                    command = [str(BIN / "assistant"), "serve", "--port", url.rsplit(":", 1)[1]]
                    stack.enter_context(running(command, f"{url}/livez", env, log=work / f"replica-{n}.log"))
                for url in urls:  # load the model's first generation before timing
                    load([url], 2, 1)
                rows = []
                for replicas in (1, 2):
                    result = load(urls[:replicas], args.seconds, args.concurrency)
                    rows.append((replicas, result))
                    print(f"{replicas} replica(s): {json.dumps(result)}", flush=True)

                (sources / "default" / "orchard.txt").write_text("The orchard grows seventeen kinds of apples.")
                before = generation(urls[1])
                started = time.perf_counter()
                subprocess.run([str(BIN / "assistant"), "index"], env=env, check=True, capture_output=True)
                rebuilt = time.perf_counter()
                while generation(urls[1]) == before:
                    time.sleep(0.05)
                lag = time.perf_counter() - rebuilt
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n| replicas | req/s | p50 ms | p95 ms | errors |\n|---|---|---|---|---|")
    for replicas, result in rows:
        print(
            f"| {replicas} | {result['requests_per_second']} | {result['latency_ms_p50']} | "
            f"{result['latency_ms_p95']} | {result['errors']} |"
        )
    print(f"\nrebuild from the CLI took {rebuilt - started:.1f} s; the other replica served it {lag:.2f} s later")


if __name__ == "__main__":
    main()
