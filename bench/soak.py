"""Soak: concurrent /chat requests against `assistant serve` while sources are edited and rebuilt.

    .venv/bin/python -m bench.soak --seconds 180      # the full soak
    .venv/bin/python -m bench.soak --seconds 20       # the CI variant (tests/test_soak.py)

Prints requests, errors, rebuilds completed, answers per generation and the server's memory
(RSS) over time, as JSON on the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
QUESTIONS = [
    "How many representatives participated in the First Congress of World Azerbaijanis?",
    "When was the Support to the Azerbaijan Diaspora Fund established?",
    "How many kinds of apples grow in the orchard?",
    "What is the capital of France?",
]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def ask_forever(url: str, stop: asyncio.Event, stats: dict, offset: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        i = offset
        while not stop.is_set():
            question = QUESTIONS[i % len(QUESTIONS)]
            i += 1
            try:
                response = await http.post("/chat", json={"messages": [{"role": "user", "content": question}]})
                if response.status_code != 200:
                    stats["errors"].append(f"HTTP {response.status_code}: {response.text[:200]}")
                else:
                    stats["ok"] += 1
            except httpx.HTTPError as error:
                stats["errors"].append(repr(error))


async def edit_and_rebuild(sources: Path, env: dict, stop: asyncio.Event, stats: dict, server_pid: int) -> None:
    orchard = sources / "orchard.txt"
    version = 0
    while not stop.is_set():
        version += 1
        orchard.write_text(f"The orchard in the valley grows {10 + version} kinds of apples. Harvest starts in May.")
        process = await asyncio.create_subprocess_exec(
            str(BIN / "assistant"), "index", "--wait", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _, stderr = await process.communicate()
        if process.returncode == 0:
            stats["rebuilds"] += 1
            await asyncio.sleep(0.5)  # let the server pick up the new generation
            stats["rss_after_rebuild"].append(round(rss_mb(server_pid), 1))
        else:
            stats["errors"].append(f"rebuild exited {process.returncode}: {stderr.decode()[-200:]}")
        await asyncio.sleep(0.5)


async def soak(seconds: float, concurrency: int, min_rebuilds: int = 0, max_seconds: float = 480) -> dict:
    work = Path(tempfile.mkdtemp(prefix="assistant-soak-"))
    sources = work / "sources"
    shutil.copytree(REPO / "sources", sources)
    for i in range(30):
        (sources / "default" / f"filler-{i:02d}.txt").write_text(f"Filler document {i}. " * 200)
    env = {
        **os.environ,
        "ASSISTANT_SOURCES_DIR": str(sources),
        "ASSISTANT_INDEX_DIR": str(work / "index"),
        "ASSISTANT_RATE_LIMIT_PER_MINUTE": "100000000",
    }
    subprocess.run([str(BIN / "assistant"), "index"], env=env, check=True, capture_output=True)
    port = 8800 + os.getpid() % 1000
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(BIN / "assistant"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stats: dict = {"ok": 0, "errors": [], "rebuilds": 0, "rss_mb": [], "rss_after_rebuild": []}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                await asyncio.sleep(0.2)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(ask_forever(url, stop, stats, i)) for i in range(concurrency)]
        tasks.append(asyncio.create_task(edit_and_rebuild(sources, env, stop, stats, server.pid)))
        started = time.monotonic()
        # Each rebuild is a fresh `assistant index` process (seconds of start-up on a busy
        # machine): the load goes on until the rebuilds asked for have switched generations too.
        while time.monotonic() - started < seconds or (
            stats["rebuilds"] < min_rebuilds and time.monotonic() - started < max_seconds
        ):
            stats["rss_mb"].append(round(rss_mb(server.pid), 1))
            await asyncio.sleep(max(1.0, seconds / 30))
        elapsed = time.monotonic() - started
        stop.set()
        await asyncio.gather(*tasks)
        stats["rss_mb"].append(round(rss_mb(server.pid), 1))
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)
    samples = stats["rss_mb"]
    # Warm-up lasts until two generation switches have happened (the retired generation is kept
    # open one switch longer); growth is measured from there to the end.
    after_rebuilds = stats["rss_after_rebuild"]
    warm = after_rebuilds[1] if len(after_rebuilds) >= 3 else samples[len(samples) // 3]
    return {
        "seconds": round(elapsed, 1),
        "requests": stats["ok"] + len(stats["errors"]),
        "errors": len(stats["errors"]),
        "first_errors": stats["errors"][:5],
        "rebuilds": stats["rebuilds"],
        "rss_mb_start": samples[0],
        "rss_mb_after_each_rebuild": after_rebuilds,
        "rss_mb_end": samples[-1],
        "rss_mb_growth_after_warmup": round(samples[-1] - warm, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--min-rebuilds", type=int, default=0, help="keep going past --seconds until this many rebuilds (8 min cap)"
    )
    args = parser.parse_args()
    print(json.dumps(asyncio.run(soak(args.seconds, args.concurrency, args.min_rebuilds))))


if __name__ == "__main__":
    main()
