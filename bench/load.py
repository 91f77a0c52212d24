"""A load generator meant to run in its own process: N concurrent clients POST /chat for T seconds.

.venv/bin/python -m bench.load http://127.0.0.1:8000 --seconds 30 --concurrency 8
.venv/bin/python -m bench.load http://127.0.0.1:8001 http://127.0.0.1:8002   # clients spread over replicas
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import httpx

QUESTIONS = [
    "When was the First Congress of World Azerbaijanis held?",
    "How many guests attended the first congress?",
    "Who is the president of the Heydar Aliyev Foundation?",
    "When was the Support to the Azerbaijan Diaspora Fund established?",
    "What is the capital of France?",
    "Which cities did Armenia fire missiles at during the war?",
]


async def client(url: str, deadline: float, counts: dict, latencies: list, offset: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        i = offset
        while time.monotonic() < deadline:
            body = {"messages": [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}]}
            i += 1
            started = time.perf_counter()
            try:
                response = await http.post("/chat", json=body)
                key = "ok" if response.status_code == 200 else f"http_{response.status_code}"
            except httpx.HTTPError as error:
                key = type(error).__name__
            latencies.append((time.perf_counter() - started) * 1000)
            counts[key] = counts.get(key, 0) + 1


async def run(urls: list[str], seconds: float, concurrency: int) -> dict:
    counts: dict[str, int] = {}
    latencies: list[float] = []
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(*(client(urls[i % len(urls)], deadline, counts, latencies, i) for i in range(concurrency)))
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "requests": sum(counts.values()),
        "errors": sum(v for k, v in counts.items() if k != "ok"),
        "by_outcome": counts,
        "seconds": round(elapsed, 2),
        "requests_per_second": round(counts.get("ok", 0) / elapsed, 1),
        "latency_ms_p50": round(latencies[len(latencies) // 2], 1) if latencies else None,
        "latency_ms_p95": round(latencies[int(len(latencies) * 0.95)], 1) if latencies else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("urls", nargs="+", metavar="url")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.urls, args.seconds, args.concurrency))))


if __name__ == "__main__":
    main()
