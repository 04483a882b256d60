"""An endless answer against the answer cap (issue 16 #10): the server's peak resident
memory (VmHWM) when the answer stops at the cap, for a few caps side by side, in chat
mode (progress only) and replace mode (edits streamed into the editor too). Before the
cap, an endless answer put 26 MB into the editor in 20 s and the server peaked at 823 MB.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.fake_process import FakeProcess
from bench.server_bench import CODE, start, stop
from bench.soak_bench import rss_mb


async def endless_ask(fake: FakeProcess, cookie_file: str, cap_mb: float, mode: str):
    client = await start(fake, cookie_file, maxAnswerMB=cap_mb)
    try:
        pid = client._server.pid
        before = rss_mb(pid)
        doc = client.open(f"file:///bench/cap-{mode}.py", CODE)
        selection = client.range_of(doc.uri, 0, len(CODE))
        started = time.monotonic()
        result = await asyncio.wait_for(
            client.ask(uri=doc.uri, range=selection, prompt="[[fake:endless]] go", mode=mode),
            300,
        )
        seconds = time.monotonic() - started
        assert "passed the limit" in result.get("error", ""), result
        await asyncio.sleep(0.5)
        return {
            "cap_mb": cap_mb,
            "mode": mode,
            "answer_mb": round(len(result["text"]) / (1 << 20), 2),
            "seconds": round(seconds, 1),
            "rss_before_mb": round(before, 1),
            "peak_mb": round(rss_mb(pid, "VmHWM"), 1),
            "after_mb": round(rss_mb(pid), 1),
            "document_back": doc.text == CODE,  # a failed replace leaves the original
        }
    finally:
        await stop(client)


async def run(quick: bool) -> dict[str, Any]:
    caps = (1, 4) if quick else (1, 4, 16)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        cookie_file = str(Path(folder) / "cookies.json")
        Path(cookie_file).write_text('{"ecto_1_sess": "bench-cap"}')
        Path(cookie_file).chmod(0o600)
        async with FakeProcess() as fake:
            for mode in ("chat", "replace"):
                for cap in caps:
                    rows.append(await endless_ask(fake, cookie_file, cap, mode))
    return {"rows": rows}


def rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (
            f"endless answer, cap {r['cap_mb']:g} MB, {r['mode']}: server peak RSS",
            f"{r['peak_mb']:.0f} MB (start {r['rss_before_mb']:.0f}, after {r['after_mb']:.0f}; "
            f"{r['answer_mb']:.1f} MB in {r['seconds']:.1f} s)",
            "<= 100 MB (823 MB before the cap)" if r["cap_mb"] == 4 else "",
        )
        for r in results["rows"]
    ]


if __name__ == "__main__":
    import sys

    for row in rows(asyncio.run(run("--quick" in sys.argv))):
        print("  ".join(row))
