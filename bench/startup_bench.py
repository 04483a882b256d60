"""Start-up: spawn -> initialize response, and RSS after `initialized`, against bare pygls."""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

BARE = [sys.executable, str(Path(__file__).with_name("bare_server.py"))]


def ours() -> list[str]:
    exe = shutil.which("metaai-ls", path=str(Path(sys.executable).parent))
    return [exe, "--stdio"] if exe else [sys.executable, "-m", "metaai_ls", "--stdio"]


def frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


async def read_message(reader: asyncio.StreamReader) -> dict:
    header = await reader.readuntil(b"\r\n\r\n")
    length = int(header.split(b"Content-Length:")[1].split(b"\r\n")[0])
    return json.loads(await reader.readexactly(length))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def once(command: list[str]) -> tuple[float, float]:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"processId": None, "rootUri": None, "capabilities": {}},
    }
    process.stdin.write(frame(initialize))
    await process.stdin.drain()
    while (await read_message(process.stdout)).get("id") != 1:
        pass
    elapsed = time.perf_counter() - started
    process.stdin.write(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
    await process.stdin.drain()
    await asyncio.sleep(0.3)
    rss = rss_mb(process.pid)
    process.stdin.write(frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
    process.stdin.write(frame({"jsonrpc": "2.0", "method": "exit"}))
    await process.stdin.drain()
    await asyncio.wait_for(process.wait(), 10)
    return elapsed, rss


async def run(runs: int) -> dict[str, float]:
    # An installed wheel has its bytecode compiled; an editable checkout may not.
    import compileall

    import metaai_ls

    compileall.compile_dir(Path(metaai_ls.__file__).parent, quiet=1)
    mine, bare = [], []
    await once(ours())  # warm the file cache for both
    await once(BARE)
    for _ in range(runs):  # interleaved: both see the same machine noise
        mine.append(await once(ours()))
        bare.append(await once(BARE))
    ours_ms = statistics.median(t for t, _ in mine) * 1000
    bare_ms = statistics.median(t for t, _ in bare) * 1000
    ours_rss = statistics.median(r for _, r in mine)
    bare_rss = statistics.median(r for _, r in bare)
    return {
        "runs": runs,
        "ours_ms": ours_ms,
        "bare_ms": bare_ms,
        "time_ratio": ours_ms / bare_ms,
        "ours_rss_mb": ours_rss,
        "bare_rss_mb": bare_rss,
        "rss_ratio": ours_rss / bare_rss,
    }
