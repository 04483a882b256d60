"""`metaai-ls learn` on a 20 MB capture: a drifted chat recorded from the fake (a first
message and a follow-up), padded as real captures are (script bundles, images, XHRs, a
long answer's frames). Time in process and as the CLI; peak memory against the file's
size: the peak RSS above the process's own after its imports (what the machine gives),
and tracemalloc's peak, which also counts the buffer orjson reserves from the file's size
but mostly never touches."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from metaai_ls.testing import FakeMetaAI, browser
from metaai_ls.testing.profiles import DRIFTED

COOKIES = {"ecto_1_sess": "bench-session-0123456789abcdef", "datr": "bench-datr-0123456789"}
RSS_CHILD = """
import sys
from metaai_ls.provider import learn

def status(name):  # this process's own (ru_maxrss would carry the parent's over exec)
    with open("/proc/self/status") as file:
        return next(int(l.split()[1]) for l in file if l.startswith(name + ":"))

before = status("VmRSS")
ok, _ = learn.run(sys.argv[1])
print(before, status("VmHWM"), ok)
"""


async def make_capture(folder: Path, megabytes: int) -> Path:
    async with FakeMetaAI() as fake:
        fake.profile = DRIFTED
        recorder = await browser.capture(
            fake.url, fake.gateway_url, COOKIES, DRIFTED, (("metaai-ls learn", "And?"),), True
        )
    pad(recorder.entries, megabytes << 20)
    return browser.save(recorder, folder / "www.meta.ai.har")


def pad(entries: list[dict[str, Any]], size: int) -> None:
    """Entries of the kinds a real capture is full of, until the file is about ``size``."""
    template = entries[1]  # the script bundle the browser recorded
    socket = next(e for e in entries if e["_resourceType"] == "websocket")
    frame = {"type": "receive", "time": time.time(), "opcode": 2}
    frame["data"] = base64.b64encode(b"\x0d\x00\x00\x40\x00\x00\x01\x80" + b"x" * 60).decode()
    socket["_webSocketMessages"] += [dict(frame) for _ in range(20_000)]  # a long answer
    total, number = len(json.dumps(entries)), 0
    while total < size:
        number += 1
        entry = json.loads(json.dumps(template))
        entry["request"]["url"] = f"https://static.example/chunk-{number}.js"
        kind = number % 3
        if kind == 0:
            text = f"function a{number}(){{return {number}}}" * 8000
            entry["response"]["content"] = {
                "size": len(text),
                "mimeType": "text/javascript",
                "text": text,
            }
        elif kind == 1:
            image = base64.b64encode(os.urandom(150_000)).decode()
            entry["_resourceType"] = "image"
            entry["response"]["content"] = {
                "mimeType": "image/png",
                "text": image,
                "encoding": "base64",
            }
        else:
            entry["_resourceType"] = "xhr"
            entry["response"]["content"] = {
                "mimeType": "application/json",
                "text": json.dumps({"items": list(range(30_000))}),
            }
        entries.insert(1, entry)
        total += len(json.dumps(entry))


def in_process(capture: Path, runs: int) -> dict[str, float]:
    from metaai_ls.provider import learn

    times = []
    for _ in range(runs):
        started = time.perf_counter()
        ok, report = learn.run(str(capture))
        times.append(time.perf_counter() - started)
        assert ok, report
    tracemalloc.start()
    learn.run(str(capture))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"learn_s": statistics.median(times), "traced_peak_mb": peak / (1 << 20)}


def cli(capture: Path, env: dict[str, str]) -> dict[str, float]:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "metaai_ls", "learn", str(capture)],
        env=env,
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - started
    out = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, str(capture)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return {"cli_s": wall, "rss_growth_mb": (int(out[1]) - int(out[0])) / 1024}


async def run(quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "XDG_CONFIG_HOME": folder}
        os.environ["XDG_CONFIG_HOME"] = folder  # never the user's own learned values
        capture = await make_capture(Path(folder), 20)
        size = capture.stat().st_size / (1 << 20)
        figures = {"file_mb": size, **in_process(capture, 3 if quick else 7), **cli(capture, env)}
    figures["traced_ratio"] = figures["traced_peak_mb"] / size
    figures["rss_ratio"] = figures["rss_growth_mb"] / size
    return figures


def rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    r = results
    return [
        (
            f"learn: {r['file_mb']:.0f} MB capture, in process / CLI (wall)",
            f"{r['learn_s'] * 1000:.0f} / {r['cli_s'] * 1000:.0f} ms",
            "<= 2 s",
        ),
        (
            "learn: peak RSS growth / file (tracemalloc's peak / file)",
            f"{r['rss_growth_mb']:.0f} MB = {r['rss_ratio']:.2f}x ({r['traced_ratio']:.1f}x)",
            "<= ~3x",
        ),
    ]


if __name__ == "__main__":
    figures = asyncio.run(run("--quick" in sys.argv))
    for row in rows(figures):
        print("  ".join(row))
